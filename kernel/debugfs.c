// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs.c - /sys/kernel/debug/ksvc/, for tests and for the curious:
 *
 *   instances  live instances (freed ones drop out after an RCU grace
 *              period)
 *   pages      pages those instances hold
 *   hooks      which Tier 0 hooks are attached, their missed counts, and
 *              how many host name or id map writers the module keeps a
 *              record of (one per task that wrote, until it exits), and
 *              how many of those are writing
 *   record_writers
 *              Y (default): track those writers one by one; N: do as if
 *              their records could not be allocated (for tests; a task
 *              that has one already keeps using it).  N from the start
 *              without the sched_process_exit tracepoint, the records'
 *              only free before unload
 *
 * debugfs is root-only; the files are mode 0400 (record_writers 0600) on
 * top of that.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "ksvc.h"

static struct dentry *ksvc_debugfs_dir;

static int ksvc_instances_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "%ld\n", atomic_long_read(&ksvc_nr_instances));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksvc_instances);

static int ksvc_pages_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "%ld\n", atomic_long_read(&ksvc_nr_pages));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksvc_pages);

static int ksvc_hooks_file_show(struct seq_file *m, void *unused)
{
	ksvc_hooks_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksvc_hooks_file);

void ksvc_debugfs_init(void)
{
	/* debugfs failures are not fatal and need no checking. */
	ksvc_debugfs_dir = debugfs_create_dir("ksvc", NULL);
	debugfs_create_file("instances", 0400, ksvc_debugfs_dir, NULL,
			    &ksvc_instances_fops);
	debugfs_create_file("pages", 0400, ksvc_debugfs_dir, NULL,
			    &ksvc_pages_fops);
	debugfs_create_file("hooks", 0400, ksvc_debugfs_dir, NULL,
			    &ksvc_hooks_file_fops);
	debugfs_create_bool("record_writers", 0600, ksvc_debugfs_dir,
			    &ksvc_t0_record_writers);
	ksvc_fault_debugfs(ksvc_debugfs_dir);
}

void ksvc_debugfs_exit(void)
{
	debugfs_remove(ksvc_debugfs_dir);
}
