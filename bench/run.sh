#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Run every benchmark: `make bench` calls this after building.
#
# usage: bench/run.sh OUTDIR [PROGRAM...]
#
# Runs each PROGRAM (the bench/bench_*.c programs, built by bench/bench.mk)
# in turn, then the echo benchmark (bench/echo_bench.sh, whose programs
# come from the environment: see that script). Each program runs with
# BENCH_OUT=OUTDIR in its environment (the place for any CSV it writes);
# its output is shown and kept in OUTDIR/<name>.txt. A program exiting 77
# is reported as skipped (it cannot run here, e.g. no /dev/ksvc); any
# other non-zero exit as failed. The others still run.
#
# Environment: BENCH_SKIP_ECHO=1 leaves out the echo benchmark;
# ECHO_BENCH_ARGS passes options to it (e.g. "-r 5"). The summary gives
# its goal verdict; tokio or Go missing because bench/deps.sh could not
# install their packages (not root) is shown there and is no failure,
# any other missing server is (echo_bench.sh exits 3).
#
# Exit status: 0 if nothing failed.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 OUTDIR [PROGRAM...]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
outdir=$1
shift
mkdir -p "$outdir" || exit 1
export BENCH_OUT="$outdir"

echo "== KSVC benchmarks"
# Where they ran, with the results too (each program's own header says
# host or guest; this says which machine).
"$here/where.sh" | tee "$outdir/where.txt"
echo

summary=()
failed=0
for prog in "$@"; do
	name=$(basename "$prog")
	echo "== $name"
	if [ ! -x "$prog" ]; then
		echo "$name: not built"
		summary+=("$name: FAILED (not built)")
		failed=1
		continue
	fi
	"$prog" 2>&1 | tee "$outdir/$name.txt"
	rc=${PIPESTATUS[0]}
	case $rc in
	0) summary+=("$name: ok ($outdir/$name.txt)") ;;
	77) summary+=("$name: skipped (cannot run here)") ;;
	*) summary+=("$name: FAILED (exit $rc)"); failed=1 ;;
	esac
	echo
done

if [ "${BENCH_SKIP_ECHO:-0}" != 1 ]; then
	echo "== echo"
	# shellcheck disable=SC2086
	"$here/echo_bench.sh" -o "$outdir" ${ECHO_BENCH_ARGS:-}
	rc=$?
	# Its verdict, and the servers missing where that is expected.
	goal=$(sed -n 's/^echo_bench: goal: //p' "$outdir/echo.txt" 2>/dev/null)
	miss=$(sed -n 's/^echo_bench: missing (expected, packages not installed)://p' "$outdir/echo.txt" 2>/dev/null)
	case $rc in
	0) summary+=("echo: ok${miss:+, without$miss (packages not installed)}; goal: ${goal:-?} ($outdir/echo.csv, $outdir/echo.txt)") ;;
	3) summary+=("echo: FAILED: servers not built (see above); goal: ${goal:-?}"); failed=1 ;;
	*) summary+=("echo: FAILED (see above)"); failed=1 ;;
	esac
	echo
fi

echo "== summary"
for s in "${summary[@]}"; do
	echo "  $s"
done
exit $failed
