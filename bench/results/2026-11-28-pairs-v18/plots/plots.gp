
set terminal pngcairo size 1200,600 font ',11'
set output '../patch_size.png'
set title 'Patch size, % of the new image (log scale; lower is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [0.01:*]
set ylabel '% of new image'
set key outside bottom center horizontal
set grid ytics
plot 'patch_size.dat' using 2:xtic(1) title 'updelta (out of place)', 'patch_size.dat' using 3:xtic(1) title 'bsdiff / bspatch', 'patch_size.dat' using 4:xtic(1) title 'xdelta3 -9 -S lzma', 'patch_size.dat' using 5:xtic(1) title 'zstd -19 --long --patch-from', 'patch_size.dat' using 6:xtic(1) title 'zstd --ultra -22 --long --patch-from', 'patch_size.dat' using 7:xtic(1) title 'zstd -19 (no delta)'

set output '../apply_vs_memory.png'
set title 'Apply: throughput against peak RSS, one point per pair (median; upper left is better)'
unset style
set logscale xy
set autoscale
set xlabel 'peak RSS, MiB'
set ylabel 'apply, MB/s of new image'
set key outside right
plot 'apply.dat' index 0 using 3:2 with points pt 5 ps 1.6 title 'updelta (out of place)', 'apply.dat' index 1 using 3:2 with points pt 6 ps 1.6 title 'updelta (in place, journaled, posix)', 'apply.dat' index 2 using 3:2 with points pt 7 ps 1.6 title 'updelta (in place, journaled, uring)', 'apply.dat' index 3 using 3:2 with points pt 8 ps 1.6 title 'bsdiff / bspatch', 'apply.dat' index 4 using 3:2 with points pt 9 ps 1.6 title 'xdelta3 -9 -S lzma', 'apply.dat' index 5 using 3:2 with points pt 10 ps 1.6 title 'zstd -19 --long --patch-from', 'apply.dat' index 6 using 3:2 with points pt 11 ps 1.6 title 'zstd --ultra -22 --long --patch-from'
