<?php
/**
 * The invariants of the torture run, checked from what the workers recorded, what the ledger
 * decided and what the chaos loop did.
 */

declare(strict_types=1);

/**
 * The turns recorded under $kind (a lock kind without a fence: permit, rw, many, quorum), those
 * confirmed held at release (release() true: held from the grant to the release), and every
 * pair of confirmed turns that overlapped (from just after the call returned to just before
 * release() was called: inside the real holds), the earlier-acquired first.
 *
 * @param list<array<string, mixed>> $records
 * @return array{list<array<string, mixed>>, list<array<string, mixed>>, list<array{array<string, mixed>, array<string, mixed>}>}
 */
function torture_turns(array $records, string $kind): array
{
    $turns = array_values(array_filter(array_map(static fn ($r) => $r[$kind] ?? null, $records)));
    $confirmed = array_values(array_filter($turns, static fn ($t) => $t['released'] === true));
    usort($confirmed, static fn ($a, $b) => $a['t_acq'] <=> $b['t_acq']);
    $pairs = [];
    foreach ($confirmed as $i => $a) {
        for ($j = $i + 1; $j < count($confirmed) && $confirmed[$j]['t_acq'] < $a['t_rel']; $j++) {
            $pairs[] = [$a, $confirmed[$j]];
        }
    }
    return [$turns, $confirmed, $pairs];
}

/**
 * @param list<array<string, mixed>> $records  worker records (sections, errors, overruns, violations)
 * @param list<array<string, mixed>> $ledger   ledger decisions
 * @param list<array{string, float, float, ?int}> $chaos  [type, t0, t1, pid]
 * @param array<int, array<string, mixed>> $procs  worker processes and how they ended
 * @param array<int, string> $stderr  non-empty stderr per worker id
 * @return array{text: string, failed: int}
 */
