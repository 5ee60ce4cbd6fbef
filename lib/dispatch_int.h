/* SPDX-License-Identifier: MIT */
/*
 * dispatch_int.h - internals of the libksvc dispatcher (lib/dispatch.c,
 * lib/tier1.c, lib/tier2.c, lib/sysclass.c).  Not installed.
 */
#ifndef KSVC_DISPATCH_INT_H
#define KSVC_DISPATCH_INT_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <liburing.h>

#include "ksvc.h"
#include "ksvc_dispatch.h"

/* io_uring opcodes newer than liburing 2.3's header (kernel ABI values). */
#define KSVC_IORING_OP_FUTEX_WAIT	51
#define KSVC_IORING_OP_FTRUNCATE	55
#define KSVC_IORING_OP_BIND		56
#define KSVC_IORING_OP_LISTEN		57
#define KSVC_IORING_OP_MAX		256

/* futex2 flags (linux/futex.h of 6.7+). */
#define KSVC_FUTEX2_SIZE_U32		0x02
#define KSVC_FUTEX2_PRIVATE		128

/* Classes (lib/sysclass.c). */
#define C_REFUSED	1
#define C_POOL		2
#define C_INLINE	3
#define C_SELF		0x10

/* System call numbers below this have a class in lib/sysclass.c. */
#define KSVC_NR_TABLE	451

int ksvc__classify(const struct ksvc_entry *e);
int ksvc__class_of(__u32 nr);
int ksvc__t1_op(const struct ksvc_entry *e, int cur_pos);
int ksvc__tier0_call(long nr);
int ksvc__nonblock_fds(const struct ksvc_entry *e, int fds[2]);
int ksvc__sock_call(__u32 nr);

/* ------------------------------------------------------------------ */

/*
 * struct mprod - the producer side of a ring made safe for many threads.
 *
 * resv counts reserved slots (low 32 bits; bit 32 is "closed": no more
 * reservations).  A producer reserves n slots with one CAS on resv, fills
 * them, marks each ready (ready[slot] = index + 1), then advances the
 * ring's tail over every ready slot it finds, with a CAS on tail itself.
 * A producer that stops at a slot that is not ready yet leaves the rest
 * to that slot's owner, who will see the later marks (sequentially
 * consistent stores and loads on both sides).  So tail only moves over
 * completely written slots, in order, and nobody waits for anybody.
 */
struct mprod {
	struct ksvc_ring *r;
	__u64 resv;		/* atomic */
	__u32 *ready;		/* r->entries tags */
	__u32 head_seen;	/* atomic: a head value read before (see
				 * mprod_reserve()) */
};

#define MPROD_CLOSED	(1ull << 32)

/* ------------------------------------------------------------------ */

/*
 * Routes.  R_T2N: a pool call that is tried first on the driver in a
 * form that cannot block (try_nowait() in dispatch.c), and goes to the
 * pool if that does not finish it.
 */
enum { R_INVALID = 0, R_T1 = 1, R_T2 = 2, R_T2I = 3, R_REFUSED = 4,
       R_T2N = 5, R_CANCEL = 6 };

/* A waiter of ksvc_dispatch_call(). */
struct kwaiter {
	__u32 state;		/* atomic: W_FREE, W_WAIT, W_DONE */
	__u32 sleeping;		/* atomic */
	__u32 gen;
	__u32 cflags;
	__s64 res;
};
enum { W_FREE = 0, W_WAIT = 1, W_DONE = 2 };

/*
 * One entry taken from the submit ring, until its completion is out.
 * The fields a plain Tier 1 op touches (take_t1_fast(),
 * ksvc__t1_done_fast()) all sit in the first cache line: those before
 * e, and e.corr_id.
 */
struct kop {
	struct kop *next;		/* chain successor (LINKED) */
	struct kop *link;		/* free list / done stack */
	__s64 res;
	__u32 cflags;
	__u8 route;			/* R_* */
	__u8 linked;			/* has a successor in ring order */
	__u8 done_post;			/* atomic: pool op already posted */
	__u8 live;			/* launched into a tier, not finished */
	__u8 opcode;			/* Tier 1 */
	__u8 more;			/* Tier 1: KSVC_T1_* for ksvc__t1_more() */
	__u8 cancel;			/* atomic: a KSVC_ENTRY_CANCEL named it */
	struct kwaiter *w;		/* ksvc_dispatch_call() target */
	struct ksvc_entry e;		/* private copy */
	struct msghdr msg;		/* Tier 1 sendto with an address */
	struct iovec iov;
	__u64 sent;			/* bytes written before a short result */
	struct t1_rest *rest;		/* writev/sendmsg: ksvc__t1_more() */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct kop, e.corr_id) + 8 <= 64,
	       "struct kop: the hot fields span two cache lines");

