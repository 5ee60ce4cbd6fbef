/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - every kernel-version difference KSVC cares about, in one
 * place, so that the rest of the module reads like current kernel code.
 */
#ifndef KSVC_COMPAT_H
#define KSVC_COMPAT_H

#include <linux/version.h>
#include <linux/eventfd.h>
#include <linux/mm.h>
#include <linux/sched.h>

/*
 * The Tier 0 hooks run in kprobe and tracepoint handlers, with
 * preemption off, and take spinlock_t locks and allocate there.  On
 * PREEMPT_RT those may sleep: refuse to build rather than splat.
 */
#ifdef CONFIG_PREEMPT_RT
#error "ksvc does not support PREEMPT_RT kernels"
#endif

/* eventfd_signal() lost its count argument in 6.8. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
#define ksvc_eventfd_signal(ctx) eventfd_signal(ctx)
#else
#define ksvc_eventfd_signal(ctx) eventfd_signal(ctx, 1)
#endif

/* vm_flags became read-only behind helpers in 6.3. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define ksvc_vm_flags_set(vma, f)	vm_flags_set(vma, f)
#define ksvc_vm_flags_clear(vma, f)	vm_flags_clear(vma, f)
#else
static inline void ksvc_vm_flags_set(struct vm_area_struct *vma,
				     unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void ksvc_vm_flags_clear(struct vm_area_struct *vma,
				       unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/*
 * Kernel workers that belong to a user thread group (io_uring workers,
 * vhost): they never return to user space, so their credentials and
 * namespaces are not what a getuid() in the process would see.
 */
#ifdef PF_USER_WORKER
#define KSVC_PF_NOT_USER	(PF_KTHREAD | PF_IO_WORKER | PF_USER_WORKER)
#else
#define KSVC_PF_NOT_USER	(PF_KTHREAD | PF_IO_WORKER)
#endif

/* The sched_process_exit tracepoint gained group_dead in 6.16. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
#define KSVC_TP_PROCESS_EXIT_ARGS	struct task_struct *p, bool group_dead
#else
#define KSVC_TP_PROCESS_EXIT_ARGS	struct task_struct *p
#endif

/*
 * The task_newtask tracepoint's clone_flags became u64 in 6.18.  The
 * probe is registered through a void pointer, so the compiler cannot
 * check it; a kernel with kCFI checks the type at every call.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define KSVC_TP_NEWTASK_ARGS	struct task_struct *p, u64 clone_flags
#else
#define KSVC_TP_NEWTASK_ARGS	struct task_struct *p, unsigned long clone_flags
#endif

/*
 * Names of system call entry points, for kprobes.  Architectures with
 * syscall wrappers prefix them; x86-64 also has the ia32 and x32 entry
 * points when compat support is built in.
 */
#if defined(CONFIG_X86_64)
#define KSVC_SYS(name)		"__x64_sys_" #name
#ifdef CONFIG_IA32_EMULATION
#define KSVC_SYS_IA32(name)	"__ia32_sys_" #name
#define KSVC_COMPAT_IA32(name)	"__ia32_compat_sys_" #name
#endif
#elif defined(CONFIG_ARM64)
/* arm64's compat table reuses these for calls without a compat variant. */
#define KSVC_SYS(name)		"__arm64_sys_" #name
/*
 * arm64's 64-bit table sends personality(2) to its own wrapper, which
 * calls the inline ksys_personality(); its 32-bit table (compat tasks)
 * sends it to the generic __arm64_sys_personality.
 */
#define KSVC_SYS_PERSONALITY	"__arm64_sys_arm64_personality"
#ifdef CONFIG_COMPAT
#define KSVC_SYS_PERSONALITY_COMPAT	"__arm64_sys_personality"
#endif
#elif defined(CONFIG_S390)
#define KSVC_SYS(name)		"__s390x_sys_" #name
#elif defined(CONFIG_RISCV) && LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
#define KSVC_SYS(name)		"__riscv_sys_" #name
#else
/*
 * Without syscall wrappers.  Where a name is wrong the hook does not
 * attach, and the facts it keeps stay uncached (debugfs "hooks").
 */
#define KSVC_SYS(name)		"sys_" #name
#endif

#ifndef KSVC_SYS_PERSONALITY
#define KSVC_SYS_PERSONALITY	KSVC_SYS(personality)
#endif

#endif /* KSVC_COMPAT_H */
