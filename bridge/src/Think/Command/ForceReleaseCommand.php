<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Think\Command;

use think\console\Command;
use think\console\Input;
use think\console\input\Argument;
use think\console\Output;

/**
 * `php think redis-lock:release <key>`: deletes the lock whoever holds it and wakes the first
 * waiter. For operators (a stuck job): the former holder's lease reports lost.
 */
class ForceReleaseCommand extends Command
{
    protected function configure()
    {
        $this->setName('redis-lock:release')
            ->addArgument('key', Argument::REQUIRED, 'the lock\'s name (the prefix option is prepended)')
            ->setDescription('Force-release a redis_lock lock, whoever holds it');
    }

    protected function execute(Input $input, Output $output)
    {
        $key = (string) $input->getArgument('key');
        if ($this->app->make(\RedisLock::class)->forceRelease($key)) {
            $output->writeln("$key: released");
            return 0;
        }
        $output->writeln("$key: was not held");
        return 1;
    }
}
