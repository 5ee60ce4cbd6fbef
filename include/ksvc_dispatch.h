/* SPDX-License-Identifier: MIT */
/*
 * ksvc_dispatch.h - the libksvc dispatcher: the consumer of a KSVC
 * instance's submit ring and the producer of its completion ring.
 *
 * A dispatcher takes struct ksvc_entry records from the submit ring and
 * routes each by system call number:
 *
 *   Tier 1   calls io_uring can run (read, write, pread64, openat, close,
 *            statx, accept4, connect, sendto, recvfrom, ...; the full map
 *            is in lib/sysclass.c) become io_uring submissions.  Which
 *            opcodes the running kernel has is probed once, when the
 *            dispatcher is created (IORING_REGISTER_PROBE); a call whose
 *            opcode is missing, or whose arguments io_uring cannot express
 *            exactly (a negative pread64 offset, recvfrom with an address,
 *            splice with offset pointers, ...), runs in Tier 2 instead.
 *            Completion flag KSVC_COMP_TIER1.
 *   Tier 2   other calls that mean the same on any thread of the process
 *            run through syscall(2) on a bounded pool of worker threads.
 *            Calls that can never sleep (getppid, uname, clock_gettime,
 *            umask, ...; "inline" in lib/sysclass.c) run on the
 *            dispatcher's own thread, which costs no thread hop; every
 *            call that may wait goes to the pool.  Completion flag
 *            KSVC_COMP_TIER2.
 *   Refused  calls whose meaning depends on the calling thread or that
 *            change the shape of the process (gettid, exit, clone, execve,
 *            signal masks, prctl, set*id, unshare, the keyring calls,
 *            ...; the complete, justified list is in lib/sysclass.c) and
 *            system call numbers the library does not know are never
 *            run: they complete at once with result -EOPNOTSUPP and
 *            KSVC_COMP_REFUSED, which tells the caller to make the call
 *            itself, on its own thread.
 *   Tier 0   getpid & co. are answered from the shared page by the
 *            ksvc_get*() accessors of ksvc.h and never need the ring;
 *            ksvc_dispatch_call() answers them that way too.  An entry
 *            for one of them that does reach the ring runs in Tier 2.
 *
 * An entry with flag bits outside KSVC_ENTRY_FLAGS_ALL completes with
 * -EINVAL and no tier flag.  KSVC_ENTRY_LINKED makes the next entry (in
 * ring order) run only if this one returns a result >= 0; otherwise the
 * rest of the chain completes with -ECANCELED (no tier flag).  Chains
 * may mix tiers.  The dispatcher runs a chain one call after the other
 * (it never uses io_uring's own links, whose idea of success differs:
 * io_uring breaks a link on a short read, KSVC does not).
 *
 * Cancelling.  An entry with KSVC_ENTRY_CANCEL (ksvc_prep_cancel(), or
 * ksvc_dispatch_cancel() to wait for it) is not a system call: it asks
 * the dispatcher to stop every entry taken before it whose corr_id is its
 * args[0] and that has not completed.  Its own completion (no tier flag)
 * has the number of such entries, or -ENOENT.  Each of them still
 * completes once, as always: with -ECANCELED if it had not started (a
 * call queued for the pool, a chain's link waiting for the one before
 * it), or if it was waiting and was interrupted (io_uring's cancel in
 * Tier 1; in Tier 2, the cancel signal, sent to the worker that makes
 * the call, and to no other, every millisecond until the call returns);
 * otherwise with its own result: it finished first, or cannot be
 * interrupted (disk I/O in progress), or had moved data, whose count it
 * returns, as the system call does when a signal interrupts it.  A chain
 * whose link is cancelled stops there (the rest: -ECANCELED).  A cancel
 * entry with KSVC_ENTRY_LINKED, a syscall_nr or args[1..5] other than 0,
 * or a corr_id of ksvc_dispatch_call() completes with -EINVAL.
 *
 * Completions carry the entry's corr_id and the result or -errno; there
 * is no order between independent entries.  Nothing is dropped: the
 * dispatcher takes an entry only when a completion slot is reserved for
 * it, so while the completion ring is full it stops taking submissions;
 * a full submit ring gives the submitter -EAGAIN, or a wait.
 *
 * Threads.  Any number of threads may submit at once (the library makes
 * the single-producer ring multi-producer: a slot reservation with one
 * compare-and-swap, then an in-order publication that any producer can
 * finish for the others, so that a producer that is preempted never
 * blocks the others).  A program may also put entries on the submit
 * ring itself (ksvc_sq_push(), then ksvc_sq_wake()), but never while a
 * ksvc_dispatch_submit() or ksvc_dispatch_call() runs: the library's
 * producers go on after the program's entries, and ksvc_dispatch_stop()
 * waits only for its own.  Any number may reap at once too, without a
 * lock: each claims the completions it took with one compare-and-swap
 * on the completion ring's head, so each completion goes to exactly one
 * of them.  Any number may wait in ksvc_dispatch_wait() at once, each
 * for its own @min, and ksvc_dispatch_reap() never waits for them.
 *
 * Sleeping.  An idle dispatcher spins for a short, bounded time, then
 * sets KSVC_RING_NEED_WAKEUP in the submit ring header and sleeps; a
 * producer that finds the flag set wakes it with FUTEX_WAKE_PRIVATE on the
 * submit ring's tail word (what ksvc_dispatch_submit() does).  How the
 * consumer is woken belongs to the consumer, not to the ABI: a program
 * that writes the ring itself wakes it through ksvc_sq_wake(), never
 * with a futex call of its own.  An application that
 * waits for completions sets KSVC_RING_NEED_WAKEUP in the completion ring
 * header and sleeps on the instance's eventfd; the dispatcher signals the
 * eventfd (KSVC_IOC_NOTIFY with the module, write(2) in anonymous mode)
 * only then.  Without an eventfd, waiters sleep on a private futex on the
 * completion ring's tail word; so do the others while one thread sleeps
 * on the eventfd (its count wakes one reader), and, with the caller
 * driving, the waiters beside the driving one.  The flag stays set while
 * any of them sleeps.  The futex sleepers are woken only when at least
 * the least @min among them is ready; the eventfd is signalled at the
 * first post after a sleep began, whatever its waiter's @min.  Of the
 * threads that wait at once with a dispatcher thread, one at a time
 * spins first (spin_us); the others sleep at once.
 *
 * Stopping.  ksvc_dispatch_stop() completes or cancels (-ECANCELED) every
 * operation in flight: io_uring requests are cancelled through io_uring;
 * a worker blocked in a system call is interrupted by a signal (see
 * struct ksvc_dispatch_params.cancel_signal), repeated every millisecond
 * until the worker is out of the call, which closes the race between the
 * signal and the start of the call.  A call in an uninterruptible sleep
 * (disk I/O in progress) cannot be interrupted and is waited for.
 *
 * fork().  The rings are not mapped in a child (the module marks them
 * VM_DONTCOPY, anonymous mode uses MADV_DONTFORK) and the dispatcher's
 * threads do not exist there.  The library detects a child through a
 * MADV_WIPEONFORK page (which also catches raw clone() calls): in a child
 * every function below that takes a handle (a dispatcher's, or the
 * instance's for ksvc_sq_wake()) and returns an int fails with -EACCES
 * without touching anything; ksvc_dispatch_destroy() frees the child's copy of
 * the handle, closes its copy of the io_uring descriptor and gives back
 * the copy's hold on the cancel signal, and nothing else;
 * ksvc_dispatch_route() and ksvc_dispatch_mode() answer as in the
 * parent.
 *
 * Tier 1 is io_uring, with io_uring's behaviour where it differs from
 * the system call's: sends add MSG_NOSIGNAL (no SIGPIPE; EPIPE still
 * returned); read/write at the file position do not take the file's
 * position lock; O_NONBLOCK: see KSVC_DISPATCH_BLOCKING_FDS, and reads
 * or writes at an offset on files without positions: see
 * KSVC_DISPATCH_POSITIONAL_FDS (by default the dispatcher keeps the
 * system call's meaning in both).  A write, writev, sendto, sendmsg or
 * pwritev2 at the file position larger than the pipe or socket can take
 * at once returns the whole count, as the blocking system call does,
 * though io_uring alone reports only what fit: the dispatcher sends the
 * rest (on an error or a stop, the count written before, if any; not
 * with MSG_DONTWAIT or RWF_NOWAIT).  For the vectored ones it reads the
 * caller's iovec array (and msghdr) again at the first short count (see
 * ksvc_dispatch_submit()).  sendmsg's control data goes with the first
 * part only, as with the system call.
 * io_uring refuses to close an
 * io_uring descriptor: a close of any descriptor without a file type
 * (eventfd, epoll, io_uring, ...; one statx() per close) runs in Tier 2,
 * where it is closed.  A call on a socket with a time-out (SO_RCVTIMEO
 * for recvfrom, recvmsg, accept, accept4, read, readv; SO_SNDTIMEO for
 * sendto, sendmsg, connect, write, writev) runs in Tier 2, which keeps
 * the time-out (io_uring would wait on; one getsockopt() per socket
 * call, for read and write only where F_GETFL's flags say the descriptor
 * may be a socket: O_RDWR without O_LARGEFILE; not under
 * KSVC_DISPATCH_BLOCKING_FDS); so does a receive on a socket whose
 * SO_RCVLOWAT is above 1 (a second getsockopt()), which io_uring's first
 * try would answer with what is queued.  recvfrom and recvmsg with
 * MSG_WAITALL run in Tier 2 (io_uring retries a short one on seqpacket
 * sockets too, merging records, and re-peeks with MSG_PEEK); so does a
 * sendto to an address whose length is 0 or over sizeof(struct
 * sockaddr_storage) (EINVAL; io_uring's msghdr would cut it or drop the
 * address).  A write or sendto longer than the kernel's MAX_RW_COUNT
 * (0x7ffff000) returns that count, as the system call.  preadv2 and pwritev2 at offset -1 count
 * as readv and writev here and for O_NONBLOCK.  read, write, pread64 and
 * pwrite64 of 0 bytes run in Tier 2 (io_uring returns 0 without asking
 * the file, which may say EISDIR or EINVAL); so do preadv2 and pwritev2
 * with RWF_HIPRI, pwritev2 with RWF_NOWAIT, both with RWF_ATOMIC,
 * RWF_DONTCACHE or a flag the library does not know (the system call
 * returns 0 for 0 bytes without looking at the flags), sendmsg and
 * recvmsg with the kernel's MSG_CMSG_COMPAT bit and statx with a flag
 * it does not know, where io_uring answers otherwise.  A read or write on a
 * descriptor that cannot be read or written but can be polled (epoll,
 * pidfd, io_uring) waits for it to become ready instead of failing with
 * EINVAL: io_uring polls before it reads.  An open (open, openat, creat,
 * openat2) without O_NONBLOCK of a FIFO, or of a device whose open(2)
 * waits (a serial line for its carrier), does not wait: io_uring first
 * tries it with O_NONBLOCK, so a FIFO opens for reading at once and
 * fails with ENXIO for writing while it has no reader.  Telling
 * beforehand would take a path lookup on the dispatcher, which can wait
 * for a network file system; make such opens yourself, or in Tier 2
 * (KSVC_DISPATCH_NO_TIER1).  A call with two faults at once (invalid
 * flags and a bad pointer, say) may report the other one than the
 * system call would: io_uring checks in its own order.  A TCP send
 * from a buffer that faults part way returns the bytes queued before the
 * fault, and TCP copies in pieces bounded by the sending thread's page
 * fragment (current->task_frag), so that count depends on which thread
 * sends (a worker, the driver, an io_uring worker) and may differ from
 * the calling thread's.  A read at the
 * file position of a regular file that a bad buffer or an I/O error cuts
 * short returns the bytes read but, on some kernels (6.1, 6.18), leaves
 * the position where it was: io_uring does not store it when its retry
 * fails.  The same for writes (no space, the file size limit) is mended
 * by the dispatcher.  Also left as io_uring does them: a read of a
 * terminal in non-canonical mode with VMIN 0 waits for input (io_uring
 * polls a file that cannot be read without waiting; the system call
 * returns 0 at once or after VTIME); a connect that fails (ECONNREFUSED)
 * leaves the socket in the connecting state, so a second connect gives
 * ECONNABORTED and a listen EINVAL, where after the system call both
 * work (close the socket after a failed connect, as POSIX leaves its
 * state unspecified); readv, preadv and preadv2 whose iovecs add up
 * to 0 bytes ask the file (an eventfd says EINVAL) where the system call
 * returns 0; so do writev, pwritev and pwritev2 (a datagram or
 * seqpacket socket sends an empty datagram, a stream socket shut down
 * for writing says EPIPE), where the system call returns 0 and does
 * nothing; and preadv2 and pwritev2 of 0 bytes check
 * RWF_NOWAIT and RWF_NOAPPEND against the file (EOPNOTSUPP for a
 * directory, EPERM for an append-only file); telling would mean reading
 * the caller's iovecs on the dispatcher, which it does only to continue
 * short writes.  A read of a character device that stops early when the
 * thread must give up the CPU or has a signal or task work pending
 * (/dev/zero past its first page, for one) may return fewer bytes
 * than the system call would: io_uring's first try does not wait, and
 * it retries a short read only on a regular file or block device.
 * preadv2 and pwritev2 with RWF_DSYNC, RWF_SYNC, RWF_APPEND or
 * RWF_NOAPPEND on a file whose driver has only the plain read and write
 * methods, not read_iter and write_iter (a directory, /proc/PID/mem,
 * some character devices), fail with EOPNOTSUPP as system calls, where
 * io_uring calls the plain method with the flags ignored (a directory
 * says EISDIR, /proc/PID/mem is read); which method a file has cannot
 * be told from user space.
 *
 * Tier 2 runs with the worker thread's credentials, namespaces, working
 * directory and file table: those of the process, unless the calling
 * thread detached itself (a raw set*id, unshare, setns, a seccomp filter
 * or Landlock domain of its own): such threads should make their calls
 * themselves.  In both tiers a call runs with the scheduling policy,
 * nice value, I/O priority, NUMA policy and timer slack of the thread
 * that makes it (a worker, the thread that drives the dispatcher or an
 * io_uring worker), which need not be the caller.  Paths through
 * /proc/thread-self name that thread; /proc/self/attr/ files and
 * /proc/self/loginuid take writes only from the thread they name, the
 * main thread.  A write to Smack's relabel-self file (smackfs) sets
 * the label list of the thread that writes, in its own credentials: a
 * worker or the driver would keep it, and the caller would not get it.
 * A read of a signalfd returns the signals pending for the
 * process and for the thread that reads: signals sent to the calling
 * thread alone may stay unseen.  Signals raised by a call (SIGPIPE,
 * SIGXFSZ) are not delivered to the caller when the dispatcher thread or
 * a pool worker makes the call: those threads block them; the call still
 * fails with EPIPE or EFBIG.  With KSVC_DISPATCH_CALLER_DRIVES the calls
 * the driver makes itself (inline Tier 2 calls, and Tier 1 requests that
 * io_uring issues at once) raise them on the driving thread, which is an
 * application thread, as the system call would.  io_uring sends add
 * MSG_NOSIGNAL.
 *
 * Conventions as in ksvc.h: 0 or a count on success, a negative errno on
 * failure; no function sets errno.
 *
 * Example (error handling shortened):
 *
 *	struct ksvc_open_params op = { .flags = KSVC_OPEN_ANON_FALLBACK };
 *	struct ksvc *k;
 *	struct ksvc_dispatcher *d;
 *	struct ksvc_entry e[2];
 *	struct ksvc_completion c[2];
 *	__s64 ppid;
 *
 *	ksvc_open(&k, &op);
 *	printf("KSVC runs in %s mode\n", ksvc_mode_name(k->mode));
 *	ksvc_dispatch_create(&d, k, NULL);
 *	ksvc_prep_call(&e[0], 1, SYS_pread64, fd, (uintptr_t)buf, 4096, 0,
 *		       0, 0);
 *	ksvc_prep_call(&e[1], 2, SYS_fstat, fd, (uintptr_t)&st, 0, 0, 0, 0);
 *	ksvc_dispatch_submit(d, e, 2, KSVC_SUBMIT_WAIT);
 *	n = ksvc_dispatch_wait(d, c, 2, 2, -1);	// pread (Tier 1), fstat (2)
 *	ksvc_dispatch_call(d, SYS_getppid, NULL, &ppid, NULL);
 *	ksvc_dispatch_destroy(d);
 *	ksvc_close(k);
 */
