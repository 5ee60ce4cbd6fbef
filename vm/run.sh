#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# vm/run.sh - boot Debian's 6.12 kernel in QEMU (TCG), load ksvc.ko, run
# tests inside the guest, unload, and check the guest's kernel log.
#
# Usage: vm/run.sh [--no-build] MODE
#   --tests             every program in test/vm.list (the default)
#   --only PROG [ARGS]  one program, e.g. --only test/test_basic
#   --demo              vm/demo.sh (the examples) instead of tests
#   --bench             vm/bench.sh: the benchmark programs (bench/bench_*.c)
#                       with the module; bench/run-vm.sh collects their
#                       output
#   --selftest          prove that the harness notices failures: runs
#                       broken programs (vm/selftest/) and a module that
#                       WARNs, leaks and cannot be unloaded
#                       (test/kmod/), then checks that every one of those
#                       is reported; passes only if all were
#   --no-build          use what is built (build/kmod/..., test/...)
#
# Environment:
#   VM_TIMEOUT  seconds for the whole guest run (default 2400; selftest 600)
#   VM_KO       module to load instead of build/kmod/ksvc/ksvc.ko (the
#               fault-injection build, build/kmod/ksvc-fi/ksvc.ko, that
#               test/test_fault_module loads is always built from the sources)
#   VM_SMP, VM_MEM, VM_CPU   guest CPUs (2), memory (2G), CPU model (max)
#   VM_TCG_THREAD  TCG threading, single (default) or multi
#
# Output: build/vm/MODE/ (MODE = tests, only, demo or selftest):
#   console.log   the guest's kernel console (ttyS0), complete
#   tap.log       the test channel (ttyS1): test output and, at the end,
#                 the guest's dmesg
#   results.tap   what scripts/tap-summary counts (for selftest: the
#                 self-test's own verdict; the run it judged is in
#                 inner.tap)
# The last line printed is "N passed, N failed[, N skipped]"; the exit
# status is non-zero if anything failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

mode=tests
build=1
only=
while [ $# -gt 0 ]; do
	case $1 in
	--tests) mode=tests; shift ;;
	--demo) mode=demo; shift ;;
	--bench) mode=bench; shift ;;
	--selftest) mode=selftest; shift ;;
	--only)
		shift
		[ $# -gt 0 ] || { echo "run.sh: --only needs a program" >&2; exit 2; }
		mode=only; only=$*; break ;;
	--no-build) build=; shift ;;
	-h|--help) awk 'NR > 3 && !/^#/ { exit } NR > 3 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

say() { printf 'vm: %s\n' "$*"; }
die() { printf 'vm: error: %s\n' "$*" >&2; exit 1; }

