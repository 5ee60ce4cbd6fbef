// SPDX-License-Identifier: GPL-2.0
/*
 * hooks.c - how the module learns that a process fact changes.
 *
 * The kernel has no notifier for "this process's credentials, host name,
 * rlimit or parent changed", so KSVC attaches to the functions that make
 * those changes:
 *
 *   fact        before the change (kprobe)      after it (kretprobe)
 *   ----        --------------------------      --------------------
 *   ids         commit_creds                    commit_creds
 *   ids         proc_{uid,gid}_map_write        same
 *   uts         sethostname, setdomainname,     same
 *               proc_do_uts_string (writes)
 *   uts         -                               proc_sys_poll_notify (every
 *                                               name change ends there: for
 *                                               writes begun before load,
 *                                               and missed return probes)
 *   uts         personality, switch_task_namespaces
 *   nofile      security_task_setrlimit         setrlimit, prlimit64
 *   ppid        tracepoint sched_process_exit
 *   all         tracepoint task_newtask (vfork and CLONE_VM children)
 *   all         {exit,exec}_mm_release (such a child leaves: bits back)
 *
 * The "before" side is a plain kprobe because a kprobe is never skipped;
 * a kretprobe is skipped when its instance pool runs dry, and tier0.c is
 * built so that a skipped return only leaves a bit clear (for host names
 * and id maps, only until the writer's next such write or exit: see
 * struct ksvc_writer).  If a hook a
 * group depends on cannot be attached on this kernel, the group's bit is
 * never set: slower, never wrong.
 *
 * All handlers are cheap for processes without an instance: they bail
 * out on a counter, or do one hash lookup.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <linux/seq_file.h>
#include <linux/tracepoint.h>

#include "compat.h"
#include "ksvc.h"

/*
 * Return instances per probe.  Only calls stalled on purpose (a host name
 * or id map write whose argument's copy waits on userfaultfd or FUSE)
 * can hold this many at once; tier0.c copes with the misses that follow
 * (struct ksvc_writer).
 */
#define KSVC_KRP_MAXACTIVE	256

struct ksvc_hook {
	const char *symbol;
	u32 needed_by;			/* groups that rely on this hook */
	kprobe_pre_handler_t before;	/* plain kprobe, may be NULL */
	kretprobe_handler_t filter;	/* kretprobe entry, may be NULL */
	kretprobe_handler_t after;	/* kretprobe return, may be NULL */
	size_t data_size;
	struct kprobe kp;
	struct kretprobe krp;
	bool kp_on, krp_on;
};

/* ---- credentials -------------------------------------------------- */

static int ksvc_creds_before(struct kprobe *kp, struct pt_regs *regs)
{
	ksvc_t0_thread_change_begin(KSVC_FRESH_IDS);
	return 0;
}

static int ksvc_creds_after(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	ksvc_t0_thread_change_end(KSVC_FRESH_IDS);
	return 0;
}

/* ---- personality and namespace switches (uname's view) ----------- */

static int ksvc_uts_thread_before(struct kprobe *kp, struct pt_regs *regs)
{
	ksvc_t0_thread_change_begin(KSVC_FRESH_UTS);
	return 0;
}

static int ksvc_uts_thread_after(struct kretprobe_instance *ri,
				 struct pt_regs *regs)
{
	ksvc_t0_thread_change_end(KSVC_FRESH_UTS);
	return 0;
}

/* switch_task_namespaces(p, new): new == NULL is a task exiting. */
static bool ksvc_nsswitch_is_exit(struct pt_regs *regs)
{
	return !regs_get_kernel_argument(regs, 1);
}

static int ksvc_nsswitch_before(struct kprobe *kp, struct pt_regs *regs)
{
	if (!ksvc_nsswitch_is_exit(regs))
		ksvc_t0_thread_change_begin(KSVC_FRESH_UTS);
	return 0;
}

static int ksvc_nsswitch_filter(struct kretprobe_instance *ri,
				struct pt_regs *regs)
{
	return ksvc_nsswitch_is_exit(regs);	/* non-zero: no return probe */
}

/* ---- host name ----------------------------------------------------- */

static int ksvc_uts_write_before(struct kprobe *kp, struct pt_regs *regs)
{
	ksvc_t0_uts_write_begin(kprobe_ftrace(kp));
	return 0;
}

static int ksvc_uts_write_after(struct kretprobe_instance *ri,
				struct pt_regs *regs)
{
	ksvc_t0_uts_write_end();
	return 0;
}

#ifdef CONFIG_PROC_SYSCTL
/* proc_do_uts_string(table, write, ...): only writes change anything. */
static int ksvc_uts_sysctl_before(struct kprobe *kp, struct pt_regs *regs)
{
	if (regs_get_kernel_argument(regs, 1))
		ksvc_t0_uts_write_begin(kprobe_ftrace(kp));
	return 0;
}

