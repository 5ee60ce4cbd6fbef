// SPDX-License-Identifier: GPL-2.0
/*
 * tier0.c - the shared page: process facts that are never wrong.
 *
 * Every group of facts on the page carries a fresh bit.  A set bit is a
 * promise that the values equal what the system call would return right
 * now, from any thread of the owning process; a clear bit promises
 * nothing.  This file keeps that promise:
 *
 *  - ksvc_t0_refresh() recomputes groups from the owner's tasks and
 *    publishes a group only if nothing can have changed it meanwhile;
 *  - hooks (hooks.c) call the ksvc_t0_*() entry points below before a
 *    fact changes (to clear the bit) and, where they can, after it
 *    changed (to refresh it).
 *
 * How "nothing can have changed it meanwhile" is established:
 *
 *  - per instance, t0_gen[g] counts invalidations of group g; a refresh
 *    snapshots the counters before reading any fact and publishes g only
 *    if t0_gen[g] is unchanged, under t0_lock;
 *  - credentials, personality and namespace switches change only the
 *    calling thread, so only that thread can observe the change until it
 *    returns to user space.  They are bracketed per thread group: the
 *    entry hook raises a busy count in a small hashed array indexed by
 *    the thread group's pid (no lookup needed, so a change that starts
 *    before the instance exists is still seen) and clears the bit; the
 *    return hook drops the count, invalidates and refreshes.  A refresh
 *    publishes IDS/UTS only while the count is zero.  A missed return
 *    probe leaves the count raised: the bits stay clear, never wrong;
 *  - the host name (sethostname, setdomainname, /proc/sys/kernel) and the
 *    uid/gid maps of user namespaces can change under other processes'
 *    feet; they are bracketed the same way under ksvc_global_lock, by a
 *    generation per kind of change and, per namespace, the writes in
 *    progress there (see struct ksvc_global_change), so that a write
 *    stalled in one namespace holds back no other;
 *  - RLIMIT_NOFILE is written under task_lock(group_leader), and the
 *    hook that clears the bit runs inside that section, as does the
 *    refresh's read: the two cannot interleave;
 *  - the parent changes only when it exits: sched_process_exit fires
 *    before exit_notify() reparents, and a refresh never publishes a
 *    parent that has PF_EXITING set (see t0_track_parent()), nor one
 *    that the threads do not all have yet (reparenting sets them one by
 *    one: see t0_collect());
 *  - a CLONE_VM process that is not a thread (vfork, posix_spawn, or
 *    the owner's own parent when the owner is such a child) maps the
 *    same page while being another process: every bit stays clear while
 *    one exists.  They are found at CREATE (ksvc_t0_scan_sharers()) and
 *    at clone (ksvc_t0_task_new()), and forgotten when they drop the
 *    address space (ksvc_t0_mm_release()).
 *
 * Lock order: task_lock -> ksvc_reg_lock -> t0_lock -> ksvc_global_lock;
 * sharer_lock -> task_lock.  Nothing here sleeps: refreshes run from
 * return probes too.
 *
 * A refresh walks every thread of the owner, and a hook may refresh
 * every instance of a process, or of a namespace: with preemption off,
 * a cost that users control (threads x instances).  So one hook call
 * visits at most KSVC_T0_HOOK_THREADS threads in all; instances beyond
 * that are only invalidated, and their owners' next KSVC_IOC_REFRESH or
 * NOTIFY (the library makes one when it finds a bit clear) refreshes
 * them from process context, at their own expense.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/hash.h>
#include <linux/hashtable.h>
#include <linux/jiffies.h>
#include <linux/nsproxy.h>
#include <linux/personality.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/utsname.h>

#include "compat.h"
#include "ksvc.h"

#define G(g)		(1u << (g))
static_assert(G(KSVC_G_PID) == KSVC_FRESH_PID);
static_assert(G(KSVC_G_PPID) == KSVC_FRESH_PPID);
static_assert(G(KSVC_G_IDS) == KSVC_FRESH_IDS);
static_assert(G(KSVC_G_UTS) == KSVC_FRESH_UTS);
static_assert(G(KSVC_G_NOFILE) == KSVC_FRESH_NOFILE);
static_assert(sizeof(struct new_utsname) == 6 * KSVC_UTS_LEN);

/* Groups guarded by the per-thread-group busy counts. */
#define KSVC_THREAD_GROUPS	(KSVC_FRESH_IDS | KSVC_FRESH_UTS)

/* Registry of live instances. */
static DEFINE_SPINLOCK(ksvc_reg_lock);
static DEFINE_HASHTABLE(ksvc_by_tgid, 8);
static DEFINE_HASHTABLE(ksvc_by_mm, 8);
static DEFINE_HASHTABLE(ksvc_by_parent, 8);	/* under ksvc_reg_lock only */
/* Entries per ksvc_by_parent bucket, for ksvc_t0_task_exit()'s shortcut. */
static unsigned int ksvc_by_parent_nr[HASH_SIZE(ksvc_by_parent)];
static LIST_HEAD(ksvc_all);
static atomic_t ksvc_nr_registered = ATOMIC_INIT(0);

/* Changes in flight, per thread group (hashed). */
#define KSVC_TG_BITS	8
struct ksvc_tg_busy {
	atomic_t busy;
	atomic_t gen;
};

static struct ksvc_tg_busy ksvc_tg[1 << KSVC_TG_BITS];

/*
 * Changes in flight that other processes can observe (host names, id
 * maps), under ksvc_global_lock.  Any user can hold such a write in
 * progress for as long as they like, in namespaces of their own: the
 * copy of its argument can stall on a page they control (userfaultfd,
 * FUSE).  So each is counted against its namespace, and only instances
 * that read their facts from that namespace wait for it.
 *
 * Most changes are counted by their record (struct ksvc_writer, below),
 * found by namespace: any number of namespaces can have one in progress.
 * A change whose record cannot be allocated is counted here instead, in
 * its namespace's slot (one of KSVC_NS_SLOTS).  One that finds no free
 * slot is counted in @overflow, which holds back every namespace.  Its
 * end may then decrement a slot its namespace got meanwhile, and a later
 * end of that namespace find no slot and decrement @overflow instead;
 * but an end decrements @overflow only when its namespace has no slot,
 * so those changes of a namespace always equal its slot's count plus its
 * (never negative) share of @overflow.  Hence, while @overflow is zero,
 * every slot's count is exact.
 */
#define KSVC_NS_SLOTS	16

struct ksvc_ns_busy {
	const void *ns;		/* NULL: free */
	unsigned int busy;	/* changes in progress in @ns, never 0 */
};

