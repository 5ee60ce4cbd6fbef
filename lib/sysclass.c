// SPDX-License-Identifier: MIT
/*
 * sysclass.c - which tier runs which system call.
 *
 * Three questions, asked about each entry the dispatcher takes:
 *
 *   1. Can io_uring run it, with exactly the system call's meaning?
 *      ksvc__t1_op() answers with an io_uring opcode, or -1 when there is
 *      none or when these arguments have no exact io_uring equivalent
 *      (the dispatcher then also checks that the running kernel has the
 *      opcode, from the probe).
 *   2. Otherwise, may it run on another thread of the process?
 *      ksvc__classify() answers C_POOL or C_INLINE (Tier 2), or C_REFUSED.
 *   3. Can it sleep?  C_INLINE calls never wait for anything outside the
 *      kernel's own bounded work (no I/O, no other task, no timer), so the
 *      dispatcher may run them on its own thread without delaying anything
 *      else; C_POOL calls go to the worker pool.
 *
 * The table is x86-64's.  Every system call number of the 6.1 UAPI
 * headers is listed with a class; a number not in the table (a system
 * call newer than this table, or no system call at all) is refused: a
 * newer call might be thread-dependent (lsm_set_self_attr is), and the
 * caller can always make it itself.
 *
 * Why each refused call is refused ("self" means: the calling thread):
 *
 *   clone, clone3, fork, vfork     create a task from the current one: on a
 *                                  worker they would copy the worker (its
 *                                  stack, its signal mask), not the caller.
 *   execve, execveat               replace the process image: the shape of
 *                                  the process; also kills every other
 *                                  thread, the dispatcher's included.
 *   exit                           ends the calling thread: it would end a
 *                                  worker.
 *   exit_group                     ends the process from inside the
 *                                  dispatcher, with its locks held.
 *   rt_sigprocmask, sigaltstack    per-thread signal state.
 *   rt_sigreturn, restart_syscall  only meaningful on the thread's own
 *                                  signal frame / restart block.
 *   rt_sigsuspend, pause,          wait for signals delivered to the
 *   rt_sigtimedwait, rt_sigpending calling thread / read its pending set.
 *   gettid, set_tid_address,       thread identity and per-thread state
 *   set_robust_list,               (robust futex list, clear_child_tid).
 *   get_robust_list(pid 0)
 *   arch_prctl, set_thread_area,   per-thread FS/GS base and TLS
 *   get_thread_area                (modify_ldt acts on the mm: allowed).
 *   rseq                           per-thread registration.
 *   prctl                          most options act on the calling thread
 *                                  (name, seccomp, no_new_privs, pdeathsig,
 *                                  timer slack, speculation control, ...).
 *   seccomp, landlock_restrict_self  install a per-thread filter/domain.
 *   iopl, ioperm                   per-thread I/O privilege.
 *   personality                    per-task.
 *   setuid, setgid, setreuid,      raw credential changes: the kernel
 *   setregid, setresuid, setresgid,changes only the calling thread's
 *   setfsuid, setfsgid, setgroups, credentials (glibc's wrappers signal
 *   capset                         every thread; a worker would change
 *                                  only itself).
 *   unshare, setns                 detach or move the calling thread's
 *                                  fs/files/namespaces.
 *   pkey_alloc                     sets the new key's access rights in
 *                                  the calling thread's PKRU register:
 *                                  the caller's would stay what they were
 *                                  (by default: no access), and memory
 *                                  that pkey_mprotect() gives the key
 *                                  would fault.
 *   set_mempolicy, get_mempolicy   per-thread NUMA policy.
 *   getcpu                         where the calling thread runs.
 *   sched_yield                    yields the calling thread: meaningless
 *                                  on a worker.
 *   ptrace                         the tracer is a thread; PTRACE_TRACEME
 *                                  marks the calling thread.
 *   io_uring_setup, io_uring_enter, io_uring ties rings to tasks
 *   io_uring_register              (SINGLE_ISSUER, DEFER_TASKRUN, task
 *                                  work, enabling a disabled ring).
 *   add_key, request_key, keyctl   the kernel finds keys through the
 *                                  calling thread's keyrings (thread,
 *                                  process, session: part of its
 *                                  credentials): the special ids name
 *                                  them, request_key() searches them, and
 *                                  a key reachable from them is
 *                                  "possessed", which grants most of its
 *                                  permissions (a new key's owner may only
 *                                  view it; its possessor may read it).  A
 *                                  worker's thread keyring is never the
 *                                  caller's, so a key the caller added
 *                                  there is unreadable from a worker.
 *                                  Creating a process or session keyring
 *                                  on first use, joining a session
 *                                  keyring and assuming request_key
 *                                  authority change only the calling
 *                                  thread's credentials.
 *
 * Refused only for some arguments (C_SELF: the argument names the caller):
 *
 *   sched_{set,get}affinity, sched_{set,get}param, sched_{set,get}scheduler,
 *   sched_{set,get}attr, sched_rr_get_interval   pid 0
 *   getpriority, setpriority       PRIO_PROCESS with who 0 (a thread)
 *   ioprio_{set,get}               IOPRIO_WHO_PROCESS with who 0
 *   getrusage                      RUSAGE_THREAD
 *   clock_gettime, clock_getres,   CLOCK_THREAD_CPUTIME_ID and the
 *   clock_nanosleep, timer_create  calling thread's dynamic CPU clocks
 *   wait4, waitid                  __WNOTHREAD (children of this thread)
 *   futex                          priority-inheritance operations (the
 *                                  owner is a thread id)
 *   perf_event_open                pid 0 (counts the calling thread;
 *                                  not with PERF_FLAG_PID_CGROUP)
 *   close_range                    CLOSE_RANGE_UNSHARE: gives the calling
 *                                  thread a file table of its own; a
 *                                  worker would close nothing of the
 *                                  caller's and lose sight of every
 *                                  descriptor opened after
 *   get_robust_list                pid 0
 *   ppoll, epoll_pwait,            a signal mask: the calling thread's
 *   epoll_pwait2, pselect6,        mask while it waits.  On a worker it
 *   io_pgetevents                  would let signals through to the
 *                                  worker, and a signal sent to the
 *                                  calling thread alone (pthread_kill(),
 *                                  a timer's SIGEV_THREAD_ID) would not
 *                                  end the wait.  For pselect6 and
 *                                  io_pgetevents: any {mask, size}
 *                                  pointer (the dispatcher does not read
 *                                  it; the mask in it may be NULL)
 *
 * Everything else runs in Tier 2 with the worker's view of the process,
 * which is the caller's unless the caller detached itself (see
 * ksvc_dispatch.h).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <linux/ioprio.h>
#include <linux/perf_event.h>
#include <time.h>

#include "dispatch_int.h"

#ifndef __x86_64__
#error "lib/sysclass.c: the classification table is written for x86-64; write one for this architecture"
#endif

#define P(n)		[SYS_##n] = C_POOL
#define I(n)		[SYS_##n] = C_INLINE
#define R(n)		[SYS_##n] = C_REFUSED
#define PS(n)		[SYS_##n] = C_POOL | C_SELF
#define IS(n)		[SYS_##n] = C_INLINE | C_SELF

#define NR_TABLE	KSVC_NR_TABLE

static const unsigned char sys_class[NR_TABLE] = {
	/* Files, I/O (Tier 1 when io_uring can; the pool otherwise). */
	P(read), P(write), P(open), P(close), P(stat), P(fstat), P(lstat),
	P(poll), P(lseek), P(pread64), P(pwrite64), P(readv), P(writev),
	P(access), P(pipe), P(select), P(ioctl), P(dup2), P(dup3),
	P(sendfile), P(fcntl), P(flock), P(fsync), P(fdatasync),
	P(truncate), P(ftruncate), P(getdents), P(getdents64), P(chdir),
	P(fchdir), P(rename), P(mkdir), P(rmdir), P(creat), P(link),
	P(unlink), P(symlink), P(readlink), P(chmod), P(fchmod), P(chown),
	P(fchown), P(lchown), P(utime), P(mknod), P(ustat), P(statfs),
	P(fstatfs), P(sysfs), P(readahead), P(setxattr), P(lsetxattr),
	P(fsetxattr), P(getxattr), P(lgetxattr), P(fgetxattr),
	P(listxattr), P(llistxattr), P(flistxattr), P(removexattr),
	P(lremovexattr), P(fremovexattr), P(epoll_create), P(epoll_wait),
	P(epoll_ctl), P(epoll_create1),
	P(utimes), P(inotify_init), P(inotify_init1),
	P(inotify_add_watch), P(inotify_rm_watch), P(openat), P(mkdirat),
	P(mknodat), P(fchownat), P(futimesat), P(newfstatat), P(unlinkat),
	P(renameat), P(renameat2), P(linkat), P(symlinkat), P(readlinkat),
	P(fchmodat), P(faccessat), P(faccessat2),
	P(splice), P(tee), P(sync_file_range), P(vmsplice), P(utimensat),
	P(signalfd), P(signalfd4), P(timerfd_create), P(timerfd_settime),
	P(timerfd_gettime), P(eventfd), P(eventfd2), P(fallocate),
	P(pipe2), P(preadv), P(pwritev), P(preadv2), P(pwritev2),
	P(fanotify_init), P(fanotify_mark), P(name_to_handle_at),
	P(open_by_handle_at), P(syncfs), P(sync), P(copy_file_range),
	P(statx), P(openat2), P(memfd_create),
	P(memfd_secret), P(userfaultfd), P(fadvise64), P(chroot),
	P(quotactl), P(quotactl_fd), P(io_setup), P(io_destroy),
	P(io_getevents), P(io_submit), P(io_cancel),
	P(mount), P(umount2), P(pivot_root), P(open_tree), P(move_mount),
	P(fsopen), P(fsconfig), P(fsmount), P(fspick), P(mount_setattr),
	P(swapon), P(swapoff), P(acct), P(lookup_dcookie),
	P(landlock_create_ruleset), P(landlock_add_rule),
	/* Sockets. */
	P(socket), P(connect), P(accept), P(accept4), P(sendto),
	P(recvfrom), P(sendmsg), P(recvmsg), P(sendmmsg), P(recvmmsg),
	P(shutdown), P(bind), P(listen), P(getsockname), P(getpeername),
	P(socketpair), P(setsockopt), P(getsockopt),
	/* Memory: the mm is the process's. */
	P(mmap), P(mprotect), P(munmap), P(brk), P(mremap), P(msync),
	P(mincore), P(madvise), P(mlock), P(munlock), P(mlockall),
	P(munlockall), P(mlock2), P(remap_file_pages), P(mbind),
	P(migrate_pages), P(move_pages), P(set_mempolicy_home_node),
	P(pkey_mprotect), P(pkey_free), P(modify_ldt),
	P(process_madvise), P(process_mrelease), P(membarrier),
	P(shmget), P(shmat), P(shmctl), P(shmdt),
	/* IPC, time, misc. */
	P(semget), P(semop), P(semctl), P(semtimedop), P(msgget),
	P(msgsnd), P(msgrcv), P(msgctl), P(mq_open), P(mq_unlink),
	P(mq_timedsend), P(mq_timedreceive), P(mq_notify),
	P(mq_getsetattr),
	P(nanosleep), P(timer_settime), P(timer_gettime),
	P(timer_getoverrun), P(timer_delete), P(clock_settime),
	P(clock_adjtime), P(adjtimex), P(settimeofday), P(getrandom),
	P(sethostname), P(setdomainname), P(syslog), P(reboot),
	P(init_module), P(finit_module), P(delete_module), P(kexec_load),
	P(kexec_file_load), P(bpf), P(vhangup),
	P(futex_waitv), P(kcmp), P(process_vm_readv), P(process_vm_writev),
	P(pidfd_open), P(pidfd_getfd), P(pidfd_send_signal),
	P(rt_sigaction), P(rt_sigqueueinfo), P(rt_tgsigqueueinfo),
	P(setpgid), P(setsid), P(capget),
	/* Argument-dependent (C_SELF): refused when they name the caller. */
	PS(sched_setaffinity), PS(sched_getaffinity), PS(sched_setparam),
	PS(sched_getparam), PS(sched_setscheduler), PS(sched_getscheduler),
	PS(sched_setattr), PS(sched_getattr), PS(sched_rr_get_interval),
	PS(setpriority), PS(ioprio_set), PS(ioprio_get), PS(wait4),
	PS(waitid), PS(futex), PS(clock_nanosleep), PS(timer_create),
	PS(get_robust_list), PS(ppoll), PS(pselect6), PS(epoll_pwait),
	PS(epoll_pwait2), PS(io_pgetevents), PS(close_range),
	PS(perf_event_open),
	IS(getpriority), IS(getrusage), IS(clock_gettime), IS(clock_getres),
	/*
	 * Inline: process-wide answers computed without sleeping (they may
	 * only fault on the caller's buffer, like any memory access).
	 */
	I(getpid), I(getppid), I(getuid), I(getgid), I(geteuid),
	I(getegid), I(getresuid), I(getresgid), I(getgroups), I(getpgrp),
	I(getpgid), I(getsid), I(uname), I(getrlimit), I(setrlimit),
	I(prlimit64), I(umask), I(gettimeofday), I(time), I(times),
	I(sysinfo), I(getcwd), I(sched_get_priority_max),
	I(sched_get_priority_min), I(alarm), I(getitimer), I(setitimer),
	I(kill), I(tkill), I(tgkill), I(dup),
	/* Refused: see the list at the top of this file. */
	R(clone), R(clone3), R(fork), R(vfork), R(execve), R(execveat),
	R(exit), R(exit_group), R(rt_sigprocmask), R(sigaltstack),
	R(rt_sigreturn), R(restart_syscall), R(rt_sigsuspend), R(pause),
	R(rt_sigtimedwait), R(rt_sigpending), R(gettid),
	R(set_tid_address), R(set_robust_list), R(arch_prctl),
	R(set_thread_area), R(get_thread_area), R(rseq), R(prctl),
	R(seccomp), R(landlock_restrict_self), R(iopl), R(ioperm),
	R(personality), R(setuid), R(setgid), R(setreuid), R(setregid),
	R(setresuid), R(setresgid), R(setfsuid), R(setfsgid),
	R(setgroups), R(capset), R(unshare), R(setns), R(set_mempolicy),
	R(get_mempolicy), R(getcpu), R(sched_yield), R(ptrace),
	R(io_uring_setup), R(io_uring_enter), R(io_uring_register),
	R(add_key), R(request_key), R(keyctl), R(pkey_alloc),
	/*
	 * Not listed, hence refused as unknown: the numbers x86-64 never
	 * implemented or removed (uselib, _sysctl, create_module,
	 * get_kernel_syms, query_module, nfsservctl, getpmsg, putpmsg,
	 * afs_syscall, tuxcall, security, epoll_ctl_old, epoll_wait_old,
	 * vserver), and everything after set_mempolicy_home_node.
	 */
};

