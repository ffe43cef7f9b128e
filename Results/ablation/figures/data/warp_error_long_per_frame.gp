set encoding utf8
set terminal pngcairo noenhanced size 900,540 font 'sans,10'
set output 'warp_error_long_per_frame.png'
set title 'warp_error_long per frame (mean over clips and edits)'
set xlabel 'frame'
set ylabel 'warp_error_long (×10⁻³)'
set key outside right
set grid
plot 'data/warp_error_long_per_frame.dat' using 1:2 with linespoints pt 7 ps 0.4 title 'per-frame', \
     'data/warp_error_long_per_frame.dat' using 1:3 with linespoints pt 7 ps 0.4 title 'fym', \
     'data/warp_error_long_per_frame.dat' using 1:4 with linespoints pt 7 ps 0.4 title 'fym mhe=fourier', \
     'data/warp_error_long_per_frame.dat' using 1:5 with linespoints pt 7 ps 0.4 title 'fym mhe=none', \
     'data/warp_error_long_per_frame.dat' using 1:6 with linespoints pt 7 ps 0.4 title 'fym scales=single', \
     'data/warp_error_long_per_frame.dat' using 1:7 with linespoints pt 7 ps 0.4 title 'fym dra=static', \
     'data/warp_error_long_per_frame.dat' using 1:8 with linespoints pt 7 ps 0.4 title 'fym dra=off', \
     'data/warp_error_long_per_frame.dat' using 1:9 with linespoints pt 7 ps 0.4 title 'fym adaptation=finetune-all', \
     'data/warp_error_long_per_frame.dat' using 1:10 with linespoints pt 7 ps 0.4 title 'fym adaptation=none', \
     'data/warp_error_long_per_frame.dat' using 1:11 with linespoints pt 7 ps 0.4 title 'fym keyframe_interval=5', \
     'data/warp_error_long_per_frame.dat' using 1:12 with linespoints pt 7 ps 0.4 title 'fym keyframe_interval=20', \
     'data/warp_error_long_per_frame.dat' using 1:13 with linespoints pt 7 ps 0.4 title 'fym shared_noise=false', \
     'data/warp_error_long_per_frame.dat' using 1:14 with linespoints pt 7 ps 0.4 title 'fym warp-only'
set terminal svg noenhanced size 900,540 font 'sans,10'
set output 'warp_error_long_per_frame.svg'
replot
unset output