struct ksvc_global_change {
	unsigned int gen;	/* bumped as each starts and stops counting */
	unsigned int overflow;	/* in progress without a slot */
	struct ksvc_ns_busy slot[KSVC_NS_SLOTS];
};

static DEFINE_SPINLOCK(ksvc_global_lock);
static struct ksvc_global_change ksvc_uts_writes;	/* host name */
static struct ksvc_global_change ksvc_idmap_writes;	/* uid/gid maps */

/*
 * A change in progress, with its task, so that a change whose return
 * probe is missed (the probe's pool of instances runs dry when that many
 * writes are stalled at once) stops counting anyway: at the
 * notification that ends every host name change (ksvc_t0_uts_written()),
 * at the writer's next such change (its last one is over by then), or at
 * its exit.  A task has one record at most, kept from its first such
 * change to its exit: busy while a change counts, idle (not counting)
 * otherwise, and reused by its next change, so that a task that writes
 * again and again allocates once.  A change whose record cannot be
 * allocated is counted in the slots above, with no task: only its return
 * probe ends it.
 */
struct ksvc_writer {
	struct hlist_node node;		/* in ksvc_writers, by task */
	struct hlist_node ns_node;	/* in ksvc_writers_ns while busy */
	const struct task_struct *task;	/* compared only; dropped at exit */
	struct ksvc_global_change *c;	/* the kind of change */
	const void *ns;
	bool busy;			/* a change in progress */
};

/* All under ksvc_global_lock. */
static DEFINE_HASHTABLE(ksvc_writers, 6);
static DEFINE_HASHTABLE(ksvc_writers_ns, 8);	/* busy ones, by namespace */
/* Records per bucket, so that an exiting task with none takes no lock. */
static unsigned int ksvc_writers_nr[HASH_SIZE(ksvc_writers)];

/*
 * Record writers (debugfs, for tests: off, every change is counted the
 * way it is where records cannot be allocated).
 */
bool ksvc_t0_record_writers = true;

/* Groups whose hooks are missing on this kernel: never set. */
static u32 ksvc_disabled;

static struct ksvc_tg_busy *ksvc_tg_of(struct pid *tgid)
{
	return &ksvc_tg[hash_ptr(tgid, KSVC_TG_BITS)];
}

static unsigned int *t0_parent_nr(const struct task_struct *parent)
{
	return &ksvc_by_parent_nr[hash_min((unsigned long)parent,
					   HASH_BITS(ksvc_by_parent))];
}

/* Under ksvc_reg_lock. */
static void t0_parent_del(struct ksvc_instance *inst)
{
	unsigned int *nr = t0_parent_nr(inst->parent);

	hash_del(&inst->by_parent);
	WRITE_ONCE(*nr, *nr - 1);
}

static void t0_parent_add(struct ksvc_instance *inst)
{
	unsigned int *nr = t0_parent_nr(inst->parent);

	hash_add(ksvc_by_parent, &inst->by_parent,
		 (unsigned long)inst->parent);
	WRITE_ONCE(*nr, *nr + 1);
}

void ksvc_t0_disable(u32 groups)
{
	WRITE_ONCE(ksvc_disabled, READ_ONCE(ksvc_disabled) | groups);
}

/* ------------------------------------------------------------------ */
/* Writing the page                                                    */
/* ------------------------------------------------------------------ */

static void t0_write_begin(struct ksvc_instance *inst)
{
	lockdep_assert_held(&inst->t0_lock);
	WRITE_ONCE(inst->page->seq, ++inst->t0_seq);	/* odd */
	/* Readers that see a new field also see the odd count. */
	smp_wmb();
}

static void t0_write_end(struct ksvc_instance *inst)
{
	/* Every field is written before the count turns even again. */
	smp_wmb();
	WRITE_ONCE(inst->page->seq, ++inst->t0_seq);	/* even */
}

void ksvc_t0_init_page(struct ksvc_instance *inst)
{
	struct ksvc_shared_page *page = inst->page;

	page->magic = KSVC_SHARED_MAGIC;
	page->version = KSVC_SHARED_VERSION;
	page->seq = 0;
	page->fresh = 0;
	page->pid = task_tgid_vnr(current);
	/* Nothing is published before CREATE has looked for sharers. */
	inst->sharer_scan_pending = true;
	inst->recheck_after = get_jiffies_64();
	inst->recheck_wait = KSVC_RECHECK_MIN;
}

static void t0_invalidate_locked(struct ksvc_instance *inst, u32 groups)
{
	unsigned int g;

	for (g = 0; g < KSVC_G_NR; g++)
		if (groups & G(g))
			inst->t0_gen[g]++;
	if (inst->t0_fresh & groups) {
		t0_write_begin(inst);
		inst->t0_fresh &= ~groups;
		WRITE_ONCE(inst->page->fresh, inst->t0_fresh);
		t0_write_end(inst);
	}
}

void ksvc_t0_invalidate(struct ksvc_instance *inst, u32 groups)
{
	spin_lock(&inst->t0_lock);
	t0_invalidate_locked(inst, groups);
	spin_unlock(&inst->t0_lock);
}

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

void ksvc_t0_register(struct ksvc_instance *inst)
{
	spin_lock(&ksvc_reg_lock);
	hash_add_rcu(ksvc_by_tgid, &inst->by_tgid, (unsigned long)inst->tgid);
	hash_add_rcu(ksvc_by_mm, &inst->by_mm, (unsigned long)inst->mm);
	list_add_tail_rcu(&inst->all, &ksvc_all);
	inst->registered = true;
	atomic_inc(&ksvc_nr_registered);
	spin_unlock(&ksvc_reg_lock);
	/*
	 * Order the registration before the refresh's reads of the busy
	 * counts; pairs with smp_mb__after_atomic() in the entry hooks.
	 */
	smp_mb();
}

void ksvc_t0_unregister(struct ksvc_instance *inst)
{
	spin_lock(&ksvc_reg_lock);
	if (inst->registered) {
		hash_del_rcu(&inst->by_tgid);
		hash_del_rcu(&inst->by_mm);
		list_del_rcu(&inst->all);
		if (inst->parent)
			t0_parent_del(inst);
		inst->parent = NULL;
		inst->registered = false;
		atomic_dec(&ksvc_nr_registered);
	}
	spin_unlock(&ksvc_reg_lock);
}

/* Drop the record @s of @inst (under sharer_lock, or at the end). */
static void t0_drop_sharer(struct ksvc_instance *inst, struct ksvc_sharer *s)
{
	list_del(&s->node);
	inst->nr_sharers--;
	put_task_struct(s->task);
	kfree(s);
}

/* Called after the RCU grace period that follows unregistration. */
void ksvc_t0_free(struct ksvc_instance *inst)
{
	struct ksvc_sharer *s, *tmp;

	list_for_each_entry_safe(s, tmp, &inst->sharers, node)
		t0_drop_sharer(inst, s);
}

