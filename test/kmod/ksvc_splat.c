// SPDX-License-Identifier: GPL-2.0
/*
 * ksvc_splat.ko - a module that misbehaves on purpose, so that the VM
 * harness can prove it notices (vm/run.sh --selftest).  Never load it
 * anywhere but in the test guest.
 *
 *   warn=1  WARN_ON(1) at load: a kernel splat the log scan must report
 *   leak=1  publish /sys/kernel/debug/ksvc/{instances,pages} reading 1
 *           and 0, as ksvc.ko would with one instance leaked; root may
 *           write them, so that a test program can "leak" one more
 *   pin=1   take a reference on itself so that rmmod fails
 */
#include <linux/module.h>
#include <linux/debugfs.h>
#include <linux/bug.h>

static bool warn = true;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "WARN_ON(1) at load (default: on)");

static bool leak;
module_param(leak, bool, 0444);
MODULE_PARM_DESC(leak, "report one leaked instance through debugfs");

static bool pin;
module_param(pin, bool, 0444);
MODULE_PARM_DESC(pin, "hold a reference on the module so rmmod fails");

static struct dentry *splat_dir;
static u64 splat_instances = 1;
static u64 splat_pages;

static int __init splat_init(void)
{
	pr_info("ksvc_splat: loading (warn=%d leak=%d pin=%d)\n",
		warn, leak, pin);
	WARN_ON(warn);
	if (leak) {
		splat_dir = debugfs_create_dir("ksvc", NULL);
		debugfs_create_u64("instances", 0600, splat_dir,
				   &splat_instances);
		debugfs_create_u64("pages", 0600, splat_dir, &splat_pages);
	}
	if (pin)
		__module_get(THIS_MODULE);
	return 0;
}

static void __exit splat_exit(void)
{
	debugfs_remove_recursive(splat_dir);
}

module_init(splat_init);
module_exit(splat_exit);
MODULE_DESCRIPTION("KSVC harness self-test: a module that splats on purpose");
MODULE_LICENSE("GPL");
