#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# scripts/test.sh - run every test (README command 2; CI runs it).
#
# On a fresh Debian 12 machine (root, apt) this installs what is missing
# and then, phase by phase:
#   1. builds ksvc.ko for the guest kernel with W=1 and sparse (C=1),
#      and its fault-injection build (test/test_fault_module): any
#      warning fails
#   2. checkpatch.pl --strict on the kernel sources and the ABI header
#   3. compiles every public header as C11 and C++11 (the ABI header also
#      as C99), with gcc and with clang; the kernel build of step 1 covers
#      the kernel side
#   4. builds user space, plainly, with ASan+UBSan (O=build/san), with
#      ThreadSanitizer (O=build/tsan) and with
#      clang (O=build/clang; built only, warnings are errors)
#   5. runs the host tests of the plain and ASan builds (test/host.list;
#      the ASan run with counts divided by 4) and those of test/tsan.list
#      under ThreadSanitizer, then
#      test/install.sh: make install into a staging tree, a program built
#      against it alone, the installed ksvc-run and man pages, uninstall;
#      and test/harness.sh: the log check, tap-summary and run-host.sh
#      on planted failures, without a guest; and the benchmark programs,
#      briefly (their path and result checks, not their numbers)
#   6. builds the module through DKMS for the guest kernel's headers
#   7. harness self-test: the VM harness must report planted failures
#   8. boots the guest and runs test/vm.list in it (vm/run.sh --tests)
#   9. runs README command 1, scripts/demo.sh, as a user would
# and ends with "N passed, N failed[, N skipped]" over all of them.
# Exit status: 0 only if nothing failed.
#
# Results: build/test/*.tap (one stream per phase), logs in build/test/
# and build/vm/.  Environment: VM_TIMEOUT (see vm/run.sh).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
RES=build/test
rm -rf "$RES"
mkdir -p "$RES"
T0=$(date +%s)
JOBS=$(nproc 2>/dev/null || echo 2)

phase() {
	printf '\n==== %s  [%s s]\n' "$*" $(( $(date +%s) - T0 ))
}

# A section of this script's own checks: sect FILE NAME, then
# pass/fail DESCRIPTION [DIAGNOSTIC FILE], then endsect.
sect() { CUR=$RES/$1; N=0; echo "# ksvc-begin: $2" >>"$CUR"; }
pass() { N=$((N + 1)); echo "ok $N $1" | tee -a "$CUR"; }
fail() {
	N=$((N + 1))
	echo "not ok $N $1" | tee -a "$CUR"
	[ -n "${2:-}" ] && [ -s "$2" ] || return 0
	if [ "$(wc -l <"$2")" -le 60 ]; then
		cat "$2"
	else
		grep -i -E 'error|warning' "$2" | awk '!seen[$0]++' | head -n 40
		echo "... (last lines of $2:)"
		tail -n 20 "$2"
	fi | sed 's/^/# /' | tee -a "$CUR"
}
check() {	# check DESCRIPTION LOG COMMAND...: the command's success is a test
	d=$1 l=$2; shift 2
	if "$@" >"$l" 2>&1; then pass "$d"; else fail "$d" "$l"; fi
}
endsect() { { echo "1..$N"; echo "# ksvc-end: 0"; } >>"$CUR"; }

finish() {
	phase "summary"
	echo "wall time: $(( $(date +%s) - T0 )) s"
	cat "$RES"/[0-9]*.tap >"$RES/all.tap" 2>/dev/null
	sh scripts/tap-summary "$RES/all.tap"
	exit $?
}

# ---- 0. dependencies ----------------------------------------------------
phase "0. dependencies (scripts/deps.sh)"
sect 00-deps.tap "deps"
if sh scripts/deps.sh; then
	pass "scripts/deps.sh"
	endsect
else
	fail "scripts/deps.sh"
	endsect
	finish
fi
. build/kernel.env
echo "guest kernel: $KVER_VM ($VMLINUZ, headers $KDIR_VM)"

# ---- 1. the module, W=1 and sparse --------------------------------------
phase "1. ksvc.ko for $KVER_VM with W=1 C=1 (sparse)"
sect 01-module.tap "build: ksvc.ko (W=1 C=1)"
# First the top-level make, as users run it, with a user-space O= (which
# kbuild would take for its output directory); its in-tree outputs are
# removed again before the build below.
LOG=$RES/module-make-o.log
if make KDIR="$KDIR_VM" O=build/o-check >"$LOG" 2>&1 && [ -f ksvc.ko ]; then
	pass "make O=<dir> (the top-level Makefile) builds ksvc.ko in the tree"