static bool ksvc_any_instance(void)
{
	return atomic_read(&ksvc_nr_registered) != 0;
}

static void t0_refresh(struct ksvc_instance *inst, u32 groups,
		       unsigned int *budget);

/*
 * For every instance owned by thread group @tg: clear the fresh bits
 * @clear, then refresh the groups @refresh, and those of @stale whose
 * fresh bit is clear.  Returns how many instances @tg owns.  @tg is only a
 * key here, never dereferenced.
 */
static unsigned int t0_for_tg(struct pid *tg, u32 clear, u32 refresh,
			      u32 stale)
{
	unsigned int n = 0, budget = KSVC_T0_HOOK_THREADS;
	struct ksvc_instance *inst;

	if (!ksvc_any_instance())
		return 0;
	rcu_read_lock();
	hash_for_each_possible_rcu(ksvc_by_tgid, inst, by_tgid,
				   (unsigned long)tg) {
		u32 now;

		if (inst->tgid != tg)
			continue;
		n++;
		if (clear)
			ksvc_t0_invalidate(inst, clear);
		now = refresh | (stale & ~READ_ONCE(inst->t0_fresh));
		if (now)
			t0_refresh(inst, now, &budget);
	}
	rcu_read_unlock();
	return n;
}

bool ksvc_t0_current_has_instance(void)
{
	return t0_for_tg(task_tgid(current), 0, 0, 0) != 0;
}

/* ------------------------------------------------------------------ */
/* Refresh                                                             */
/* ------------------------------------------------------------------ */

struct t0_facts {
	u32 ok;			/* groups read consistently */
	pid_t pid, ppid;
	u32 uid, gid, euid, egid;
	u64 nofile_cur, nofile_max;
	struct new_utsname uts;
	struct uts_namespace *uts_ns;
	struct user_namespace *user_ns;
	struct task_struct *parent;	/* compared only, never followed */
};

/* What uname(2) would answer differently from the namespace's name. */
static bool t0_personality_plain(unsigned int pers)
{
	return !(pers & UNAME26) && personality(pers) != PER_LINUX32;
}

/*
 * Record @parent as the task whose exit must clear PPID, then tell
 * whether it is exiting.  ksvc_t0_task_exit() runs after the parent set
 * PF_EXITING; it reads the count of @parent's bucket, then walks the
 * bucket under ksvc_reg_lock if the count is not zero.  We raise the
 * count (under the lock), then read PF_EXITING; it sets PF_EXITING, then
 * reads the count; a full barrier on each side between the two, so
 * either the exit hook sees the count and then our entry, or we see
 * PF_EXITING.  When an earlier refresh raised the count (the parent did
 * not change), taking the lock after it released it carries its store
 * into our barrier just the same.  Caller holds rcu_read_lock().
 */
static bool t0_track_parent(struct ksvc_instance *inst,
			    struct task_struct *parent)
{
	spin_lock(&ksvc_reg_lock);
	if (inst->registered && inst->parent != parent) {
		if (inst->parent)
			t0_parent_del(inst);
		WRITE_ONCE(inst->parent, parent);
		t0_parent_add(inst);
	}
	spin_unlock(&ksvc_reg_lock);
	/* Pairs with smp_mb() in ksvc_t0_task_exit(). */
	smp_mb();
	return READ_ONCE(parent->flags) & PF_EXITING;
}

/*
 * Read the facts of the owning process.  Groups whose threads disagree
 * (credentials changed on one thread only, a thread in another UTS
 * namespace, an odd personality) are left out of f->ok.
 */
static void t0_collect(struct ksvc_instance *inst, u32 want,
		       struct t0_facts *f, unsigned int *budget)
{
	struct task_struct *leader, *t, *first = NULL, *parent = NULL;
	bool ids_same = true, uts_same = true, ppid_same = true;
	struct pid_namespace *ns;
	unsigned int pers = 0;

	f->ok = 0;
	f->uts_ns = NULL;
	f->parent = NULL;
	f->user_ns = NULL;
	rcu_read_lock();
	leader = pid_task(inst->tgid, PIDTYPE_TGID);
	if (!leader)
		goto out;

	/*
	 * In a hook, a group with more threads than are left to visit is not
	 * walked at all (nr_threads is the count the walk will see, give or
	 * take the threads being created), and the walk stops if it finds
	 * more: its groups are cleared, never guessed.
	 */
	if (budget && (unsigned int)get_nr_threads(leader) > *budget)
		goto out;
	for_each_thread(leader, t) {
		const struct cred *cred;
		struct uts_namespace *uts_ns = NULL;
		struct user_namespace *user_ns;
		u32 uid, gid, euid, egid;

		if (budget) {
			if (!*budget) {
				first = NULL;
				break;
			}
			--*budget;
		}
		if (t->flags & (PF_EXITING | KSVC_PF_NOT_USER))
			continue;

		task_lock(t);
		if (t->mm != inst->mm) {
			/* execve() is replacing the image: not our process. */
			task_unlock(t);
			continue;
		}
		if (t->nsproxy)
			uts_ns = t->nsproxy->uts_ns;
		if (!first) {
			pers = t->personality;
			f->uts_ns = uts_ns;
			if ((want & KSVC_FRESH_UTS) && uts_ns)
				memcpy(&f->uts, &uts_ns->name, sizeof(f->uts));
		} else if (uts_ns != f->uts_ns || t->personality != pers) {
			uts_same = false;
		}
		task_unlock(t);

		cred = __task_cred(t);
		user_ns = cred->user_ns;
		uid = from_kuid(user_ns, cred->uid);
		gid = from_kgid(user_ns, cred->gid);
		euid = from_kuid(user_ns, cred->euid);
		egid = from_kgid(user_ns, cred->egid);
		/*
		 * An id with no mapping in the namespace reads as the
		 * overflow id, which a sysctl can change under us: never
		 * publish it.
		 */
		if (uid == (uid_t)-1 || gid == (gid_t)-1 ||
		    euid == (uid_t)-1 || egid == (gid_t)-1)
			ids_same = false;
		if (!first) {
			f->uid = uid;
			f->gid = gid;
			f->euid = euid;
			f->egid = egid;
			f->user_ns = user_ns;
		} else if (uid != f->uid || gid != f->gid || euid != f->euid ||
			   egid != f->egid) {
			ids_same = false;
		}

		/*
		 * Reparenting stores each thread's real_parent in turn
		 * (forget_original_parent(), under tasklist_lock, which we
		 * cannot take), walking the threads in this order: while it
		 * is under way, some threads' getppid() still says the old
		 * parent.  All equal means all old (that parent is exiting,
		 * see t0_track_parent()) or all new.
		 */
		if (!first)
			parent = rcu_dereference(t->real_parent);
		else if (rcu_dereference(t->real_parent) != parent)
			ppid_same = false;
		if (!first)
			first = t;
	}
	/*
	 * Test build only: a test widens the window in which the threads
	 * just read exit (and @first is reaped) before the numbers below
	 * are taken.  No-op in the installed module.
	 */
	ksvc_fault_delay(inst->tgid);
	if (!first)
		goto out;	/* no live thread in this address space */

