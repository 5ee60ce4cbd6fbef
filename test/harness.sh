#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# test/harness.sh - the harness's own verdicts, on the host, without a
# guest: vm/check-log.sh on kernel log lines written in the shape each
# kind of splat takes (and on harmless lines it must let through),
# scripts/tap-summary on streams that must fail, and test/run-host.sh on
# a program that leaves a process behind.  vm/run.sh --selftest checks
# the same verdicts end to end in a guest, for fewer kinds.  Prints TAP.
#
# Usage: sh test/harness.sh   (from anywhere)
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=harness
. "$ROOT/test/tap-sh.inc"

# -- vm/check-log.sh -----------------------------------------------------------
cat >"$tmp/splats" <<'EOF'
[   12.345678] WARNING: CPU: 1 PID: 234 at kernel/tier0.c:99 t0_refresh+0x1a/0x2b0 [ksvc]
[   12.345678] BUG: KASAN: slab-use-after-free in t0_collect+0x10/0x20 [ksvc]
[   12.345678] Oops: general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] PREEMPT SMP NOPTI
[   12.345678] kernel BUG at mm/slub.c:1234!
[   12.345678] BUG kmalloc-64 (Tainted: G    B      OE     ): Poison overwritten
[   12.345678] BUG: KFENCE: use-after-free read in ksvc_release+0x1/0x2 [ksvc]
[   12.345678] UBSAN: shift-out-of-bounds in kernel/main.c:10:20
[   12.345678] refcount_t: underflow; use-after-free.
[   12.345678] list_add corruption. next->prev should be prev (ffff888001), but was 0000000000000000.
[   12.345678] INFO: task test_rmmod:321 blocked for more than 122 seconds.
[   12.345678] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[   12.345678] rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-... } 21 jiffies s: 1 root: 0x2/.
[   12.345678] INFO: rcu_tasks detected stalls on tasks:
[   12.345678] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [test_x:77]
[   12.345678] Kernel panic - not syncing: Fatal exception
[   12.345678] BUG: Bad page state in process test_x  pfn:12345
[   12.345678] unreferenced object 0xffff888003a1b200 (size 64):
[   12.345678] Call Trace:
EOF
cat >"$tmp/harmless" <<'EOF'
[    1.234567] ksvc: loading out-of-tree module taints kernel.
[    1.234567] ksvc: module verification failed: signature and/or required key missing - tainting kernel
[    1.234567] traps: test_mmap[123] general protection fault ip:401000 sp:7ffd00001000 error:0 in test_mmap[401000+1000]
[    1.234567] test_mmap[124]: segfault at 7f0000001000 ip 0000000000401234 sp 00007ffd00001000 error 6 in test_mmap[401000+2000]
[    1.234567] random: crng init done
[    1.234567] ksvc: hook sethostname attached
EOF
missed=
while IFS= read -r line; do
	printf '%s\n' "$line" >"$tmp/one"
	sh "$ROOT/vm/check-log.sh" "$tmp/one" >/dev/null ||
		continue
	missed="$missed
$line"
done <"$tmp/splats"
nsplat=$(wc -l <"$tmp/splats")
if [ -z "$missed" ]; then
	ok "check-log.sh reports each of $nsplat kinds of kernel splat"
else
	not_ok "check-log.sh reports each of $nsplat kinds of kernel splat"
	printf '%s\n' "$missed" | sed '/^$/d; s/^/# missed: /'
fi
if sh "$ROOT/vm/check-log.sh" "$tmp/harmless" >"$tmp/log" 2>&1; then
	ok "check-log.sh lets taint notices and user-space faults through"
else
	not_ok "check-log.sh lets taint notices and user-space faults through" \
		"$tmp/log"
fi

# -- scripts/tap-summary -------------------------------------------------------
# verdict NAME WANT_RC WANT_LAST_LINE: tap-summary on $tmp/stream
verdict() {
	sh "$ROOT/scripts/tap-summary" "$tmp/stream" >"$tmp/out" 2>&1
	rc=$?
	last=$(tail -n 1 "$tmp/out")
	if [ "$rc" = "$2" ] && [ "$last" = "$3" ]; then
		ok "tap-summary: $1 -> $3"
	else
		echo "exit $rc" >>"$tmp/out"
		not_ok "tap-summary: $1 -> $3" "$tmp/out"
	fi
}
printf '' >"$tmp/stream"
verdict "an empty stream fails" 1 "0 passed, 1 failed"
printf '# ksvc-begin: p\n1..3\nok 1\nok 2\n# ksvc-end: 0\n' >"$tmp/stream"
verdict "fewer tests than planned" 1 "2 passed, 1 failed"
printf '# ksvc-begin: p\nok 1\n# ksvc-end: 0\n' >"$tmp/stream"
verdict "no plan" 1 "1 passed, 1 failed"
printf '# ksvc-begin: p\n1..2\nok 1\nnot ok 2\n# ksvc-end: 1\n' >"$tmp/stream"
verdict "a failing test" 1 "1 passed, 1 failed"
printf '# ksvc-begin: p\n1..2\nok 1\n# not ok 2 in a comment\nok 2\n# ksvc-end: 0\n' >"$tmp/stream"
verdict "a \"not ok\" in a comment is not a result" 0 "2 passed, 0 failed"
printf '# ksvc-begin: p\n1..1\nok 1\n# ksvc-end: 139\n' >"$tmp/stream"
verdict "a program killed by SIGSEGV" 1 "1 passed, 1 failed"
printf '# ksvc-begin: p\n1..1\nok 1\n' >"$tmp/stream"
verdict "a section with no end" 1 "1 passed, 1 failed"
printf '# ksvc-begin: p\n1..0 # SKIP no device\n# ksvc-end: 0\n' >"$tmp/stream"
verdict "a whole-program skip" 0 "0 passed, 0 failed, 1 skipped"

# -- test/run-host.sh ----------------------------------------------------------
mkdir -p "$tmp/o/t"
cat >"$tmp/o/t/leave" <<'EOF'
#!/bin/sh
echo 1..1
echo ok 1 passes
(sleep 37; echo "not ok 2 late") &
exit 0
EOF
chmod +x "$tmp/o/t/leave"
start=$(date +%s)
O="$tmp/o" sh "$ROOT/test/run-host.sh" t/leave >"$tmp/out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
gone=0
for i in 1 2 3 4 5 6 7 8 9 10; do	# SIGKILL is sent, not yet delivered
	pgrep -x -f 'sleep 37' >/dev/null || { gone=1; break; }
	sleep 0.2
done
if [ "$rc" != 0 ] && [ "$took" -lt 20 ] && [ "$gone" = 1 ] &&
   grep -q '^# left processes behind: ' "$tmp/out" &&
   grep -q 'exited with status 125' "$tmp/out"; then
	ok "run-host.sh: a program that leaves a process behind fails, at once, and the process is killed"
else
	echo "exit $rc after $took s" >>"$tmp/out"
	not_ok "run-host.sh: a program that leaves a process behind fails, at once, and the process is killed" \
		"$tmp/out"
fi

tap_end
