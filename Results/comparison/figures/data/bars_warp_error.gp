set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'bars_warp_error.png'
set title 'warp_error ↓ (mean ± std over the edits of one clip)'
set ylabel '×10⁻³'
set yrange [0:*]
set style fill solid 0.6 border -1
set boxwidth 0.6
set xtics rotate by -30
set grid ytics
unset key
plot 'data/bars_warp_error.dat' using 1:3:xtic(2) with boxes lc rgb '#4477aa', \
     '' using 1:3:4 with yerrorbars lc rgb 'black' pt 0
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'bars_warp_error.svg'
replot
unset output