#ifndef KSVC_DISPATCH_H
#define KSVC_DISPATCH_H

#include "ksvc.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ksvc_dispatcher;

/* ksvc_dispatch_params.flags */
#define KSVC_DISPATCH_CALLER_DRIVES	(1u << 0)
	/* No dispatcher thread: the dispatcher runs inside
	 * ksvc_dispatch_wait(), ksvc_dispatch_call() and ksvc_dispatch_run()
	 * on the calling thread (one thread at a time), like io_uring without
	 * SQPOLL.  Tier 2 still has its worker pool.  io_uring ties each
	 * Tier 1 request to the thread that was driving when it went in,
	 * and cancels a thread's requests when it exits: a driving thread
	 * that exits while its requests wait (a receive with no data yet)
	 * makes them complete -ECANCELED.  Programs whose threads come and
	 * go should drive from threads that stay, or use ONE_DRIVER, or a
	 * dispatcher thread.  A driving thread also takes the task work of
	 * its requests' completions, as with io_uring used directly: while
	 * they are in flight, its own blocking calls that are not restarted
	 * after a signal (epoll_wait(2), for one) may fail with EINTR when
	 * one completes.  ONE_DRIVER avoids that where the kernel has
	 * IORING_SETUP_DEFER_TASKRUN (ksvc-echo drives this way). */
