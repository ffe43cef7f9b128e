set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'tradeoff.png'
set title 'consistency vs fidelity (better: left and up); not shown: per-frame (identical to the edit)'
set xlabel 'warp_error (×10⁻³, lower is more consistent)'
set ylabel 'edit_psnr (dB, higher keeps more of the edit)'
set grid
unset key
set offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1
plot 'data/tradeoff.dat' using 2:3 with points pt 7 ps 1.5 lc rgb '#aa3377', \
     '' using 2:3:1 with labels offset 1,1 left
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'tradeoff.svg'
replot
unset output
