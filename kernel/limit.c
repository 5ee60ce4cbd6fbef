// SPDX-License-Identifier: GPL-2.0
/*
 * limit.c - how many instances one user may have.
 *
 * The Tier 0 hooks find the instances of a process by walking a hash
 * bucket (tier0.c), in probe handlers that run with preemption off, on
 * system calls of every process (prlimit64, commit_creds, clone).
 * Without a bound, one user could pile thousands of instances into one
 * bucket and slow down the system calls of every process that hashes
 * there.  So instances are counted per user, and KSVC_IOC_CREATE fails
 * with EMFILE past max_user_instances, as inotify_init() does past its
 * own per-user limit.
 *
 * Who is charged: the real uid of the creating process (as RLIMIT_NPROC
 * counts processes), and the owner of its user namespace and of every
 * namespace above it, each once, with the same limit.  A user who may
 * map a range of ids into a namespace of their own (subordinate ids)
 * could otherwise take max_user_instances as each of those ids; this is
 * how the kernel's own counts in user namespaces (ucounts) charge the
 * namespace's creator.  So every process in a container made by one
 * user shares that user's count.  The count is taken back when the file
 * goes, from the credentials that were charged, whatever the creator's
 * have become since.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/user_namespace.h>

#include "ksvc.h"

static unsigned int max_user_instances = 1024;
module_param(max_user_instances, uint, 0644);
MODULE_PARM_DESC(max_user_instances,
		 "instances one user may have at once (default 1024)");

struct ksvc_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int count;
};

static DEFINE_HASHTABLE(ksvc_users, 6);
static DEFINE_SPINLOCK(ksvc_users_lock);

static struct ksvc_user *ksvc_user_find(kuid_t uid)
{
	struct ksvc_user *u;

	hash_for_each_possible(ksvc_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/* Count one more instance for @uid: 0, -EMFILE or -ENOMEM.  Sleeps. */
static int ksvc_uid_charge(kuid_t uid)
{
	struct ksvc_user *u, *new, *unused = NULL;
	int ret = 0;

	/* Most users have one already; allocate outside the lock anyway. */
	new = ksvc_should_fail("kzalloc") ? NULL :
	      kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!new)
		return -ENOMEM;
	new->uid = uid;

	spin_lock(&ksvc_users_lock);
	u = ksvc_user_find(uid);
	if (!u) {
		u = new;
		hash_add(ksvc_users, &u->node, __kuid_val(uid));
	} else {
		unused = new;
	}
	if (u->count >= READ_ONCE(max_user_instances)) {
		ret = -EMFILE;
		if (!u->count) {	/* a limit of 0: leave nothing behind */
			hash_del(&u->node);
			unused = u;
		}
	} else {
		u->count++;
	}
	spin_unlock(&ksvc_users_lock);
	kfree(unused);
	return ret;
}

/* Take back one instance of @uid (charged before). */
static void ksvc_uid_uncharge(kuid_t uid)
{
	struct ksvc_user *u, *gone = NULL;

	spin_lock(&ksvc_users_lock);
	u = ksvc_user_find(uid);
	if (!WARN_ON_ONCE(!u || !u->count) && !--u->count) {
		hash_del(&u->node);
		gone = u;
	}
	spin_unlock(&ksvc_users_lock);
	kfree(gone);
}

/* The real uid and the namespaces' owners (33 levels at most), once each. */
#define KSVC_CHARGED_MAX	40

static unsigned int ksvc_charged_uids(const struct cred *cred, kuid_t *uids)
{
	const struct user_namespace *ns;
	unsigned int n = 0, i;

	uids[n++] = cred->uid;
	for (ns = cred->user_ns; ns != &init_user_ns && n < KSVC_CHARGED_MAX;
	     ns = ns->parent) {
		for (i = 0; i < n && !uid_eq(uids[i], ns->owner); i++)
			;
		if (i == n)
			uids[n++] = ns->owner;
	}
	return n;
}

/*
 * ksvc_user_charge - count one more instance for the user of @cred and
 * the owners of its user namespaces.  Returns 0, -EMFILE when one of
 * them has max_user_instances already (nothing is then charged), or
 * -ENOMEM.  Sleeps.
 */
int ksvc_user_charge(const struct cred *cred)
{
	kuid_t uids[KSVC_CHARGED_MAX];
	unsigned int n = ksvc_charged_uids(cred, uids), i;
	int ret = 0;

	for (i = 0; i < n; i++) {
		ret = ksvc_uid_charge(uids[i]);
		if (ret)
			break;
	}
	if (ret)
		while (i--)
			ksvc_uid_uncharge(uids[i]);
	return ret;
}

/* ksvc_user_uncharge - take back what ksvc_user_charge(@cred) counted. */
void ksvc_user_uncharge(const struct cred *cred)
{
	kuid_t uids[KSVC_CHARGED_MAX];
	unsigned int n = ksvc_charged_uids(cred, uids), i;

	for (i = 0; i < n; i++)
		ksvc_uid_uncharge(uids[i]);
}

/* At unload every file is gone, so every count is back to nothing. */
void ksvc_limit_exit(void)
{
	WARN_ON_ONCE(!hash_empty(ksvc_users));
}