/* clockid names the calling thread's CPU clock? */
static int clock_is_self(__s64 id)
{
	if (id == CLOCK_THREAD_CPUTIME_ID)
		return 1;
	/*
	 * Dynamic CPU clocks: ~pid << 3 | thread-bit (4) | type.  pid 0 is
	 * "the caller"; with the thread bit, the calling thread: -4..-1.
	 */
	return (__s32)id >= -4 && (__s32)id <= -1;
}

static int futex_is_pi(__u64 op)
{
	switch (op & FUTEX_CMD_MASK) {
	case FUTEX_LOCK_PI:
	case FUTEX_UNLOCK_PI:
	case FUTEX_TRYLOCK_PI:
	case FUTEX_WAIT_REQUEUE_PI:
	case FUTEX_CMP_REQUEUE_PI:
#ifdef FUTEX_LOCK_PI2
	case FUTEX_LOCK_PI2:
#endif
		return 1;
	}
	return 0;
}

#ifndef __WNOTHREAD
#define __WNOTHREAD	0x20000000
#endif

/* For C_SELF calls: do these arguments name the calling thread? */
static int names_self(const struct ksvc_entry *e)
{
	const __u64 *a = e->args;

	switch (e->syscall_nr) {
	case SYS_sched_setaffinity:
	case SYS_sched_getaffinity:
	case SYS_sched_setparam:
	case SYS_sched_getparam:
	case SYS_sched_setscheduler:
	case SYS_sched_getscheduler:
	case SYS_sched_setattr:
	case SYS_sched_getattr:
	case SYS_sched_rr_get_interval:
	case SYS_get_robust_list:
		return (__s32)a[0] == 0;
	case SYS_getpriority:
	case SYS_setpriority:
		return (__s32)a[0] == PRIO_PROCESS && (__s32)a[1] == 0;
	case SYS_ioprio_set:
	case SYS_ioprio_get:
		return (__s32)a[0] == IOPRIO_WHO_PROCESS && (__s32)a[1] == 0;
	case SYS_getrusage:
		return (__s32)a[0] == RUSAGE_THREAD;
	case SYS_clock_gettime:
	case SYS_clock_getres:
	case SYS_clock_nanosleep:
	case SYS_timer_create:
		return clock_is_self((__s64)(__s32)a[0]);
	case SYS_wait4:
		return (a[2] & __WNOTHREAD) != 0;
	case SYS_waitid:
		return (a[3] & __WNOTHREAD) != 0;
	case SYS_futex:
		return futex_is_pi(a[1]);
	case SYS_perf_event_open:
		/* with PERF_FLAG_PID_CGROUP, pid is a cgroup's descriptor */
		return (__s32)a[1] == 0 && !(a[4] & PERF_FLAG_PID_CGROUP);
	case SYS_ppoll:
		return a[3] != 0;
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
		return a[4] != 0;
	case SYS_pselect6:
	case SYS_io_pgetevents:
		return a[5] != 0;
	case SYS_close_range:
		return ((__u32)a[2] & CLOSE_RANGE_UNSHARE) != 0;
	}
	return 0;
}

