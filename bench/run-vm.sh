#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# bench/run-vm.sh OUTDIR - run the benchmark programs inside the QEMU
# guest with ksvc.ko loaded (vm/run.sh --bench, Debian's 6.12 kernel,
# TCG), then keep each program's output as OUTDIR/vm/<name>.txt and the
# files it wrote as OUTDIR/vm/<file>.  Exit status: that of the guest run
# (a failed benchmark, a leaked instance or a kernel splat fail it).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bench/run-vm.sh OUTDIR}
mkdir -p "$out/vm"
out=$(cd "$out/vm" && pwd)

cd "$here" || exit 2
[ -f build/kernel.env ] || sh scripts/deps.sh || exit 1
sh vm/run.sh --bench
st=$?

tap=build/vm/bench/tap.log
[ -f "$tap" ] || { echo "bench: no guest output ($tap)"; exit 1; }
tr -d '\r' <"$tap" | awk -v dir="$out" '
	/^# ksvc-dmesg-begin/ { exit }
	/^# ksvc-begin-plain: bench: / { f = dir "/" $4 ".txt"; printf "" >f; next }
	/^# ksvc-file: / { f = dir "/" $3; printf "" >f; next }
	/^# ksvc-end: / || /^# ksvc-file-end/ { if (f) close(f); f = ""; next }
	f { print >>f }'
echo "bench: guest results in $out/"
exit $st
