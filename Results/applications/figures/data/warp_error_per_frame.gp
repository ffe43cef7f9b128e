set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'warp_error_per_frame.png'
set title 'warp_error per frame (mean over clips and edits)'
set xlabel 'frame'
set ylabel 'warp_error (×10⁻³)'
set key outside right
set grid
plot 'data/warp_error_per_frame.dat' using 1:2 with linespoints pt 7 ps 0.4 title 'per-frame', \
     'data/warp_error_per_frame.dat' using 1:3 with linespoints pt 7 ps 0.4 title 'fym', \
     'data/warp_error_per_frame.dat' using 1:4 with linespoints pt 7 ps 0.4 title 'deep-video-prior', \
     'data/warp_error_per_frame.dat' using 1:5 with linespoints pt 7 ps 0.4 title 'keyframe-propagation'
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'warp_error_per_frame.svg'
replot
unset output