/*
 * A pool worker.  cur is the op in the worker's hands, NULL between
 * calls (a stop signals the worker while it is set).  With kick it is how
 * one call is cancelled (ksvc__pool_cancel_op() in tier2.c): kick 0
 * (none), 1 (the driver is starting the timer) or 2 (the timer runs: the
 * cancel signal every millisecond, until the worker stops it after the
 * call).
 */
struct kworker {
	pthread_t th;
	struct ksvc_dispatcher *d;
	int started;
	struct kop *cur;		/* atomic */
	__u32 kick;			/* atomic */
	pid_t tid;			/* the worker's, set before cur */
	int has_timer;			/* the worker's, or the driver's
					 * while it holds the kick */
	timer_t timer;			/* SIGEV_THREAD_ID: this worker */
};

struct ktier_ctr {
	__u64 submitted, completed, batches, cancelled;	/* atomics */
};

#define KSVC_CPU_SLOTS	64	/* on_cpu[] slots: CPU number modulo this */

/*
 * Threads of the dispatcher busy on one CPU (atomic), a line per CPU: a
 * spinner reads its own CPU's count on every step, and must not lose the
 * line whenever a thread on another CPU starts or stops spinning.
 */
struct kcpu {
	__u32 busy;
} __attribute__((aligned(64)));

#define KSVC_TEST_GAPS	10		/* ksvc__pool_test_gap() */

struct ksvc_dispatcher {
	struct ksvc *k;
	struct ksvc_ring *sq, *cq;
	__u32 flags;
	int driven;			/* CALLER_DRIVES */
	pthread_t creator;
	__u64 spin_ns;
	__u32 stop_timeout_ms;
	int cancel_signal;

	/*
	 * Cache lines, for the hand-off between an application thread and
	 * a dispatcher thread on another CPU: a line that one side writes
	 * for every batch holds nothing the other side reads for every
	 * batch, or each batch pays for the line going back and forth.
	 */
	/* Submit side: written by the submitters. */
	struct mprod sqp __attribute__((aligned(64)));

	/* Completion side: written by the driver (and, in thread mode, the
	 * workers) for every batch. */
	struct mprod cqp __attribute__((aligned(64)));
	__s32 owed;			/* atomic: taken, not yet posted */
	unsigned int stall_backoff;

	/* Written only when someone sleeps, waits or stalls. */
	__u32 space_waiters		/* atomic: submitters waiting for room */
		__attribute__((aligned(64)));
	__u32 dsleep_seq, dwoken_seq;	/* atomics: driver sleeps / woken */
	__u32 cq_stalled;		/* atomic: 1 waiting for the app to reap,
					 * 2 waiting for an op to come back;
					 * stored only when it changes */
	__u32 sleep_seq, notified_seq;	/* atomics: eventfd sleeps / notified */
	__u32 cq_futex_sleepers;	/* atomic: app threads on the cq futex */
	__u32 cq_spinner;		/* atomic: 1 while a waiter spins */

	/* Taken by application threads. */
	pthread_mutex_t efd_lock	/* the one waiter asleep on the eventfd */
		__attribute__((aligned(64)));
	pthread_mutex_t cq_sleep_lock;	/* cq_sleepers and the cq's flag */
	__u32 cq_sleepers;		/* waiters asleep or about to be */
	__u32 cq_min_want;		/* atomic: the least @min among them, or
					 * less (see cq_sleep_begin()) */
	pthread_mutex_t drive_lock;

	/* Driving. */
	pthread_t thread;
	int has_thread;
	__u32 db;			/* atomic: doorbell futex word */
	__u32 drv_gen;			/* atomic: driven-mode progress */
	__u32 drv_gen_waiters;		/* atomic */

	/* State. */
	__u32 stop_req;			/* atomic */
	__u32 stopped;			/* atomic: futex word */
	int stop_left;
	int init_err;
	__u32 init_done;		/* atomic: futex word */

	/* Tier 1. */
	struct io_uring ring;
	int t1;
	int cur_pos;
	int have_futex_op;
	__u32 uring_flags;
	__u32 uring_entries;
	__u64 ops[KSVC_IORING_OP_MAX / 64];
	__u64 mask_ops[4];
	unsigned int t1_inflight;	/* our requests in io_uring */
	unsigned int sqe_pending;	/* prepared, not submitted */
	unsigned int sqe_calls;		/* of those, calls' (for batches) */
	int armed_tail, armed_db;
	unsigned int cancel_inflight;

