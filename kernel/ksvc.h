/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksvc.h - internal interfaces of ksvc.ko.
 */
#ifndef KSVC_INTERNAL_H
#define KSVC_INTERNAL_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/stringify.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/workqueue.h>

#include "ksvc_uapi.h"

struct cred;
struct dentry;
struct eventfd_ctx;
struct mm_struct;
struct page;
struct pid;
struct task_struct;
struct uts_namespace;
struct user_namespace;
struct vm_area_struct;

struct ksvc_instance;

/* One mappable region: its pages, in order. */
struct ksvc_region {
	struct ksvc_instance *inst;
	struct page **pages;
	unsigned int nr_pages;
	u64 offset;			/* KSVC_OFF_* */
};

enum ksvc_t0_group {
	KSVC_G_PID,
	KSVC_G_PPID,
	KSVC_G_IDS,
	KSVC_G_UTS,
	KSVC_G_NOFILE,
	KSVC_G_NR,
};

/*
 * A task that shares the owner's mm without being one of its threads.
 * An instance keeps a record of at most KSVC_MAX_SHARERS of them; past
 * that it only notes that one without a record may exist (overflow):
 * every clone(CLONE_VM) in the address space, and every exit of a
 * sharer, then costs each instance of it a bounded walk and at most one
 * small allocation.
 */
#define KSVC_MAX_SHARERS	16
/* Threads one hook call may visit to refresh pages (tier0.c). */
#define KSVC_T0_HOOK_THREADS	256
#define KSVC_RECHECK_MIN	(HZ / 10)	/* see ksvc_t0_recheck_sharers() */
#define KSVC_RECHECK_MAX	(2 * HZ)

struct ksvc_sharer {
	struct list_head node;
	struct task_struct *task;	/* holds a task reference */
};

/*
 * struct ksvc_instance - what KSVC_IOC_CREATE builds.
 *
 * Lives exactly as long as the file it was created on: every mapping
 * holds the file, so it outlives every mapping.  The Tier 0 hooks find
 * it under RCU through the registry (tier0.c); release unregisters it and
 * frees it after a grace period (instance.c).
 */
struct ksvc_instance {
	struct ksvc_region sq;		/* submit ring */
	struct ksvc_region cq;		/* completion ring */
	struct ksvc_region sp;		/* shared page */
	struct ksvc_shared_page *page;	/* kernel address of sp */
	u32 sq_entries;
	u32 cq_entries;
	struct eventfd_ctx *evfd;	/* may be NULL */
	u64 id;				/* KSVC_IOC_INFO; unique, never 0 */

	/* Owner: the creating process, by address space and thread group. */
	struct mm_struct *mm;		/* mmgrab()ed; compared, not used */
	struct pid *tgid;		/* get_pid()ed */

	/* Tier 0 state, protected by t0_lock (innermost lock). */
	spinlock_t t0_lock;
	u32 t0_seq;			/* kernel's copy of page->seq */
	u32 t0_fresh;			/* kernel's copy of page->fresh */
	u32 t0_gen[KSVC_G_NR];		/* invalidations per group */
	/* Last published context, compared by hooks, never dereferenced. */
	struct uts_namespace *t0_uts_ns;
	struct user_namespace *t0_user_ns;
	/* CLONE_VM non-thread children sharing mm; under sharer_lock. */
	spinlock_t sharer_lock;
	struct list_head sharers;
	unsigned int nr_sharers;	/* records on sharers */
	bool sharer_overflow;		/* a sharer without a record may exist */
	u32 overflow_gen;		/* overflows so far */
	u32 recheck_wait;		/* jiffies between rechecks */
	u64 recheck_after;		/* jiffies_64: no recheck before */
	bool sharer_scan_pending;	/* CREATE has not looked for them yet */

	/* Registry linkage, under ksvc_reg_lock; read under RCU. */
	struct hlist_node by_tgid;
	struct hlist_node by_mm;
	struct list_head all;
	/* Parent hash: only under ksvc_reg_lock (nodes move). */
	struct hlist_node by_parent;
	struct task_struct *parent;	/* compared, never dereferenced */
	bool registered;

	struct rcu_work free_work;
};