#define KSVC_DISPATCH_ONE_DRIVER	(1u << 1)
	/* With CALLER_DRIVES: only the thread that called
	 * ksvc_dispatch_create() ever drives (wait/call/run/stop/destroy;
	 * others may submit and reap).  Lets io_uring use
	 * IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN.  Other
	 * threads get -EPERM from the driving calls. */
#define KSVC_DISPATCH_NO_TIER1		(1u << 2)
	/* Do not use io_uring at all: everything that is not refused runs
	 * in Tier 2. */
#define KSVC_DISPATCH_NO_INLINE		(1u << 3)
	/* Run every Tier 2 call on the pool, also those that cannot sleep.
	 * By default those run on the dispatcher, and so does a Tier 2
	 * pread64 of at most 64 KiB that preadv2(RWF_NOWAIT) finishes there
	 * (whole length read from the page cache; never for O_DIRECT
	 * descriptors): any other outcome sends it to the pool, which makes
	 * the real call. */
#define KSVC_DISPATCH_BLOCKING_FDS	(1u << 4)
	/* The application promises that the descriptors it passes to read,
	 * write, readv, writev, preadv2 and pwritev2 at offset -1,
	 * recvfrom, sendto, recvmsg, sendmsg, accept, accept4, connect,
	 * splice and tee entries do not have O_NONBLOCK set.  By default
	 * the dispatcher checks (one fcntl(F_GETFL) per such call) and
	 * runs calls on non-blocking descriptors in Tier 2,
	 * because io_uring does not honour O_NONBLOCK on sockets and pipes:
	 * it waits where the system call fails with EAGAIN (or EINPROGRESS).
	 * With this flag, such a call on a non-blocking descriptor waits.
	 * The flag also covers socket time-outs (SO_RCVTIMEO, SO_SNDTIMEO)
	 * and a receive low-water mark (SO_RCVLOWAT above 1): by default a
	 * call on a socket with one runs in Tier 2 (one getsockopt() more,
	 * two for receives; for read and write only on descriptors that
	 * may be sockets), with the flag in Tier 1, which returns what is
	 * queued without waiting for the low-water mark, and waits however
	 * long it takes.
	 * The socket calls among them (recvfrom, sendto, recvmsg, sendmsg,
	 * accept, accept4, connect) on a non-blocking descriptor, or with
	 * MSG_DONTWAIT, cannot sleep and run on the dispatcher, not the
	 * pool (unless NO_INLINE); with this flag and without io_uring,
	 * only those with MSG_DONTWAIT do. */
