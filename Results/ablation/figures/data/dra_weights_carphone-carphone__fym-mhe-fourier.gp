set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'dra_weights_carphone-carphone__fym-mhe-fourier.png'
set title 'DRA landmark weights, carphone-carphone (fym-mhe-fourier; mean α per group)'
set xlabel 'update'
set ylabel 'α'
set logscale y
set key outside right
set grid
plot 'data/dra_weights_carphone-carphone__fym-mhe-fourier.dat' using 1:2 with linespoints pt 7 ps 0.5 title 'jaw', \
     'data/dra_weights_carphone-carphone__fym-mhe-fourier.dat' using 1:3 with linespoints pt 7 ps 0.5 title 'brows', \
     'data/dra_weights_carphone-carphone__fym-mhe-fourier.dat' using 1:4 with linespoints pt 7 ps 0.5 title 'nose', \
     'data/dra_weights_carphone-carphone__fym-mhe-fourier.dat' using 1:5 with linespoints pt 7 ps 0.5 title 'eyes', \
     'data/dra_weights_carphone-carphone__fym-mhe-fourier.dat' using 1:6 with linespoints pt 7 ps 0.5 title 'mouth'
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'dra_weights_carphone-carphone__fym-mhe-fourier.svg'
replot
unset output
