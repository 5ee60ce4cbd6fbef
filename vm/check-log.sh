#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# vm/check-log.sh FILE... - look for kernel splats in guest kernel logs.
#
# Prints every offending line (FILE:LINE: text, at most 100) and exits 1
# if there is any, 0 if the logs are clean.  What counts as a splat:
# oopses, BUG/WARNING reports, general protection faults, KFENCE and
# SLUB debug reports, UBSAN, list and refcount corruption, call traces,
# hung tasks, RCU stalls, lockups and panics.  Not splats: the taint
# notices for an unsigned out-of-tree module ("module verification
# failed", "loading out-of-tree module taints kernel") and reports about
# user-space faults ("traps: prog[pid] general protection fault ...",
# "segfault at"), which the tests themselves account for.

awk '
function hit(    t) {
	t = $0
	sub(/\r+$/, "", t)
	n++
	if (n <= 100)
		print FILENAME ":" FNR ": " t
}
# A user-space fault reported by the kernel is not a kernel splat.
/traps: .*\[[0-9]+\] .*(general protection|trap|fault)/ { next }
/ segfault at [0-9a-f]+ ip / { next }
/Oops/ ||
/BUG:/ ||
/WARNING:/ ||
/kernel BUG/ ||
/general protection fault/ ||
/KFENCE/ ||
/Poison overwritten/ ||
/Redzone/ ||
/Object padding/ ||
/Padding overwritten/ ||
/Freepointer corrupt/ ||
/Freechain corrupt/ ||
/Object already free/ ||
/slab_free/ ||
/UBSAN/ ||
/list_add corruption/ ||
/list_del corruption/ ||
/refcount_t:/ ||
/Call Trace/ ||
/INFO: task .* blocked for more than/ ||
/RCU stall/ ||
/rcu_sched self-detected/ ||
/rcu_preempt self-detected/ ||
/detected (expedited )?stalls? on/ ||
/soft lockup/ ||
/hard LOCKUP/ ||
/Kernel panic/ ||
/Unable to handle kernel/ ||
/stack-protector/ ||
/BUG [^ ]+ \((Not tainted|Tainted)/ ||
/Bad page state/ ||
/Bad page map/ ||
/page dumped because/ ||
/unreferenced object/ {
	hit()
}
END {
	if (n > 100)
		print "... and " n - 100 " more"
	exit n ? 1 : 0
}
' "$@"