	/*
	 * Numbers in the owner's pid namespace: that of its thread group's
	 * pid, which every thread shares and which inst->tgid pins.  Not
	 * task_active_pid_ns(first): @first may have exited and been reaped
	 * since the walk saw it, and a task without its pid has no
	 * namespace (NULL), which task_tgid_nr_ns() takes to mean current's,
	 * and current may be a hook's task in another namespace.
	 */
	ns = ns_of_pid(inst->tgid);
	f->pid = pid_nr_ns(inst->tgid, ns);
	f->ok |= KSVC_FRESH_PID;

	if (want & KSVC_FRESH_PPID) {
		f->ppid = task_tgid_nr_ns(parent, ns);
		f->parent = parent;
		if (!t0_track_parent(inst, parent) && ppid_same)
			f->ok |= KSVC_FRESH_PPID;
	}

	if (ids_same)
		f->ok |= KSVC_FRESH_IDS;
	if (uts_same && f->uts_ns && t0_personality_plain(pers))
		f->ok |= KSVC_FRESH_UTS;

	if (want & KSVC_FRESH_NOFILE) {
		/* do_prlimit() writes under this lock. */
		task_lock(leader);
		f->nofile_cur = READ_ONCE(leader->signal->rlim[RLIMIT_NOFILE].rlim_cur);
		f->nofile_max = READ_ONCE(leader->signal->rlim[RLIMIT_NOFILE].rlim_max);
		task_unlock(leader);
		f->ok |= KSVC_FRESH_NOFILE;
	}
out:
	rcu_read_unlock();
	f->ok &= want;
}

/* Drop the records of sharers that left; under sharer_lock. */
static void t0_prune_sharers(struct ksvc_instance *inst)
{
	struct ksvc_sharer *s, *tmp;

	list_for_each_entry_safe(s, tmp, &inst->sharers, node) {
		bool still;

		task_lock(s->task);
		still = s->task->mm == inst->mm;
		task_unlock(s->task);
		if (!still)
			t0_drop_sharer(inst, s);
	}
}

/* Are there CLONE_VM children that are not threads?  Prunes gone ones. */
static bool t0_sharers_present(struct ksvc_instance *inst)
{
	bool present;

	spin_lock(&inst->sharer_lock);
	t0_prune_sharers(inst);
	present = inst->sharer_overflow || inst->sharer_scan_pending ||
		  !list_empty(&inst->sharers);
	spin_unlock(&inst->sharer_lock);
	return present;
}

struct t0_snap {
	u32 gen[KSVC_G_NR];
	unsigned int tg_gen;
	bool tg_busy;
	unsigned int uts_gen, ids_gen;
};

static void t0_snapshot(struct ksvc_instance *inst, struct t0_snap *s)
{
	struct ksvc_tg_busy *tg = ksvc_tg_of(inst->tgid);

	spin_lock(&inst->t0_lock);
	memcpy(s->gen, inst->t0_gen, sizeof(s->gen));
	spin_unlock(&inst->t0_lock);

	s->tg_busy = atomic_read(&tg->busy) != 0;
	/* busy before gen; the writer bumps gen before dropping busy. */
	smp_rmb();
	s->tg_gen = atomic_read(&tg->gen);

	spin_lock(&ksvc_global_lock);
	s->uts_gen = ksvc_uts_writes.gen;
	s->ids_gen = ksvc_idmap_writes.gen;
	spin_unlock(&ksvc_global_lock);
	/* Every fact is read after the snapshot. */
	smp_mb();
}

static struct ksvc_ns_busy *t0_ns_slot(struct ksvc_global_change *c,
				       const void *ns)
{
	unsigned int i;

	for (i = 0; i < KSVC_NS_SLOTS; i++)
		if (c->slot[i].ns == ns)
			return &c->slot[i];
	return NULL;
}

/*
 * No change of this kind started or ended since the snapshot that read
 * @then, and none is in progress in @ns (under ksvc_global_lock).  With
 * the first, one in progress now was in progress when the facts were
 * read; the second rules that out for the namespace they came from.
 */
static bool t0_global_quiet(struct ksvc_global_change *c, unsigned int then,
			    const void *ns)
{
	struct ksvc_writer *w;

	if (c->gen != then || c->overflow || !ns || t0_ns_slot(c, ns))
		return false;
	hash_for_each_possible(ksvc_writers_ns, w, ns_node, (unsigned long)ns)
		if (w->c == c && w->ns == ns)
			return false;
	return true;
}

/*
 * Which of @groups may be published now?  Called under t0_lock, after
 * the facts were read; the checks mirror the brackets described at the
 * top of this file.
 */
static u32 t0_publishable(struct ksvc_instance *inst, u32 groups,
			  const struct t0_snap *s, const struct t0_facts *f)
{
	struct ksvc_tg_busy *tg = ksvc_tg_of(inst->tgid);
	unsigned int g;
	bool tg_quiet;
	u32 uts_read;

	for (g = 0; g < KSVC_G_NR; g++)
		if (inst->t0_gen[g] != s->gen[g])
			groups &= ~G(g);

	/*
	 * The parent whose exit clears PPID must be the one read here.  A
	 * concurrent refresh that read an older parent (before a
	 * reparenting) may have recorded it after us; its own publication,
	 * which comes after its record, then clears PPID, unless it came
	 * first: this test covers that order.
	 */
	if ((groups & KSVC_FRESH_PPID) && READ_ONCE(inst->parent) != f->parent)
		groups &= ~KSVC_FRESH_PPID;

	if (groups & KSVC_THREAD_GROUPS) {
		tg_quiet = !s->tg_busy && !atomic_read(&tg->busy);
		/* As in t0_snapshot(): busy, then gen. */
		smp_rmb();
		if (!tg_quiet || atomic_read(&tg->gen) != s->tg_gen)
			groups &= ~KSVC_THREAD_GROUPS;
	}

	groups &= ~READ_ONCE(ksvc_disabled);
	uts_read = groups & KSVC_FRESH_UTS;
	spin_lock(&ksvc_global_lock);
	if (!t0_global_quiet(&ksvc_uts_writes, s->uts_gen, f->uts_ns))
		groups &= ~KSVC_FRESH_UTS;
	if (!t0_global_quiet(&ksvc_idmap_writes, s->ids_gen, f->user_ns))
		groups &= ~KSVC_FRESH_IDS;
	/*
	 * Name the namespaces inside this section: a change that starts
	 * after the check above finds this instance by them (t0_for_ns())
	 * and clears the bit, waiting for t0_lock if need be.  Both are
	 * named even when their group is held back (a write in progress,
	 * an id with no mapping yet): the end of that write, or the map
	 * write that makes the id publishable, finds the instance by it
	 * and refreshes it, instead of leaving the bit clear until the
	 * owner's next call.  But only from facts read after the last
	 * change of that group began (its generation is unchanged, as for
	 * uts_read): a refresh that read them before, and ends after the
	 * one that read the new ones (an unrelated hook's, that waited),
	 * would name the namespace the process has left, and the writes
	 * in the new one would then find nothing to refresh.
	 */
	if (uts_read && f->uts_ns)
		WRITE_ONCE(inst->t0_uts_ns, f->uts_ns);
	if (f->user_ns && inst->t0_gen[KSVC_G_IDS] == s->gen[KSVC_G_IDS])
		WRITE_ONCE(inst->t0_user_ns, f->user_ns);
	spin_unlock(&ksvc_global_lock);

	return groups;
}