#define KSVC_DISPATCH_RECV_POLL_FIRST	(1u << 5)
	/* Receives (recvfrom, recvmsg) usually find no data yet: let
	 * io_uring wait for data before trying (IORING_RECVSEND_POLL_FIRST).
	 * Same results; less work when the guess is right.  io_uring polls
	 * before it looks at the file: a receive on a descriptor that is no
	 * socket runs in Tier 2, which fails with ENOTSOCK at once (the
	 * getsockopt() made for socket time-outs tells), and so does one on
	 * a listening socket (one more getsockopt(), SO_ACCEPTCONN).  With
	 * KSVC_DISPATCH_BLOCKING_FDS those looks are not made: such a
	 * receive waits until the descriptor is readable (for ever on a
	 * pipe's write end, until a connection comes on a listening
	 * socket), then fails as the system call would have. */
#define KSVC_DISPATCH_POSITIONAL_FDS	(1u << 6)
	/* The application promises that the descriptors it passes to
	 * pread64, pwrite64, preadv, pwritev, preadv2 and pwritev2 entries
	 * at an offset (not -1) have positions: regular files, block
	 * devices, or devices such as /dev/zero that take pread(2).  By
	 * default the dispatcher checks the file type (one statx() per such
	 * call) and runs these calls on anything but a regular file or a
	 * block device in Tier 2, because io_uring does not check that a
	 * file has positions: on a pipe, socket, FIFO, terminal or eventfd
	 * it reads or writes the stream, ignoring the offset, where the
	 * system call fails with ESPIPE and changes nothing.  With this
	 * flag such a call runs in Tier 1 on any descriptor. */
