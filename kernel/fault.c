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
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "ksvc.h"

static u32 ksvc_fault_pid;
static atomic_t ksvc_fault_nth = ATOMIC_INIT(0);
static atomic_t ksvc_fault_hits = ATOMIC_INIT(0);
static const char *ksvc_fault_site = "";

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

void ksvc_fault_debugfs(struct dentry *dir)
{
	debugfs_create_u32("fault_pid", 0600, dir, &ksvc_fault_pid);
	debugfs_create_atomic_t("fault_nth", 0600, dir, &ksvc_fault_nth);
	debugfs_create_atomic_t("fault_hits", 0400, dir, &ksvc_fault_hits);
	debugfs_create_file("fault_site", 0400, dir, NULL,
			    &ksvc_fault_site_fops);
}