else
	fail "make O=<dir> (the top-level Makefile) builds ksvc.ko in the tree" "$LOG"
fi
make KDIR="$KDIR_VM" modules-clean >/dev/null 2>&1
rm -rf build/o-check
LOG=$RES/module-build.log
if sh vm/build-module.sh --clean ksvc W=1 C=1 >"$LOG" 2>&1 &&
   [ -f build/kmod/ksvc/ksvc.ko ]; then
	pass "ksvc.ko builds"
	MODULE_OK=1
else
	fail "ksvc.ko builds" "$LOG"
	MODULE_OK=
fi
grep -i -E '(warning|error):' "$LOG" >"$RES/module-warnings.log"
if [ -s "$RES/module-warnings.log" ]; then
	fail "the build prints no warning (compiler W=1, sparse, modpost)" "$RES/module-warnings.log"
else
	pass "the build prints no warning (compiler W=1, sparse, modpost)"
fi
# The fault-injection build that test/test_fault_module loads in the guest
# (kernel/fault.c): as clean as the module that is installed.
LOG=$RES/module-fi-build.log
if sh vm/build-module.sh --clean ksvc-fi W=1 C=1 >"$LOG" 2>&1 &&
   [ -f build/kmod/ksvc-fi/ksvc.ko ] &&
   ! grep -q -i -E '(warning|error):' "$LOG"; then
	pass "the fault-injection build of ksvc.ko builds without a warning"
else
	fail "the fault-injection build of ksvc.ko builds without a warning" "$LOG"
fi
# The same headers with the options the hooks depend on turned off (user
# namespaces, sysctl, kprobes, debugfs, 32-bit compat), as some kernels
# are built: the module must still build, warning-free (a kernel with
# CONFIG_WERROR makes a warning fatal), the hooks that need them left
# out.  Only the configuration changes, in a copy of the header tree.
LOG=$RES/module-variant.log
KV=build/kvariant
rm -rf "$KV"
mkdir -p "$KV/src"
(
	cp -a "$KDIR_VM/." "$KV/kdir" &&
	for l in scripts tools; do
		t=$(readlink -f "$KDIR_VM/$l") && rm -f "$KV/kdir/$l" &&
			ln -s "$t" "$KV/kdir/$l" || exit 1
	done &&
	for c in USER_NS PROC_SYSCTL KPROBES KRETPROBES DEBUG_FS \
		 IA32_EMULATION COMPAT; do
		sed -i "/^#define CONFIG_$c /d" "$KV/kdir/include/generated/autoconf.h" &&
		sed -i "/^CONFIG_$c=/d" "$KV/kdir/include/config/auto.conf" \
			"$KV/kdir/.config" || exit 1
	done &&
	cp -a Kbuild kernel include "$KV/src/" &&
	make -C "$KV/kdir" M="$PWD/$KV/src" W=1 modules &&
	[ -f "$KV/src/ksvc.ko" ]
) >"$LOG" 2>&1
st=$?
grep -i -E '(warning|error):' "$LOG" >"$RES/module-variant-warnings.log"
if [ $st = 0 ] && [ ! -s "$RES/module-variant-warnings.log" ]; then
	pass "ksvc.ko builds without a warning where the kernel has no user namespaces, sysctl, kprobes, debugfs or 32-bit compat"
else
	fail "ksvc.ko builds without a warning where the kernel has no user namespaces, sysctl, kprobes, debugfs or 32-bit compat" "$LOG"
fi
rm -rf "$KV"
endsect

# ---- 2. checkpatch --------------------------------------------------------
phase "2. checkpatch.pl --strict"
sect 02-checkpatch.tap "checkpatch"
CP=build/checkpatch
if [ ! -f "$CP/checkpatch.pl" ]; then
	mkdir -p "$CP"
	echo "extracting checkpatch.pl from /usr/src/linux-source-6.12.tar.xz"
	tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$CP" \
		--strip-components=2 --occurrence=1 \
		linux-source-6.12/scripts/checkpatch.pl \
		linux-source-6.12/scripts/spelling.txt \
		linux-source-6.12/scripts/const_structs.checkpatch ||
		rm -f "$CP/checkpatch.pl"