#define KSVC_DISPATCH_FLAGS_ALL		0x7fu

/*
 * struct ksvc_dispatch_params - ksvc_dispatch_create() options.  A NULL
 * pointer, or zero in a field, means the default.
 */
struct ksvc_dispatch_params {
	__u32 flags;		/* KSVC_DISPATCH_* */
	__u32 workers;		/* Tier 2 pool size, 1..256; default 4 */
	__u32 spin_us;		/* idle spin before sleeping, in us, at most
				 * 10000; default 50; KSVC_SPIN_NONE: none */
	__u32 uring_entries;	/* io_uring submission queue size, a power
				 * of two 8..4096; default 256 */
	__u32 stop_timeout_ms;	/* how long ksvc_dispatch_stop() keeps
				 * signalling a worker before it reports the
				 * call as uninterruptible and waits; default
				 * 2000 */
	int cancel_signal;	/* signal that interrupts Tier 2 workers
				 * (stop, KSVC_ENTRY_CANCEL),
				 * 1.._NSIG-1 but SIGKILL, SIGSTOP, the
				 * signals of faults (SIGSEGV, SIGBUS,
				 * SIGILL, SIGFPE, SIGTRAP, SIGSYS) and
				 * those the C library keeps (glibc: 32,
				 * 33, below SIGRTMIN): -EINVAL;
				 * default SIGRTMIN + 6.  The library installs
				 * an empty handler (no SA_RESTART) while a
				 * dispatcher exists, and fails with -EBUSY if
				 * the application has its own handler there */
	__u64 test_mask_ops[4];	/* FOR TESTS: io_uring opcodes (bit n of
				 * word n / 64) to treat as missing from the
				 * probe, e.g. to force a call into Tier 2 */
	__u32 reserved[8];	/* must be zero */
};

#define KSVC_SPIN_NONE		0xffffffffu

/* Where ksvc_dispatch_route() sends an entry. */
enum ksvc_route {
	KSVC_ROUTE_INVALID = 0,	/* unknown entry flags: -EINVAL */
	KSVC_ROUTE_TIER1 = 1,	/* io_uring */
	KSVC_ROUTE_TIER2 = 2,	/* worker pool */
	KSVC_ROUTE_TIER2_INLINE = 3, /* Tier 2, on the dispatcher thread */
	KSVC_ROUTE_REFUSED = 4,	/* not run: -EOPNOTSUPP, KSVC_COMP_REFUSED */
	KSVC_ROUTE_CANCEL = 5,	/* a KSVC_ENTRY_CANCEL, run on the dispatcher */
};

/* Completion result of a refused entry. */
#define KSVC_REFUSED_RESULT	(-EOPNOTSUPP)

/*
 * corr_id values with all of these bits set are reserved for
 * ksvc_dispatch_call(); ksvc_dispatch_submit() refuses them with -EINVAL.
 * (Pointers and counters never have the top 16 bits set.)
 */
#define KSVC_CORR_RESERVED_MASK	0xffff000000000000ull

/* ksvc_dispatch_submit() flags */
#define KSVC_SUBMIT_WAIT	(1u << 0)  /* wait for room instead of -EAGAIN */

/*
 * ksvc_dispatch_create - start a dispatcher on an open instance.
 * @out:    receives the handle
 * @k:      an instance from ksvc_open(); it must outlive the dispatcher,
 *          and only one dispatcher at a time may serve it
 * @params: NULL for the defaults
 *
 * Creates the io_uring instance (unless KSVC_DISPATCH_NO_TIER1), probes
 * its opcodes, starts the Tier 2 workers and, unless
 * KSVC_DISPATCH_CALLER_DRIVES, the dispatcher thread.  If io_uring is
 * unavailable (io_uring_setup fails, e.g. kernel.io_uring_disabled), the
 * dispatcher runs everything in Tier 2 and says so in
 * ksvc_dispatch_stats().tier1_available.
 *
 * Returns 0, or: -EINVAL (NULL out or k, an instance whose rings are not
 * mapped, bad flags, a field out of range, non-zero reserved, ONE_DRIVER
 * without CALLER_DRIVES); -EBUSY (another
 * dispatcher serves @k, or cancel_signal has an application handler);
 * -EACCES (@k belongs to another process); -ENOMEM; -EAGAIN (a thread
 * could not be created); or the error of a setup system call.  On
 * failure *@out is left as it was.
 */
int ksvc_dispatch_create(struct ksvc_dispatcher **out, struct ksvc *k,
			 const struct ksvc_dispatch_params *params);