# A run that stops early leaves no result of an earlier run behind.
VMDIR=build/vm/$mode
mkdir -p "$VMDIR"
rm -rf "$VMDIR/root" "$VMDIR"/*.log "$VMDIR"/*.tap "$VMDIR"/*.txt

[ -f build/kernel.env ] || sh scripts/deps.sh || die "scripts/deps.sh failed"
. build/kernel.env
[ -r "$VMLINUZ" ] || die "no kernel image $VMLINUZ (run scripts/deps.sh)"
RUNLIST=$VMDIR/run.list
EXPECTED=$VMDIR/expected
: >"$RUNLIST"

# ---- what runs in the guest -----------------------------------------
# add_entries FILE: list lines ("[timeout=S] PROG ARGS") -> run.list
add_entries() {
	sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$1" |
	while read -r first rest; do
		limit=600
		case $first in
		timeout=*) limit=${first#timeout=}; set -- $rest ;;
		*) set -- $first $rest ;;
		esac
		[ $# -gt 0 ] && echo "$limit $*"
	done >>"$RUNLIST"
}

KO=${VM_KO:-build/kmod/ksvc/ksvc.ko}
KO_NAME=ksvc
KO_PARAMS=
DEV_CHECK=1
case $mode in
tests)	add_entries test/vm.list ;;
only)	echo "$only" >"$VMDIR/only.list"; add_entries "$VMDIR/only.list" ;;
demo|bench) ;;
selftest)
	KO=build/kmod/splat/ksvc_splat.ko
	KO_NAME=ksvc_splat
	KO_PARAMS="warn=1 leak=1 pin=1"
	add_entries vm/selftest/list
	;;
esac

# ---- build -------------------------------------------------------------
if [ "$mode" = selftest ]; then
	mkdir -p build/vm/bin
	for c in vm/selftest/*.c; do
		b=build/vm/bin/$(basename "$c" .c)
		${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
			-Itest -o "$b" "$c" || die "cannot build $c"
	done
fi
if [ -n "$build" ]; then
	say "building"
	if [ "$mode" = selftest ]; then
		sh vm/build-module.sh splat >"$VMDIR/build.txt" 2>&1 ||
			{ cat "$VMDIR/build.txt"; die "building test/kmod failed"; }
	elif [ -z "${VM_KO:-}" ]; then
		sh vm/build-module.sh ksvc >"$VMDIR/build.txt" 2>&1 ||
			{ cat "$VMDIR/build.txt"; die "building ksvc.ko failed"; }
	fi
	case $mode in
	tests|only)
		sh vm/build-module.sh ksvc-fi >>"$VMDIR/build.txt" 2>&1 ||
			{ cat "$VMDIR/build.txt"; die "building the fault-injection ksvc.ko failed"; } ;;
	esac
	if [ "$mode" != selftest ]; then
		targets=lib
		case $mode in
		demo) ;;
		bench) targets="$targets bench-progs" ;;
		*) targets="$targets test" ;;
		esac
		# The guest takes the programs from build/ and build/san/:
		# O= and SAN= handed down by a calling make (make bench
		# O=build/b) must not send them elsewhere.
		ex=
		make -n examples >/dev/null 2>&1 && ex=examples
		make -s -j"$(nproc)" $targets $ex O=. SAN= ||
			die "make $targets $ex failed"
		# The sanitized tests run the sanitized examples too.
		if grep -q ' build/san/' "$RUNLIST"; then
			make -s -j"$(nproc)" lib test $ex SAN=1 O=build/san ||
				die "make lib test $ex SAN=1 O=build/san failed"
		fi
	fi
fi
[ -f "$KO" ] || die "no module $KO (build it, or drop --no-build)"

# ---- the initramfs -----------------------------------------------------
STAGE=$VMDIR/root
INITRD=$VMDIR/initramfs.cpio.gz

is_elf() {
	[ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' \n')" = 177ELF ]
}

# put SRC DEST: copy SRC to $STAGE/DEST (DEST absolute) and, for an ELF
# file, every shared library it needs (ldd), loader included.
put() {
	mkdir -p "$STAGE$(dirname "$2")"
	cp -L "$1" "$STAGE$2" || die "cannot copy $1"
	is_elf "$1" || return 0
	ldd "$1" 2>/dev/null | awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }' |
	while read -r lib; do
		[ -e "$STAGE$lib" ] && continue
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib" || die "cannot copy $lib"
	done
}

# put_tree DIR [elf]: every executable file and shared object directly
# in DIR (with "elf": only ELF programs, not scripts).
put_tree() {
	[ -d "$1" ] || return 0
	for f in "$1"/*; do
		[ -f "$f" ] || continue
		case $f in
		*.so) ;;
		*)	[ -x "$f" ] || continue
			[ "${2:-}" = elf ] && ! is_elf "$f" && continue ;;
		esac
		put "$f" "/${f#./}"
	done
}

say "building the initramfs"
mkdir -p "$STAGE"
(
	cd "$STAGE" || exit 1
	mkdir -p usr/bin usr/sbin usr/lib usr/lib64 dev proc sys tmp root \
		etc/ksvc
	ln -s usr/bin bin; ln -s usr/sbin sbin
	ln -s usr/lib lib; ln -s usr/lib64 lib64
) || die "cannot create $STAGE"
# Unmodified host programs the tests use, and dash as /bin/sh.
for p in /usr/bin/dash /usr/bin/id /usr/bin/uname /usr/bin/env /usr/bin/true; do
	put "$p" "$p"
done
ln -s dash "$STAGE/usr/bin/sh"
# busybox for everything else (its sh stays available as ash).
put /bin/busybox /usr/bin/busybox
/bin/busybox --list-full | while read -r app; do
	case $app in bin/*|sbin/*|usr/bin/*|usr/sbin/*) ;; *) continue ;; esac
	[ -e "$STAGE/$app" ] || [ -L "$STAGE/$app" ] ||
		ln -s /usr/bin/busybox "$STAGE/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
	>"$STAGE/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$STAGE/etc/group"
echo ksvc-guest >"$STAGE/etc/hostname"
[ "$(id -u)" = 0 ] && mknod -m 600 "$STAGE/dev/console" c 5 1

# The module, the init, the programs: each at its path in the tree.
put "$KO" "/$(basename "$KO")"
# The same module built with fault injection, for test/test_fault_module.
FI_KO=
case $mode in
tests|only)
	FI_KO=build/kmod/ksvc-fi/ksvc.ko
	[ -f "$FI_KO" ] || die "no module $FI_KO (build it, or drop --no-build)"
	put "$FI_KO" /ksvc-fi.ko ;;
esac
put vm/init /init
chmod 755 "$STAGE/init"
put vm/demo.sh /demo.sh
put vm/bench.sh /bench.sh
[ "$mode" = bench ] && put_tree build/bench elf
# Everything built next to a listed program comes along (helpers, the
# preload library, examples), from each build directory used.
roots=.
[ "$mode" = selftest ] && roots=
while read -r limit prog args; do
	case $prog in */test/*) roots="$roots ${prog%%/test/*}" ;; esac
	if [ -f "$prog" ]; then
		put "$prog" "/$prog"
	else
		say "warning: $prog does not exist (not built?); it will fail"
	fi
done <"$RUNLIST"
for r in $(echo $roots | tr ' ' '\n' | sort -u); do
	put_tree "$r/test" elf
	for d in examples lib tools; do put_tree "$r/$d"; done
done
cp "$RUNLIST" "$STAGE/etc/ksvc/run.list"
cat >"$STAGE/etc/ksvc/config" <<EOF
MODE=$mode
KO=/$(basename "$KO")
KO_NAME=$KO_NAME
KO_PARAMS="$KO_PARAMS"
DEV_CHECK=$DEV_CHECK
FI_KO=${FI_KO:+/ksvc-fi.ko}
EOF
(cd "$STAGE" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$INITRD" || die "cannot write $INITRD"
say "initramfs: $INITRD ($(du -k "$INITRD" | cut -f1) KiB)"

# ---- boot ----------------------------------------------------------------
# Memory debugging on; an oops panics (panic=-1 + -no-reboot: QEMU exits
# at once, and the missing results fail the run) while a WARN does not,
# so that the run goes on and every splat lands in the log.
CMDLINE="console=ttyS0,115200 loglevel=7 log_buf_len=8M slub_debug=FZPU \
kfence.sample_interval=1 init_on_free=1 page_poison=1 panic=-1 oops=panic \
mitigations=off rdinit=/init"
case $mode in selftest) timeout_s=${VM_TIMEOUT:-600} ;; *) timeout_s=${VM_TIMEOUT:-2400} ;; esac

CONSOLE=$VMDIR/console.log
TAP=$VMDIR/tap.log
: >"$CONSOLE"
: >"$TAP"
say "booting $VMLINUZ ($KVER_VM), limit $timeout_s s"
[ "$mode" = selftest ] &&
	say "self-test: the failures below are planted; it passes if each is reported"
say "kernel console: $CONSOLE"
say "test channel:   $TAP"
start=$(date +%s)
# Single-threaded TCG: with thread=multi, a vCPU can run stale translated
# code while the guest live-patches its text (text_poke_bp for static
# keys, ftrace and kprobes), which shows up as spurious "Oops: int3" at
# random; the two vCPUs still interleave, so races are still exercised.
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel "tcg,thread=${VM_TCG_THREAD:-single}" -cpu "${VM_CPU:-max}" -smp "${VM_SMP:-2}" -m "${VM_MEM:-2G}" \
	-nodefaults -no-user-config -nographic -no-reboot -monitor none \
	-kernel "$VMLINUZ" -initrd "$INITRD" -append "$CMDLINE" \
	-serial "file:$CONSOLE" -serial "file:$TAP" \
	</dev/null >"$VMDIR/qemu.txt" 2>&1 &
qpid=$!
# Show the test channel live, without the final dmesg dump (and, for the
# self-test, indented: its failures are planted ones).
[ "$mode" = selftest ] && indent="  | " || indent=
tail -n +1 -f --pid=$qpid "$TAP" 2>/dev/null | awk '
	{ sub(/\r+$/, "") }
	/^# ksvc-dmesg-begin/ { d = 1; print ind "(guest dmesg: in " tap ")"; fflush() }
	!d { print ind $0; fflush() }
	/^# ksvc-dmesg-end/ { d = 0 }' tap="$TAP" ind="$indent" &
tpid=$!
wait $qpid
qst=$?
wait $tpid 2>/dev/null
took=$(( $(date +%s) - start ))
boot=$(sed -n 's/.*ksvc-init: .*started at \([0-9.]*\) s.*/\1/p' "$CONSOLE" | head -n 1)
say "guest ran $took s (init started ${boot:-never} s after kernel start); qemu exit status $qst"
[ -s "$VMDIR/qemu.txt" ] && sed 's/^/qemu: /' "$VMDIR/qemu.txt"