static int ksvc_uts_sysctl_filter(struct kretprobe_instance *ri,
				  struct pt_regs *regs)
{
	return !regs_get_kernel_argument(regs, 1);
}

/* proc_sys_poll_notify(): only host and domain name writes call it. */
static int ksvc_uts_written_before(struct kprobe *kp, struct pt_regs *regs)
{
	ksvc_t0_uts_written();
	return 0;
}
#endif

/* ---- uid/gid maps -------------------------------------------------- */

#ifdef CONFIG_USER_NS

/* proc_{uid,gid}_map_write(file, ...): the namespace is the seq_file's. */
static struct user_namespace *ksvc_idmap_ns(struct pt_regs *regs)
{
	struct file *file = (struct file *)regs_get_kernel_argument(regs, 0);
	struct seq_file *seq = file->private_data;

	return seq->private;
}

static int ksvc_idmap_before(struct kprobe *kp, struct pt_regs *regs)
{
	ksvc_t0_idmap_write_begin(ksvc_idmap_ns(regs), kprobe_ftrace(kp));
	return 0;
}

static int ksvc_idmap_filter(struct kretprobe_instance *ri,
			     struct pt_regs *regs)
{
	*(struct user_namespace **)ri->data = ksvc_idmap_ns(regs);
	return 0;
}

static int ksvc_idmap_after(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	ksvc_t0_idmap_write_end(*(struct user_namespace **)ri->data);
	return 0;
}
#endif

/* ---- RLIMIT_NOFILE -------------------------------------------------- */

/* security_task_setrlimit(p, resource, new_rlim), under task_lock. */
static int ksvc_rlimit_before(struct kprobe *kp, struct pt_regs *regs)
{
	if (regs_get_kernel_argument(regs, 1) == RLIMIT_NOFILE)
		ksvc_t0_rlimit_change((struct task_struct *)
				      regs_get_kernel_argument(regs, 0));
	return 0;
}

static int ksvc_rlimit_filter(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	return !ksvc_t0_current_has_instance();
}

static int ksvc_rlimit_after(struct kretprobe_instance *ri,
			     struct pt_regs *regs)
{
	ksvc_t0_rlimit_changed_self();
	return 0;
}

/* ---- a task leaves an address space -------------------------------- */

/*
 * {exit,exec}_mm_release(tsk, mm).  ksvc_t0_mm_release() frees and
 * allocates, which an int3 trap (NMI context) must not do; there the
 * hook does nothing, and the bits come back at the next refresh, which
 * drops the sharers that left (t0_sharers_present()).
 */
static int ksvc_mm_release_before(struct kprobe *kp, struct pt_regs *regs)
{
	if (!kprobe_ftrace(kp))
		return 0;
	ksvc_t0_mm_release((struct task_struct *)regs_get_kernel_argument(regs, 0),
			   (struct mm_struct *)regs_get_kernel_argument(regs, 1));
	return 0;
}

#define HOOK_BRACKET(sym, groups, b, a)					\
	{ .symbol = (sym), .needed_by = (groups), .before = (b), .after = (a) }

