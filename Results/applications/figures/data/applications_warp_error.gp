set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'applications_warp_error.png'
set title 'warp_error ↓ per application and method (mean over clips and edits)'
set ylabel '×10⁻³'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set key outside right
set grid ytics
plot for [i=2:5] 'data/applications_warp_error.dat' using i:xtic(1) title columnheader(i)
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'applications_warp_error.svg'
replot
unset output