/*
 * ksvc_dispatch_stop - stop taking entries and finish everything.
 *
 * Every operation in flight completes (with its result, if it finished)
 * or is cancelled (-ECANCELED); entries still in the submit ring are
 * answered with -ECANCELED as far as the completion ring has room, and
 * every ksvc_dispatch_call() still waiting is answered -ECANCELED.
 * Submitters then get -ESHUTDOWN, waiters are woken.  Completions stay in
 * the completion ring for ksvc_dispatch_reap().  Safe to call from any
 * thread, more than once, concurrently with every call but destroy.
 *
 * Returns the number of submit-ring entries left unanswered because the
 * completion ring was full (normally 0), or -EINVAL (NULL @d), -EACCES
 * in a forked child, -EPERM from a non-driver thread with
 * KSVC_DISPATCH_ONE_DRIVER.
 */
int ksvc_dispatch_stop(struct ksvc_dispatcher *d);

/*
 * ksvc_dispatch_destroy - stop (as above), join every thread, free all.
 * The instance is left open (ksvc_close() it).  No other call on @d may
 * run at the same time or later.  NULL is a no-op.  With
 * KSVC_DISPATCH_ONE_DRIVER call it on the driver thread (elsewhere
 * io_uring refuses to be waited on, and Tier 1 requests in flight are
 * answered -ECANCELED without waiting for them).  In a forked child it
 * only frees the child's copy of the handle, closes its copy of the
 * io_uring descriptor and gives back the copy's hold on the cancel
 * signal.
 */
void ksvc_dispatch_destroy(struct ksvc_dispatcher *d);

/*
 * ksvc_dispatch_submit - put @n entries on the submit ring, in order.
 * @flags: 0, or KSVC_SUBMIT_WAIT to wait for room.
 *
 * All or nothing: returns @n, or a negative errno and nothing queued:
 * -EAGAIN (no room for all @n; never with KSVC_SUBMIT_WAIT), -EINVAL
 * (NULL @d, @n is 0 or larger than the ring, NULL @e, unknown @flags, a
 * corr_id in the reserved range, or the last entry has KSVC_ENTRY_LINKED:
 * a chain must be submitted in one call, since other threads' entries could
 * follow it), -ESHUTDOWN (the dispatcher stopped, also while waiting),
 * -EACCES (forked child).  Unknown entry flag bits are not an error here:
 * such entries complete with -EINVAL.
 *
 * KSVC_SUBMIT_WAIT waits until the dispatcher takes entries, which it
 * does only while the completion ring has room: a thread that alone
 * reaps must not wait here for more than the ring can hold.  With
 * KSVC_DISPATCH_CALLER_DRIVES the waiting submitter drives while no other
 * thread does, so a program with one thread can use it too.
 *
 * The memory an entry's arguments point to (buffers, paths, addresses,
 * iovec arrays, msghdr) must stay valid and unchanged until its
 * completion is out, as for the blocking call the entry stands for: the
 * call may run at any time until then, and a write continued after a
 * short count reads its iovec array again.
 */
int ksvc_dispatch_submit(struct ksvc_dispatcher *d,
			 const struct ksvc_entry *e, unsigned int n,
			 unsigned int flags);

/*
 * ksvc_sq_wake - for a program that puts entries on the submit ring
 * itself (ksvc_sq_push(), ksvc_ring_produce()): after publishing them,
 * wake the ring's consumer if it announced that it sleeps
 * (KSVC_RING_NEED_WAKEUP; the full fence of ksvc_ring_needs_wakeup()
 * comes first).  The wake is the one the instance's consumer waits for:
 * today always the dispatcher's (FUTEX_WAKE_PRIVATE on the submit ring's
 * tail word); an instance with another consumer may need another, so a
 * program never makes that wake itself.  Only in the process that
 * opened @k (like the ring helpers; a forked child, where the rings are
 * not mapped, gets -EACCES).  Needs no dispatcher handle.
 *
 * Returns 1 if a wake-up was sent, 0 if none was needed, or -EINVAL
 * (NULL @k, or its rings are not mapped), -EACCES (forked child); errno
 * is left as it was.
 */
int ksvc_sq_wake(struct ksvc *k);

/*
 * ksvc_prep_call - fill the entry @e for system call @nr.
 * @corr_id: comes back untouched in the completion (not in the reserved
 *	range: see ksvc_dispatch_submit())
 * @a0..@a5: the call's arguments in register order; pointers as
 *	(__u64)(uintptr_t)p, negative ints as (__u64)(__s64)v, unused ones 0
 *
 * Every field of @e is written: flags are cleared, so the entry is not
 * linked.  Nothing is checked here; a bad entry completes with an error.
 */
static inline void ksvc_prep_call(struct ksvc_entry *e, __u64 corr_id,
				  long nr, __u64 a0, __u64 a1, __u64 a2,
				  __u64 a3, __u64 a4, __u64 a5)
{
	e->corr_id = corr_id;
	e->syscall_nr = (__u32)nr;
	e->flags = 0;
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	e->args[3] = a3;
	e->args[4] = a4;
	e->args[5] = a5;
}

/*
 * ksvc_prep_link - link @e to the entry after it (KSVC_ENTRY_LINKED): that
 * one runs only if @e's result is >= 0, and completes -ECANCELED
 * otherwise.  Call it after ksvc_prep_call(), which clears the flags.
 */