static void t0_write_facts(struct ksvc_instance *inst, u32 groups,
			   const struct t0_facts *f)
{
	struct ksvc_shared_page *page = inst->page;

	if (groups & KSVC_FRESH_PID)
		WRITE_ONCE(page->pid, f->pid);
	if (groups & KSVC_FRESH_PPID)
		WRITE_ONCE(page->ppid, f->ppid);
	if (groups & KSVC_FRESH_IDS) {
		WRITE_ONCE(page->uid, f->uid);
		WRITE_ONCE(page->gid, f->gid);
		WRITE_ONCE(page->euid, f->euid);
		WRITE_ONCE(page->egid, f->egid);
	}
	if (groups & KSVC_FRESH_UTS) {
		memcpy(page->utsname_sysname, f->uts.sysname, KSVC_UTS_LEN);
		memcpy(page->utsname_nodename, f->uts.nodename, KSVC_UTS_LEN);
		memcpy(page->utsname_release, f->uts.release, KSVC_UTS_LEN);
		memcpy(page->utsname_version, f->uts.version, KSVC_UTS_LEN);
		memcpy(page->utsname_machine, f->uts.machine, KSVC_UTS_LEN);
		memcpy(page->utsname_domainname, f->uts.domainname,
		       KSVC_UTS_LEN);
	}
	if (groups & KSVC_FRESH_NOFILE) {
		WRITE_ONCE(page->rlimit_nofile, f->nofile_cur);
		WRITE_ONCE(page->rlimit_nofile_max, f->nofile_max);
	}
}

/*
 * t0_refresh - recompute @groups and publish those that are exact.
 * Groups that cannot be published are cleared (they should be already).
 * Any context that may take spinlocks; never sleeps.  @budget: in hooks,
 * the threads the caller may still visit (see the top of this file); a
 * refresh that would exceed it clears @groups instead.  NULL: no limit.
 */
static void t0_refresh(struct ksvc_instance *inst, u32 groups,
		       unsigned int *budget)
{
	struct t0_facts *f;
	struct t0_snap s;
	u32 set;

	/* Groups whose hooks are missing are never set: nothing to do. */
	groups &= KSVC_FRESH_ALL & ~READ_ONCE(ksvc_disabled);
	if (!groups)
		return;
	if (budget && !*budget) {
		ksvc_t0_invalidate(inst, groups);
		return;
	}

	/* 400 bytes of host name do not belong on a probe's stack. */
	f = ksvc_should_fail("kmalloc") ? NULL :
	    kmalloc(sizeof(*f), GFP_ATOMIC | __GFP_NOWARN);
	if (!f) {
		ksvc_t0_invalidate(inst, groups);
		return;
	}

	t0_snapshot(inst, &s);
	t0_collect(inst, groups, f, budget);
	set = f->ok;
	if (set && t0_sharers_present(inst))
		set = 0;
	smp_mb();	/* facts read before the checks below */

	spin_lock(&inst->t0_lock);
	set = t0_publishable(inst, set, &s, f);
	if (set || (inst->t0_fresh & groups)) {
		t0_write_begin(inst);
		t0_write_facts(inst, set, f);
		inst->t0_fresh = (inst->t0_fresh & ~groups) | set;
		WRITE_ONCE(inst->page->fresh, inst->t0_fresh);
		t0_write_end(inst);
	}
	spin_unlock(&inst->t0_lock);
	kfree(f);
}

/* From process context (the owner's ioctl): the owner pays, no limit. */
void ksvc_t0_refresh(struct ksvc_instance *inst, u32 groups)
{
	t0_refresh(inst, groups, NULL);
}

/* ------------------------------------------------------------------ */
/* Hook entry points                                                   */
/* ------------------------------------------------------------------ */

/* For every instance of the current thread group. */
static void t0_for_current(u32 invalidate, u32 refresh)
{
	t0_for_tg(task_tgid(current), invalidate, refresh, 0);
}

/*
 * A thread of current's group is about to change something only it can
 * observe (credentials, personality, namespaces).
 */
void ksvc_t0_thread_change_begin(u32 groups)
{
	struct ksvc_tg_busy *tg = ksvc_tg_of(task_tgid(current));

	atomic_inc(&tg->busy);
	/*
	 * busy is visible before we look for instances: a CREATE racing with
	 * this change either is found here or sees busy (ksvc_t0_register()).
	 */
	smp_mb__after_atomic();
	t0_for_current(groups, 0);
}

/* ... and has changed it (the return probe). */
void ksvc_t0_thread_change_end(u32 groups)
{
	struct ksvc_tg_busy *tg = ksvc_tg_of(task_tgid(current));

	/* The change is complete before gen moves ... */
	smp_mb__before_atomic();
	atomic_inc(&tg->gen);
	/* ... and gen moves before busy drops (see t0_snapshot()). */
	smp_mb__before_atomic();
	atomic_dec(&tg->busy);
	t0_for_current(groups, groups);
}

/*
 * Instances whose last published @group (UTS or IDS) came from
 * namespace @ns: clear the bit before a change, refresh after it.
 */
