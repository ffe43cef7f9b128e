set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'ablation_lmd_mouth.png'
set title 'ablation: lmd_mouth ↓ of each variant minus fym (mean ± std over clip × edit cells)'
set ylabel 'difference (px)'
set style fill solid 0.6 border -1
set boxwidth 0.6
set xtics rotate by -30
set grid ytics
set xzeroaxis lt -1
unset key
plot 'data/ablation_lmd_mouth.dat' using 1:3:xtic(2) with boxes lc rgb '#228833', \
     '' using 1:3:4 with yerrorbars lc rgb 'black' pt 0
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'ablation_lmd_mouth.svg'
replot
unset output