# ---- verdict -------------------------------------------------------------
RESULTS=$VMDIR/results.tap
[ "$mode" = selftest ] && RESULTS=$VMDIR/inner.tap
tr -d '\r' <"$TAP" >"$RESULTS"
sed -n '/^# ksvc-dmesg-begin/,/^# ksvc-dmesg-end/p' "$RESULTS" >"$VMDIR/dmesg.log"

finished=
grep -q '^# ksvc-done' "$RESULTS" && finished=1
{
	echo "# ksvc-begin: vm: guest ran to completion"
	echo "1..1"
	if [ $qst = 124 ] || [ $qst = 137 ]; then
		echo "not ok 1 guest finished # timed out after $timeout_s s"
	elif [ -z "$finished" ]; then
		echo "not ok 1 guest finished # it stopped early (panic? see $CONSOLE)"
	elif [ $qst != 0 ]; then
		echo "not ok 1 guest finished # qemu exit status $qst"
	else
		echo "ok 1 guest finished"
	fi
	echo "# ksvc-end: 0"

	echo "# ksvc-begin: vm: guest kernel log clean"
	echo "1..1"
	if sh vm/check-log.sh "$CONSOLE" "$VMDIR/dmesg.log" >"$VMDIR/splats.txt"; then
		echo "ok 1 no oops, BUG, WARNING or memory-debugging report"
	else
		echo "not ok 1 no oops, BUG, WARNING or memory-debugging report # see $CONSOLE"
		sed 's/^/# /' "$VMDIR/splats.txt"
	fi
	echo "# ksvc-end: 0"
} >>"$RESULTS"