static struct ksvc_hook ksvc_hooks[] = {
	HOOK_BRACKET("commit_creds", KSVC_FRESH_IDS,
		     ksvc_creds_before, ksvc_creds_after),
#ifdef CONFIG_USER_NS
	{ .symbol = "proc_uid_map_write", .needed_by = KSVC_FRESH_IDS,
	  .before = ksvc_idmap_before, .filter = ksvc_idmap_filter,
	  .after = ksvc_idmap_after, .data_size = sizeof(void *) },
	{ .symbol = "proc_gid_map_write", .needed_by = KSVC_FRESH_IDS,
	  .before = ksvc_idmap_before, .filter = ksvc_idmap_filter,
	  .after = ksvc_idmap_after, .data_size = sizeof(void *) },
#endif
	HOOK_BRACKET(KSVC_SYS(sethostname), KSVC_FRESH_UTS,
		     ksvc_uts_write_before, ksvc_uts_write_after),
	HOOK_BRACKET(KSVC_SYS(setdomainname), KSVC_FRESH_UTS,
		     ksvc_uts_write_before, ksvc_uts_write_after),
#ifdef KSVC_SYS_IA32
	HOOK_BRACKET(KSVC_SYS_IA32(sethostname), KSVC_FRESH_UTS,
		     ksvc_uts_write_before, ksvc_uts_write_after),
	HOOK_BRACKET(KSVC_SYS_IA32(setdomainname), KSVC_FRESH_UTS,
		     ksvc_uts_write_before, ksvc_uts_write_after),
	HOOK_BRACKET(KSVC_SYS_IA32(personality), KSVC_FRESH_UTS,
		     ksvc_uts_thread_before, ksvc_uts_thread_after),
#endif
#ifdef CONFIG_PROC_SYSCTL
	{ .symbol = "proc_do_uts_string", .needed_by = KSVC_FRESH_UTS,
	  .before = ksvc_uts_sysctl_before, .filter = ksvc_uts_sysctl_filter,
	  .after = ksvc_uts_write_after },
	/*
	 * Ends writes whose return is missed, and those begun before load:
	 * nothing else sees those, so UTS needs it.
	 */
	{ .symbol = "proc_sys_poll_notify", .needed_by = KSVC_FRESH_UTS,
	  .before = ksvc_uts_written_before },
#endif
	HOOK_BRACKET(KSVC_SYS_PERSONALITY, KSVC_FRESH_UTS,
		     ksvc_uts_thread_before, ksvc_uts_thread_after),
#ifdef KSVC_SYS_PERSONALITY_COMPAT
	HOOK_BRACKET(KSVC_SYS_PERSONALITY_COMPAT, KSVC_FRESH_UTS,
		     ksvc_uts_thread_before, ksvc_uts_thread_after),
#endif
	{ .symbol = "switch_task_namespaces", .needed_by = KSVC_FRESH_UTS,
	  .before = ksvc_nsswitch_before, .filter = ksvc_nsswitch_filter,
	  .after = ksvc_uts_thread_after },
	{ .symbol = "security_task_setrlimit", .needed_by = KSVC_FRESH_NOFILE,
	  .before = ksvc_rlimit_before },
	/* Only bring bits back early; not needed for correctness. */
	{ .symbol = "exit_mm_release", .before = ksvc_mm_release_before },
	{ .symbol = "exec_mm_release", .before = ksvc_mm_release_before },
	{ .symbol = KSVC_SYS(prlimit64), .filter = ksvc_rlimit_filter,
	  .after = ksvc_rlimit_after },
	{ .symbol = KSVC_SYS(setrlimit), .filter = ksvc_rlimit_filter,
	  .after = ksvc_rlimit_after },
#ifdef KSVC_COMPAT_IA32
	{ .symbol = KSVC_SYS_IA32(prlimit64), .filter = ksvc_rlimit_filter,
	  .after = ksvc_rlimit_after },
	{ .symbol = KSVC_COMPAT_IA32(setrlimit), .filter = ksvc_rlimit_filter,
	  .after = ksvc_rlimit_after },
#endif
};

/* ---- tracepoints ---------------------------------------------------- */

static void ksvc_tp_process_exit(void *data, KSVC_TP_PROCESS_EXIT_ARGS)
{
	ksvc_t0_task_exit(p);
}

static void ksvc_tp_task_newtask(void *data, KSVC_TP_NEWTASK_ARGS)
{
	ksvc_t0_task_new(p, clone_flags);
}

struct ksvc_tp {
	const char *name;
	void *probe;
	u32 needed_by;
	bool frees_writers;		/* the writer records' only free */
	struct tracepoint *tp;
	bool on;
};

static struct ksvc_tp ksvc_tps[] = {
	{ .name = "sched_process_exit", .probe = ksvc_tp_process_exit,
	  .needed_by = KSVC_FRESH_PPID, .frees_writers = true },
	{ .name = "task_newtask", .probe = ksvc_tp_task_newtask,
	  .needed_by = KSVC_FRESH_ALL },
};

static void ksvc_find_tracepoint(struct tracepoint *tp, void *priv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ksvc_tps); i++)
		if (!strcmp(tp->name, ksvc_tps[i].name))
			ksvc_tps[i].tp = tp;
}

/* ---- registration --------------------------------------------------- */

static u32 ksvc_missing;	/* groups disabled for lack of a hook */

/*
 * For tests: hooks (function or tracepoint names, separated by commas)
 * not to attach, as if this kernel had no such place to hook.  What the
 * module does then (the groups that need a hook stay uncached) is what
 * it does on a kernel that lacks one.
 */
static char *nohook;
module_param(nohook, charp, 0444);
MODULE_PARM_DESC(nohook,
		 "Hooks not to attach, comma-separated (for tests: Tier 0 facts that need one stay uncached)");