int ksvc__classify(const struct ksvc_entry *e)
{
	unsigned int c;

	if (e->syscall_nr >= NR_TABLE)
		return C_REFUSED;
	c = sys_class[e->syscall_nr];
	if (c == 0)
		return C_REFUSED;		/* unknown number */
	if (c & C_SELF) {
		if (names_self(e))
			return C_REFUSED;
		c &= ~C_SELF;
	}
	return (int)c;
}

/*
 * The class of @nr alone, C_SELF included (0: unknown number), for the
 * dispatcher's route table: with C_SELF clear, ksvc__classify() gives
 * the same answer for every argument.
 */
int ksvc__class_of(__u32 nr)
{
	return nr < NR_TABLE ? sys_class[nr] : 0;
}

int ksvc__tier0_call(long nr)
{
	switch (nr) {
	case SYS_getpid:
	case SYS_getppid:
	case SYS_getuid:
	case SYS_getgid:
	case SYS_geteuid:
	case SYS_getegid:
	case SYS_uname:
	case SYS_getrlimit:
		return 1;
	}
	return 0;
}

/* The calls of ksvc__nonblock_fds() that exist for sockets alone. */
int ksvc__sock_call(__u32 nr)
{
	switch (nr) {
	case SYS_recvfrom:
	case SYS_sendto:
	case SYS_recvmsg:
	case SYS_sendmsg:
	case SYS_accept:
	case SYS_accept4:
	case SYS_connect:
		return 1;
	}
	return 0;
}