static void t0_for_ns(const void *ns, u32 group, bool refresh)
{
	unsigned int budget = KSVC_T0_HOOK_THREADS;
	struct ksvc_instance *inst;

	rcu_read_lock();
	list_for_each_entry_rcu(inst, &ksvc_all, all) {
		const void *last = group == KSVC_FRESH_UTS ?
				   (const void *)READ_ONCE(inst->t0_uts_ns) :
				   (const void *)READ_ONCE(inst->t0_user_ns);

		if (last != ns)
			continue;
		if (refresh)
			t0_refresh(inst, group, &budget);
		else
			ksvc_t0_invalidate(inst, group);
	}
	rcu_read_unlock();
}

/* One more change in progress in @ns. */
static void t0_busy_add(struct ksvc_global_change *c, const void *ns)
{
	struct ksvc_ns_busy *slot = ns ? t0_ns_slot(c, ns) : NULL;

	if (!slot && ns)
		slot = t0_ns_slot(c, NULL);	/* a free one */
	if (slot) {
		slot->ns = ns;
		slot->busy++;
	} else {
		c->overflow++;
	}
}

/* One fewer (see struct ksvc_global_change for why this stays exact). */
static void t0_busy_drop(struct ksvc_global_change *c, const void *ns)
{
	struct ksvc_ns_busy *slot = ns ? t0_ns_slot(c, ns) : NULL;

	if (slot) {
		if (!--slot->busy)
			slot->ns = NULL;
	} else if (c->overflow) {
		c->overflow--;
	}
}

/*
 * A writer's change is over (or cannot be going on any more).  The
 * generation moves as the change stops counting: t0_global_quiet()
 * relies on it to see a change that was in progress when a refresh read
 * its facts.
 */
static void t0_writer_idle(struct ksvc_writer *w)
{
	if (!w->busy)
		return;
	w->busy = false;
	hash_del(&w->ns_node);
	w->c->gen++;
}

static unsigned int *t0_writers_nr(const struct task_struct *t)
{
	return &ksvc_writers_nr[hash_min((unsigned long)t,
					 HASH_BITS(ksvc_writers))];
}

static struct ksvc_writer *t0_writer_of(const struct task_struct *t)
{
	struct ksvc_writer *w;

	hash_for_each_possible(ksvc_writers, w, node, (unsigned long)t)
		if (w->task == t)
			return w;
	return NULL;
}

static void t0_writer_del(struct ksvc_writer *w)
{
	unsigned int *nr = t0_writers_nr(w->task);

	t0_writer_idle(w);
	hash_del(&w->node);
	WRITE_ONCE(*nr, *nr - 1);
}

/*
 * Current starts a change of @group in @ns (the entry probe): count it,
 * bump the generation, clear the bit where it was published from @ns.
 * @may_alloc: the probe runs where kmalloc(GFP_NOWAIT) is allowed (an
 * ftrace-based kprobe, not an int3 trap, which counts as NMI context).
 * @ns is never NULL here: current's nsproxy goes only as it exits, and a
 * map write names its namespace.
 */
static void t0_change_begin(struct ksvc_global_change *c, const void *ns,
			    u32 group, bool may_alloc)
{
	struct ksvc_writer *w;

	spin_lock(&ksvc_global_lock);
	w = t0_writer_of(current);
	if (w) {
		/* Its last write is over: that return probe was missed. */
		t0_writer_idle(w);
	} else if (may_alloc && READ_ONCE(ksvc_t0_record_writers)) {
		/* Best effort: GFP_NOWAIT neither sleeps nor uses reserves. */
		w = ksvc_should_fail("kmalloc") ? NULL :
		    kmalloc(sizeof(*w), GFP_NOWAIT | __GFP_NOWARN);
		if (w) {
			w->task = current;
			hash_add(ksvc_writers, &w->node,
				 (unsigned long)current);
			WRITE_ONCE(*t0_writers_nr(current),
				   *t0_writers_nr(current) + 1);
		}
	}
	if (w) {
		w->c = c;
		w->ns = ns;
		w->busy = true;
		hash_add(ksvc_writers_ns, &w->ns_node, (unsigned long)ns);
	} else {
		/* Without a record, only the return probe ends it. */
		t0_busy_add(c, ns);
	}
	c->gen++;
	spin_unlock(&ksvc_global_lock);
	if (ksvc_any_instance())
		t0_for_ns(ns, group, false);
}

/*
 * Current's change of @group in @ns returned (the return probe): its
 * record goes idle (kept for its next change), the generation moves, and
 * instances that published from @ns are refreshed.  A task with a record
 * began this change with it (t0_change_begin() always reuses it).  No
 * record means it was begun without one (see above), or, in the unload
 * window where the entry probe is gone and the return probe not yet, not
 * begun at all: the drop may then take another writer's count, which no
 * longer matters (no instance outlives the module).
 */
static void t0_change_end(struct ksvc_global_change *c, const void *ns,
			  u32 group)
{
	struct ksvc_writer *w;

	spin_lock(&ksvc_global_lock);
	w = t0_writer_of(current);
	if (w)
		t0_writer_idle(w);
	else
		t0_busy_drop(c, ns);
	c->gen++;
	spin_unlock(&ksvc_global_lock);
	if (ksvc_any_instance())
		t0_for_ns(ns, group, true);
}

/*
 * @p (current) exits: a change it began is over, whether or not its
 * return probe came.  Only @p adds its own record, so if it has one, its
 * bucket's count shows it: a lockless look is enough when it is zero.
 */
static void t0_writer_exit(struct task_struct *p)
{
	struct ksvc_writer *w;

	if (!READ_ONCE(*t0_writers_nr(p)))
		return;
	spin_lock(&ksvc_global_lock);
	w = t0_writer_of(p);
	if (w)
		t0_writer_del(w);
	spin_unlock(&ksvc_global_lock);
	kfree(w);
}

/*
 * For debugfs: the records, summed over the buckets, and the busy ones
 * (those in the namespace hash).
 */
unsigned int ksvc_t0_nr_writers(unsigned int *busy)
{
	struct ksvc_writer *w;
	unsigned int i, n = 0;

	for (i = 0; i < ARRAY_SIZE(ksvc_writers_nr); i++)
		n += READ_ONCE(ksvc_writers_nr[i]);
	*busy = 0;
	spin_lock(&ksvc_global_lock);
	hash_for_each(ksvc_writers_ns, i, w, ns_node)
		(*busy)++;
	spin_unlock(&ksvc_global_lock);
	return n;
}

/* After the hooks are gone (module unload): drop what is left. */
void ksvc_t0_writers_free(void)
{
	struct hlist_node *tmp;
	struct ksvc_writer *w;
	unsigned int bkt;

	hash_for_each_safe(ksvc_writers, bkt, tmp, w, node) {
		if (w->busy)
			hash_del(&w->ns_node);
		hash_del(&w->node);
		kfree(w);
	}
	memset(ksvc_writers_nr, 0, sizeof(ksvc_writers_nr));
}