static bool ksvc_nohook(const char *name)
{
	size_t len = strlen(name);
	const char *p = nohook;

	while (p && *p) {
		const char *end = strchrnul(p, ',');

		if (end - p == len && !strncmp(p, name, len))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static int ksvc_hook_register(struct ksvc_hook *h)
{
	int ret;

	/*
	 * "before" first.  A thread already inside the function when the
	 * probes go in may see only one of its two handlers.  A "before"
	 * without its "after" leaves its group counted busy: its facts are
	 * never marked fresh again, which is safe.  An "after" without its
	 * "before" would take the count below the changes in progress, and
	 * a later change could then be published as fresh half-way.
	 */
	if (h->before) {
		h->kp.symbol_name = h->symbol;
		h->kp.pre_handler = h->before;
		ret = ksvc_should_fail("register_kprobe") ? -ENOMEM :
		      register_kprobe(&h->kp);
		if (ret)
			return ret;
		h->kp_on = true;
	}
	if (h->after) {
		h->krp.kp.symbol_name = h->symbol;
		h->krp.entry_handler = h->filter;
		h->krp.handler = h->after;
		h->krp.data_size = h->data_size;
		h->krp.maxactive = KSVC_KRP_MAXACTIVE;
		ret = ksvc_should_fail("register_kretprobe") ? -ENOMEM :
		      register_kretprobe(&h->krp);
		if (ret) {
			if (h->kp_on)
				unregister_kprobe(&h->kp);
			h->kp_on = false;
			return ret;
		}
		h->krp_on = true;
	}
	return 0;
}

int ksvc_hooks_init(void)
{
	unsigned int i;
	int ret;

	/*
	 * Tracepoints first: the exit hook must be there before an entry
	 * probe can record a writer (see struct ksvc_writer in tier0.c).
	 */
	for_each_kernel_tracepoint(ksvc_find_tracepoint, NULL);
	for (i = 0; i < ARRAY_SIZE(ksvc_tps); i++) {
		struct ksvc_tp *t = &ksvc_tps[i];

		if (ksvc_nohook(t->name))
			ret = -EPERM;
		else if (t->tp && ksvc_should_fail("tracepoint_probe_register"))
			ret = -ENOMEM;
		else if (t->tp)
			ret = tracepoint_probe_register(t->tp, t->probe, NULL);
		else
			ret = -ENOENT;
		if (ret) {
			ksvc_missing |= t->needed_by;
			/* Records that only task exit frees are not made. */
			if (t->frees_writers)
				ksvc_t0_record_writers = false;
			pr_info("cannot attach to tracepoint %s (%d): some Tier 0 facts stay uncached\n",
				t->name, ret);
			continue;
		}
		t->on = true;
	}

	for (i = 0; i < ARRAY_SIZE(ksvc_hooks); i++) {
		struct ksvc_hook *h = &ksvc_hooks[i];

		ret = ksvc_nohook(h->symbol) ? -EPERM : ksvc_hook_register(h);
		if (ret) {
			ksvc_missing |= h->needed_by;
			pr_info("cannot hook %s (%d)%s\n", h->symbol, ret,
				h->needed_by ? ": some Tier 0 facts stay uncached" : "");
		}
	}

#ifndef CONFIG_PROC_SYSCTL
	/* No proc_sys_poll_notify(): a write begun before load goes unseen. */
	ksvc_missing |= KSVC_FRESH_UTS;
#endif
	ksvc_t0_disable(ksvc_missing);
	return 0;
}

void ksvc_hooks_exit(void)
{
	unsigned int i;

	/* Probes, then tracepoints: the reverse of ksvc_hooks_init(). */
	for (i = 0; i < ARRAY_SIZE(ksvc_hooks); i++) {
		struct ksvc_hook *h = &ksvc_hooks[i];

		if (h->kp_on)
			unregister_kprobe(&h->kp);
		if (h->krp_on)
			unregister_kretprobe(&h->krp);
		h->kp_on = false;
		h->krp_on = false;
	}

	for (i = 0; i < ARRAY_SIZE(ksvc_tps); i++)
		if (ksvc_tps[i].on)
			tracepoint_probe_unregister(ksvc_tps[i].tp,
						    ksvc_tps[i].probe, NULL);
	tracepoint_synchronize_unregister();
	ksvc_t0_writers_free();
}

u32 ksvc_hooks_missing_groups(void)
{
	return ksvc_missing;
}

/* For debugfs: one line per hook. */
void ksvc_hooks_show(struct seq_file *m)
{
	unsigned int i, nr, busy;

	for (i = 0; i < ARRAY_SIZE(ksvc_hooks); i++) {
		struct ksvc_hook *h = &ksvc_hooks[i];

		seq_printf(m, "kprobe %s before=%s after=%s missed=%lu/%d\n",
			   h->symbol,
			   !h->before ? "-" : h->kp_on ? "on" : "OFF",
			   !h->after ? "-" : h->krp_on ? "on" : "OFF",
			   h->kp_on ? h->kp.nmissed : 0UL,
			   h->krp_on ? h->krp.nmissed : 0);
	}
	for (i = 0; i < ARRAY_SIZE(ksvc_tps); i++)
		seq_printf(m, "tracepoint %s %s\n", ksvc_tps[i].name,
			   ksvc_tps[i].on ? "on" : "OFF");
	seq_printf(m, "disabled groups 0x%x\n", ksvc_missing);
	nr = ksvc_t0_nr_writers(&busy);
	seq_printf(m, "writers %u busy %u\n", nr, busy);
}