/* Per open file. */
struct ksvc_file {
	struct mutex lock;		/* protects creating, publishes inst */
	bool creating;			/* a CREATE is under way */
	struct ksvc_instance *inst;	/* set once, smp_store_release */
	const struct cred *cred;	/* charged for inst (limit.c) */
};

/* instance.c */
struct ksvc_instance *ksvc_instance_create(const struct ksvc_create_params *p,
					   struct eventfd_ctx *evfd);
void ksvc_instance_destroy(struct ksvc_instance *inst);
void ksvc_instance_release(struct ksvc_instance *inst);
bool ksvc_instance_owned_by_current(const struct ksvc_instance *inst);
int ksvc_instance_init(void);
void ksvc_instance_exit(void);

/* mmap.c */
int ksvc_mmap(struct ksvc_instance *inst, struct vm_area_struct *vma);

/* tier0.c */
void ksvc_t0_init_page(struct ksvc_instance *inst);
void ksvc_t0_register(struct ksvc_instance *inst);
void ksvc_t0_unregister(struct ksvc_instance *inst);
void ksvc_t0_refresh(struct ksvc_instance *inst, u32 groups);
void ksvc_t0_invalidate(struct ksvc_instance *inst, u32 groups);
void ksvc_t0_free(struct ksvc_instance *inst);

/* Hook entry points, called from hooks.c. */
void ksvc_t0_thread_change_begin(u32 groups);
void ksvc_t0_thread_change_end(u32 groups);
void ksvc_t0_uts_write_begin(bool may_alloc);
void ksvc_t0_uts_write_end(void);
void ksvc_t0_uts_written(void);
void ksvc_t0_idmap_write_begin(struct user_namespace *ns, bool may_alloc);
void ksvc_t0_idmap_write_end(struct user_namespace *ns);
void ksvc_t0_rlimit_change(struct task_struct *target);
void ksvc_t0_rlimit_changed_self(void);
bool ksvc_t0_current_has_instance(void);
void ksvc_t0_task_exit(struct task_struct *p);
void ksvc_t0_task_new(struct task_struct *p, unsigned long clone_flags);
void ksvc_t0_scan_sharers(struct ksvc_instance *inst);
void ksvc_t0_recheck_sharers(struct ksvc_instance *inst);
void ksvc_t0_mm_release(struct task_struct *tsk, struct mm_struct *mm);
void ksvc_t0_disable(u32 groups);
void ksvc_t0_writers_free(void);
unsigned int ksvc_t0_nr_writers(unsigned int *busy);
extern bool ksvc_t0_record_writers;

/* hooks.c */
int ksvc_hooks_init(void);
void ksvc_hooks_exit(void);
u32 ksvc_hooks_missing_groups(void);
struct seq_file;
void ksvc_hooks_show(struct seq_file *m);

/* limit.c */
int ksvc_user_charge(const struct cred *cred);
void ksvc_user_uncharge(const struct cred *cred);
void ksvc_limit_exit(void);

/* debugfs.c */
void ksvc_debugfs_init(void);
void ksvc_debugfs_exit(void);

/*
 * fault.c: fault injection, only in the test build (KSVC_FAULT_INJECT).
 * ksvc_should_fail(WHAT) goes before each allocation or registration
 * whose failure the module handles; it is true when the test made this
 * point fail, and constant false in the module that is installed.
 * ksvc_fault_delay(OWNER) widens a race window for a test: it busy-waits
 * when the test armed it for the thread group @OWNER (the owner of the
 * instance at hand), and is empty in the module that is installed.
 */
#ifdef KSVC_FAULT_INJECT
bool ksvc_fault_hit(const char *site);
void ksvc_fault_delay(struct pid *owner);
void ksvc_fault_init(void);
void ksvc_fault_debugfs(struct dentry *dir);
#define ksvc_should_fail(what) \
	ksvc_fault_hit(KBUILD_BASENAME ".c:" __stringify(__LINE__) " " what)
#else
static inline bool ksvc_should_fail(const char *what) { return false; }
static inline void ksvc_fault_delay(struct pid *owner) { }
static inline void ksvc_fault_init(void) { }
static inline void ksvc_fault_debugfs(struct dentry *dir) { }
#endif

/* Counters shown in debugfs (main.c). */
extern atomic_long_t ksvc_nr_instances;
extern atomic_long_t ksvc_nr_pages;

#endif /* KSVC_INTERNAL_H */
