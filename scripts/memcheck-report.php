<?php
/**
 * Summarises valgrind memcheck logs (one per process): errors and definite leaks, and which of
 * them have a frame in the extension. Exit 1 if any does.
 *
 * Usage: php memcheck-report.php <log dir> [phpunit exit status]
 */

declare(strict_types=1);

[, $dir] = $argv;
$phpunitStatus = (int) ($argv[2] ?? 0);
$kinds = '/^(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap|.*are definitely lost)/';
$ours = '/redis_lock|ext_php_rs/';
$total = $mine = $processes = $inherited = 0;
// The pid of every checked process: a log whose parent is one of them is a pcntl_fork() child.
$pids = array_map(static fn ($f) => (int) basename($f, '.log'), glob("$dir/*.log"));
$definite = 0;
$examples = [];
foreach (glob("$dir/*.log") as $log) {
    $processes++;
    $text = (string) file_get_contents($log);
    $forkedChild = preg_match('/Parent PID: (\d+)/', $text, $pm) && in_array((int) $pm[1], $pids, true);
    if (preg_match('/definitely lost: ([\d,]+) bytes/', $text, $m)) {
        $definite += (int) str_replace(',', '', $m[1]);
    }
    // Records are separated by a line holding only the pid prefix.
    foreach (preg_split('/^==\d+== ?\n/m', $text) as $record) {
        $lines = array_map(static fn ($l) => preg_replace('/^==\d+== ?/', '', $l), explode("\n", trim($record)));
        if (!$lines || !preg_match($kinds, $lines[0])) {
            continue;
        }
        $total++;
        // A forked child inherits the memory of its parent's watchdog thread, which does not
        // exist in the child (threads do not survive fork) and must not be touched there.
        if ($forkedChild && str_contains($lines[0], 'definitely lost') && preg_grep('/watchdog::register/', $lines)) {
            $inherited++;
            continue;
        }
        if (preg_grep($ours, $lines)) {
            $mine++;
            $examples[] = implode("\n", array_slice($lines, 0, 12));
        }
    }
}
printf("memcheck: %d processes checked; %d errors or definite leaks in all (PHP and libraries included), "
    . "%d with a frame in the extension; %d bytes definitely lost in all; %d records are a forked child's copy of its "
    . "parent's watchdog thread state (not counted)\n", $processes, $total, $mine, $definite, $inherited);
if ($phpunitStatus !== 0) {
    echo "memcheck: some PHPUnit assertions failed under valgrind's slowdown (timing); memory errors are what this run checks\n";
}
foreach (array_slice($examples, 0, 5) as $e) {
    echo "\n$e\n";
}
exit($mine === 0 ? 0 : 1);
