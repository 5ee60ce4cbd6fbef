// SPDX-License-Identifier: GPL-2.0
/*
 * fault.c - fault injection, built only into the test module
 * (KSVC_FAULT_INJECT=y; vm/build-module.sh ksvc-fi), never into the one
 * that is installed.
 *
 * Debian's kernels have no CONFIG_FAULT_INJECTION, so the module counts
 * its own failure points: every allocation or registration whose failure
 * it handles calls ksvc_should_fail() first (ksvc.h).  The n-th point
 * that one chosen process reaches fails, once, as the real call would
 * (a NULL allocation, -ENOMEM), and the test checks that the module
 * unwinds: the right error, nothing counted, nothing changed.
 *
 * debugfs, next to the counters (root only):
 *   fault_pid   the thread group whose calls count (0: none)
 *   fault_nth   arm: the fault_nth-th point reached fails; counts down,
 *               so it reads 0 once the failure was injected (or when
 *               disarmed) and the points still to pass otherwise
 *   fault_hits  failures injected since load
 *   fault_site  where the last one was: "file.c:line what"
 * Module parameter fault_init_nth=N arms the same for the loading process
 * before anything else is done, for the failure points of module init.
 *
 * Races whose window is too narrow to be hit every run are widened by a
 * delay point, ksvc_fault_delay() (after t0_collect()'s thread walk): a
 * refresh of an instance owned by the armed thread group busy-waits there.
 *   delay_pid   that thread group (0: none)
 *   delay_ms    how long each such refresh waits, at most
 *               KSVC_FAULT_DELAY_MAX_MS (0: none)
 *   delay_hits  delays begun since load; counted as each begins, so that
 *               a test that sees it move acts inside the window
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "ksvc.h"

static u32 ksvc_fault_pid;
static atomic_t ksvc_fault_nth = ATOMIC_INIT(0);
static atomic_t ksvc_fault_hits = ATOMIC_INIT(0);
static const char *ksvc_fault_site = "";

#define KSVC_FAULT_DELAY_MAX_MS	1000

static u32 ksvc_delay_pid;
static u32 ksvc_delay_ms;
static atomic_t ksvc_delay_hits = ATOMIC_INIT(0);

static int fault_init_nth;
module_param(fault_init_nth, int, 0400);
MODULE_PARM_DESC(fault_init_nth,
		 "test build: fail the n-th failure point of module init");

/*
 * Any context (probes call it under spinlocks): atomics only.  The site
 * is a string literal, so keeping its address is enough.
 */
bool ksvc_fault_hit(const char *site)
{
	u32 pid = READ_ONCE(ksvc_fault_pid);
	int n;

	if (!pid || task_tgid_nr(current) != pid)
		return false;
	n = atomic_read(&ksvc_fault_nth);
	do {
		if (n <= 0)
			return false;
	} while (!atomic_try_cmpxchg(&ksvc_fault_nth, &n, n - 1));
	if (n != 1)
		return false;
	WRITE_ONCE(ksvc_fault_site, site);
	atomic_inc(&ksvc_fault_hits);
	pr_info("fault injected at %s\n", site);
	return true;
}

/*
 * The delay point's callers hold rcu_read_lock(), some run from probes
 * with preemption off: nothing here may sleep, so the wait is mdelay()
 * (1 ms steps), which the bound on delay_ms keeps short of the soft
 * lockup and RCU stall detectors.
 */
void ksvc_fault_delay(struct pid *owner)
{
	u32 pid = READ_ONCE(ksvc_delay_pid);
	u32 ms = READ_ONCE(ksvc_delay_ms);

	if (!pid || !ms || pid_nr(owner) != pid)
		return;
	/* What the caller read comes before a test sees the count move. */
	smp_mb__before_atomic();
	atomic_inc(&ksvc_delay_hits);
	mdelay(min_t(u32, ms, KSVC_FAULT_DELAY_MAX_MS));
}

void ksvc_fault_init(void)
{
	if (fault_init_nth <= 0)
		return;
	atomic_set(&ksvc_fault_nth, fault_init_nth);
	WRITE_ONCE(ksvc_fault_pid, task_tgid_nr(current));
}

static int ksvc_fault_site_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "%s\n", READ_ONCE(ksvc_fault_site));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksvc_fault_site);

static int ksvc_delay_ms_get(void *data, u64 *val)
{
	*val = READ_ONCE(ksvc_delay_ms);
	return 0;
}

static int ksvc_delay_ms_set(void *data, u64 val)
{
	if (val > KSVC_FAULT_DELAY_MAX_MS)
		return -EINVAL;
	WRITE_ONCE(ksvc_delay_ms, val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(ksvc_delay_ms_fops, ksvc_delay_ms_get,
			 ksvc_delay_ms_set, "%llu\n");

void ksvc_fault_debugfs(struct dentry *dir)
{
	debugfs_create_u32("fault_pid", 0600, dir, &ksvc_fault_pid);
	debugfs_create_atomic_t("fault_nth", 0600, dir, &ksvc_fault_nth);
	debugfs_create_atomic_t("fault_hits", 0400, dir, &ksvc_fault_hits);
	debugfs_create_file("fault_site", 0400, dir, NULL,
			    &ksvc_fault_site_fops);
	debugfs_create_u32("delay_pid", 0600, dir, &ksvc_delay_pid);
	debugfs_create_file_unsafe("delay_ms", 0600, dir, NULL,
				   &ksvc_delay_ms_fops);
	debugfs_create_atomic_t("delay_hits", 0400, dir, &ksvc_delay_hits);
}