	/* Ops. */
	struct kop *opmem;
	unsigned int nops;
	struct kop *free_ops;

	/* Chain state (dispatcher only). */
	int chain_state;
	struct kop *chain_tail;

	/* Completions waiting to be posted by the dispatcher. */
	struct ksvc_completion *pend;
	unsigned int npend, pend_cap;

	/* Tier 2 pool. */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cv;
	struct kop **pq;
	struct kop **pq_batch;		/* one pass's pool calls */
	unsigned int pq_head, pq_tail, pq_cap;
	unsigned int pool_stop;		/* atomic */
	unsigned int pool_cancel;	/* atomic */
	unsigned int pool_running;	/* atomic */
	unsigned int test_gap_us[KSVC_TEST_GAPS]; /* ksvc__pool_test_gap() */
	/*
	 * The hand-off to the spinning worker (see ksvc__pool_push()), on
	 * a cache line of its own: the driver reads pool_spinning and
	 * writes mbox, the worker polls mbox, and nothing else is there.
	 */
	struct kop *mbox __attribute__((aligned(64)));	/* atomic */
	unsigned int pool_spinning;	/* atomic: a worker spins for work */
	struct kcpu on_cpu[KSVC_CPU_SLOTS];	/* see ksvc__spin() */
	struct kworker *workers;
	unsigned int nworkers;

	/* ksvc_dispatch_call() waiters. */
	pthread_mutex_t sync_lock;
	struct kwaiter *waiters;
	__u32 *sync_free;
	unsigned int nsync, nsync_free;

	/* Written by the pool workers for every call they finish. */
	struct kop *done_stack		/* atomic: Treiber push, xchg pop-all */
		__attribute__((aligned(64)));
	__u64 c2_completed_w;		/* Tier 2 completions posted by workers */
	__u64 c_posted;			/* by workers and the driver */

	/* Counters (the driver's, single-writer). */
	struct ktier_ctr c1 __attribute__((aligned(64)));
	struct ktier_ctr c2;
	__u64 c_inline, c_refused, c_invalid, c_chain_cancelled, c_taken,
	      c_direct, c_sleeps, c_wakeups, c_notifies, c_stalls;

	/*
	 * route_of() answered once per system call number (see
	 * route_table_build()): kind << 8 | io_uring opcode.  Last, so
	 * that the fields above keep their cache lines (the workers' and
	 * the driver's atomics among them).
	 */
	__u16 rtab[KSVC_NR_TABLE];
};

/* tier1.c */
int ksvc__t1_init(struct ksvc_dispatcher *d);
void ksvc__t1_exit(struct ksvc_dispatcher *d);
int ksvc__t1_has(const struct ksvc_dispatcher *d, int op);
int ksvc__t1_queue(struct ksvc_dispatcher *d, struct kop *op, int opcode);
int ksvc__t1_submit(struct ksvc_dispatcher *d, int wait_nr,
		    const struct __kernel_timespec *ts);
int ksvc__t1_reap(struct ksvc_dispatcher *d);
int ksvc__t1_arm(struct ksvc_dispatcher *d, __u32 *addr, __u32 val, __u64 ud);
int ksvc__t1_need_enter(struct ksvc_dispatcher *d);
int ksvc__t1_more(struct ksvc_dispatcher *d, struct kop *op, int res);

/* RWF_NOAPPEND (Linux 6.9), which Debian 12's headers do not have */
#define KSVC_RWF_NOAPPEND	0x20u

/* The MSG_* flags of a recvfrom, sendto, recvmsg or sendmsg entry; 0 else. */
static inline __u64 ksvc__msg_flags(const struct ksvc_entry *e)
{
	switch (e->syscall_nr) {
	case SYS_recvfrom:
	case SYS_sendto:
		return e->args[3];
	case SYS_recvmsg:
	case SYS_sendmsg:
		return e->args[2];
	default:
		return 0;
	}
}

/*
 * What ksvc__t1_more() does with this Tier 1 op's result (0: nothing).
 * KSVC_T1_REST: a short count is continued.  A write or writev; a
 * sendto or sendmsg without MSG_DONTWAIT in @msg_flags; a pwritev2 at
 * the file position (@off -1; one with RWF_NOWAIT never reaches Tier 1,
 * ksvc__t1_op()).
 * KSVC_T1_MSGHDR: an EINVAL of sendmsg or recvmsg is looked at again.
 */
