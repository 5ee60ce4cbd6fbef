// SPDX-License-Identifier: GPL-2.0
/*
 * ksvc - Kernel SysCall Virtualization Channel, Phase 0.
 *
 * /dev/ksvc hands each open file one instance: a submit ring, a
 * completion ring and a read-only shared page of process facts, all
 * mapped into the creating process.  This file holds the character
 * device, its file operations and the module's life cycle.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "ksvc.h"

atomic_long_t ksvc_nr_instances = ATOMIC_LONG_INIT(0);
atomic_long_t ksvc_nr_pages = ATOMIC_LONG_INIT(0);

static int ksvc_open(struct inode *inode, struct file *file)
{
	struct ksvc_file *kf;

	/* The rings are read and written: insist on O_RDWR. */
	if ((file->f_mode & (FMODE_READ | FMODE_WRITE)) !=
	    (FMODE_READ | FMODE_WRITE))
		return -EINVAL;

	kf = ksvc_should_fail("kzalloc") ? NULL :
	     kzalloc(sizeof(*kf), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!kf)
		return -ENOMEM;
	mutex_init(&kf->lock);
	file->private_data = kf;
	return 0;
}

/*
 * Called when the last reference to the file is gone: no ioctl is
 * running and no mapping exists any more (each VMA holds the file).
 */
static int ksvc_release(struct inode *inode, struct file *file)
{
	struct ksvc_file *kf = file->private_data;

	if (kf->inst) {
		ksvc_instance_release(kf->inst);
		ksvc_user_uncharge(kf->cred);
		put_cred(kf->cred);
	}
	mutex_destroy(&kf->lock);
	kfree(kf);
	return 0;
}

static struct ksvc_instance *ksvc_file_instance(struct file *file)
{
	struct ksvc_file *kf = file->private_data;

	/* Pairs with smp_store_release() in ksvc_ioctl_create(). */
	return smp_load_acquire(&kf->inst);
}

static int ksvc_check_params(const struct ksvc_create_params *p)
{
	unsigned int i;

	if (p->flags & ~KSVC_CREATE_FLAGS_ALL)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(p->reserved); i++)
		if (p->reserved[i])
			return -EINVAL;
	if (p->submit_ring_entries < KSVC_MIN_ENTRIES ||
	    p->submit_ring_entries > KSVC_MAX_ENTRIES ||
	    !is_power_of_2(p->submit_ring_entries))
		return -EINVAL;
	if (p->complete_ring_entries < KSVC_MIN_ENTRIES ||
	    p->complete_ring_entries > KSVC_MAX_ENTRIES ||
	    !is_power_of_2(p->complete_ring_entries))
		return -EINVAL;
	return 0;
}

static long ksvc_ioctl_create(struct file *file, void __user *argp)
{
	struct ksvc_file *kf = file->private_data;
	struct ksvc_create_params p;
	struct eventfd_ctx *evfd = NULL;
	struct ksvc_instance *inst;
	const struct cred *cred;
	long ret;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	ret = ksvc_check_params(&p);
	if (ret)
		return ret;

	/*
	 * One CREATE per file at a time, and none after one succeeded: a
	 * second one fails here, before it writes anything to its argp.
	 * The claim is dropped, not held, across the work and the copy out,
	 * so that no lock is held while argp faults.
	 */
	mutex_lock(&kf->lock);
	if (kf->inst || kf->creating) {
		mutex_unlock(&kf->lock);
		return -EBUSY;
	}
	kf->creating = true;
	mutex_unlock(&kf->lock);

	/*
	 * The answer goes into the same bytes.  Prove that they can all be
	 * written before anything is made, by writing back what was read:
	 * a copy that faults part way (an argument that runs from a
	 * writable page into a read-only one) then changes nothing, and a
	 * failed CREATE never leaves a half-written argument.
	 */
	if (copy_to_user(argp, &p, sizeof(p))) {
		ret = -EFAULT;
		goto out_unclaim;
	}

	cred = get_current_cred();
	ret = ksvc_user_charge(cred);		/* EMFILE past the limit */
	if (ret)
		goto out_put_cred;

	if (p.eventfd != -1) {
		evfd = eventfd_ctx_fdget(p.eventfd);	/* EBADF or EINVAL */
		if (IS_ERR(evfd)) {
			ret = PTR_ERR(evfd);
			goto out_uncharge;
		}
	}

	/* Takes ownership of evfd, success or not. */
	inst = ksvc_instance_create(&p, evfd);
	if (IS_ERR(inst)) {
		ret = PTR_ERR(inst);
		goto out_uncharge;
	}

	p.abi_version = KSVC_ABI_VERSION;
	p.features = KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH | KSVC_FEAT_TIER0 |
		     KSVC_FEAT_INFO;
	p.submit_ring_size = inst->sq.nr_pages << PAGE_SHIFT;
	p.complete_ring_size = inst->cq.nr_pages << PAGE_SHIFT;
	p.shared_page_size = inst->sp.nr_pages << PAGE_SHIFT;

	/*
	 * Copy out before publishing: once published, another thread may map
	 * the instance, and a failed CREATE must leave the file untouched.
	 */
	if (copy_to_user(argp, &p, sizeof(p))) {
		ksvc_instance_destroy(inst);
		ret = -EFAULT;
		goto out_uncharge;
	}

	mutex_lock(&kf->lock);
	kf->cred = cred;
	/* Visible to Tier 0 hooks before the first refresh. */
	ksvc_t0_register(inst);
	/* mmap and ioctls that see the pointer see the whole instance. */
	smp_store_release(&kf->inst, inst);
	kf->creating = false;
	mutex_unlock(&kf->lock);

	ksvc_t0_scan_sharers(inst);
	ksvc_t0_refresh(inst, KSVC_FRESH_ALL);
	return 0;

out_uncharge:
	ksvc_user_uncharge(cred);
out_put_cred:
	put_cred(cred);
out_unclaim:
	mutex_lock(&kf->lock);
	kf->creating = false;
	mutex_unlock(&kf->lock);
	return ret;
}

