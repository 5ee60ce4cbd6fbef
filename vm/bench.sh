#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# vm/bench.sh - the benchmarks that need the module, run inside the guest
# by /init (as /bench.sh) with ksvc.ko loaded; bench/run-vm.sh starts it
# (vm/run.sh --bench) and collects what it prints.
#
# Each build/bench/bench_* program is one plain section whose result is
# its exit status (77: cannot run here, reported as skipped).  The files
# a program writes to $BENCH_OUT follow, between "# ksvc-file: NAME" and
# "# ksvc-file-end" lines.  Timings in the guest are TCG timings: the
# programs print ratios measured side by side, and say where they ran.
cd /
BENCH_OUT=/tmp/bench
export BENCH_OUT
mkdir -p "$BENCH_OUT"

found=
for prog in build/bench/bench_*; do
	[ -x "$prog" ] || continue
	found=1
	name=$(basename "$prog")
	echo "# ksvc-begin-plain: bench: $name"
	"$prog"
	st=$?
	[ $st = 77 ] && { echo "# skipped: cannot run here"; st=0; }
	echo "# ksvc-end: $st"
done
if [ -z "$found" ]; then
	echo "# ksvc-begin: bench: programs"
	echo "1..0 # SKIP no build/bench/bench_* program was built"
	echo "# ksvc-end: 0"
fi

for f in "$BENCH_OUT"/*; do
	[ -f "$f" ] || continue
	echo "# ksvc-file: $(basename "$f")"
	cat "$f"
	echo "# ksvc-file-end"
done