function torture_analyse(array $records, array $ledger, array $chaos, array $procs, array $stderr): array
{
    $sections = array_values(array_map(static fn ($r) => $r['section'] + ['pid' => $r['pid'], 'worker' => $r['worker']],
        array_filter($records, static fn ($r) => isset($r['section']['t_rel']))));
    $errors = [];
    foreach ($records as $r) {
        if (isset($r['error'])) {
            $errors[$r['error']] = ($errors[$r['error']] ?? 0) + 1;
        }
    }
    ksort($errors);
    $ledgerAt = [];
    foreach ($ledger as $e) {
        $ledgerAt["{$e['op']}|{$e['key']}|{$e['fence']}"] = $e;
    }
    // Faults of the quorum's members touch only the quorum: they excuse nothing on server 0.
    $isMember = static fn (array $c): bool => str_starts_with($c[0], 'member-');
    $onServer = array_values(array_filter($chaos, static fn ($c) => !$isMember($c)));
    $faultDuring = static function (float $t0, float $t1, int $pid) use ($onServer): bool {
        foreach ($onServer as [$type, $c0, $c1, $cpid]) {
            $overlaps = $c0 <= $t1 && $c1 >= $t0;
            if ($overlaps && (!in_array($type, ['stop', 'kill9', 'killwaiter'], true) || $cpid === $pid)) {
                return true;
            }
        }
        return false;
    };

    $checks = [];

    // 1. What the ledger accepted never overlaps, and its fences only go up.
    $bad = 0;
    $accepted = array_values(array_filter($ledger, static fn ($e) => $e['op'] === 'commit' && $e['ok']));
    $byKey = [];
    foreach ($accepted as $c) {
        $begin = $ledgerAt["begin|{$c['key']}|{$c['fence']}"] ?? null;
        $byKey[$c['key']][] = [$begin['t'] ?? $c['t'], $c['t'], $c['fence']];
    }
    foreach ($byKey as $list) {
        usort($list, static fn ($a, $b) => $a[0] <=> $b[0]);
        for ($i = 1; $i < count($list); $i++) {
            $bad += (int) ($list[$i][0] < $list[$i - 1][1] || $list[$i][2] <= $list[$i - 1][2]);
        }
    }
    $checks[] = ['accepted critical sections never overlap (per key, fences increasing)', count($accepted) . ' accepted', $bad === 0];

    // 2. Two holders at once only when a fault explains it; 3. then the stale write was refused.
    // Of two sections that overlap in time, the stale one is the one with the lower fence: the
    // server granted it first (fences follow grant order), whichever lock() call returned first.
    // The fault must have hit that holder (its process stopped or killed) or the server, between
    // its lock() call and its release.
    $unexplained = $staleAccepted = 0;
    $overtaken = []; // stale sections another holder overlapped (under a fault): key|fence => refused?
    $perKey = [];
    foreach ($sections as $s) {
        $perKey[$s['key']][] = $s;
    }
    foreach ($perKey as $list) {
        usort($list, static fn ($a, $b) => $a['t_acq'] <=> $b['t_acq']);
        foreach ($list as $i => $first) {
            for ($j = $i + 1; $j < count($list) && $list[$j]['t_acq'] < $first['t_rel']; $j++) {
                [$old, $new] = $first['fence'] < $list[$j]['fence'] ? [$first, $list[$j]] : [$list[$j], $first];
                if (!$faultDuring($old['t_call'] ?? $old['t_acq'], $old['t_rel'], $old['pid'])) {
                    $unexplained++;
                    continue;
                }
                $oldCommit = $ledgerAt["commit|{$old['key']}|{$old['fence']}"] ?? null;
                $newBegin = $ledgerAt["begin|{$new['key']}|{$new['fence']}"] ?? null;
                if ($old['commit_ok'] && $oldCommit && $newBegin && $newBegin['ok'] && $oldCommit['t'] > $newBegin['t']) {
                    $staleAccepted++;
                }
                $overtaken["{$old['key']}|{$old['fence']}"] = !$old['commit_ok'];
            }
        }
    }
    $checks[] = ['two holders at once only under a fault (SIGSTOP past TTL, restart, stall)',
        count($overtaken) . " holders overtaken under a fault, $unexplained overlaps unexplained", $unexplained === 0];
    $refusedTotal = count(array_filter($ledger, static fn ($e) => !$e['ok']));
    $checks[] = ['every stale write was rejected by its fence',
        count(array_filter($overtaken)) . ' overtaken holders refused (the others wrote before the new holder read), '
        . "$refusedTotal refusals in all, $staleAccepted stale writes accepted", $staleAccepted === 0];

    // 3b. Fences follow real time, faults or not: a section whose lock() call began after another
    // section on the key ended (before its release, so after its grant) has a higher fence.
    $backwards = [];
    foreach ($perKey as $key => $list) {
        $byCall = $list;
        usort($byCall, static fn ($a, $b) => ($a['t_call'] ?? $a['t_acq']) <=> ($b['t_call'] ?? $b['t_acq']));
        usort($list, static fn ($a, $b) => $a['t_rel'] <=> $b['t_rel']);
        $max = null;
        $k = 0;
        foreach ($byCall as $s) {
            for (; $k < count($list) && $list[$k]['t_rel'] < ($s['t_call'] ?? $s['t_acq']); $k++) {
                $max = $max === null || $list[$k]['fence'] > $max['fence'] ? $list[$k] : $max;
            }
            if ($max !== null && $s['fence'] <= $max['fence']) {
                $backwards[] = sprintf('%s: fence %d after %d', $key, $s['fence'], $max['fence']);
            }
        }
    }
    $checks[] = ['fences follow real time (a later lock() call gets a higher fence)',
        $backwards ? implode('; ', array_slice($backwards, 0, 3)) : count($sections) . ' sections in order', !$backwards];

    // 4. No call overran its deadline, except while its process was stopped.
    $overruns = array_filter($records, static fn ($r) => isset($r['overran']) && !$faultDuring($r['t0'], $r['t1'], $r['pid']));
    $allOverruns = count(array_filter($records, static fn ($r) => isset($r['overran'])));
    $checks[] = ['no lock() call overran its deadline (wait + 4 s)', count($overruns) . " unexcused ($allOverruns while stopped)", !$overruns];

    // 5. Every error PHP code saw was a RedisLockException.
    $violations = array_values(array_filter($records, static fn ($r) => isset($r['violation'])));
    $checks[] = ['every error was a RedisLockException subclass',
        count($violations) ? implode('; ', array_slice(array_column($violations, 'violation'), 0, 3)) : array_sum($errors) . ' errors, all RedisLockException', !$violations];

    // 6. No PHP process crashed; 7. none hung.
    $crashed = [];
    $hung = 0;
    foreach ($procs as $id => $w) {
        if ($w['hung']) {
            $hung++;
            continue;
        }
        $exit = $w['exit'];
        $clean = $exit && !$exit['signaled'] && $exit['code'] === 0;
        $killedByUs = $w['killed'] && $exit && $exit['signaled'] && $exit['sig'] === SIGKILL;
        $noisy = isset($stderr[$id]) && preg_match('/panicked|Fatal error|Segmentation|core dumped/i', $stderr[$id]);
        if ((!$clean && !$killedByUs) || $noisy) {
            $crashed[] = "worker $id: " . json_encode($exit) . ($noisy ? ' ' . substr($stderr[$id], 0, 200) : '');
        }
    }
    $checks[] = ['no PHP process crashed (exit code, signal, panic, fatal)',
        $crashed ? implode('; ', $crashed) : count($procs) . ' processes, ' . count(array_filter($procs, static fn ($w) => $w['killed'])) . ' killed by chaos', !$crashed];
    $checks[] = ['no worker hung (all ended on their own)', "$hung hung", $hung === 0];

    // 8. A lock never sat free for long while a live worker waited for it: a holder or a waiter
    // killed in line costs at most its TTL or claim window (1 s here), not more. Server faults
    // (restart, wipe, stall, eviction, killed connections) excuse a gap.
    $serverFault = static function (float $t0, float $t1) use ($onServer): bool {
        foreach ($onServer as [$type, $c0, $c1]) {
            if (!in_array($type, ['stop', 'kill9', 'killwaiter'], true) && $c0 <= $t1 + 1.0 && $c1 >= $t0 - 1.0) {
                return true;
            }
        }
        return false;
    };
    $waits = array_values(array_filter(array_map(static fn ($r) => $r['wait'] ?? null, $records)));
    $stalls = [];
    foreach ($perKey as $key => $list) {
        usort($list, static fn ($a, $b) => $a['t_acq'] <=> $b['t_acq']);
        $freeFrom = null;
        foreach ($list as $s) {
            if ($freeFrom !== null && $s['t_acq'] - $freeFrom > 3.0 && !$serverFault($freeFrom, $s['t_acq'])) {
                foreach ($waits as $w) {
                    // Someone was in line across the first 3 s of the gap.
                    if ($w['key'] === $key && $w['t0'] <= $freeFrom && $w['t1'] >= $freeFrom + 3.0) {
                        $stalls[] = sprintf('%s free %.1f s from %.3f', $key, $s['t_acq'] - $freeFrom, $freeFrom);
                        break;
                    }
                }
            }
            $freeFrom = max($freeFrom ?? 0, $s['t_rel']);
        }
    }
    $checks[] = ['no lock sat free over 3 s while a live worker waited for it',
        $stalls ? implode('; ', array_slice($stalls, 0, 3)) : count($waits) . ' waits checked', !$stalls];

    // 8b. Never more permits of the semaphore at once than it has: of the permits confirmed
    // held at release (release() true: a permit that expired never comes back, so it was held
    // from its grant to its release), at most 2 overlap (from just after permit() returned to
    // just before release() was called: inside the real hold), faults or not.
    [$permits, $confirmed] = torture_turns($records, 'permit');
    $events = [];
    foreach ($confirmed as $p) {
        $events[] = [$p['t_acq'], 1];
        $events[] = [$p['t_rel'], -1];
    }
    usort($events, static fn ($a, $b) => $a[0] <=> $b[0] ?: $a[1] <=> $b[1]);
    $open = $peak = 0;
    foreach ($events as [, $d]) {
        $open += $d;
        $peak = max($peak, $open);
    }
    $checks[] = ['never more than 2 permits of the semaphore held at once',
        sprintf('%d permits (%d confirmed held), at most %d at once', count($permits), count($confirmed), $peak),
        $peak <= 2 && count($confirmed) > 0];

    // 8c. Never a writer of the read-write lock beside anyone: of the turns confirmed held at
    // release (release() true), no write overlaps another turn (from just after the call
    // returned to just before release() was called), and readers did overlap each other.
    [$turns, $rwConfirmed, $pairs] = torture_turns($records, 'rw');
    $beside = [];
    $readersTogether = 0;
    foreach ($pairs as [$a, $b]) {
        if ($a['write'] || $b['write']) {
            $beside[] = sprintf('%s at %.3f beside %s at %.3f', $a['write'] ? 'writer' : 'reader', $a['t_acq'],
                $b['write'] ? 'writer' : 'reader', $b['t_acq']);
        } else {
            $readersTogether++;
        }
    }
    $writes = count(array_filter($rwConfirmed, static fn ($t) => $t['write']));
    $checks[] = ['never a writer of the read-write lock beside anyone',
        $beside ? count($beside) . ' overlaps: ' . implode('; ', array_slice($beside, 0, 3))
            : sprintf('%d turns (%d confirmed held, %d writes), %d reader pairs overlapped', count($turns), count($rwConfirmed), $writes, $readersTogether),
        !$beside && $writes > 0 && count($rwConfirmed) > $writes];

    // 8d. Never two holders of a key of a multi-key lock: of the turns confirmed held at
    // release (release() true: every key was still held), no two that share a key overlap.
    [$many, $manyConfirmed, $pairs] = torture_turns($records, 'many');
    $clashes = [];
    foreach ($pairs as [$a, $b]) {
        $shared = array_intersect($a['keys'], $b['keys']);
        if ($shared !== []) {
            $clashes[] = sprintf('%s held twice at %.3f', implode('+', $shared), $b['t_acq']);
        }
    }
    $checks[] = ['never two holders of a key of a multi-key lock',
        $clashes ? count($clashes) . ' overlaps: ' . implode('; ', array_slice($clashes, 0, 3))
            : sprintf('%d multi-key turns (%d confirmed held)', count($many), count($manyConfirmed)),
        !$clashes && count($manyConfirmed) > 0];

    // 8e. Never two holders of the Redlock quorum's lock: of the turns confirmed held at release
    // (release() true: a majority still held it for this turn, so it held it on those members
    // throughout), no two overlap, though one member at a time was stopped, down, stalled or
    // disconnected (and holders stopped past their TTL, whose release() then says false).
    // Also, no lock() call on the quorum returned (a grant: a majority held it for the caller)
    // inside a turn confirmed held, whether that grant's own release() was confirmed or not (a
    // grant wrongly counted during a member's fault often cannot confirm its release either).
    [$quorum, $quorumConfirmed, $pairs] = torture_turns($records, 'quorum');
    $twice = array_map(static fn ($p) => sprintf('held at %.3f and at %.3f', $p[0]['t_acq'], $p[1]['t_acq']), $pairs);
    foreach ($quorumConfirmed as $a) {
        foreach ($quorum as $b) {
            if ($b['released'] !== true && $b['t_acq'] > $a['t_acq'] && $b['t_acq'] < $a['t_rel']) {
                $twice[] = sprintf('granted at %.3f inside a turn held from %.3f', $b['t_acq'], $a['t_acq']);
            }
        }
    }
    $long = count(array_filter($quorumConfirmed, static fn ($t) => $t['t_rel'] - $t['t_acq'] > 0.3));
    $memberFaults = array_values(array_filter($chaos, static fn ($c) => in_array($c[0], ['member-stop', 'member-down'], true)));
    $underFault = count(array_filter($quorumConfirmed, static function ($t) use ($memberFaults): bool {
        foreach ($memberFaults as [, $c0, $c1]) {
            if ($c0 <= $t['t_rel'] && $c1 >= $t['t_call']) {
                return true;
            }
        }
        return false;
    }));
    $checks[] = ['never two holders of the Redlock quorum lock (3 servers)',
        $twice ? count($twice) . ' overlaps: ' . implode('; ', array_slice($twice, 0, 3))
            : sprintf('%d quorum turns (%d confirmed held, %d of them over 0.3 s, %d with a member stopped or down)',
                count($quorum), count($quorumConfirmed), $long, $underFault),
        !$twice && count($quorumConfirmed) > 0];

    // 9. The work went on.
    $checks[] = ['work went on under chaos', count($sections) . ' sections completed', count($accepted) > 0 && count($sections) > 0];

    $chaosCounts = [];
    foreach ($chaos as [$type]) {
        $chaosCounts[$type] = ($chaosCounts[$type] ?? 0) + 1;
    }
    ksort($chaosCounts);
    $lost = count(array_filter($sections, static fn ($s) => $s['released'] === false));

    $text = sprintf("Chaos: %s\n", $chaosCounts ? implode(', ', array_map(static fn ($k, $v) => "$v $k", array_keys($chaosCounts), $chaosCounts)) : 'none');
    $text .= sprintf("Sections: %d completed, %d leases found lost at release, errors: %s\n\n", count($sections), $lost,
        $errors ? implode(', ', array_map(static fn ($k, $v) => "$v $k", array_keys($errors), $errors)) : 'none');
    $width = max(array_map(static fn ($c) => strlen($c[0]), $checks));
    $text .= sprintf("| %-{$width}s | %-6s | %s\n", 'invariant', 'result', 'detail');
    $failed = 0;
    foreach ($checks as [$name, $detail, $ok]) {
        $failed += (int) !$ok;
        $text .= sprintf("| %-{$width}s | %-6s | %s\n", $name, $ok ? 'PASS' : 'FAIL', $detail);
    }
    $text .= sprintf("\n%d passed, %d failed\n", count($checks) - $failed, $failed);
    return ['text' => $text, 'failed' => $failed];
}
