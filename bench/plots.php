<?php
/**
 * `make bench`, last step: PNG charts from the JSON the benchmarks wrote in bench/results/,
 * drawn by gnuplot (Debian's gnuplot-nox): cycle cost, contention, PHP-FPM throughput.
 */

declare(strict_types=1);

require __DIR__ . '/clients.php';

$results = bench_results();
$gnuplot = trim((string) shell_exec('command -v gnuplot'));
if ($gnuplot === '') {
    fwrite(STDERR, "gnuplot is missing (make deps-bench installs gnuplot-nox)\n");
    exit(1);
}

/** Runs a gnuplot script with inline data blocks; returns the PNG path. */
function plot(string $gnuplot, string $png, string $script, string $size = '1000,520'): string
{
    $file = tempnam(sys_get_temp_dir(), 'plot');
    // noenhanced: names like redis_lock are text, not subscripts.
    file_put_contents($file, "set terminal pngcairo noenhanced size $size font 'DejaVu Sans,11'\nset output '$png'\n$script");
    exec(escapeshellarg($gnuplot) . ' ' . escapeshellarg($file) . ' 2>&1', $out, $code);
    unlink($file);
    if ($code !== 0) {
        throw new RuntimeException("gnuplot failed for $png: " . implode("\n", $out));
    }
    return $png;
}

/** gnuplot settings shared by the bar charts. */
const BARS = <<<'GP'
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
GP;

function label(string $s): string
{
    return '"' . str_replace('"', "'", $s) . '"';
}

$made = [];
$bars = BARS;
if (is_file("$results/cycle.json")) {
    $cycle = json_decode(file_get_contents("$results/cycle.json"), true);
    $data = '';
    foreach ($cycle['wall_us'] as $name => $us) {
        $data .= sprintf("%s %.1f %.0f\n", label($name), $us, $cycle['instructions'][$name] ?? 0);
    }
    $made[] = plot($gnuplot, "$results/cycle.png", <<<GP
\$d << EOD
$data
EOD
set multiplot layout 1,2 title "One acquire + release cycle (lower is better)"
{$bars}
set xtics rotate by -25 scale 0
set yrange [0:*]
set title "Wall time per cycle (median)"
set ylabel "microseconds"
plot \$d using 2:xtic(1) notitle lc rgb "#4472c4"
set title "Client CPU instructions per cycle (callgrind)"
set ylabel "instructions"
plot \$d using 3:xtic(1) notitle lc rgb "#ed7d31"
unset multiplot
GP);
}
if (is_file("$results/contention.json")) {
    $con = json_decode(file_get_contents("$results/contention.json"), true);
    $data = '';
    foreach ($con['rows'] as $name => $r) {
        $data .= sprintf("%s %.1f %.1f %.2f %.1f\n", label($name), $r['throughput'], $r['p99'], $r['most'] > 0 ? $r['fewest'] / $r['most'] : 0, $r['max']);
    }
    $floor = $con['hold_ms'] * 1000 / ($con['hold_ms'] * 1000 + $con['floor_us']) * 100;
    $made[] = plot($gnuplot, "$results/contention.png", <<<GP
\$d << EOD
$data
EOD
set multiplot layout 1,3 title "{$con['workers']} workers on one key, {$con['hold_ms']} ms holds"
{$bars}
set xtics rotate by -35 scale 0 font ",9"
set title "Throughput (higher is better)"
set ylabel "% of ideal (1000 / hold ms per s)"
set yrange [0:100]
set arrow 1 from graph 0, first $floor to graph 1, first $floor nohead dt 2 lc rgb "#888888"
set label 1 sprintf("fair hand-off floor %.1f%%", $floor) at graph 0.02, first $floor + 3 font ",9"
plot \$d using 2:xtic(1) notitle lc rgb "#4472c4"
unset arrow 1
unset label 1
set title "Waits (lower is better)"
set ylabel "milliseconds (log scale)"
set yrange [0.01:*]
set logscale y
set style histogram clustered gap 1
set key top left font ",9"
plot \$d using 3:xtic(1) title "p99" lc rgb "#ed7d31", '' using 5 title "longest" lc rgb "#a5a5a5"
set style histogram clustered gap 2
unset key
unset logscale y
set title "Fairness: fewest / most turns (higher is better)"
set ylabel "ratio"
set yrange [0:1.05]
plot \$d using 4:xtic(1) notitle lc rgb "#70ad47"
unset multiplot
GP, '1500,600');
}
if (is_file("$results/fpm.json")) {
    $fpm = json_decode(file_get_contents("$results/fpm.json"), true);
    $blocks = '';
    $rpsPlots = [];
    $p99Plots = [];
    $i = 0;
    foreach ($fpm['table'] as $name => $byLevel) {
        $blocks .= "\$v$i << EOD\n";
        foreach ($fpm['levels'] as $c) {
            $blocks .= sprintf("%d %.1f %.3f\n", $c, $byLevel[$c]['rps'], $byLevel[$c]['p99']);
        }
        $blocks .= "EOD\n";
        $rpsPlots[] = "\$v$i using 1:2 with linespoints lw 2 title " . label($name);
        $p99Plots[] = "\$v$i using 1:3 with linespoints lw 2 title " . label($name);
        $i++;
    }
    $rps = implode(', ', $rpsPlots);
    $p99 = implode(', ', $p99Plots);
    $made[] = plot($gnuplot, "$results/fpm.png", <<<GP
$blocks
set multiplot layout 1,2 title "PHP-FPM behind nginx: one lock per request"
set grid
set logscale x 2
set xlabel "concurrent connections (wrk)"
set key left top font ",9"
set title "Throughput (higher is better)"
set ylabel "requests per second"
set yrange [0:*]
plot $rps
set title "p99 latency (lower is better)"
set ylabel "milliseconds"
set key left top font ",9"
plot $p99
unset multiplot
GP);
}
foreach ($made as $png) {
    echo "wrote $png\n";
}