#define KSVC_T1_REST	1u
#define KSVC_T1_MSGHDR	2u
static inline unsigned int ksvc__t1_wants_more(__u32 nr, __u64 msg_flags,
					       __u64 off)
{
	switch (nr) {
	case SYS_write:
	case SYS_writev:
		return KSVC_T1_REST;
	case SYS_sendto:
		return msg_flags & MSG_DONTWAIT ? 0 : KSVC_T1_REST;
	case SYS_sendmsg:
		return KSVC_T1_MSGHDR |
		       (msg_flags & MSG_DONTWAIT ? 0 : KSVC_T1_REST);
	case SYS_recvmsg:
		return KSVC_T1_MSGHDR;
	case SYS_pwritev2:
		return off == (__u64)-1 ? KSVC_T1_REST : 0;
	default:
		return 0;
	}
}
#define KSVC_T1_MORE	INT_MIN	/* ksvc__t1_more(): resubmitted */
int ksvc__t1_cancel_all(struct ksvc_dispatcher *d);
void ksvc__t1_cancel_op(struct ksvc_dispatcher *d, struct kop *op);

/*
 * ksvc__finish() for most Tier 1 ops, inline in the reaping loop: not in
 * a chain, no ksvc_dispatch_call() waiter, a result other than -ECANCELED
 * (counted apart during a stop), and room among the driver's pending
 * posts.  Returns 0 if it finished the op (the caller counts it in
 * c1.completed), -1 if ksvc__finish() must.
 */
static inline int ksvc__t1_done_fast(struct ksvc_dispatcher *d,
				     struct kop *op, int res)
{
	struct ksvc_completion *c;

	/*
	 * npend < pend_cap always holds here (every pending post is owed a
	 * completion slot, and pend_cap is the ring's size): the test only
	 * keeps post()'s guarantee if that ever changes.
	 */
	if (op->linked || op->w || res == -ECANCELED ||
	    d->npend == d->pend_cap)
		return -1;
	c = &d->pend[d->npend++];
	c->corr_id = op->e.corr_id;
	c->result = res;
	c->flags = KSVC_COMP_TIER1;
	c->reserved0 = 0;
	c->reserved1 = 0;
	op->live = 0;
	op->link = d->free_ops;		/* op_free(); w is already NULL */
	d->free_ops = op;
	return 0;
}

#define UD_TAIL		1ull
#define UD_DB		2ull
#define UD_CANCEL	3ull
/* Or'ed into an op's address (64-byte aligned): io_uring's answer to
 * ksvc__t1_cancel_op() for that op. */
#define UD_OP_CANCEL	1ull
#define UD_NOP		4ull	/* a request of no op's (cannot happen) */
#define UD_INTERNAL_MAX	64ull

/* tier2.c */
int ksvc__pool_start(struct ksvc_dispatcher *d);
void ksvc__pool_push(struct ksvc_dispatcher *d, struct kop **ops,
		     unsigned int n);
void ksvc__pool_cancel(struct ksvc_dispatcher *d);
int ksvc__pool_cancel_op(struct ksvc_dispatcher *d, struct kop *op);
void ksvc__pool_drop(struct ksvc_dispatcher *d, struct kop *op);
void ksvc__pool_join(struct ksvc_dispatcher *d);
void ksvc__pool_test_index(struct ksvc_dispatcher *d, unsigned int idx);
int ksvc__signal_get(int sig);
void ksvc__signal_put(int sig);
void ksvc__signal_atfork_child(void);
__s64 ksvc__run_syscall(const struct ksvc_entry *e);

/* dispatch.c, for the tiers */
void ksvc__finish(struct ksvc_dispatcher *d, struct kop *op, __s64 res,
		  __u32 cflags);
void ksvc__worker_done(struct ksvc_dispatcher *d, struct kop *op);
void ksvc__test_gap(struct ksvc_dispatcher *d, int where);
void ksvc__doorbell(struct ksvc_dispatcher *d, int force);
int ksvc__fd_type(int fd);
long ksvc__futex(__u32 *uaddr, int op, __u32 val, const struct timespec *ts);
__u64 ksvc__now_ns(void);