/*
 * Calls whose meaning depends on O_NONBLOCK of their descriptor(s),
 * which io_uring does not honour for pollable files: it waits where the
 * system call returns EAGAIN (EINPROGRESS for connect).  Returns how
 * many descriptors to check and puts them in @fds.
 */
int ksvc__nonblock_fds(const struct ksvc_entry *e, int fds[2])
{
	if (ksvc__sock_call(e->syscall_nr)) {
		fds[0] = (int)e->args[0];
		return 1;
	}
	switch (e->syscall_nr) {
	case SYS_preadv2:
	case SYS_pwritev2:
		/* at the file position (-1) they are readv and writev */
		if ((__s64)e->args[3] != -1)
			return 0;
		/* fall through */
	case SYS_read:
	case SYS_write:
	case SYS_readv:
	case SYS_writev:
		fds[0] = (int)e->args[0];
		return 1;
	case SYS_splice:	/* in, off_in, out, ... */
		fds[0] = (int)e->args[0];
		fds[1] = (int)e->args[2];
		return 2;
	case SYS_tee:		/* in, out, ... */
		fds[0] = (int)e->args[0];
		fds[1] = (int)e->args[1];
		return 2;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Tier 1: system call -> io_uring opcode                            */
/* ---------------------------------------------------------------- */

int ksvc_dispatch_tier1_opcode(long nr)
{
	switch (nr) {
	case SYS_read:		return IORING_OP_READ;
	case SYS_write:		return IORING_OP_WRITE;
	case SYS_pread64:	return IORING_OP_READ;
	case SYS_pwrite64:	return IORING_OP_WRITE;
	case SYS_readv:
	case SYS_preadv:
	case SYS_preadv2:	return IORING_OP_READV;
	case SYS_writev:
	case SYS_pwritev:
	case SYS_pwritev2:	return IORING_OP_WRITEV;
	case SYS_fsync:
	case SYS_fdatasync:	return IORING_OP_FSYNC;
	case SYS_sync_file_range: return IORING_OP_SYNC_FILE_RANGE;
	case SYS_open:
	case SYS_openat:
	case SYS_creat:		return IORING_OP_OPENAT;
	case SYS_openat2:	return IORING_OP_OPENAT2;
	case SYS_close:		return IORING_OP_CLOSE;
	case SYS_statx:		return IORING_OP_STATX;
	case SYS_accept:
	case SYS_accept4:	return IORING_OP_ACCEPT;
	case SYS_connect:	return IORING_OP_CONNECT;
	case SYS_socket:	return IORING_OP_SOCKET;
	case SYS_sendto:	return IORING_OP_SEND;	/* SENDMSG with an address */
	case SYS_recvfrom:	return IORING_OP_RECV;
	case SYS_sendmsg:	return IORING_OP_SENDMSG;
	case SYS_recvmsg:	return IORING_OP_RECVMSG;
	case SYS_shutdown:	return IORING_OP_SHUTDOWN;
	case SYS_fallocate:	return IORING_OP_FALLOCATE;
	case SYS_splice:	return IORING_OP_SPLICE;
	case SYS_tee:		return IORING_OP_TEE;
	case SYS_rename:
	case SYS_renameat:
	case SYS_renameat2:	return IORING_OP_RENAMEAT;
	case SYS_unlink:
	case SYS_unlinkat:
	case SYS_rmdir:		return IORING_OP_UNLINKAT;
	case SYS_mkdir:
	case SYS_mkdirat:	return IORING_OP_MKDIRAT;
	case SYS_symlink:
	case SYS_symlinkat:	return IORING_OP_SYMLINKAT;
	case SYS_link:
	case SYS_linkat:	return IORING_OP_LINKAT;
	case SYS_epoll_ctl:	return IORING_OP_EPOLL_CTL;
	case SYS_madvise:	return IORING_OP_MADVISE;
	case SYS_fadvise64:	return IORING_OP_FADVISE;
	case SYS_setxattr:	return IORING_OP_SETXATTR;
	case SYS_fsetxattr:	return IORING_OP_FSETXATTR;
	case SYS_getxattr:	return IORING_OP_GETXATTR;
	case SYS_fgetxattr:	return IORING_OP_FGETXATTR;
	case SYS_ftruncate:	return KSVC_IORING_OP_FTRUNCATE;
	case SYS_bind:		return KSVC_IORING_OP_BIND;
	case SYS_listen:	return KSVC_IORING_OP_LISTEN;
	}
	return -1;
}

/*
 * The opcode for this entry, or -1 when these arguments have no exact
 * io_uring equivalent.  @cur_pos: the kernel has IORING_FEAT_RW_CUR_POS
 * (offset -1 means "the file position", as for read(2)).
 *
 * The differences handled here:
 *   - io_uring lengths are 32 bits: longer ones go to Tier 2 (read and
 *     write lengths above INT_MAX too, so that clamping is the syscall's);
 *   - read, write, pread64, pwrite64 of 0 bytes: io_uring returns 0
 *     without calling a file's .read or .write (loop_rw_iter()), where
 *     the system call gets the driver's answer (EISDIR for a directory,
 *     EINVAL for an eventfd);
 *   - pread64/preadv/pwritev with a negative offset fail with EINVAL as
 *     system calls, but -1 means "current position" to io_uring;
 *   - recvfrom with an address writes *addrlen back: the dispatcher
 *     would have to read the caller's addrlen itself, which it never
 *     does (a bad pointer must give EFAULT, not crash the dispatcher);
 *   - splice with offset pointers updates them, io_uring takes values;
 *   - splice and tee: flag bit 31 and a length of 0 (below);
 *   - openat2 with a struct open_how over a page;
 *   - statx with a NULL path, or flags it does not know;
 *   - preadv2/pwritev2 with RWF_HIPRI, pwritev2 with RWF_NOWAIT,
 *     preadv2/pwritev2 with other flags than the plain ones (below),
 *     sendmsg/recvmsg with MSG_CMSG_COMPAT (below);
 *   - ftruncate to a negative length.
 * Not handled: a call with two faults at once (invalid flags and a bad
 * path pointer, say) may report the other one first, as io_uring checks
 * in its own order.  Positional calls on files without positions are
 * dispatch.c's stream_fd().
 */
/* SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT */
#define KSVC_SPLICE_F_ALL	0x0fu
/* The kernel's MSG_CMSG_COMPAT, which user space headers do not have */
#define KSVC_MSG_CMSG_COMPAT	0x80000000u
/* The flags statx(2) knows */
#define KSVC_STATX_FLAGS	(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | \
				 AT_EMPTY_PATH | AT_STATX_SYNC_TYPE)
/* preadv2/pwritev2 flags that may stay in Tier 1 (RWF_HIPRI, and
 * pwritev2's RWF_NOWAIT, go to Tier 2 for reasons of their own).  For
 * iovecs of 0 bytes io_uring still checks RWF_NOWAIT and RWF_NOAPPEND
 * against the file, where the system call does not look: documented in
 * ksvc_dispatch.h. */
#define KSVC_RWF_PLAIN		(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | \
				 RWF_NOWAIT | RWF_APPEND | KSVC_RWF_NOAPPEND)
