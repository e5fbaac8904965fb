<?php

declare(strict_types=1);

namespace RedisLock\Bridge\Think\Command;

use think\console\Command;
use think\console\Input;
use think\console\input\Argument;
use think\console\Output;

/** `php think redis-lock:show <key>`: whether the lock is held, and its TTL. */
class ShowCommand extends Command
{
    protected function configure()
    {
        $this->setName('redis-lock:show')
            ->addArgument('key', Argument::REQUIRED, 'the lock\'s name (the prefix option is prepended)')
            ->setDescription('Show whether a redis_lock lock is held and for how long');
    }

    protected function execute(Input $input, Output $output)
    {
        $key = (string) $input->getArgument('key');
        $ttl = $this->app->make(\RedisLock::class)->ttl($key);
        if ($ttl === null) {
            $output->writeln("$key: free");
        } elseif (is_infinite($ttl)) {
            $output->writeln("$key: held, no TTL");
        } else {
            $output->writeln(sprintf('%s: held, %.3f s left', $key, $ttl));
        }
        return 0;
    }
}
