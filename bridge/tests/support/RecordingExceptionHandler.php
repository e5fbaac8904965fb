<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Tests\support;

use Illuminate\Contracts\Debug\ExceptionHandler;

/** The queue worker's exception handler in the tests: keeps what it is given, to be asserted on. */
final class RecordingExceptionHandler implements ExceptionHandler
{
    /** @var list<string> */
    public array $reported = [];

    public function report(\Throwable $e): void
    {
        $this->reported[] = get_class($e) . ': ' . $e->getMessage();
    }

    public function shouldReport(\Throwable $e): bool
    {
        return true;
    }

    public function render($request, \Throwable $e)
    {
        throw $e;
    }

    public function renderForConsole($output, \Throwable $e): void
    {
        $this->reported[] = get_class($e) . ': ' . $e->getMessage();
    }
}
