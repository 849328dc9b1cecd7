# libjzx's advantage over each peer, one cluster of bars per metric, log
# scale; 1 means a tie. Run by scripts/bench.sh:
#   gnuplot -e "datafile='ratios.dat'; outfile='benchmarks.png'; ncols=5" scripts/bench_chart.gp
# The data file has a header line (label, then one column per peer: ncols
# columns in all) and "-" where a peer has no such figure.
set terminal pngcairo size 1400,700 font "sans,10" noenhanced
set output outfile
set datafile missing "-"
set title "How many times better libjzx is than each peer (above 1: libjzx wins)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set yrange [0.01:1000]
set grid ytics
set xtics rotate by -35 left
set key top right
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "black"
set bmargin 9
set rmargin 10
plot for [i=2:ncols] datafile using i:xtic(1) title columnheader(i)