static inline void ksvc_prep_link(struct ksvc_entry *e)
{
	e->flags |= KSVC_ENTRY_LINKED;
}

/*
 * ksvc_prep_cancel - fill @e as a cancellation (KSVC_ENTRY_CANCEL) of the
 * entries with corr_id @target submitted before it.  Its own completion
 * comes with @corr_id (see "Cancelling" at the top of this file).
 */
static inline void ksvc_prep_cancel(struct ksvc_entry *e, __u64 corr_id,
				    __u64 target)
{
	ksvc_prep_call(e, corr_id, 0, target, 0, 0, 0, 0, 0);
	e->flags = KSVC_ENTRY_CANCEL;
}

/*
 * ksvc_dispatch_reap - take up to @max completions, without waiting for
 * any, nor for another thread that reaps or waits: it takes no lock, and
 * takes completions that a thread sleeping in ksvc_dispatch_wait() has
 * not yet taken (fewer than its @min were ready).
 * Returns how many were copied to @out (0 if none), or -EINVAL (NULL @d,
 * NULL @out with @max > 0), -EACCES (forked child).
 */
int ksvc_dispatch_reap(struct ksvc_dispatcher *d,
		       struct ksvc_completion *out, unsigned int max);

/*
 * ksvc_dispatch_wait - wait until at least @min completions are ready,
 * then take up to @max of them.
 * @timeout_ms: -1 (any negative value) waits for ever, 0 does not wait.
 *
 * With KSVC_DISPATCH_CALLER_DRIVES this is where the dispatcher runs.
 * Any number of threads may wait at once, each for its own @min: each
 * returns as soon as its @min is ready, whatever the others wait for
 * (with the caller driving, one of them drives and the others sleep
 * beside it until a completion comes or the driver leaves, when one of
 * them takes over).  A completion goes to the first waiter or reaper
 * that claims it: a waiter with a small @min may take completions that
 * one with a larger @min was counting on.
 * @min 0 does not wait: it takes what is ready, after one pass of a
 * caller-driven dispatcher (none if another thread is driving), so that
 * a polling loop moves it; @timeout_ms is then not used.
 *
 * Returns the number taken (>= @min), or: -ETIMEDOUT (fewer than @min
 * were ready when the time ran out; nothing was taken), -ESHUTDOWN (the
 * dispatcher stopped and fewer than @min are ready and nothing is in
 * flight; ksvc_dispatch_reap() takes the rest), -EINVAL (NULL @d,
 * @min > @max, @min larger than the completion ring, NULL @out with
 * @max > 0),
 * -EACCES (forked child), -EPERM (ONE_DRIVER and another thread), or
 * -EINTR (a signal interrupted the wait).  A handler installed without
 * SA_RESTART always ends a sleeping wait with -EINTR.  With SA_RESTART
 * the kernel restarts some of the sleeps a waiter may be in (on a futex,
 * not on the eventfd), and the wait then goes on: a program that wants
 * a signal to end a wait installs its handler without SA_RESTART.
 */
int ksvc_dispatch_wait(struct ksvc_dispatcher *d,
		       struct ksvc_completion *out, unsigned int max,
		       unsigned int min, int timeout_ms);

/*
 * ksvc_dispatch_run - with KSVC_DISPATCH_CALLER_DRIVES: run one pass of
 * the dispatcher (take entries, submit, collect results) without
 * reaping.  Returns the number of events handled (0 if none), -EBUSY if
 * another thread is driving, -EINVAL (NULL @d, or no CALLER_DRIVES),
 * -ESHUTDOWN, -EACCES, -EPERM as above.
 */
int ksvc_dispatch_run(struct ksvc_dispatcher *d);

/*
 * ksvc_dispatch_call - make one system call through the dispatcher and
 * wait for it: the blocking convenience call.
 * @nr:     native system call number
 * @args:   its six arguments (NULL: all zero)
 * @result: receives the call's return value or -errno
 * @cflags: receives the KSVC_COMP_* flags (NULL: not wanted)
 *
 * The entry goes through the submit ring like any other; its completion
 * is handed to the calling thread directly instead of through the
 * completion ring (which other threads may be reaping), so it never
 * mixes with the application's completions and takes no room there.
 * The Tier 0 calls (getpid, getppid, getuid, getgid, geteuid, getegid,
 * uname, getrlimit of RLIMIT_NOFILE) are answered by the ksvc_get*()
 * accessors and never reach the ring (*cflags 0), with the system call's
 * results, but for a buffer (uname's, getrlimit's) that is neither NULL
 * nor writable: the accessor's store faults, as a vDSO call's would,
 * where the system call says -EFAULT (see ksvc.h); a getrlimit with a
 * NULL buffer takes the ordinary route (-EFAULT, not getrlimit(3)'s 0).
 * A refused call is not made: *result is KSVC_REFUSED_RESULT and *cflags
 * has KSVC_COMP_REFUSED.
 *
 * Returns 0 when *result is valid, or: -EINVAL (NULL @d or @result), -EAGAIN
 * (submit ring full, or every call slot in use), -ESHUTDOWN (stopped before the call reached the
 * submit ring), -EACCES (forked child), -EPERM (ONE_DRIVER and another
 * thread).  A call still in the submit ring or in flight when
 * ksvc_dispatch_stop() runs returns 0 with *result -ECANCELED (or its
 * result, if it finished), even when ordinary entries ahead of it stay
 * unanswered for want of completion slots.
 *
 * The dispatcher takes entries in ring order, and stops taking while the
 * completion ring is full: a call behind ordinary entries waits until
 * some thread reaps.  A thread that is the only reaper must not make this
 * call with the completion ring full.
 */