if [ -s "$VMDIR/splats.txt" ]; then
	say "kernel splats in the guest's log:"
	sed "s/^/${indent:-  }/" "$VMDIR/splats.txt"
fi

{
	echo "vm: load module"
	cut -d' ' -f2- "$RUNLIST" | sed 's/^/vm: /'
	if [ "$mode" = demo ]; then
		echo "demo: ksvc-demo"
		echo "demo: ksvc-echo with echo-client"
	fi
	echo "vm: no leaked instances"
	echo "vm: rmmod"
	echo "vm: kernel taint"
	echo "vm: guest ran to completion"
	echo "vm: guest kernel log clean"
} >"$EXPECTED"

say "summary ($mode):"
sh scripts/tap-summary -e "$EXPECTED" "$RESULTS" >"$VMDIR/summary.txt"
sst=$?
sed "s/^/$indent/" "$VMDIR/summary.txt"
say "logs: $CONSOLE $TAP"
[ "$mode" = selftest ] || exit $sst

# ---- selftest: was every planted failure reported? ------------------------
say "checking that the harness reported every planted failure"
S=$VMDIR/summary.txt
V=$VMDIR/results.tap
n=0
fails=0
check() {	# check DESCRIPTION COMMAND...
	d=$1; shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n $d"
	else
		echo "not ok $n $d"
		fails=$((fails + 1))
	fi
}
has() { grep -q -- "$1" "$S"; }
hasnt() { ! grep -q -- "$1" "$S"; }
B="vm: build/vm/bin"
{
	echo "# ksvc-begin: vm: harness self-test"
	echo "1..18"
	check 'a "not ok" line fails the run' \
		has "^FAIL $B/st_fail: not ok 2 selftest-expected-failure\$"
	check 'a crashed program fails the run' \
		has "^FAIL $B/st_crash: killed by SIGSEGV (after 1 of 3 tests)\$"
	check 'a non-zero exit without "not ok" fails the run' \
		has "^FAIL $B/st_exit: exited with status 3 without a failing test\$"
	check 'fewer tests than planned fail the run' \
		has "^FAIL $B/st_short: planned 3 tests but ran 2\$"
	check 'a hung program is stopped and fails the run' \
		has "^FAIL $B/st_hang: timed out (after 1 of 2 tests)\$"
	check '"Bail out!" fails the run' \
		has "^FAIL $B/st_bail: Bail out! selftest-expected-bail-out"
	check 'a process left behind fails its program (status 125)' \
		has "^FAIL $B/st_leave: exited with status 125 without a failing test\$"
	check 'an instance counted after its program is gone fails it' \
		has "^FAIL $B/st_leak: exited with status 125 without a failing test\$"
	check 'the instance left behind is named' \
		grep -q '^# left instances behind: instances and pages 2 0, before the program 1 0$' "$RESULTS"
	check 'a whole-program skip counts as skipped' \
		has "^SKIP $B/st_skip: selftest-expected-skip\$"
	check 'a missing /dev/ksvc fails the run' \
		has '^FAIL vm: load module: not ok 2 /dev/ksvc is a character device with mode 0666'
	check 'a leaked instance fails the run' \
		has '^FAIL vm: no leaked instances: not ok 1 /sys/kernel/debug/ksvc/instances reads 0 # after 10 s: 2$'
	check 'a failed rmmod fails the run' \
		has '^FAIL vm: rmmod: not ok 1 rmmod ksvc_splat'
	check 'a WARN in the guest kernel fails the run' \
		has '^FAIL vm: guest kernel log clean: not ok 1'
	check 'the WARN is named' \
		grep -q 'WARNING: .*ksvc_splat' "$VMDIR/splats.txt"
	check 'the WARN taints the kernel, which fails the run' \
		has '^FAIL vm: kernel taint: not ok 1 .* # flags W (tainted='
	check 'the passing program passes and nothing else fails' \
		has '^14 passed, 14 failed, 1 skipped$'
	check 'the run exits non-zero' test "$sst" -ne 0
	echo "# ksvc-end: $fails"
} >"$V"
cat "$V"
sh scripts/tap-summary "$V"