/* openat2(2) takes a struct open_how of at most PAGE_SIZE (x86-64: 4 KiB) */
#define KSVC_OPENAT2_MAX	4096u

int ksvc__t1_op(const struct ksvc_entry *e, int cur_pos)
{
	const __u64 *a = e->args;
	int op = ksvc_dispatch_tier1_opcode(e->syscall_nr);

	switch (e->syscall_nr) {
	case SYS_read:
	case SYS_write:
		if (!cur_pos || !a[2] || a[2] > INT_MAX)
			return -1;
		break;
	case SYS_readv:
	case SYS_writev:
		if (!cur_pos)
			return -1;
		break;
	case SYS_pread64:
	case SYS_pwrite64:
		if ((__s64)a[3] < 0 || !a[2] || a[2] > INT_MAX)
			return -1;
		break;
	case SYS_preadv:
	case SYS_pwritev:
		if ((__s64)a[3] < 0)
			return -1;
		break;
	case SYS_preadv2:
	case SYS_pwritev2:
		if ((__s64)a[3] < -1 || ((__s64)a[3] == -1 && !cur_pos))
			return -1;
		/* io_uring refuses RWF_HIPRI on a ring without IOPOLL
		 * (EINVAL); the system call polls, or ignores it for a
		 * buffered file. */
		if (a[5] & RWF_HIPRI)
			return -1;
		/* A file system that cannot write without waiting says
		 * EOPNOTSUPP to pwritev2(RWF_NOWAIT) (ext4's buffered
		 * writes); io_uring turns that into EAGAIN. */
		if (e->syscall_nr == SYS_pwritev2 && (a[5] & RWF_NOWAIT))
			return -1;
		/* The system call returns 0 for iovecs that add up to 0
		 * bytes before it looks at the flags; io_uring checks them
		 * first, whatever the count (EOPNOTSUPP).  Flags it may
		 * refuse where the file or the kernel decides (bits it
		 * does not know, RWF_ATOMIC, RWF_DONTCACHE) are rare:
		 * Tier 2. */
		if ((unsigned int)a[5] & ~KSVC_RWF_PLAIN)
			return -1;
		break;
	case SYS_sync_file_range:
		if (a[2] > UINT32_MAX)
			return -1;
		break;
	case SYS_sendto:
		if (a[2] > INT_MAX || (a[3] & KSVC_SEND_T2_FLAGS))
			return -1;
		if (a[4]) {
			/* sendto() refuses an address length of 0 or over
			 * sizeof(struct sockaddr_storage) (EINVAL); a
			 * msghdr's is cut to that size, or drops the
			 * address. */
			if ((int)a[5] <= 0 ||
			    (int)a[5] > (int)sizeof(struct sockaddr_storage))
				return -1;
			op = IORING_OP_SENDMSG;
		}
		break;
	case SYS_recvfrom:
		if (a[4] || a[2] > INT_MAX || (a[3] & KSVC_RECV_T2_FLAGS))
			return -1;
		break;
	case SYS_sendmsg:
	case SYS_recvmsg:
		/* The system call refuses the kernel's own compat bit
		 * (EINVAL); io_uring would take it and read the control
		 * data in the 32-bit layout. */
		if ((unsigned int)a[2] & KSVC_MSG_CMSG_COMPAT)
			return -1;
		/* See KSVC_RECV_T2_FLAGS and KSVC_SEND_T2_FLAGS. */
		if ((unsigned int)a[2] & (e->syscall_nr == SYS_recvmsg ?
					  KSVC_RECV_T2_FLAGS :
					  KSVC_SEND_T2_FLAGS))
			return -1;
		break;
	case SYS_splice:
		/*
		 * io_uring takes bit 31 of the flags (SPLICE_F_FD_IN_FIXED)
		 * as "fd_in is a registered file" where the system call
		 * fails with EINVAL; and for a length of 0 the system call
		 * returns 0 before it looks at anything else, io_uring
		 * still looks up the descriptors.
		 */
		if (a[1] || a[3] || !a[4] || a[4] > UINT32_MAX ||
		    ((unsigned int)a[5] & ~KSVC_SPLICE_F_ALL))
			return -1;
		break;
	case SYS_tee:		/* the same for tee */
		if (!a[2] || a[2] > UINT32_MAX ||
		    ((unsigned int)a[3] & ~KSVC_SPLICE_F_ALL))
			return -1;
		break;
	case SYS_openat2:
		/* The system call refuses a struct open_how larger than a
		 * page (E2BIG); io_uring takes one whose tail is zero. */
		if (a[3] > KSVC_OPENAT2_MAX)
			return -1;
		break;
	case SYS_statx:
		/* Since 6.11 the system call takes a NULL path with
		 * AT_EMPTY_PATH as the descriptor itself; io_uring copies
		 * the path from NULL (EFAULT).  The system call decides. */
		if (!a[1])
			return -1;
		/* Unknown flags: the system call decides (6.18 takes some
		 * with an empty path that io_uring refuses). */
		if ((unsigned int)a[2] & ~KSVC_STATX_FLAGS)
			return -1;
		break;
	case SYS_ftruncate:
		/* The system call checks the length before the descriptor;
		 * io_uring the other way round (EBADF, EPERM for an
		 * append-only file, where the system call says EINVAL). */
		if ((__s64)a[1] < 0)
			return -1;
		break;
	case SYS_madvise:		/* (addr, len, advice) */
		if (a[1] > UINT32_MAX)
			return -1;
		break;
	case SYS_fadvise64:		/* (fd, offset, len, advice) */
		if (a[2] > UINT32_MAX)
			return -1;
		break;
	case SYS_setxattr:
	case SYS_fsetxattr:
		if (a[3] > UINT32_MAX)
			return -1;
		break;
	case SYS_getxattr:
	case SYS_fgetxattr:
		if (a[3] > UINT32_MAX)
			return -1;
		break;
	}
	return op;
}