/*
 * Anyone holding the file may ask: it says nothing the holder could not
 * learn by using the file, and a forked child needs it to tell whether a
 * descriptor is still the one its parent's library opened.
 */
static long ksvc_ioctl_info(struct ksvc_instance *inst, void __user *argp)
{
	struct ksvc_info info = { .id = inst->id };

	if (ksvc_instance_owned_by_current(inst))
		info.flags |= KSVC_INFO_OWNER;
	return copy_to_user(argp, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ksvc_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ksvc_instance *inst;

	if (cmd == KSVC_IOC_CREATE)
		return ksvc_ioctl_create(file, (void __user *)arg);
	if (cmd != KSVC_IOC_NOTIFY && cmd != KSVC_IOC_REFRESH &&
	    cmd != KSVC_IOC_INFO)
		return -ENOTTY;
	/* NOTIFY and REFRESH take none, so that one can mean something later. */
	if (cmd != KSVC_IOC_INFO && arg)
		return -EINVAL;

	inst = ksvc_file_instance(file);
	if (!inst)
		return -EINVAL;
	if (cmd == KSVC_IOC_INFO)
		return ksvc_ioctl_info(inst, (void __user *)arg);
	if (!ksvc_instance_owned_by_current(inst))
		return -EACCES;

	/* Every call of the owner brings back what can be brought back. */
	ksvc_t0_recheck_sharers(inst);
	ksvc_t0_refresh(inst, KSVC_FRESH_ALL & ~READ_ONCE(inst->t0_fresh));

	if (cmd == KSVC_IOC_NOTIFY) {
		if (!inst->evfd)
			return -ENOENT;
		ksvc_eventfd_signal(inst->evfd);
	}
	return 0;
}

static int ksvc_mmap_file(struct file *file, struct vm_area_struct *vma)
{
	struct ksvc_instance *inst = ksvc_file_instance(file);

	if (!inst)
		return -EINVAL;
	return ksvc_mmap(inst, vma);
}

static const struct file_operations ksvc_fops = {
	.owner		= THIS_MODULE,
	.open		= ksvc_open,
	.release	= ksvc_release,
	.unlocked_ioctl	= ksvc_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= ksvc_mmap_file,
	.llseek		= noop_llseek,
};

static struct miscdevice ksvc_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "ksvc",
	.fops	= &ksvc_fops,
	.mode	= 0666,
};

static int __init ksvc_init(void)
{
	int ret;

	ksvc_fault_init();
	ret = ksvc_instance_init();
	if (ret)
		return ret;
	ret = ksvc_hooks_init();
	if (ret)
		goto err_instance;
	ksvc_debugfs_init();
	ret = ksvc_should_fail("misc_register") ? -ENOMEM :
	      misc_register(&ksvc_misc);
	if (ret)
		goto err_debugfs;
	return 0;

err_debugfs:
	ksvc_debugfs_exit();
	ksvc_hooks_exit();
err_instance:
	ksvc_instance_exit();
	return ret;
}

static void __exit ksvc_exit(void)
{
	misc_deregister(&ksvc_misc);
	ksvc_debugfs_exit();
	ksvc_hooks_exit();
	ksvc_instance_exit();
	ksvc_limit_exit();
}

module_init(ksvc_init);
module_exit(ksvc_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("KSVC developers");
MODULE_DESCRIPTION("KSVC: system call rings and a shared page of process facts");
MODULE_VERSION("0.1.0");