static struct uts_namespace *t0_current_uts_ns(void)
{
	/* Only current changes its own nsproxy. */
	return current->nsproxy ? current->nsproxy->uts_ns : NULL;
}

/* sethostname, setdomainname or a /proc/sys/kernel write, in current's ns. */
void ksvc_t0_uts_write_begin(bool may_alloc)
{
	t0_change_begin(&ksvc_uts_writes, t0_current_uts_ns(), KSVC_FRESH_UTS,
			may_alloc);
}

void ksvc_t0_uts_write_end(void)
{
	t0_change_end(&ksvc_uts_writes, t0_current_uts_ns(), KSVC_FRESH_UTS);
}

/*
 * A host or domain name of current's namespace was just written: every
 * write that changes one ends in proc_sys_poll_notify() (sethostname and
 * setdomainname through uts_proc_notify(), under uts_sem; /proc/sys/kernel
 * writes after it), on kernels with CONFIG_PROC_SYSCTL.  So current's
 * write is over: its record stops counting (a missed return probe then
 * costs nothing).  This also catches a write that began before the module
 * loaded (stalled in copy_from_user while it was loaded), whose entry and
 * return probes never ran.  No refresh here: the return probe does that,
 * if it is not missed.  Nothing is freed: this kprobe may be an int3 trap.
 */
void ksvc_t0_uts_written(void)
{
	const void *ns = t0_current_uts_ns();
	struct ksvc_writer *w;

	spin_lock(&ksvc_global_lock);
	w = t0_writer_of(current);
	if (w && w->c == &ksvc_uts_writes)
		t0_writer_idle(w);
	ksvc_uts_writes.gen++;
	spin_unlock(&ksvc_global_lock);
	if (ksvc_any_instance())
		t0_for_ns(ns, KSVC_FRESH_UTS, false);
}

/* A uid_map or gid_map of @ns is being written: ids in @ns change. */
void ksvc_t0_idmap_write_begin(struct user_namespace *ns, bool may_alloc)
{
	t0_change_begin(&ksvc_idmap_writes, ns, KSVC_FRESH_IDS, may_alloc);
}

void ksvc_t0_idmap_write_end(struct user_namespace *ns)
{
	t0_change_end(&ksvc_idmap_writes, ns, KSVC_FRESH_IDS);
}

/*
 * do_prlimit() is about to change an rlimit of @target's process, under
 * task_lock(target->group_leader).  Clear NOFILE; the owner's own
 * setrlimit() refreshes it on return (ksvc_t0_rlimit_changed_self()),
 * a change by another process leaves it clear until the owner asks.
 */
void ksvc_t0_rlimit_change(struct task_struct *target)
{
	t0_for_tg(task_tgid(target), KSVC_FRESH_NOFILE, 0, 0);
}

/*
 * Return of the caller's setrlimit()/prlimit64(), most of which are
 * getrlimit() calls that changed nothing: refresh only a cleared bit.
 */
void ksvc_t0_rlimit_changed_self(void)
{
	t0_for_tg(task_tgid(current), 0, 0, KSVC_FRESH_NOFILE);
}

/*
 * @p is exiting (PF_EXITING is set) and exit_notify() will soon hand its
 * children to a new parent: clear PPID of every instance whose owner has
 * @p as its parent.
 */
void ksvc_t0_task_exit(struct task_struct *p)
{
	struct ksvc_instance *inst;

	/*
	 * No shortcut on p->children being empty: an exiting sibling thread
	 * or a subreaper hands its children to @p by setting their
	 * real_parent first and splicing them onto @p's list only after,
	 * so a refresh may already have recorded @p as a parent that this
	 * list does not show yet.  The hash is the record to trust.
	 */
	t0_writer_exit(p);
	if (!ksvc_any_instance())
		return;
	/*
	 * Nearly every exiting task is no instance's parent: it then takes
	 * no global lock.  See t0_track_parent() for the order.
	 */
	smp_mb();
	if (!READ_ONCE(*t0_parent_nr(p)))
		return;
	spin_lock(&ksvc_reg_lock);
	hash_for_each_possible(ksvc_by_parent, inst, by_parent,
			       (unsigned long)p)
		if (inst->parent == p)
			ksvc_t0_invalidate(inst, KSVC_FRESH_PPID);
	spin_unlock(&ksvc_reg_lock);
}

/*
 * Record @p as sharing @inst's address space; every bit goes clear.  Past
 * KSVC_MAX_SHARERS records, or without memory, the instance overflows:
 * no bit is set until the owner's next REFRESH or NOTIFY finds few
 * enough sharers left to record (ksvc_t0_recheck_sharers()).  Not a count of the sharers without a
 * record: nothing can tell their exits from others' (an execve that
 * fails after releasing the address space releases it again at exit),
 * and a count taken down once too often would publish the owner's facts
 * to a sharer.  The record is charged to the caller's memory cgroup and
 * never taken from the atomic reserves.
 */
static void t0_add_sharer(struct ksvc_instance *inst, struct task_struct *p)
{
	struct ksvc_sharer *s = NULL;

	spin_lock(&inst->sharer_lock);
	if (inst->nr_sharers < KSVC_MAX_SHARERS &&
	    !ksvc_should_fail("kmalloc"))
		s = kmalloc(sizeof(*s),
			    GFP_NOWAIT | __GFP_ACCOUNT | __GFP_NOWARN);
	if (s) {
		get_task_struct(p);
		s->task = p;
		list_add(&s->node, &inst->sharers);
		inst->nr_sharers++;
	} else {
		inst->sharer_overflow = true;
		inst->overflow_gen++;
	}
	spin_unlock(&inst->sharer_lock);
	ksvc_t0_invalidate(inst, KSVC_FRESH_ALL);
}

/* Is @t, seen in a walk of the tasks, a sharer of @inst's mm now? */
static bool t0_is_sharer(struct ksvc_instance *inst, struct task_struct *t)
{
	bool shares;

	/* kthread_use_mm() users run no user code. */
	if (task_tgid(t) == inst->tgid || (t->flags & PF_KTHREAD))
		return false;
	task_lock(t);
	shares = t->mm == inst->mm;
	task_unlock(t);
	return shares;
}

/*
 * At CREATE, after registration: processes that already share the
 * owner's address space (the owner may itself be a vfork child, or have
 * CLONE_VM children).  Later ones are caught by ksvc_t0_task_new(),
 * which sees the registration.  With mm_users == 1 the caller is the
 * only user and there is nothing to look for.
 */