fi
if [ -f "$CP/checkpatch.pl" ]; then
	# Each file is checked in a scratch directory, outside any git tree,
	# at the path the kernel would give it: the ABI header as a uapi
	# header (include/uapi/), which is what it is, so that checkpatch
	# applies its uapi rules (e.g. __u32 rather than u32).
	# Any ERROR, WARNING or CHECK fails.  The only exemption: compat.h,
	# which exists to hold the kernel-version tests an out-of-tree
	# module needs (LINUX_VERSION_CODE), written the usual way
	# (LINUX_VERSION_CODE >= KERNEL_VERSION(...), which checkpatch takes
	# for a constant on the left).
	CPT=$(mktemp -d "${TMPDIR:-/tmp}/ksvc-checkpatch.XXXXXX")
	for f in kernel/*.[ch] include/ksvc_uapi.h test/kmod/*.c; do
		[ -f "$f" ] || continue
		ign=
		case $f in
		include/ksvc_uapi.h) as=include/uapi/linux/ksvc_uapi.h ;;
		kernel/compat.h) as=$f; ign="--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON" ;;
		*) as=$f ;;
		esac
		mkdir -p "$CPT/$(dirname "$as")"
		cp "$f" "$CPT/$as"
		out=$RES/checkpatch-$(echo "$f" | tr / _).log
		# shellcheck disable=SC2086
		(cd "$CPT" && perl "$ROOT/$CP/checkpatch.pl" --no-tree --strict \
			--terse --show-types --no-summary $ign -f "$as") \
			>"$out.raw" 2>"$out.stderr"
		st=$?
		sed "s|$as|$f|" "$out.raw" >"$out"
		if [ -s "$out" ]; then
			fail "checkpatch --strict${ign:+ $ign} $f" "$out"
		elif [ $st != 0 ]; then
			fail "checkpatch --strict${ign:+ $ign} $f (exit status $st)" "$out.stderr"
		else
			pass "checkpatch --strict${ign:+ $ign} $f"
		fi
	done
	rm -rf "$CPT"
else
	fail "extract checkpatch.pl from linux-source-6.12"
fi
endsect

# ---- 3. headers as C and C++ -------------------------------------------
phase "3. public headers compile as C11 and C++11 (gcc and clang)"
sect 03-headers.tap "headers"
for h in include/*.h; do
	b=$(basename "$h")
	printf '#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' "$b" "$b" \
		>"$RES/hdr.c"
	for cc in gcc clang; do
		cxx=g++
		[ $cc = clang ] && cxx=clang++
		check "$h compiles as C11 with $cc (twice included)" \
			"$RES/hdr-$b-$cc-c11.log" \
			$cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude \
			-fsyntax-only "$RES/hdr.c"
		if [ "$b" = ksvc_uapi.h ]; then
			check "$h compiles as C99 with $cc" \
				"$RES/hdr-$b-$cc-c99.log" \
				$cc -std=c99 -Wall -Wextra -Werror -pedantic \
				-Iinclude -fsyntax-only "$RES/hdr.c"
		fi
		# The layout a 32-bit or x32 process sees is the same:
		# the header's static asserts hold there too.
		if [ "$b" = ksvc_uapi.h ] && [ $cc = gcc ]; then
			for m in -m32 -mx32; do
				check "$h compiles for $m with $cc (its layout asserts hold)" \
					"$RES/hdr-$b-$cc$m.log" \
					$cc $m -std=c11 -Wall -Wextra -Werror \
					-pedantic -Iinclude -fsyntax-only \
					"$RES/hdr.c"
			done
		fi
		check "$h compiles as C++11 with $cxx" \
			"$RES/hdr-$b-$cc-cxx.log" \
			$cxx -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude \
			-fsyntax-only -x c++ "$RES/hdr.c"
	done
done
endsect

# ---- 4. user space ---------------------------------------------------------
phase "4. user space: plain, SAN=1 O=build/san, and with clang"
sect 04-build.tap "build: user space"
TARGETS="lib test"
make -n examples >/dev/null 2>&1 && TARGETS="$TARGETS examples"
check "make $TARGETS" "$RES/build-user.log" make -j"$JOBS" $TARGETS
check "make $TARGETS SAN=1 O=build/san" "$RES/build-san.log" \
	make -j"$JOBS" $TARGETS SAN=1 O=build/san
check "make $TARGETS TSAN=1 O=build/tsan" "$RES/build-tsan.log" \
	make -j"$JOBS" $TARGETS TSAN=1 O=build/tsan
# Users build with clang too: its warnings are errors as well.  Only
# built: the tests run from the gcc builds.  With _FORTIFY_SOURCE, which
# Ubuntu's compilers turn on by default: glibc then marks calls such as
# write() whose result must not be ignored.
check "make $TARGETS CC=clang OPT='-O2 -D_FORTIFY_SOURCE=3' O=build/clang" \
	"$RES/build-clang.log" \
	make -j"$JOBS" $TARGETS CC=clang OPT="-O2 -D_FORTIFY_SOURCE=3" \
	O=build/clang
# The benchmark programs in C, the two C echo servers among them, which
# test/test_echo also runs (make bench adds the Rust and Go servers).
check "make bench-progs" "$RES/build-bench.log" make -j"$JOBS" bench-progs
endsect

# ---- 5. host tests ---------------------------------------------------------
# host_run STREAM COMMAND...: COMMAND (a test/run-host.sh) writes STREAM;
# one that wrote nothing (a list it could not read) is a failure, never
# a phase that quietly drops out of the count.
host_run() {
	hr_f=$1; shift
	rm -f "$hr_f"
	"$@"
	hr_rc=$?
	[ -s "$hr_f" ] ||
		printf '# ksvc-begin: %s\n1..1\nnot ok 1 %s wrote no results (exit %s)\n# ksvc-end: 1\n' \
			"$(basename "$hr_f" .tap)" "$*" "$hr_rc" >"$hr_f"
}
phase "5. host tests (test/host.list)"
host_run "$RES/05-host.tap" \
	env O=. sh test/run-host.sh -o "$RES/05-host.tap"
# The sanitized run divides the big counts by 4 (8 threads x 250000
# operations in test_dispatch_mt, not a million): the same paths, in a
# quarter of the time; the plain run above keeps the full counts.
phase "5. host tests under ASan+UBSan (test/host.list, O=build/san, counts / 4)"
host_run "$RES/05-host-san.tap" env KSVC_TEST_SCALE=4 O=build/san \
	sh test/run-host.sh -o "$RES/05-host-san.tap"
phase "5. host tests under ThreadSanitizer (test/tsan.list, O=build/tsan)"
host_run "$RES/05-host-tsan.tap" env O=build/tsan \
	sh test/run-host.sh -l test/tsan.list -o "$RES/05-host-tsan.tap"

# ---- 5b. make install -------------------------------------------------------
phase "5b. make install / uninstall into a staging tree (test/install.sh)"
{
	echo "# ksvc-begin: install: test/install.sh"
	sh test/install.sh 2>&1
	echo "# ksvc-end: $?"
} | tee "$RES/05b-install.tap"

# ---- 5c. the harness's own verdicts ----------------------------------------
phase "5c. the harness's verdicts (test/harness.sh)"
{
	echo "# ksvc-begin: harness: test/harness.sh"
	sh test/harness.sh 2>&1
	echo "# ksvc-end: $?"
} | tee "$RES/05c-harness.tap"

# ---- 5d. the benchmarks run -------------------------------------------------
# Not for their numbers: each cell must have measured the path its column
# names (bench_ops exits 1 on an INVALID cell), every result and id is
# checked, and each accessor must agree with its system call.
phase "5d. benchmarks, briefly (bench_ops 30 ms cells, bench_tier0)"
sect 05d-bench.tap "bench: short runs"
check "bench_ops: every cell measured the path its column names" \
	"$RES/bench-ops.log" build/bench/bench_ops --time-ms 30 --rounds 1 \
	--batches 1,32 --csv "$RES/bench_ops.csv"
check "bench_tier0: every accessor agrees with its system call" \
	"$RES/bench-tier0.log" build/bench/bench_tier0
endsect

# ---- 6. DKMS -----------------------------------------------------------------
phase "6. DKMS build for $KVER_VM"
sect 06-dkms.tap "dkms"
# A private DKMS tree and source tree, so that nothing installed on the
# machine is touched (and an installed ksvc does not get in the way).
DT=$(mktemp -d "${TMPDIR:-/tmp}/ksvc-dkms.XXXXXX")
PV=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
mkdir -p "$DT/tree"
# The files make dkms-install copies to /usr/src, and only those.
check "make dkms-source (the sources make dkms-install copies)" \
	"$RES/dkms-source.log" make dkms-source DKMS_SOURCETREE="$DT/src"
D="dkms --dkmstree $DT/tree --sourcetree $DT/src"
check "dkms add ksvc/$PV" "$RES/dkms-add.log" $D add -m ksvc -v "$PV"
check "dkms build ksvc/$PV -k $KVER_VM" "$RES/dkms-build.log" \
	$D build -m ksvc -v "$PV" -k "$KVER_VM"
KO=$(find "$DT/tree/ksvc/$PV/$KVER_VM" -name 'ksvc.ko*' 2>/dev/null | head -n 1)
vm=$( [ -n "$KO" ] && modinfo -F vermagic "$KO" 2>/dev/null | cut -d' ' -f1)
if [ -n "$KO" ] && [ "$vm" = "$KVER_VM" ]; then
	pass "the DKMS-built ksvc.ko has vermagic $KVER_VM"
else
	echo "module: ${KO:-none}, vermagic: ${vm:-none}" >"$RES/dkms-vermagic.log"
	fail "the DKMS-built ksvc.ko has vermagic $KVER_VM" "$RES/dkms-vermagic.log"
fi
# Kernels the module cannot build for are skipped (exit 77), so that a
# kernel upgrade to one does not fail: older than 6.1 by name, PREEMPT_RT
# or pages other than 4 KiB by its configuration (a kernel tree of
# nothing but such a .config; without the option DKMS would go on, and
# fail for want of headers), other architectures by name.
skipped() {	# skipped DESCRIPTION LOG COMMAND...: COMMAND exits 77, saying why
	d=$1 l=$2; shift 2
	"$@" >"$l" 2>&1
	rc=$?
	if [ $rc -eq 77 ] && grep -q BUILD_EXCLUSIVE "$l"; then
		pass "$d"
	else
		echo "exit $rc" >>"$l"
		fail "$d" "$l"
	fi
}
skipped "dkms skips a 5.10 kernel (BUILD_EXCLUSIVE_KERNEL)" \
	"$RES/dkms-old.log" $D build -m ksvc -v "$PV" -k 5.10.0-99-amd64
mkdir -p "$DT/rt"
echo CONFIG_PREEMPT_RT=y >"$DT/rt/.config"
skipped "dkms skips a PREEMPT_RT kernel (BUILD_EXCLUSIVE_CONFIG)" \
	"$RES/dkms-rt.log" $D build -m ksvc -v "$PV" -k "$KVER_VM-rt" \
	--kernelsourcedir "$DT/rt"
mkdir -p "$DT/64k"
echo CONFIG_ARM64_64K_PAGES=y >"$DT/64k/.config"
skipped "dkms skips an arm64 kernel with 64 KiB pages (BUILD_EXCLUSIVE_CONFIG)" \
	"$RES/dkms-64k.log" $D build -m ksvc -v "$PV" -k "$KVER_VM-64k" \
	-a aarch64 --kernelsourcedir "$DT/64k"
skipped "dkms skips a ppc64le kernel (BUILD_EXCLUSIVE_ARCH)" \
	"$RES/dkms-ppc.log" $D build -m ksvc -v "$PV" -k "$KVER_VM" \
	-a ppc64le
check "dkms remove ksvc/$PV" "$RES/dkms-remove.log" \
	$D remove -m ksvc -v "$PV" --all
rm -rf "$DT"
endsect

# ---- 7. harness self-test ----------------------------------------------------
phase "7. VM harness self-test (vm/run.sh --selftest)"
sh vm/run.sh --selftest
cp build/vm/selftest/results.tap "$RES/07-vm-selftest.tap" 2>/dev/null ||
	printf '# ksvc-begin: vm: harness self-test\n1..1\nnot ok 1 vm/run.sh --selftest produced no verdict\n# ksvc-end: 1\n' \
		>"$RES/07-vm-selftest.tap"

# ---- 8. the tests in the guest -----------------------------------------------
phase "8. tests in the guest (vm/run.sh --tests)"
if [ -n "$MODULE_OK" ]; then
	sh vm/run.sh --no-build --tests
	cp build/vm/tests/results.tap "$RES/08-vm.tap" 2>/dev/null ||
		printf '# ksvc-begin: vm: tests\n1..1\nnot ok 1 vm/run.sh --tests produced no results\n# ksvc-end: 1\n' \
			>"$RES/08-vm.tap"
else
	printf '# ksvc-begin: vm: tests\n1..1\nnot ok 1 guest tests not run: ksvc.ko did not build\n# ksvc-end: 1\n' \
		>"$RES/08-vm.tap"
fi

# ---- 9. README command 1 -----------------------------------------------------
# What a user runs first must keep working: scripts/demo.sh as it is (deps,
# build, boot, load, the examples, unload), its guest results counted too.
phase "9. README command 1 (scripts/demo.sh)"
sect 09-demo.tap "README command 1: scripts/demo.sh"
rm -f build/vm/demo/results.tap
check "scripts/demo.sh exits 0" "$RES/demo.log" sh scripts/demo.sh
endsect
cat build/vm/demo/results.tap >>"$RES/09-demo.tap" 2>/dev/null ||
	printf '# ksvc-begin: vm: demo\n1..1\nnot ok 1 scripts/demo.sh produced no guest results\n# ksvc-end: 1\n' \
		>>"$RES/09-demo.tap"

finish