static inline void ksvc__relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Bounded spinning on few CPUs.
 *
 * A spinning thread only helps when the thread it waits for runs on
 * another CPU.  When the scheduler puts both on the same CPU (wake-affine
 * placement does that to threads that wake each other), pausing burns
 * the time slice the other one needs, so a spinner yields whenever
 * another thread of the same dispatcher is busy on its CPU.  Those
 * threads say where they are in on_cpu[]: the driver or dispatcher thread
 * from waking until it sleeps, a pool worker from taking a call until it
 * sleeps, an application thread while it spins for completions.  Threads
 * the library cannot see (the application's own work) are why a spinner
 * also yields once every KSVC_SPIN_YIELD_NS.  Yielding costs a system
 * call, which is why it is not done on every step.
 */
#define KSVC_SPIN_YIELD_NS	16000

struct kspin {
	int slot;		/* on_cpu[] slot counted, -1: none */
	__u64 next_yield;	/* spin time of the next periodic yield */
};

#define KSPIN_INIT	{ -1, KSVC_SPIN_YIELD_NS }

/* Count this thread busy on the CPU it runs on now. */
static inline void ksvc__busy(struct kcpu *on_cpu, struct kspin *s)
{
	int cpu = sched_getcpu();
	int slot = cpu < 0 ? 0 : cpu % KSVC_CPU_SLOTS;

	if (slot == s->slot)
		return;
	if (s->slot >= 0)
		__atomic_fetch_sub(&on_cpu[s->slot].busy, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&on_cpu[slot].busy, 1, __ATOMIC_RELAXED);
	s->slot = slot;
}

/* No longer busy (about to sleep, or leaving the library). */
static inline void ksvc__idle(struct kcpu *on_cpu, struct kspin *s)
{
	if (s->slot >= 0)
		__atomic_fetch_sub(&on_cpu[s->slot].busy, 1, __ATOMIC_RELAXED);
	s->slot = -1;
}

/* One step of a spin that has lasted @spun_ns (see above). */
static inline void ksvc__spin(struct kcpu *on_cpu, struct kspin *s,
			      __u64 spun_ns)
{
	/* A new spin (its time started over): so do the periodic yields. */
	if (spun_ns + KSVC_SPIN_YIELD_NS < s->next_yield)
		s->next_yield = KSVC_SPIN_YIELD_NS;
	ksvc__busy(on_cpu, s);
	if (__atomic_load_n(&on_cpu[s->slot].busy, __ATOMIC_RELAXED) > 1) {
		sched_yield();
	} else if (spun_ns >= s->next_yield) {
		s->next_yield = spun_ns + KSVC_SPIN_YIELD_NS;
		sched_yield();
	} else {
		ksvc__relax();
	}
}

/*
 * Flags that keep a receive or a send out of Tier 1, where io_uring would
 * not do what the system call does (ksvc__t1_op() and the fast paths):
 *   MSG_WAITALL   io_uring retries a short receive from the same buffer
 *                 on any stream or seqpacket socket (records merged, a
 *                 MSG_PEEK peeked again);
 *   MSG_ERRQUEUE, MSG_OOB
 *                 the system call never waits (EAGAIN or EINVAL at once
 *                 when there is nothing), io_uring takes EAGAIN for "not
 *                 yet" and waits for the socket to become readable;
 *   MSG_FASTOPEN  io_uring's first try is non-blocking: the connect it
 *                 starts fails with EINPROGRESS and nothing is sent,
 *                 where the system call waits for the connection.
 */
#define KSVC_RECV_T2_FLAGS	(MSG_WAITALL | MSG_ERRQUEUE | MSG_OOB)
#define KSVC_SEND_T2_FLAGS	MSG_FASTOPEN

/*
 * IORING_RECVSEND_POLL_FIRST for a receive with these flags: with
 * KSVC_DISPATCH_RECV_POLL_FIRST, but not with MSG_DONTWAIT (io_uring does
 * not try that one before the poll, and fails it with EAGAIN even when
 * data is queued).  ksvc__t1_queue() and take_t1_fast().
 */
static inline int ksvc__poll_first(const struct ksvc_dispatcher *d,
				   __u32 msg_flags)
{
	return (d->flags & KSVC_DISPATCH_RECV_POLL_FIRST) &&
	       !(msg_flags & MSG_DONTWAIT);
}

#define A_LOAD(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define A_LOADR(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define A_STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define A_STORER(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define A_ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define A_INC(p)	__atomic_fetch_add((p), 1, __ATOMIC_RELAXED)
#define A_ADDR(p, v)	__atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* Single-writer counters (the driver): a plain relaxed increment. */
#define CTR_INC(p)	__atomic_store_n((p), __atomic_load_n((p), \
			__ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define CTR_ADD(p, v)	__atomic_store_n((p), __atomic_load_n((p), \
			__ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)

/*
 * The rings' slots as arrays.  The library maps a ring only with slots of
 * exactly these sizes (check_ring() in setup.c), so the hot paths index
 * them without multiplying by entry_size.
 */
static inline struct ksvc_entry *ksvc__sq_slots(const struct ksvc_ring *r)
{
	return (struct ksvc_entry *)(void *)r->slots;
}

static inline struct ksvc_completion *ksvc__cq_slots(const struct ksvc_ring *r)
{
	return (struct ksvc_completion *)(void *)r->slots;
}

#endif /* KSVC_DISPATCH_INT_H */