void ksvc_t0_scan_sharers(struct ksvc_instance *inst)
{
	struct task_struct *p, *t;

	if (atomic_read(&inst->mm->mm_users) > 1) {
		rcu_read_lock();
		for_each_process_thread(p, t)
			if (t0_is_sharer(inst, t))
				t0_add_sharer(inst, t);
		rcu_read_unlock();
	}
	/* Until now a refresh (from a hook, another thread) published nothing. */
	spin_lock(&inst->sharer_lock);
	inst->sharer_scan_pending = false;
	spin_unlock(&inst->sharer_lock);
}

/*
 * Up to @max tasks outside the owner's thread group that use @inst's mm
 * now, with a reference each, into @found; @max + 1 if there are more.
 */
static unsigned int t0_find_sharers(struct ksvc_instance *inst,
				    struct task_struct **found,
				    unsigned int max)
{
	struct task_struct *p, *t;
	unsigned int n = 0;

	/* Each user holds mm_users from before its ->mm is set. */
	if (atomic_read(&inst->mm->mm_users) <= 1)
		return 0;
	rcu_read_lock();
	for_each_process_thread(p, t) {
		if (!t0_is_sharer(inst, t))
			continue;
		if (n == max) {
			n++;
			goto out;	/* break would end only the thread loop */
		}
		get_task_struct(t);
		found[n++] = t;
	}
out:
	rcu_read_unlock();
	return n;
}

/*
 * The owner asks (REFRESH or NOTIFY): if the instance overflowed and has
 * no live record left, walk the tasks for sharers.  If there are at most
 * KSVC_MAX_SHARERS, and none overflowed during the walk, they become
 * records and the overflow ends: the bits come back when the last one
 * leaves, or now if none is left.  A sharer made during the walk has a
 * record or bumps overflow_gen (its clone hook runs before it does); one
 * made before it is on the task list for the whole walk; a record of one
 * that left meanwhile is pruned.  The walk visits every task, as
 * CREATE's does: at most every 100 ms per instance, and less often (up
 * to every 2 s) while it keeps finding too many.
 */
void ksvc_t0_recheck_sharers(struct ksvc_instance *inst)
{
	struct task_struct *found[KSVC_MAX_SHARERS + 1];
	struct ksvc_sharer *rec[KSVC_MAX_SHARERS];
	unsigned int n, i, made = 0;
	u64 now = get_jiffies_64();
	u32 gen;

	spin_lock(&inst->sharer_lock);
	t0_prune_sharers(inst);
	if (!inst->sharer_overflow || !list_empty(&inst->sharers) ||
	    time_before64(now, inst->recheck_after)) {
		spin_unlock(&inst->sharer_lock);
		return;
	}
	inst->recheck_after = now + inst->recheck_wait;
	gen = inst->overflow_gen;
	spin_unlock(&inst->sharer_lock);

	n = t0_find_sharers(inst, found, KSVC_MAX_SHARERS);
	if (n > KSVC_MAX_SHARERS) {
		n = KSVC_MAX_SHARERS;
		spin_lock(&inst->sharer_lock);
		inst->recheck_wait = min_t(u32, inst->recheck_wait * 2,
					   KSVC_RECHECK_MAX);
		spin_unlock(&inst->sharer_lock);
		goto put;
	}
	for (made = 0; made < n; made++) {
		rec[made] = ksvc_should_fail("kmalloc") ? NULL :
			    kmalloc(sizeof(*rec[made]),
				    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!rec[made])
			goto put;
	}

	spin_lock(&inst->sharer_lock);
	if (inst->overflow_gen == gen) {
		for (i = 0; i < n; i++) {
			rec[i]->task = found[i];	/* takes the reference */
			list_add(&rec[i]->node, &inst->sharers);
			inst->nr_sharers++;
		}
		inst->sharer_overflow = false;
		inst->recheck_wait = KSVC_RECHECK_MIN;
		made = 0;
		n = 0;
	}
	spin_unlock(&inst->sharer_lock);
put:
	for (i = 0; i < made; i++)
		kfree(rec[i]);
	for (i = 0; i < n; i++)
		put_task_struct(found[i]);
}

/*
 * @tsk drops its address space @mm for good (exit, or execve past the
 * point of no return).  If it was a sharer, forget it and bring the bits
 * back now: @tsk never runs user code in @mm again.  Frees and allocates:
 * only from an ftrace-based kprobe (hooks.c).
 */
void ksvc_t0_mm_release(struct task_struct *tsk, struct mm_struct *mm)
{
	unsigned int budget = KSVC_T0_HOOK_THREADS;
	struct ksvc_instance *inst;

	if (!mm || !ksvc_any_instance())
		return;
	rcu_read_lock();
	hash_for_each_possible_rcu(ksvc_by_mm, inst, by_mm,
				   (unsigned long)mm) {
		struct ksvc_sharer *s, *tmp;
		bool was_sharer = false, last;

		if (inst->mm != mm)
			continue;
		spin_lock(&inst->sharer_lock);
		/* Whole list: the CREATE scan may have recorded @tsk twice. */
		list_for_each_entry_safe(s, tmp, &inst->sharers, node) {
			if (s->task != tsk)
				continue;
			t0_drop_sharer(inst, s);
			was_sharer = true;
		}
		last = list_empty(&inst->sharers) && !inst->sharer_overflow;
		spin_unlock(&inst->sharer_lock);
		/* While other sharers remain a refresh would publish nothing. */
		if (was_sharer && last)
			t0_refresh(inst, KSVC_FRESH_ALL, &budget);
	}
	rcu_read_unlock();
}

/* @p was just created by current and has not run yet. */
void ksvc_t0_task_new(struct task_struct *p, unsigned long clone_flags)
{
	struct ksvc_instance *inst;

	/*
	 * @p is on the task list: that store comes before this load of the
	 * registration count, as the registration comes before the list
	 * walk of ksvc_t0_scan_sharers() (smp_mb() in ksvc_t0_register()).
	 * Otherwise each side could miss the other.
	 */
	smp_mb();
	if (!ksvc_any_instance())
		return;

	/* A thread in a UTS namespace of its own. */
	if ((clone_flags & CLONE_THREAD) && (clone_flags & CLONE_NEWUTS))
		t0_for_current(KSVC_FRESH_UTS, 0);
	if (!(clone_flags & CLONE_VM))
		return;

	/*
	 * Another process in this address space: vfork(), posix_spawn(),
	 * clone(CLONE_VM), or a thread of such a process (it stays in the
	 * address space after the process that made it exits).
	 */
	rcu_read_lock();
	hash_for_each_possible_rcu(ksvc_by_mm, inst, by_mm,
				   (unsigned long)current->mm)
		if (inst->mm == current->mm && task_tgid(p) != inst->tgid)
			t0_add_sharer(inst, p);
	rcu_read_unlock();
}