int ksvc_dispatch_call(struct ksvc_dispatcher *d, long nr,
		       const __u64 args[6], __s64 *result, __u32 *cflags);

/*
 * ksvc_dispatch_cancel - cancel the entries with corr_id @corr_id that
 * were submitted before this call and have not completed, and wait until
 * the dispatcher has asked each to stop (not until they completed: each
 * still completes, see "Cancelling" at the top of this file).
 * Returns the number found (>= 1), or: -ENOENT (none in flight), -EINVAL
 * (NULL @d, @corr_id in the reserved range), -ECANCELED (the dispatcher
 * stopped before the cancel entry ran), and the errors of
 * ksvc_dispatch_call().
 */
int ksvc_dispatch_cancel(struct ksvc_dispatcher *d, __u64 corr_id);

/*
 * ksvc_dispatch_route - where an entry would go, without running it.
 * Returns an enum ksvc_route.  Takes the probe and the create flags into
 * account; for a call that would go to the pool under NO_INLINE it
 * returns KSVC_ROUTE_TIER2, and so for a Tier 2 pread64, which may
 * still finish on the dispatcher (see KSVC_DISPATCH_NO_INLINE): that
 * depends on the page cache when it runs.
 */
enum ksvc_route ksvc_dispatch_route(const struct ksvc_dispatcher *d,
				    const struct ksvc_entry *e);

/* Counters of one tier.  in_flight = submitted - completed. */
struct ksvc_tier_stats {
	__u64 submitted;	/* calls handed to the tier */
	__u64 completed;	/* calls the tier answered (cancelled ones too) */
	__u64 in_flight;
	__u64 batches;		/* Tier 1: io_uring_submit() calls that
				 * submitted calls; Tier 2: dispatcher passes
				 * that handed calls to Tier 2 */
	__u64 cancelled;	/* completions that were -ECANCELED by stop */
};

struct ksvc_dispatch_stats {
	struct ksvc_tier_stats tier1;
	struct ksvc_tier_stats tier2;
	__u64 tier2_inline;	/* of tier2.submitted: finished on the
				 * dispatcher (calls that cannot sleep, and
				 * pread64s done with RWF_NOWAIT) */
	__u64 refused;		/* completed with KSVC_COMP_REFUSED */
	__u64 invalid;		/* completed with -EINVAL for bad flags,
				 * or a malformed KSVC_ENTRY_CANCEL */
	__u64 chain_cancelled;	/* -ECANCELED because a link failed */
	__u64 taken;		/* entries taken from the submit ring */
	__u64 posted;		/* completions written to the ring */
	__u64 direct;		/* results handed to ksvc_dispatch_call() */
	__u64 sleeps;		/* times the dispatcher went to sleep */
	__u64 wakeups_sent;	/* dispatcher wake-ups by producers */
	__u64 notifies;		/* wake-ups sent to sleeping waiters (an
				 * eventfd signal, a futex wake, or both) */
	__u64 cq_full_stalls;	/* times the dispatcher stopped taking
				 * entries because the completion ring had
				 * no room for their answers */
	__u32 workers;		/* Tier 2 pool size */
	__u32 tier1_available;	/* io_uring in use */
	__u32 uring_setup_flags;/* IORING_SETUP_* that io_uring accepted */
	__u32 wake_method;	/* 1: io_uring futex wait, 2: futex_waitv +
				 * timed io_uring wait (no IORING_OP_FUTEX_WAIT) */
};

/*
 * ksvc_dispatch_stats - copy the counters.  0, -EINVAL, -EACCES.
 *
 * Each counter moves before what it counts can be seen: a program that
 * has reaped N completions reads posted >= N, and one that got N results
 * from ksvc_dispatch_call() reads direct >= N.  The counters are read one
 * by one while the dispatcher runs, so only a quiet dispatcher (nothing
 * submitted and not yet answered) gives figures that add up: then
 * taken = posted + direct and each tier's in_flight is 0.  After a stop
 * that left entries unanswered (ksvc_dispatch_stop() returned > 0), a
 * ksvc_dispatch_call() behind them was answered (-ECANCELED, in direct)
 * without being taken.
 */
int ksvc_dispatch_stats(const struct ksvc_dispatcher *d,
			struct ksvc_dispatch_stats *out);

/* ksvc_dispatch_mode - how the instance is backed: KSVC_MODE_KERNEL or
 * KSVC_MODE_ANON; 0 for NULL. */
enum ksvc_mode ksvc_dispatch_mode(const struct ksvc_dispatcher *d);

/* ksvc_mode_name - "kernel" (/dev/ksvc), "anonymous" or "unknown". */
const char *ksvc_mode_name(enum ksvc_mode mode);

/* ksvc_dispatch_tier1_opcode - the io_uring opcode that runs @nr in Tier
 * 1, or -1 if none (before the probe and argument checks). */
int ksvc_dispatch_tier1_opcode(long nr);

#ifdef __cplusplus
}
#endif

#endif /* KSVC_DISPATCH_H */
