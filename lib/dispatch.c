// SPDX-License-Identifier: MIT
/*
 * dispatch.c - the libksvc dispatcher: takes entries from the submit
 * ring, routes them (lib/sysclass.c) to Tier 1 (lib/tier1.c, io_uring) or
 * Tier 2 (lib/tier2.c, threads), refuses what must not run elsewhere, and
 * writes completions.  The public API is documented in ksvc_dispatch.h.
 *
 * Who does what:
 *
 *   submitters   any thread: struct mprod on the submit ring; wake the
 *                dispatcher (futex on the ring's tail word) only when it
 *                announced sleep with KSVC_RING_NEED_WAKEUP.
 *   driver       the dispatcher thread, or with CALLER_DRIVES whichever
 *                thread holds drive_lock: consumes the submit ring, owns
 *                io_uring, chains, and posts most completions.
 *   workers      Tier 2 threads: post their own completions (struct mprod
 *                on the completion ring) unless the call is part of a
 *                chain or the caller drives; then they hand the op back to
 *                the driver through done_stack and ring the doorbell.
 *   reapers      application threads: take completions with a
 *                compare-and-swap on the completion ring's head, no
 *                lock (pop_min()); waiters sleep side by side, each for
 *                its own @min (app_sleep()).
 *
 * Never dropping a completion: the driver takes an entry only when a
 * completion slot is guaranteed for it: taken-but-unposted ops (owed) plus
 * completions in the ring never exceed the ring's size.  So posting never
 * finds the ring full, and while it is full the driver stops taking
 * (cq_stalled; reapers ring the doorbell when they make room).
 *
 * The driver's sleep: with io_uring, one io_uring_enter() waits for
 * everything at once: Tier 1 completions, and two IORING_OP_FUTEX_WAIT
 * requests, one on the submit ring's tail word (producers), one on the
 * private doorbell word (workers, reapers, stop).  A futex wait compares
 * the word with the value it expects, so a wake that comes before the
 * wait is queued is never lost.  Where the kernel lacks
 * IORING_OP_FUTEX_WAIT, the driver sleeps in futex_waitv() on both words
 * when no Tier 1 request is in flight, and otherwise in io_uring with a
 * 1 ms time-out, re-checking the words each time (slower, still correct).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <linux/futex.h>

#include "dispatch_int.h"
#include "epoch.h"

#define DEF_WORKERS	4u
#define MAX_WORKERS	256u
#define DEF_SPIN_US	50u
#define MAX_SPIN_US	10000u
#define DEF_URING	256u
#define DEF_STOP_MS	2000u


/*
 * Chain state, about the last entry taken: CH_NONE (not LINKED),
 * CH_PENDING (LINKED, still running: the next entry waits for it),
 * CH_OK / CH_FAIL (LINKED and done: the next entry runs / is cancelled).
 * CH_STOPPED: stopping, nothing is launched any more.
 */
enum { CH_STOPPED = -1, CH_NONE = 0, CH_PENDING, CH_OK, CH_FAIL };

/* ---------------------------------------------------------------- */
/* Small helpers                                                     */
/* ---------------------------------------------------------------- */

__u64 ksvc__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

long ksvc__futex(__u32 *uaddr, int op, __u32 val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void futex_wake(__u32 *uaddr, int n)
{
	ksvc__futex(uaddr, FUTEX_WAKE_PRIVATE, (__u32)n, NULL);
}

/* Wait while *uaddr == val, at most until @deadline (0: none). */
static int futex_wait_until(__u32 *uaddr, __u32 val, __u64 deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline) {
		__u64 now = ksvc__now_ns();
		__u64 left = deadline > now ? deadline - now : 0;

		if (!left)
			return -ETIMEDOUT;
		ts.tv_sec = (time_t)(left / 1000000000ull);
		ts.tv_nsec = (long)(left % 1000000000ull);
		tsp = &ts;
	}
	if (ksvc__futex(uaddr, FUTEX_WAIT_PRIVATE, val, tsp) < 0)
		return -errno;
	return 0;
}

static __u64 deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return 0;
	return ksvc__now_ns() + (__u64)timeout_ms * 1000000ull;
}

/* For futex_waitv(2)'s absolute time-out. */
static struct timespec abs_mono(__u64 ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull),
			       (long)(ns % 1000000000ull) };
	return ts;
}

/* ---------------------------------------------------------------- */
/* Fork detection                                                    */
/* ---------------------------------------------------------------- */
/*
 * A dispatcher records the process epoch (lib/epoch.h) it was created
 * in: in a child (of fork() or of a raw clone()) the epoch differs, and
 * every call but destroy refuses.  The child handler resets the locks a
 * parent's thread may have held.
 */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static void dispatch_atfork_child(void)
{
	/* A parent's thread may have held it: the child is single. */
	pthread_mutex_init(&reg_lock, NULL);
	ksvc__signal_atfork_child();
}

static void dispatch_atfork_init(void)
{
	pthread_atfork(NULL, NULL, dispatch_atfork_child);
}

/*
 * Only one dispatcher per instance.  Entries carry the pid: a child's
 * copy of the parent's entries never matches.
 */
struct reg {
	struct ksvc *k;
	pid_t pid;
	struct reg *next;
};
static struct reg *reg_head;

static int reg_add(struct ksvc *k)
{
	pid_t pid = getpid();
	struct reg *r;

	pthread_mutex_lock(&reg_lock);
	for (r = reg_head; r; r = r->next)
		if (r->k == k && r->pid == pid) {
			pthread_mutex_unlock(&reg_lock);
			return -EBUSY;
		}
	r = malloc(sizeof(*r));
	if (!r) {
		pthread_mutex_unlock(&reg_lock);
		return -ENOMEM;
	}
	r->k = k;
	r->pid = pid;
	r->next = reg_head;
	reg_head = r;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static void reg_del(struct ksvc *k)
{
	pid_t pid = getpid();
	struct reg **pp, *r;

	pthread_mutex_lock(&reg_lock);
	for (pp = &reg_head; (r = *pp); pp = &r->next)
		if (r->k == k && r->pid == pid) {
			*pp = r->next;
			free(r);
			break;
		}
	pthread_mutex_unlock(&reg_lock);
}

/* The dispatcher's own epoch sits right after its struct. */
struct dwrap {
	struct ksvc_dispatcher d;
	__u64 epoch;
};

static int foreign(const struct ksvc_dispatcher *d)
{
	const struct dwrap *w = (const struct dwrap *)d;

	return __atomic_load_n(ksvc__epoch_word, __ATOMIC_RELAXED) != w->epoch;
}

/* ---------------------------------------------------------------- */
/* Multi-producer rings                                              */
/* ---------------------------------------------------------------- */

static int mprod_init(struct mprod *m, struct ksvc_ring *r)
{
	__u32 tail = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
	__u32 s;

	m->r = r;
	m->resv = tail;
	m->head_seen = __atomic_load_n(&r->hdr->head, __ATOMIC_ACQUIRE);
	m->ready = malloc((size_t)r->entries * sizeof(*m->ready));
	if (!m->ready)
		return -ENOMEM;
	/* Tag each slot with the index that used it before @tail. */
	for (s = 0; s < r->entries; s++)
		m->ready[s] = tail - r->entries + ((s - tail) & r->mask) + 1;
	return 0;
}

static void mprod_free(struct mprod *m)
{
	free(m->ready);
	m->ready = NULL;
}

/*
 * head is read before resv: head <= tail <= resv at every moment, so a
 * head read first can never be ahead of the resv read after it (the
 * other order made a ring look over-full when the consumer moved on in
 * between).  A head read long before can make the ring look fuller than
 * it is; "more than full" is then re-read, and only a ring whose head is
 * really ahead of every reservation (corrupted) gives up.
 *
 * The ring's head is the consumer's line, written at every batch it
 * takes: reading it costs a cache miss each time when the consumer runs
 * on another CPU.  So the room is first counted from head_seen, a head
 * some producer read before (never ahead of the real one, which only
 * grows: the count can only come out short), and the real head is read
 * only when that count says there is not enough room.
 */
/* The ring's head as last seen, or (@fresh) read now and remembered. */
static __u32 mprod_head(struct mprod *m, int fresh)
{
	__u32 head;

	if (!fresh)
		return __atomic_load_n(&m->head_seen, __ATOMIC_SEQ_CST);
	head = __atomic_load_n(&m->r->hdr->head, __ATOMIC_SEQ_CST);
	/*
	 * Release: a producer that reuses slots on the strength of this
	 * value must also see what the consumer did before it moved head.
	 */
	__atomic_store_n(&m->head_seen, head, __ATOMIC_RELEASE);
	return head;
}

/* 0 and the first index, -EAGAIN if full, -ESHUTDOWN if closed. */
static int mprod_reserve(struct mprod *m, __u32 n, __u32 *start)
{
	__u32 entries = m->r->entries;
	int fresh = 0;

	for (;;) {
		__u32 head = mprod_head(m, fresh);
		__u64 cur = __atomic_load_n(&m->resv, __ATOMIC_SEQ_CST);
		__u32 r = (__u32)cur, used = r - head;
		__u32 tail = __atomic_load_n(&m->r->hdr->tail, __ATOMIC_SEQ_CST);
		__u64 next;

		if (cur & MPROD_CLOSED)
			return -ESHUTDOWN;
		/*
		 * Our producers never publish past their reservations: a
		 * tail ahead of them is the program's own (ksvc_sq_push(),
		 * between its calls of ours).  Reserve after its entries.
		 */
		if ((__s32)(tail - r) > 0) {
			next = (cur & ~0xffffffffull) | tail;
			__atomic_compare_exchange_n(&m->resv, &cur, next, 0,
						    __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED);
			continue;
		}
		if (!fresh && (used > entries || entries - used < n)) {
			fresh = 1;
			continue;
		}
		if (used > entries) {
			if (head == __atomic_load_n(&m->r->hdr->head,
						    __ATOMIC_SEQ_CST) &&
			    cur == __atomic_load_n(&m->resv, __ATOMIC_SEQ_CST))
				return -EAGAIN;	/* corrupted head */
			continue;
		}
		if (entries - used < n)
			return -EAGAIN;
		next = (cur & ~0xffffffffull) | (__u32)(r + n);
		if (__atomic_compare_exchange_n(&m->resv, &cur, next, 0,
						__ATOMIC_SEQ_CST,
						__ATOMIC_RELAXED)) {
			*start = r;
			return 0;
		}
	}
}

static void mprod_advance(struct mprod *m)
{
	__u32 *tailp = &m->r->hdr->tail;
	__u32 mask = m->r->mask;

	for (;;) {
		__u32 t = __atomic_load_n(tailp, __ATOMIC_SEQ_CST);
		__u32 lim = (__u32)__atomic_load_n(&m->resv, __ATOMIC_SEQ_CST);
		__u32 e = t;

		while (e != lim &&
		       __atomic_load_n(&m->ready[e & mask], __ATOMIC_ACQUIRE) ==
		       e + 1)
			e++;
		if (e == t)
			return;
		__atomic_compare_exchange_n(tailp, &t, e, 0, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED);
	}
}

/*
 * Is index @x in the first lap (@entries indices) of an epoch of 2^31
 * indices?  mprod_commit()'s fast path leaves the ready tags of its
 * slots as they were.  A stale tag must never read as "index + 1" for a
 * later index of its slot, which could happen only if the slot went
 * 2^32 indices without a tag written (32-bit wrap).  The first lap of
 * every epoch always writes its tags, so every slot gets a fresh tag at
 * least every 2^31 + entries indices.
 */
static inline int mprod_lap0(__u32 x, __u32 entries)
{
	return (x & 0x7fffffffu) < entries;
}

static void mprod_commit(struct mprod *m, __u32 start, __u32 n)
{
	__u32 *tailp = &m->r->hdr->tail;
	__u32 i;

	/*
	 * Fast path, the common case of one producer at a time: every slot
	 * before @start is published (tail == start).  Then nobody else can
	 * move tail, because that takes the ready tag of slot @start, which
	 * only we would write: publish our slots with one store instead of
	 * tagging each and scanning the tags again.
	 */
	if (__atomic_load_n(tailp, __ATOMIC_SEQ_CST) == start &&
	    !mprod_lap0(start, m->r->entries) &&
	    !mprod_lap0(start + n - 1, m->r->entries)) {
		__atomic_store_n(tailp, start + n, __ATOMIC_SEQ_CST);
	} else {
		for (i = 0; i < n; i++)
			__atomic_store_n(&m->ready[(start + i) & m->r->mask],
					 start + i + 1, __ATOMIC_RELEASE);
	}
	/*
	 * Pairs with the same fence of any other producer (see struct
	 * mprod): either a later producer sees our tail (or our tags), or
	 * we see its tags below and publish its slots.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mprod_advance(m);
}

/*
 * Close: no reservation succeeds any more; wait for those in progress,
 * which leave tail behind the reservations by at most a ring.  A tail
 * elsewhere is the program's own doing (its own entries, or a stray
 * write): nothing of ours is in progress to wait for.
 */
static void mprod_close(struct mprod *m)
{
	__u32 r = (__u32)__atomic_or_fetch(&m->resv, MPROD_CLOSED,
					   __ATOMIC_SEQ_CST);

	for (;;) {
		__u32 behind = r - __atomic_load_n(&m->r->hdr->tail,
						   __ATOMIC_ACQUIRE);

		if (behind == 0 || behind > m->r->entries)
			return;
		sched_yield();
	}
}

/* ---------------------------------------------------------------- */
/* Completions                                                       */
/* ---------------------------------------------------------------- */

/*
 * Wake the application threads sleeping for completions (app_sleep()).
 * The one asleep on the eventfd, once per sleep: the eventfd's count
 * stays until the sleeper reads it, so even a signal sent before its
 * ppoll() wakes it.  The others wait on a futex (the completion tail),
 * where a wake sent before the wait is queued is lost: if this poster
 * was preempted between publishing and testing the flag, a sleeper may
 * have seen its completions, gone back to sleep on that very tail, and
 * then this wake would claim the new sleep and reach nobody, and every
 * later poster would stay quiet.  So every poster that sees the flag
 * and a sleeper on the futex wakes them all (the flag stays set only
 * while somebody sleeps), unless fewer completions are ready than the
 * least @min any of them waits for (cq_min_want): then none of them
 * could take anything, and the poster that publishes the one that
 * makes up a sleeper's @min sees enough ready and wakes them.  (Every
 * poster comes here after it moved the tail, or found another producer
 * would: that one comes here after it.)
 */
static void notify_app(struct ksvc_dispatcher *d, int force)
{
	int sent = 0;
	__u32 s;

	if (!force && !ksvc_ring_needs_wakeup(d->cq))
		return;
	s = __atomic_load_n(&d->sleep_seq, __ATOMIC_SEQ_CST);
	if (d->k->eventfd >= 0 &&
	    (force || __atomic_exchange_n(&d->notified_seq, s,
					  __ATOMIC_SEQ_CST) != s)) {
		ksvc_notify(d->k);
		sent = 1;
	}
	if (force ||
	    (__atomic_load_n(&d->cq_futex_sleepers, __ATOMIC_SEQ_CST) &&
	     ksvc_ring_ready(d->cq) >=
	     __atomic_load_n(&d->cq_min_want, __ATOMIC_SEQ_CST))) {
		futex_wake(&d->cq->hdr->tail, INT_MAX);
		sent = 1;
	}
	if (sent)
		A_ADDR(&d->c_notifies, 1);
}

/*
 * Completion slots are written and read with relaxed atomic accesses,
 * field by field.  Reapers take no lock (pop_min()): one that lost the
 * race for a slot may still be copying it while a poster rewrites it for
 * the next lap.  That copy is thrown away, but both sides of the race
 * must be atomic for it not to be undefined behaviour in C (found by
 * ThreadSanitizer); on x86-64 and arm64 these are the plain loads and
 * stores they replace.
 */
static void put_comp(struct ksvc_completion *dst, __u64 corr_id,
		     __s64 result, __u32 flags)
{
	A_STORER(&dst->corr_id, corr_id);
	A_STORER(&dst->result, result);
	A_STORER(&dst->flags, flags);
	A_STORER(&dst->reserved0, 0);
	A_STORER(&dst->reserved1, 0);
}

static void copy_comp(struct ksvc_completion *dst,
		      const struct ksvc_completion *src)
{
	dst->corr_id = A_LOADR(&src->corr_id);
	dst->result = A_LOADR(&src->result);
	dst->flags = A_LOADR(&src->flags);
	dst->reserved0 = A_LOADR(&src->reserved0);
	dst->reserved1 = A_LOADR(&src->reserved1);
}

/* Publish the driver's pending completions. */
static void flush_posts(struct ksvc_dispatcher *d)
{
	__u32 start, i, mask, n = d->npend;
	struct ksvc_completion *slots;

	if (!n)
		return;
	if (mprod_reserve(&d->cqp, n, &start) < 0)
		return;		/* cannot happen unless the head was
				 * corrupted: keep them, try again */
	slots = ksvc__cq_slots(d->cq);
	mask = d->cq->mask;
	for (i = 0; i < n; i++) {
		const struct ksvc_completion *c = &d->pend[i];

		put_comp(&slots[(start + i) & mask], c->corr_id, c->result,
			 c->flags);
	}
	/*
	 * Counted before they are out: a program that reaped every
	 * completion must not find fewer posted in ksvc_dispatch_stats().
	 */
	A_ADDR(&d->c_posted, n);
	mprod_commit(&d->cqp, start, n);
	A_ADD(&d->owed, -(__s32)n);
	d->npend = 0;
	notify_app(d, 0);
}

static void post(struct ksvc_dispatcher *d, __u64 corr, __s64 res,
		 __u32 cflags)
{
	struct ksvc_completion *c;

	/*
	 * npend <= owed <= cq->entries = pend_cap (take() reserves a slot
	 * for every completion it will post), so the buffer is full here
	 * only when a post is already owed a slot: flush_posts() makes
	 * room unless the application wrote a head the ring cannot have.
	 * Then wait for a sane head rather than write past the buffer.
	 */
	while (d->npend == d->pend_cap) {
		flush_posts(d);
		if (d->npend == d->pend_cap)
			sched_yield();
	}
	c = &d->pend[d->npend++];
	c->corr_id = corr;
	c->result = res;
	c->flags = cflags;
	c->reserved0 = 0;
	c->reserved1 = 0;
}

static void deliver_sync(struct ksvc_dispatcher *d, struct kwaiter *w,
			 __s64 res, __u32 cflags)
{
	w->res = res;
	w->cflags = cflags;
	A_ADDR(&d->c_direct, 1);	/* before the caller can see it */
	__atomic_store_n(&w->state, W_DONE, __ATOMIC_SEQ_CST);
	if (d->driven) {
		A_ADD(&d->drv_gen, 1);
		if (__atomic_load_n(&d->drv_gen_waiters, __ATOMIC_SEQ_CST))
			futex_wake(&d->drv_gen, INT_MAX);
	} else if (__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST)) {
		futex_wake(&w->state, 1);
	}
}

/*
 * Tier counters.  The driver's are single-writer; workers (which post
 * their own completions in thread mode) have their own atomic one.
 */
static void count_done(struct ksvc_dispatcher *d, __s64 res, __u32 cflags,
		       int worker)
{
	struct ktier_ctr *c = NULL;

	if (cflags & KSVC_COMP_TIER1)
		c = &d->c1;
	else if (cflags & KSVC_COMP_TIER2)
		c = &d->c2;
	if (!c)
		return;
	if (worker)
		A_ADDR(&d->c2_completed_w, 1);
	else
		CTR_INC(&c->completed);
	if (res == -ECANCELED && A_LOADR(&d->stop_req))
		A_ADDR(&c->cancelled, 1);
}

/* ---------------------------------------------------------------- */
/* Ops                                                               */
/* ---------------------------------------------------------------- */

static struct kop *op_alloc(struct ksvc_dispatcher *d)
{
	struct kop *op = d->free_ops;

	if (op)
		d->free_ops = op->link;
	return op;
}

static void op_free(struct ksvc_dispatcher *d, struct kop *op)
{
	op->live = 0;
	op->w = NULL;
	op->link = d->free_ops;
	d->free_ops = op;
}

static void done_push(struct ksvc_dispatcher *d, struct kop *op)
{
	struct kop *head = __atomic_load_n(&d->done_stack, __ATOMIC_RELAXED);

	do {
		op->link = head;
	} while (!__atomic_compare_exchange_n(&d->done_stack, &head, op, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
}

void ksvc__doorbell(struct ksvc_dispatcher *d, int force)
{
	if (!force && !ksvc_ring_needs_wakeup(d->sq))
		return;
	A_ADD(&d->db, 1);
	futex_wake(&d->db, INT_MAX);
}

/* ---------------------------------------------------------------- */
/* Routing and launching                                             */
/* ---------------------------------------------------------------- */

/*
 * Does this call name a descriptor with O_NONBLOCK, which io_uring would
 * not honour?  Unknown descriptors (F_GETFL fails) are left to Tier 1,
 * which reports EBADF like the system call.  @fl0, if not NULL: the
 * first descriptor's file flags, or -1 when not read.
 */
static int nonblock_fd(const struct ksvc_dispatcher *d,
		       const struct ksvc_entry *e, long *fl0)
{
	int fds[2], n, i;

	if (fl0)
		*fl0 = -1;
	if (d->flags & KSVC_DISPATCH_BLOCKING_FDS)
		return 0;
	n = ksvc__nonblock_fds(e, fds);
	for (i = 0; i < n; i++) {
		long fl = syscall(SYS_fcntl, fds[i], F_GETFL);

		if (i == 0 && fl0)
			*fl0 = fl;
		if (fl >= 0 && (fl & O_NONBLOCK))
			return 1;
	}
	return 0;
}

/*
 * The file type of @fd (S_IFREG, ...; 0 for an anonymous inode), or -1
 * if statx() cannot tell (EBADF).  AT_STATX_DONT_SYNC: never a wait for
 * a network file system.
 */
int ksvc__fd_type(int fd)
{
	struct statx stx;

	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
		    STATX_TYPE, &stx) < 0 || !(stx.stx_mask & STATX_TYPE))
		return -1;
	return stx.stx_mode & S_IFMT;
}

/*
 * IORING_OP_CLOSE refuses to close an io_uring descriptor (EBADF, the
 * descriptor stays open) where close(2) closes it.  io_uring descriptors
 * are anonymous inodes, which have no file type: a close of any such
 * descriptor (eventfd, epoll, timerfd, io_uring, ...) runs in Tier 2.
 * One statx() per close, which costs little next to a close.
 */
static int anon_close(const struct ksvc_entry *e)
{
	return e->syscall_nr == SYS_close &&
	       ksvc__fd_type((int)e->args[0]) == 0;
}

/*
 * Is this a read or write at an offset (pread64, pwrite64, preadv,
 * pwritev, and preadv2/pwritev2 at an offset >= 0) on a descriptor that
 * may not have positions?  The system call fails with ESPIPE on a file
 * opened without FMODE_PREAD/FMODE_PWRITE (pipes, sockets, FIFOs,
 * terminals, eventfds, ...); io_uring never checks those modes and reads
 * or writes the stream, ignoring the offset: it would consume or add
 * data where the system call changes nothing.  Regular files and block
 * devices have positions, so they stay in Tier 1; anything else goes to
 * Tier 2, where the system call itself answers.  The type comes from
 * ksvc__fd_type(); a descriptor it cannot look at (EBADF) is left to
 * Tier 1, which reports the same error.  KSVC_DISPATCH_POSITIONAL_FDS
 * skips the look.  Left: a regular file that its file system opens
 * without positions (a few procfs, tracefs and debugfs files, such as
 * /proc/kmsg) still runs in Tier 1.
 */
static int stream_fd(const struct ksvc_dispatcher *d,
		     const struct ksvc_entry *e)
{
	int type;

	if (d->flags & KSVC_DISPATCH_POSITIONAL_FDS)
		return 0;
	switch (e->syscall_nr) {
	case SYS_preadv2:
	case SYS_pwritev2:
		if ((__s64)e->args[3] == -1)
			return 0;	/* the file position, as readv */
		break;
	case SYS_pread64:
	case SYS_pwrite64:
	case SYS_preadv:
	case SYS_pwritev:
		break;
	default:
		return 0;
	}
	type = ksvc__fd_type((int)e->args[0]);
	return type >= 0 && type != S_IFREG && type != S_IFBLK;
}

/*
 * The kernel's O_LARGEFILE, which glibc defines as 0 on 64-bit targets:
 * open() sets it there on every file it opens, and F_SETFL cannot.
 */
#if defined(__x86_64__)
#define KSVC_O_LARGEFILE	0100000
#elif defined(__aarch64__)
#define KSVC_O_LARGEFILE	0400000
#endif

/*
 * Could the descriptor whose file flags are @fl be a socket?  Sockets
 * are O_RDWR and, made by socket() or accept() rather than opened, never
 * O_LARGEFILE; files opened by path (regular files, devices, FIFOs) always
 * are on 64-bit, and pipes are not O_RDWR.  So only sockets and other
 * anonymous O_RDWR files (eventfd, timerfd, ...) pass.  Unknown flags
 * (-1): no.
 */
static int maybe_socket(long fl)
{
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR)
		return 0;
#ifdef KSVC_O_LARGEFILE
	return !(fl & KSVC_O_LARGEFILE);
#else
	return 1;
#endif
}

/*
 * Does this call's socket have a time-out (SO_RCVTIMEO for receives and
 * accept, SO_SNDTIMEO for sends and connect)?  The system call gives up
 * with EAGAIN (EINPROGRESS for connect) when it expires; io_uring waits
 * for the socket however long that takes.  Such calls run in Tier 2,
 * where the system call keeps its time-out.  One getsockopt() per socket
 * call, after nonblock_fd()'s fcntl(); for read, write, readv, writev
 * (and preadv2/pwritev2 at the file position), which take any file, only
 * where those flags say it may be a socket (@fl0, maybe_socket()), so
 * that reads of files pay nothing more.  Receives (not accept) also look
 * at SO_RCVLOWAT, a second getsockopt(): the system call waits until that
 * many bytes are there, io_uring's first try takes what is queued.
 * Neither look under KSVC_DISPATCH_BLOCKING_FDS.  A receive that
 * io_uring would poll first (KSVC_DISPATCH_RECV_POLL_FIRST) on a
 * descriptor that is no socket (the getsockopt() says ENOTSOCK) runs in
 * Tier 2 too: io_uring polls before it looks at the file, so it would
 * wait for the descriptor to become readable (for ever on a pipe's write
 * end) where the system call fails with ENOTSOCK at once; so does one on
 * a listening socket (SO_ACCEPTCONN, a third getsockopt(), only for
 * poll-first receives).
 */
static int sock_timeout(const struct ksvc_dispatcher *d,
			const struct ksvc_entry *e, long fl0)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);
	int opt;

	if (d->flags & KSVC_DISPATCH_BLOCKING_FDS)
		return 0;
	switch (e->syscall_nr) {
	case SYS_read:
	case SYS_readv:
	case SYS_preadv2:
		if (!maybe_socket(fl0))
			return 0;
		opt = SO_RCVTIMEO;
		break;
	case SYS_write:
	case SYS_writev:
	case SYS_pwritev2:
		if (!maybe_socket(fl0))
			return 0;
		opt = SO_SNDTIMEO;
		break;
	case SYS_sendto:
	case SYS_sendmsg:
	case SYS_connect:
		opt = SO_SNDTIMEO;
		break;
	default:
		if (!ksvc__sock_call(e->syscall_nr))
			return 0;
		opt = SO_RCVTIMEO;
		break;
	}
	if (syscall(SYS_getsockopt, (int)e->args[0], SOL_SOCKET, opt, &tv,
		    &len) < 0)
		return errno == ENOTSOCK &&
		       (e->syscall_nr == SYS_recvfrom ||
			e->syscall_nr == SYS_recvmsg) &&
		       ksvc__poll_first(d, (__u32)ksvc__msg_flags(e));
	if (tv.tv_sec || tv.tv_usec)
		return 1;
	/*
	 * A poll-first receive on a listening socket would wait for a
	 * connection (the socket's only readiness), then fail; the system
	 * call fails at once (ENOTCONN, or EINVAL for AF_UNIX).
	 */
	if ((e->syscall_nr == SYS_recvfrom || e->syscall_nr == SYS_recvmsg) &&
	    ksvc__poll_first(d, (__u32)ksvc__msg_flags(e))) {
		int acc = 0;

		len = sizeof(acc);
		if (syscall(SYS_getsockopt, (int)e->args[0], SOL_SOCKET,
			    SO_ACCEPTCONN, &acc, &len) == 0 && acc)
			return 1;
	}
	if (opt == SO_RCVTIMEO && e->syscall_nr != SYS_accept &&
	    e->syscall_nr != SYS_accept4) {
		int lowat = 1;

		len = sizeof(lowat);
		if (syscall(SYS_getsockopt, (int)e->args[0], SOL_SOCKET,
			    SO_RCVLOWAT, &lowat, &len) == 0 && lowat > 1)
			return 1;
	}
	return 0;
}

/*
 * A pread64 that Tier 1 does not take (no io_uring, no opcode for it)
 * runs on the pool, and through the pool a read from the page cache
 * costs two hand-offs between threads for a call that never waits.  So,
 * as io_uring does before it hands a read to its workers, the driver
 * first tries the read in a form that cannot block: preadv2() with
 * RWF_NOWAIT, which fails with EAGAIN rather than wait for the device
 * or a lock.  Only a read of the whole length finishes the call there.
 * Anything else (EAGAIN, a file without NOWAIT support, a short read, an
 * error) sends the call to the pool, which makes the real pread64 from
 * the start: reading a seekable file again changes nothing.  Left out:
 * O_DIRECT descriptors (RWF_NOWAIT only avoids their locks: a
 * synchronous direct read still waits for the device), negative offsets
 * (preadv2() reads at the file position for -1), reads over
 * KSVC_NOWAIT_MAX (copying them would hold up every other entry for
 * longer than the pool's hand-offs cost), reads of 0 bytes (a vectored
 * read of nothing returns 0 without asking the file, pread64 asks:
 * EISDIR for a directory), and KSVC_DISPATCH_NO_INLINE (route_of() does
 * not ask then).
 */
#define KSVC_NOWAIT_MAX	(64u * 1024)

static int no_preadv2;	/* atomic: preadv2() is ENOSYS here (seccomp) */

static int nowait_ok(const struct ksvc_entry *e)
{
	return e->syscall_nr == SYS_pread64 && !A_LOADR(&no_preadv2) &&
	       (__s64)e->args[3] >= 0 && e->args[2] - 1 < KSVC_NOWAIT_MAX;
}

/* 1 and *@res if the call is done, 0 if it must go to the pool. */
static int try_nowait(const struct ksvc_entry *e, __s64 *res)
{
	struct iovec iov = {
		.iov_base = (void *)(uintptr_t)e->args[1],
		.iov_len = (size_t)e->args[2],
	};
	int fd = (int)e->args[0];
	long fl, r;

	if ((__u64)fd != e->args[0])
		return 0;
	fl = syscall(SYS_fcntl, fd, F_GETFL);
	if (fl < 0 || (fl & O_DIRECT))
		return 0;
	/* pos_l carries all 64 bits on a 64-bit kernel; pos_h is 0 */
	r = syscall(SYS_preadv2, fd, &iov, 1, (long)e->args[3], 0L,
		    RWF_NOWAIT);
	if (r < 0 && errno == ENOSYS)
		__atomic_store_n(&no_preadv2, 1, __ATOMIC_RELAXED);
	if (r < 0 || (size_t)r != iov.iov_len)
		return 0;
	*res = r;
	return 1;
}

/*
 * Socket calls that cannot sleep: on a descriptor with O_NONBLOCK (the
 * case io_uring cannot take, above), or with MSG_DONTWAIT in their
 * flags.  They fail with EAGAIN (EINPROGRESS for connect) instead of
 * waiting, so they run on the driver like the other calls that cannot
 * sleep, instead of costing the pool's two hand-offs: what an event
 * loop's non-blocking sockets need.  Only calls that exist for sockets
 * alone (ksvc__sock_call()): read or write on a non-blocking regular
 * file can still wait for the disk.  O_NONBLOCK is read when the entry
 * is routed (as for Tier 1); a program that clears it meanwhile from
 * another thread makes the call wait on the driver.
 */
static int sock_cannot_sleep(const struct ksvc_dispatcher *d,
			     const struct ksvc_entry *e, int nonblock)
{
	if (ksvc__msg_flags(e) & MSG_DONTWAIT)
		return 1;
	return nonblock >= 0 ? nonblock : nonblock_fd(d, e, NULL);
}

/*
 * An entry with flags other than KSVC_ENTRY_LINKED: R_CANCEL for a
 * well-formed KSVC_ENTRY_CANCEL (see ksvc_uapi.h), else R_INVALID.  A
 * corr_id of ksvc_dispatch_call() cannot be named: those belong to the
 * library.
 */
static int cancel_route(const struct ksvc_entry *e)
{
	const __u64 *a = e->args;

	if (e->flags != KSVC_ENTRY_CANCEL || e->syscall_nr ||
	    (a[1] | a[2] | a[3] | a[4] | a[5]) ||
	    (a[0] & KSVC_CORR_RESERVED_MASK) == KSVC_CORR_RESERVED_MASK)
		return R_INVALID;
	return R_CANCEL;
}

static int route_of(const struct ksvc_dispatcher *d,
		    const struct ksvc_entry *e, int *opcode)
{
	int c, nonblock = -1;	/* -1: not looked at */
	long fl0;

	if (e->flags & ~KSVC_ENTRY_LINKED)
		return cancel_route(e);
	if (d->t1) {
		int op = ksvc__t1_op(e, d->cur_pos);

		if (op >= 0 && ksvc__t1_has(d, op)) {
			nonblock = nonblock_fd(d, e, &fl0);
			if (!nonblock && !stream_fd(d, e) && !anon_close(e) &&
			    !sock_timeout(d, e, fl0)) {
				*opcode = op;
				return R_T1;
			}
		}
	}
	c = ksvc__classify(e);
	if (c == C_REFUSED)
		return R_REFUSED;
	if (d->flags & KSVC_DISPATCH_NO_INLINE)
		return R_T2;
	if (c == C_INLINE ||
	    (ksvc__sock_call(e->syscall_nr) && sock_cannot_sleep(d, e, nonblock)))
		return R_T2I;
	return nowait_ok(e) ? R_T2N : R_T2;
}

/*
 * The route table: route_of()'s answer per system call number, computed
 * once, so that the common entries are routed with one table load and
 * at most two argument tests instead of several switches and calls.
 *
 * A kind says how much of route_of() the number needs:
 *   RK_SLOW      route_of() itself (C_SELF classes, O_NONBLOCK checks,
 *                Tier 1 calls not listed below);
 *   RK_T2, RK_T2I, RK_REFUSED
 *                the answer, for numbers that Tier 1 cannot take on this
 *                dispatcher (no opcode, or not in the probe) and whose
 *                class does not depend on the arguments;
 *   RK_T1_PRW    pread64/pwrite64 with KSVC_DISPATCH_POSITIONAL_FDS:
 *                Tier 1 if the offset is >= 0 and the length is 1 to
 *                INT_MAX (ksvc__t1_op()), else route_of();
 *   RK_T1_RW     read/write, with IORING_FEAT_RW_CUR_POS and
 *                KSVC_DISPATCH_BLOCKING_FDS: Tier 1 if the length is
 *                1 to INT_MAX, else route_of();
 *   RK_T1_RECV, RK_T1_SEND
 *                recvfrom/sendto with KSVC_DISPATCH_BLOCKING_FDS: Tier 1
 *                (RECV, SEND) without an address and with a length
 *                <= INT_MAX, else route_of() (sendto to an address is
 *                SENDMSG there).
 * Only the Tier 1 kinds depend on d->t1, which can only go from 1 to 0
 * (ksvc__t1_exit()); route_fast() checks it for them.
 */
enum { RK_SLOW = 0, RK_T2, RK_T2I, RK_REFUSED, RK_T1_PRW, RK_T1_RW,
       RK_T1_RECV, RK_T1_SEND };

static int route_kind(const struct ksvc_dispatcher *d, __u32 nr, int *opcode)
{
	struct ksvc_entry e;
	int op = ksvc_dispatch_tier1_opcode(nr), fds[2], c;
	int nonblock;

	memset(&e, 0, sizeof(e));
	e.syscall_nr = nr;
	*opcode = 0;
	if (d->t1 && op >= 0 &&
	    (ksvc__t1_has(d, op) ||
	     (nr == SYS_sendto && ksvc__t1_has(d, IORING_OP_SENDMSG)))) {
		/* Tier 1 possible: only the listed calls, and only as is. */
		nonblock = !(d->flags & KSVC_DISPATCH_BLOCKING_FDS) &&
			   ksvc__nonblock_fds(&e, fds) > 0;
		if (nonblock || !ksvc__t1_has(d, op))
			return RK_SLOW;
		*opcode = op;
		switch (nr) {
		case SYS_pread64:
		case SYS_pwrite64:
			/* else stream_fd() looks at the descriptor */
			return d->flags & KSVC_DISPATCH_POSITIONAL_FDS ?
			       RK_T1_PRW : RK_SLOW;
		case SYS_read:
		case SYS_write:
			return d->cur_pos ? RK_T1_RW : RK_SLOW;
		case SYS_recvfrom:
			return RK_T1_RECV;
		case SYS_sendto:
			return RK_T1_SEND;
		}
		return RK_SLOW;
	}
	/* route_of() goes straight to ksvc__classify(). */
	c = ksvc__class_of(nr);
	/* pread64: nowait_ok(); socket calls: sock_cannot_sleep() */
	if ((c & C_SELF) ||
	    ((nr == SYS_pread64 || ksvc__sock_call(nr)) &&
	     !(d->flags & KSVC_DISPATCH_NO_INLINE)))
		return RK_SLOW;
	if (c == 0 || c == C_REFUSED)
		return RK_REFUSED;
	if (c == C_INLINE && !(d->flags & KSVC_DISPATCH_NO_INLINE))
		return RK_T2I;
	return RK_T2;
}

/* After ksvc__t1_init(): d->t1, d->ops and d->cur_pos are final. */
static void route_table_build(struct ksvc_dispatcher *d)
{
	__u32 nr;
	int kind, op;

	for (nr = 0; nr < KSVC_NR_TABLE; nr++) {
		kind = route_kind(d, nr, &op);
		d->rtab[nr] = (__u16)(kind << 8 | op);
	}
}

/*
 * route_of() through the table.  @e must not change under us (a private
 * copy, or the caller's own entry): each argument is tested once.
 */
static inline int route_fast(const struct ksvc_dispatcher *d,
			     const struct ksvc_entry *e, int *opcode)
{
	__u32 nr = e->syscall_nr;
	__u64 len, off, addr;
	__u16 t;

	if (e->flags & ~KSVC_ENTRY_LINKED)
		return cancel_route(e);
	if (nr >= KSVC_NR_TABLE)
		return route_of(d, e, opcode);
	t = d->rtab[nr];
	switch (t >> 8) {
	case RK_T2:
		return R_T2;
	case RK_T2I:
		return R_T2I;
	case RK_REFUSED:
		return R_REFUSED;
	case RK_T1_PRW:
		len = e->args[2];
		off = e->args[3];
		if (d->t1 && (__s64)off >= 0 && len - 1 < INT_MAX) {
			*opcode = t & 0xff;
			return R_T1;
		}
		break;
	case RK_T1_RW:
		len = e->args[2];
		if (d->t1 && len - 1 < INT_MAX) {	/* 1..INT_MAX */
			*opcode = t & 0xff;
			return R_T1;
		}
		break;
	case RK_T1_RECV:
	case RK_T1_SEND:
		len = e->args[2];
		addr = e->args[4];
		if (d->t1 && !addr && len <= INT_MAX &&
		    !(e->args[3] & ((t >> 8) == RK_T1_SEND ?
				    KSVC_SEND_T2_FLAGS : KSVC_RECV_T2_FLAGS))) {
			*opcode = t & 0xff;
			return R_T1;
		}
		break;
	}
	return route_of(d, e, opcode);
}

/*
 * take()'s path for most entries: read, write, pread64, pwrite64,
 * recvfrom or sendto, with no flags and not a ksvc_dispatch_call(), that
 * route_fast() would send to Tier 1 as they are, while no chain is open.
 * The slot is shared memory: each field is loaded once, and only corr_id
 * is kept (all a Tier 1 op reads once started).  @sqe is the ring's next
 * free SQE.  Returns 0 if the op is in it, -1 if take() must go the long
 * way (nothing was changed).
 */
static inline int take_t1_fast(struct ksvc_dispatcher *d, struct kop *op,
			       const struct ksvc_entry *s,
			       struct io_uring_sqe *sqe)
{
	__u64 corr = A_LOADR(&s->corr_id), buf, len, off = 0, fl = 0;
	__u32 nr = A_LOADR(&s->syscall_nr);
	int fd, kind;
	__u16 t;

	if (A_LOADR(&s->flags) || nr >= KSVC_NR_TABLE ||
	    (corr & KSVC_CORR_RESERVED_MASK) == KSVC_CORR_RESERVED_MASK)
		return -1;
	t = d->rtab[nr];
	kind = t >> 8;
	fd = (int)A_LOADR(&s->args[0]);
	buf = A_LOADR(&s->args[1]);
	len = A_LOADR(&s->args[2]);
	if (len > INT_MAX)
		return -1;
	switch (kind) {
	case RK_T1_PRW:
		off = A_LOADR(&s->args[3]);
		if ((__s64)off < 0 || !len)
			return -1;
		break;
	case RK_T1_RW:
		if (!len)
			return -1;
		off = -1ull;
		break;
	case RK_T1_RECV:
	case RK_T1_SEND:
		fl = A_LOADR(&s->args[3]);
		if (A_LOADR(&s->args[4]))
			return -1;	/* an address: SENDMSG, or EISCONN */
		if (fl & (kind == RK_T1_RECV ? KSVC_RECV_T2_FLAGS :
			  KSVC_SEND_T2_FLAGS))
			return -1;	/* Tier 2: see KSVC_RECV_T2_FLAGS */
		break;
	default:
		return -1;
	}
	d->ring.sq.sqe_tail++;		/* io_uring_get_sqe(), see take() */
	io_uring_prep_rw(t & 0xff, sqe, fd, (const void *)(uintptr_t)buf,
			 (unsigned int)len, off);
	if (kind == RK_T1_RECV || kind == RK_T1_SEND) {
		sqe->msg_flags = (__u32)fl;
		if (kind == RK_T1_RECV && ksvc__poll_first(d, (__u32)fl))
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	}
	io_uring_sqe_set_data(sqe, op);
	d->sqe_pending++;
	d->sqe_calls++;
	d->t1_inflight++;
	/* write and send: a short count is continued (ksvc__t1_more()) */
	op->more = (__u8)ksvc__t1_wants_more(nr, fl, off);
	if (op->more) {
		op->e.syscall_nr = nr;
		op->e.args[0] = (__u64)fd;
		op->e.args[1] = buf;
		op->e.args[2] = len;
		op->e.args[3] = fl;
		op->sent = 0;
		op->rest = NULL;
	}
	op->e.corr_id = corr;
	op->w = NULL;
	op->next = NULL;
	op->linked = 0;
	op->route = R_T1;
	op->opcode = (__u8)t;
	op->cancel = 0;
	op->live = 1;
	return 0;
}

/*
 * FOR TESTS (test/test_dispatch.c declares it): route_fast() and
 * route_of() on the same entry.  Returns 1 if they agree (the route, and
 * the opcode for Tier 1), 0 if not; the two routes in *fast and *slow.
 */
int ksvc__route_check(const struct ksvc_dispatcher *d,
		      const struct ksvc_entry *e, int *fast, int *slow);
int ksvc__route_check(const struct ksvc_dispatcher *d,
		      const struct ksvc_entry *e, int *fast, int *slow)
{
	int of = -1, os = -1;

	*fast = route_fast(d, e, &of);
	*slow = route_of(d, e, &os);
	return *fast == *slow && (*fast != R_T1 || of == os);
}

enum ksvc_route ksvc_dispatch_route(const struct ksvc_dispatcher *d,
				    const struct ksvc_entry *e)
{
	int opcode;

	if (!d || !e)
		return KSVC_ROUTE_INVALID;
	switch (route_fast(d, e, &opcode)) {
	case R_T1:	return KSVC_ROUTE_TIER1;
	case R_T2:	return KSVC_ROUTE_TIER2;
	case R_T2N:	return KSVC_ROUTE_TIER2;	/* may finish inline */
	case R_T2I:	return KSVC_ROUTE_TIER2_INLINE;
	case R_REFUSED:	return KSVC_ROUTE_REFUSED;
	case R_CANCEL:	return KSVC_ROUTE_CANCEL;
	}
	return KSVC_ROUTE_INVALID;
}

/*
 * Hand the pass's pool calls to the workers, but for those a cancel
 * entry of the same pass named (do_cancel() found them here, in no
 * queue yet): they complete -ECANCELED now, as they would have in the
 * queue, not after a worker comes free.
 */
static void t2_flush(struct ksvc_dispatcher *d, struct kop **batch,
		     unsigned int *n)
{
	unsigned int i, keep = 0;

	for (i = 0; i < *n; i++) {
		if (batch[i]->cancel)
			ksvc__pool_drop(d, batch[i]);
		else
			batch[keep++] = batch[i];
	}
	if (keep)
		ksvc__pool_push(d, batch, keep);
	*n = 0;
}

/* Pool calls of one pass, handed to the workers together. */
struct pass_ctx {
	struct kop **t2;
	unsigned int nt2;
	int t2_used;		/* this pass started Tier 2 work */
	int t2_counted;		/* and counted it as a batch */
};

/*
 * Count the pass as a Tier 2 batch before any of its Tier 2 work can be
 * seen as done (a worker posts as soon as it has the op; flush_posts()
 * publishes the inline calls), so that an application that has reaped
 * every completion never reads a batch count that lags behind them.
 */
static void t2_count(struct ksvc_dispatcher *d, struct pass_ctx *pc)
{
	if (pc->t2_used && !pc->t2_counted) {
		CTR_INC(&d->c2.batches);
		pc->t2_counted = 1;
	}
}

/* A Tier 2 call that runs (or ran) on the driver. */
static void count_inline(struct ksvc_dispatcher *d, struct pass_ctx *pc,
			 __u32 *cflags)
{
	CTR_INC(&d->c2.submitted);
	CTR_INC(&d->c_inline);
	if (pc) {
		pc->t2_used = 1;
		t2_count(d, pc);	/* before a sync caller has the result */
	}
	*cflags = KSVC_COMP_TIER2;
}

/* Ask @op, in flight, to stop (KSVC_ENTRY_CANCEL). */
static void cancel_op(struct ksvc_dispatcher *d, struct kop *op)
{
	__atomic_store_n(&op->cancel, 1, __ATOMIC_SEQ_CST);
	if (!op->live)
		return;		/* a chain successor: launch() sees it */
	if (op->route == R_T1)
		ksvc__t1_cancel_op(d, op);
	else if (op->route == R_T2 || op->route == R_T2N)
		ksvc__pool_cancel_op(d, op);
}

/* A pool call whose worker has posted its result (thread mode). */
static int posted(const struct kop *op)
{
	return (op->route == R_T2 || op->route == R_T2N) &&
	       __atomic_load_n(&op->done_post, __ATOMIC_RELAXED);
}

/*
 * Run the cancel entry @self: find the entries in flight (taken before
 * it, since the driver takes in ring order, and not finished) with the
 * corr_id it names, and cancel each.  An op is in flight while it is
 * live, or waits in a chain behind a live one.  Returns how many were
 * found, or -ENOENT.
 */
static __s64 do_cancel(struct ksvc_dispatcher *d, struct kop *self)
{
	__u64 target = self->e.args[0];
	unsigned int i;
	__s64 n = 0;

	for (i = 0; i < d->nops; i++) {
		struct kop *op = &d->opmem[i];

		if (!op->live || op == self)
			continue;
		for (;;) {
			if (op->e.corr_id == target && !op->w &&
			    !posted(op)) {
				if (!op->cancel)	/* asked once is enough */
					cancel_op(d, op);
				n++;
			}
			if (!op->linked || !op->next)
				break;
			op = op->next;
		}
	}
	return n ? n : -ENOENT;
}

/*
 * Start one op.  Returns 1 if it completed at once (*res, *cflags set),
 * 0 if a tier runs it and will finish it later.
 */
static int launch(struct ksvc_dispatcher *d, struct pass_ctx *pc,
		  struct kop *op, __s64 *res, __u32 *cflags)
{
	/* A stop, or a chain successor that a cancel named: never runs. */
	if (d->chain_state == CH_STOPPED || op->cancel) {
		*res = -ECANCELED;
		*cflags = 0;
		return 1;
	}
	switch (op->route) {
	case R_CANCEL:
		*res = do_cancel(d, op);
		*cflags = 0;
		return 1;
	case R_INVALID:
		CTR_INC(&d->c_invalid);
		*res = -EINVAL;
		*cflags = 0;
		return 1;
	case R_REFUSED:
		CTR_INC(&d->c_refused);
		*res = KSVC_REFUSED_RESULT;
		*cflags = KSVC_COMP_REFUSED;
		return 1;
	case R_T2I:
		count_inline(d, pc, cflags);
		*res = ksvc__run_syscall(&op->e);
		return 1;
	case R_T1:
		CTR_INC(&d->c1.submitted);
		op->live = 1;
		if (ksvc__t1_queue(d, op, op->opcode) < 0) {
			/* cannot happen (see tier1.c) */
			op->live = 0;
			*res = -ENOSYS;
			*cflags = KSVC_COMP_TIER1;
			return 1;
		}
		return 0;
	case R_T2N:
		if (try_nowait(&op->e, res)) {
			count_inline(d, pc, cflags);
			return 1;
		}
		__attribute__((__fallthrough__));	/* to the pool */
	default:
		CTR_INC(&d->c2.submitted);
		op->live = 1;
		if (!pc) {			/* outside a pass: at once */
			ksvc__pool_push(d, &op, 1);
			return 0;
		}
		pc->t2[pc->nt2++] = op;
		pc->t2_used = 1;
		return 0;
	}
}

static void complete(struct ksvc_dispatcher *d, struct kop *op, __s64 res,
		     __u32 cflags)
{
	count_done(d, res, cflags, 0);
	if (op->w)
		deliver_sync(d, op->w, res, cflags);
	else
		post(d, op->e.corr_id, res, cflags);
}

static struct pass_ctx *cur_pc(void);

/*
 * An op is done: post its completion and follow its chain.  Successors
 * run only after a result >= 0 of a link no cancel entry named (one that
 * was cancelled after it moved data returns that count: the chain still
 * stops there); otherwise they complete -ECANCELED.
 */
static void __attribute__((noinline))
finish_chain(struct ksvc_dispatcher *d, struct kop *op, __s64 res,
	     __u32 cflags)
{
	for (;;) {
		struct kop *succ = op->linked ? op->next : NULL;
		int go_on = res >= 0 &&
			    !__atomic_load_n(&op->cancel, __ATOMIC_RELAXED);

		op->live = 0;
		complete(d, op, res, cflags);
		if (op->linked && !succ) {
			/* The last entry taken: tell the next one to come. */
			if (d->chain_state != CH_STOPPED) {
				d->chain_state = go_on ? CH_OK : CH_FAIL;
				d->chain_tail = NULL;
			}
		}
		op_free(d, op);
		if (!succ)
			return;
		op = succ;
		if (go_on) {
			if (!launch(d, cur_pc(), op, &res, &cflags))
				return;
		} else {
			res = -ECANCELED;
			cflags = 0;
			CTR_INC(&d->c_chain_cancelled);
		}
	}
}

void ksvc__finish(struct ksvc_dispatcher *d, struct kop *op, __s64 res,
		  __u32 cflags)
{
	/* Most ops are not in a chain: no loop, no successor to launch. */
	if (__builtin_expect(!op->linked, 1)) {
		op->live = 0;
		complete(d, op, res, cflags);
		op_free(d, op);
		return;
	}
	finish_chain(d, op, res, cflags);
}

/* Worker side: a pool call finished (op->res, op->cflags set). */
void ksvc__worker_done(struct ksvc_dispatcher *d, struct kop *op)
{
	__u32 start;

	if (d->driven || op->linked) {
		__atomic_store_n(&op->done_post, 0, __ATOMIC_RELAXED);
		done_push(d, op);
		ksvc__doorbell(d, 0);
		return;
	}
	count_done(d, op->res, op->cflags, 1);
	/*
	 * Before the result is out: once the application has seen it, a
	 * cancel naming the call must not find it in flight (do_cancel()),
	 * although the driver takes the op back only later.
	 */
	__atomic_store_n(&op->done_post, 1, __ATOMIC_RELAXED);
	if (op->w) {
		deliver_sync(d, op->w, op->res, op->cflags);
	} else {
		/* Room is guaranteed (see the top of this file). */
		while (mprod_reserve(&d->cqp, 1, &start) < 0)
			sched_yield();
		put_comp(ksvc_ring_slot(d->cq, start), op->e.corr_id,
			 op->res, op->cflags);
		A_ADDR(&d->c_posted, 1);	/* before it is out */
		mprod_commit(&d->cqp, start, 1);
	}
	ksvc__test_gap(d, 7);
	/* The op may be reused as soon as it is pushed: nothing after. */
	if (op->w) {
		done_push(d, op);
	} else {
		done_push(d, op);
		A_ADD(&d->owed, -1);
		notify_app(d, 0);
	}
	/* After the push (sequentially consistent, like the driver's
	 * store of cq_stalled and its look at done_stack in dsleep). */
	if (__atomic_load_n(&d->cq_stalled, __ATOMIC_SEQ_CST) == 2)
		ksvc__doorbell(d, 0);	/* the driver waits for an op */
}

/* Take back what the workers handed over. */
static int drain_done(struct ksvc_dispatcher *d)
{
	struct kop *list, *rev = NULL;
	int n = 0;

	if (!__atomic_load_n(&d->done_stack, __ATOMIC_RELAXED))
		return 0;
	list = __atomic_exchange_n(&d->done_stack, NULL, __ATOMIC_ACQUIRE);
	while (list) {			/* oldest first */
		struct kop *next = list->link;

		list->link = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct kop *op = rev;

		rev = op->link;
		n++;
		if (__atomic_load_n(&op->done_post, __ATOMIC_RELAXED))
			op_free(d, op);
		else
			ksvc__finish(d, op, op->res, op->cflags);
	}
	return n;
}

/* ksvc_dispatch_call() waiter named by a reserved corr_id, or NULL. */
static struct kwaiter *sync_target(struct ksvc_dispatcher *d,
				   const struct ksvc_entry *e)
{
	__u32 idx, gen;
	struct kwaiter *w;

	if ((e->corr_id & KSVC_CORR_RESERVED_MASK) != KSVC_CORR_RESERVED_MASK)
		return NULL;
	idx = (__u32)(e->corr_id & 0xffff);
	gen = (__u32)(e->corr_id >> 16);
	if (idx >= d->nsync)
		return NULL;
	w = &d->waiters[idx];
	if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != W_WAIT ||
	    w->gen != gen)
		return NULL;
	return w;
}

/*
 * Completion slots free for new entries, at least @need of them if that
 * many are free.  Order of the reads: owed before resv (a poster
 * reserves, then decrements owed: never counted twice as free), head
 * before resv (used cannot go negative).  The count is made from the
 * head the posters saw last (cqp.head_seen, see mprod_reserve()), which
 * can only make it short, and again from the ring's head when it comes
 * out below @need.
 */
static __s32 cq_credits(struct ksvc_dispatcher *d, __s32 need)
{
	int fresh;

	for (fresh = 0;; fresh = 1) {
		__s32 owed = __atomic_load_n(&d->owed, __ATOMIC_SEQ_CST);
		__u32 head = mprod_head(&d->cqp, fresh);
		__u32 resv = (__u32)__atomic_load_n(&d->cqp.resv,
						    __ATOMIC_SEQ_CST);
		__u32 used = resv - head;
		__s32 credits = used > d->cq->entries ? 0 :
				(__s32)(d->cq->entries - used) - owed;

		if (credits >= need || fresh)
			return credits;
	}
}

/* Take entries from the submit ring and start them. */
static int take(struct ksvc_dispatcher *d, struct pass_ctx *pc)
{
	const struct ksvc_entry *slots = ksvc__sq_slots(d->sq);
	__u32 head = A_LOADR(&d->sq->hdr->head), mask = d->sq->mask;
	__u32 ready = ksvc__ring_ready_at(d->sq, head), i, taken, nfast;
	__s32 credits, owe;
	int stall = 0;

	if (!ready) {
		if (A_LOADR(&d->cq_stalled))
			__atomic_store_n(&d->cq_stalled, 0, __ATOMIC_RELAXED);
		return 0;
	}
	credits = cq_credits(d, (__s32)ready);
	/*
	 * The common case first: a run of plain Tier 1 entries while no
	 * chain is open (take_t1_fast()).  The loop below takes the rest.
	 * chain_state stays as it is: CH_OK (a chain ended well, its tail
	 * NULL) acts as CH_NONE for the next entry taken.
	 */
	i = 0;
	if (d->t1 && (d->chain_state == CH_NONE || d->chain_state == CH_OK)) {
		/*
		 * io_uring_get_sqe() without its tests on every call: the
		 * free SQEs counted once (the ring is never SQE128, nor
		 * SQPOLL), take_t1_fast() moving sqe_tail as get_sqe does.
		 */
		struct io_uring_sq *sq = &d->ring.sq;
		__u32 room = io_uring_sq_space_left(&d->ring);
		struct kop *op;

		while (i < ready && credits > 0 && room &&
		       (op = d->free_ops) &&
		       take_t1_fast(d, op, &slots[(head + i) & mask],
				    &sq->sqes[sq->sqe_tail & sq->ring_mask]) ==
		       0) {
			d->free_ops = op->link;		/* op_alloc() */
			credits--;
			room--;
			i++;
		}
	}
	nfast = i;
	owe = (__s32)i;
	taken = i;
	for (; i < ready; i++) {
		struct kwaiter *w;
		struct kop *op;
		int prev, opcode = 0, linked;
		struct kop *prev_tail;
		__s64 res;
		__u32 cf;

		op = op_alloc(d);
		if (!op) {
			stall = 2;
			break;
		}
		/* A private copy first: the ring is shared memory. */
		memcpy(&op->e, &slots[(head + i) & mask], sizeof(op->e));
		w = (op->e.corr_id & KSVC_CORR_RESERVED_MASK) ==
		    KSVC_CORR_RESERVED_MASK ? sync_target(d, &op->e) : NULL;
		if (!w && credits <= 0) {
			op_free(d, op);
			stall = 1;
			break;
		}
		linked = (op->e.flags & KSVC_ENTRY_LINKED) != 0;
		op->w = w;
		op->cancel = 0;		/* ops are freed on more than one path */
		/* a chain successor waits unlaunched: not posted (posted()) */
		__atomic_store_n(&op->done_post, 0, __ATOMIC_RELAXED);
		op->next = NULL;
		op->linked = (__u8)linked;
		op->route = (__u8)route_fast(d, &op->e, &opcode);
		op->opcode = (__u8)opcode;
		if (!w) {
			credits--;
			owe++;
		}
		taken++;
		/*
		 * Counted before it can complete: a ksvc_dispatch_call()
		 * answered at once (inline, refused) sees its result before
		 * this pass ends.
		 */
		CTR_INC(&d->c_taken);

		prev = d->chain_state;
		prev_tail = d->chain_tail;
		d->chain_state = linked ? CH_PENDING : CH_NONE;
		d->chain_tail = linked ? op : NULL;
		if (prev == CH_PENDING) {
			prev_tail->next = op;	/* runs when prev_tail is done */
		} else if (prev == CH_FAIL) {
			CTR_INC(&d->c_chain_cancelled);
			ksvc__finish(d, op, -ECANCELED, 0);
		} else if (launch(d, pc, op, &res, &cf)) {
			ksvc__finish(d, op, res, cf);
		}
	}
	/*
	 * Only the driver reads owed to count credits, and only here: adding
	 * once, after the ops already started, still keeps the count right
	 * at every read (posting subtracts, possibly first).
	 */
	if (nfast) {
		CTR_ADD(&d->c1.submitted, nfast);
		CTR_ADD(&d->c_taken, nfast);
	}
	if (owe)
		A_ADD(&d->owed, owe);
	if (taken) {
		A_STORE(&d->sq->hdr->head, head + taken);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&d->space_waiters, __ATOMIC_RELAXED))
			futex_wake(&d->sq->hdr->head, INT_MAX);
	}
	if (stall == 1 && A_LOADR(&d->cq_stalled) != 1)
		CTR_INC(&d->c_stalls);
	/* Only a change: reapers read this line after every batch. */
	if (A_LOADR(&d->cq_stalled) != (__u32)stall)
		__atomic_store_n(&d->cq_stalled, (__u32)stall,
				 __ATOMIC_SEQ_CST);
	return (int)taken;
}

/* ---------------------------------------------------------------- */
/* The driver loop                                                   */
/* ---------------------------------------------------------------- */

/* The pass in progress on this thread (finish() may launch successors). */
static __thread struct pass_ctx *tls_pc;

static struct pass_ctx *cur_pc(void)
{
	return tls_pc;
}

/* One pass: everything that can be done without waiting. */
static int pass(struct ksvc_dispatcher *d)
{
	struct pass_ctx pc = { d->pq_batch, 0, 0, 0 };
	int work;

	tls_pc = &pc;
	work = drain_done(d);
	if (d->chain_state != CH_STOPPED && !A_LOADR(&d->stop_req))
		work += take(d, &pc);
	t2_count(d, &pc);
	t2_flush(d, pc.t2, &pc.nt2);
	if (d->t1) {
		if (d->sqe_pending ||
		    (d->t1_inflight && ksvc__t1_need_enter(d)))
			ksvc__t1_submit(d, 0, NULL);
		if (d->t1_inflight && io_uring_cq_ready(&d->ring))
			work += ksvc__t1_reap(d);
		t2_count(d, &pc);	/* successors of Tier 1 ops */
		t2_flush(d, pc.t2, &pc.nt2);
		if (d->sqe_pending)
			ksvc__t1_submit(d, 0, NULL);
	}
	flush_posts(d);
	tls_pc = NULL;
	return work;
}

static int no_waitv;	/* atomic: futex_waitv(2) is ENOSYS here */

/*
 * Sleep while *@a == @va and (if @b) *@b == @vb, at most until @deadline
 * (0: none), with futex_waitv().  Older than 5.16: on @a alone, for a
 * millisecond at a time (the caller looks again).  0 or -EINTR.
 */
static int futex_wait2(__u32 *a, __u32 va, __u32 *b, __u32 vb,
		       __u64 deadline)
{
	struct futex_waitv fw[2];
	struct timespec ts;
	__u64 l2;
	int e;

	if (!A_LOADR(&no_waitv)) {
		memset(fw, 0, sizeof(fw));
		fw[0].uaddr = (uintptr_t)a;
		fw[0].val = va;
		fw[0].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
		fw[1].uaddr = (uintptr_t)b;
		fw[1].val = vb;
		fw[1].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
		if (deadline)
			ts = abs_mono(deadline);
		e = syscall(SYS_futex_waitv, fw, b ? 2 : 1, 0,
			    deadline ? &ts : NULL, CLOCK_MONOTONIC) < 0 ?
		    errno : 0;
		if (e != ENOSYS)
			return e == EINTR ? -EINTR : 0;
		__atomic_store_n(&no_waitv, 1, __ATOMIC_RELAXED);
	}
	l2 = ksvc__now_ns() + 1000000ull;
	return futex_wait_until(a, va, deadline && deadline < l2 ? deadline :
				l2) == -EINTR ? -EINTR : 0;
}

/*
 * The driver's bounded spin before dsleep(): @idle is when it last found
 * no work (0: it just did, at @now).  Spins one step and returns 1 while
 * that is less than spin_ns ago; returns 0 when it is time to sleep.
 */
static int idle_spin(struct ksvc_dispatcher *d, struct kspin *ks,
		     __u64 *idle, __u64 now)
{
	if (!*idle)
		*idle = now;
	if (now - *idle >= d->spin_ns)
		return 0;
	ksvc__spin(d->on_cpu, ks, now - *idle);
	return 1;
}

/*
 * Sleep until something happens: an entry, a completion, the doorbell,
 * or @deadline (0: none).
 */
static int dsleep_wait(struct ksvc_dispatcher *d, __u64 deadline)
{
	int ret = 0;

	__u32 dbv = __atomic_load_n(&d->db, __ATOMIC_SEQ_CST);
	__u32 tail;
	int take_ok, stalled;
	__u64 now, limit = deadline;

	/* A new sleep: producers may wake it once (see submit_raw()). */
	__atomic_add_fetch(&d->dsleep_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&d->sq->hdr->flags, KSVC_RING_NEED_WAKEUP,
			  __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	stalled = A_LOADR(&d->cq_stalled) != 0;
	if (stalled && A_LOADR(&d->cq_stalled) == 1 && cq_credits(d, 1) > 0)
		stalled = 0;		/* the application made room */
	take_ok = !stalled;
	tail = __atomic_load_n(&d->sq->hdr->tail, __ATOMIC_SEQ_CST);
	if ((take_ok && ksvc_ring_ready(d->sq)) ||
	    __atomic_load_n(&d->done_stack, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&d->stop_req, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&d->db, __ATOMIC_SEQ_CST) != dbv ||
	    (d->t1 && (io_uring_cq_ready(&d->ring) ||
		       ksvc__t1_need_enter(d))))
		goto out;

	CTR_INC(&d->c_sleeps);
	now = ksvc__now_ns();
	if (stalled) {
		/*
		 * Reapers ring the doorbell; a program that reads the ring
		 * itself does not: look again after 1, 2, 4 .. 64 ms.
		 */
		__u64 poll = 1000000ull << d->stall_backoff;

		if (d->stall_backoff < 6)
			d->stall_backoff++;
		if (!limit || limit > now + poll)
			limit = now + poll;
	} else {
		d->stall_backoff = 0;
	}
	if (d->t1 && d->have_futex_op) {
		struct __kernel_timespec ts;

		if (!d->armed_tail && take_ok) {
			ksvc__t1_arm(d, &d->sq->hdr->tail, tail, UD_TAIL);
			d->armed_tail = 1;
		}
		if (!d->armed_db) {
			ksvc__t1_arm(d, &d->db, dbv, UD_DB);
			d->armed_db = 1;
		}
		if (limit) {
			__u64 left = limit > now ? limit - now : 0;

			ts.tv_sec = (long long)(left / 1000000000ull);
			ts.tv_nsec = (long long)(left % 1000000000ull);
			ret = ksvc__t1_submit(d, 1, &ts);
		} else {
			ret = ksvc__t1_submit(d, 1, NULL);
		}
	} else if (d->t1 && d->t1_inflight) {
		struct __kernel_timespec ts = { 0, 1000000 };

		if (limit && limit < now + 1000000ull)
			ts.tv_nsec = (long long)(limit > now ? limit - now : 0);
		ret = ksvc__t1_submit(d, 1, &ts);
	} else {
		ret = futex_wait2(&d->db, dbv,
				  take_ok ? &d->sq->hdr->tail : NULL, tail,
				  limit);
	}
out:
	__atomic_fetch_and(&d->sq->hdr->flags, ~KSVC_RING_NEED_WAKEUP,
			   __ATOMIC_SEQ_CST);
	return ret == -EINTR ? -EINTR : 0;
}

/* The driver's sleep; it does not count as busy on its CPU meanwhile. */
static int dsleep(struct ksvc_dispatcher *d, struct kspin *ks, __u64 deadline)
{
	int ret;

	ksvc__idle(d->on_cpu, ks);
	ret = dsleep_wait(d, deadline);
	ksvc__busy(d->on_cpu, ks);
	return ret;
}

static void t1_abandon(struct ksvc_dispatcher *d)
{
	unsigned int i;

	for (i = 0; i < d->nops; i++) {
		struct kop *op = &d->opmem[i];

		if (op->route == R_T1 && op->live)
			ksvc__finish(d, op, op->more ?
				     ksvc__t1_more(d, op, -ECANCELED) :
				     -ECANCELED, KSVC_COMP_TIER1);
	}
	d->t1_inflight = 0;
	d->armed_tail = d->armed_db = 0;
	d->cancel_inflight = 0;
}

/* Everything in flight completes or is cancelled (see ksvc_dispatch.h). */
static void do_stop(struct ksvc_dispatcher *d)
{
	struct pass_ctx pc = { d->pq_batch, 0, 0, 0 };
	__u32 ready, i, answered = 0;
	int left = 0;

	if (__atomic_load_n(&d->stopped, __ATOMIC_ACQUIRE))
		return;
	tls_pc = &pc;
	/* No more submissions; wait for the ones being written. */
	mprod_close(&d->sqp);
	futex_wake(&d->sq->hdr->head, INT_MAX);
	/* From now on nothing is launched: chains complete -ECANCELED. */
	d->chain_state = CH_STOPPED;

	if (d->t1) {
		__u64 last = 0;

		while (d->t1_inflight) {
			struct __kernel_timespec ts = { 0, 20000000 };
			__u64 now = ksvc__now_ns();

			if (now - last > 100000000ull && !d->cancel_inflight) {
				ksvc__t1_cancel_all(d);
				last = now;
			}
			if (ksvc__t1_submit(d, 1, &ts) == -EEXIST) {
				/*
				 * Not the thread io_uring belongs to (ONE_DRIVER
				 * broken): nothing can be reaped here.  Answer
				 * for the requests; closing the ring cancels
				 * them in the kernel.
				 */
				t1_abandon(d);
				break;
			}
			ksvc__t1_reap(d);
			drain_done(d);
		}
	}
	ksvc__pool_cancel(d);
	drain_done(d);
	flush_posts(d);

	/*
	 * Entries nobody took: -ECANCELED, in ring order as far as there is
	 * room.  From the first one that finds none, the rest stays in the
	 * ring, never to be taken; but the blocking calls among them need no
	 * completion slot, and their threads wait for an answer: every one
	 * gets it.
	 */
	ready = ksvc_ring_ready(d->sq);
	for (i = 0; i < ready; i++) {
		struct ksvc_entry e;
		struct kwaiter *w;

		memcpy(&e, ksvc_ring_cons_slot(d->sq, i), sizeof(e));
		w = sync_target(d, &e);
		if (!w && (left || cq_credits(d, 1) <= 0)) {
			left++;
			continue;
		}
		if (!left) {
			answered++;
			CTR_INC(&d->c_taken);	/* before the answer */
		}
		if (w) {
			deliver_sync(d, w, -ECANCELED, 0);
		} else {
			post(d, e.corr_id, -ECANCELED, 0);
			A_ADD(&d->owed, 1);	/* flush_posts takes it back */
		}
	}
	if (answered)
		ksvc_ring_consume(d->sq, answered);
	flush_posts(d);
	d->stop_left = left;
	tls_pc = NULL;

	__atomic_store_n(&d->stopped, 1, __ATOMIC_SEQ_CST);
	futex_wake(&d->stopped, INT_MAX);
	futex_wake(&d->sq->hdr->head, INT_MAX);
	notify_app(d, 1);
	A_ADD(&d->drv_gen, 1);
	futex_wake(&d->drv_gen, INT_MAX);
}

static void *dispatcher_main(void *arg)
{
	struct ksvc_dispatcher *d = arg;
	struct kspin ks = KSPIN_INIT;
	__u64 idle = 0;

	d->init_err = ksvc__t1_init(d);
	route_table_build(d);
	__atomic_store_n(&d->init_done, 1, __ATOMIC_SEQ_CST);
	futex_wake(&d->init_done, INT_MAX);
	if (d->init_err)
		return NULL;

	for (;;) {
		int work = pass(d);

		if (__atomic_load_n(&d->stop_req, __ATOMIC_ACQUIRE)) {
			do_stop(d);
			break;
		}
		if (work) {
			idle = 0;
			continue;
		}
		if (d->spin_ns && !A_LOADR(&d->cq_stalled) &&
		    idle_spin(d, &ks, &idle, ksvc__now_ns()))
			continue;
		dsleep(d, &ks, 0);
		idle = 0;
	}
	ksvc__idle(d->on_cpu, &ks);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Create / stop / destroy                                           */
/* ---------------------------------------------------------------- */

/*
 * @child: in a forked child the locks and the condition variable are
 * copies of ones the parent's threads were using (pthread_cond_destroy
 * would wait for those waiters for ever): only memory is freed there.
 */
static void free_all(struct ksvc_dispatcher *d, int child)
{
	if (!child) {
		pthread_mutex_destroy(&d->efd_lock);
		pthread_mutex_destroy(&d->cq_sleep_lock);
		pthread_mutex_destroy(&d->drive_lock);
		pthread_mutex_destroy(&d->pool_lock);
		pthread_mutex_destroy(&d->sync_lock);
		pthread_cond_destroy(&d->pool_cv);
	}
	mprod_free(&d->sqp);
	mprod_free(&d->cqp);
	free(d->opmem);
	free(d->pend);
	free(d->pq);
	free(d->pq_batch);
	free(d->workers);
	free(d->waiters);
	free(d->sync_free);
	free(d);
}

static int check_params(const struct ksvc_dispatch_params *p)
{
	unsigned int i;

	if (!p)
		return 0;
	if (p->flags & ~KSVC_DISPATCH_FLAGS_ALL)
		return -EINVAL;
	if ((p->flags & KSVC_DISPATCH_ONE_DRIVER) &&
	    !(p->flags & KSVC_DISPATCH_CALLER_DRIVES))
		return -EINVAL;
	if (p->workers > MAX_WORKERS)
		return -EINVAL;
	if (p->spin_us != KSVC_SPIN_NONE && p->spin_us > MAX_SPIN_US)
		return -EINVAL;
	if (p->uring_entries && (p->uring_entries < 8 ||
				 p->uring_entries > 4096 ||
				 (p->uring_entries & (p->uring_entries - 1))))
		return -EINVAL;
	if (p->cancel_signal < 0 || p->cancel_signal >= _NSIG ||
	    p->cancel_signal == SIGKILL || p->cancel_signal == SIGSTOP)
		return -EINVAL;
	/*
	 * A fault's signal: with the library's empty handler in place, a
	 * real fault would return to the faulting instruction for ever
	 * instead of killing the process.
	 */
	switch (p->cancel_signal) {
	case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE: case SIGTRAP:
	case SIGSYS:
		return -EINVAL;
	}
	for (i = 0; i < sizeof(p->reserved) / sizeof(p->reserved[0]); i++)
		if (p->reserved[i])
			return -EINVAL;
	return 0;
}

static int dispatch_create(struct ksvc_dispatcher **out, struct ksvc *k,
			   const struct ksvc_dispatch_params *params)
{
	struct ksvc_dispatch_params def;
	struct ksvc_dispatcher *d;
	struct dwrap *wrap;
	unsigned int i;
	int err;

	if (!out || !k)
		return -EINVAL;
	pthread_once(&atfork_once, dispatch_atfork_init);
	err = check_params(params);
	if (err)
		return err;
	if (!ksvc__owned_here(k))
		return -EACCES;
	memset(&def, 0, sizeof(def));
	if (params)
		def = *params;
	if (!k->sq.hdr || !k->cq.hdr)
		return -EINVAL;

	err = reg_add(k);
	if (err)
		return err;
	/* Aligned: the dispatcher keeps some fields on lines of their own. */
	wrap = aligned_alloc(64, (sizeof(*wrap) + 63) & ~(size_t)63);
	if (!wrap) {
		reg_del(k);
		return -ENOMEM;
	}
	memset(wrap, 0, sizeof(*wrap));
	d = &wrap->d;
	wrap->epoch = ksvc__epoch();
	d->k = k;
	d->sq = &k->sq;
	d->cq = &k->cq;
	d->flags = def.flags;
	d->driven = (def.flags & KSVC_DISPATCH_CALLER_DRIVES) != 0;
	d->creator = pthread_self();
	d->nworkers = def.workers ? def.workers : DEF_WORKERS;
	d->spin_ns = def.spin_us == KSVC_SPIN_NONE ? 0 :
		     (__u64)(def.spin_us ? def.spin_us : DEF_SPIN_US) * 1000;
	d->uring_entries = def.uring_entries ? def.uring_entries : DEF_URING;
	d->stop_timeout_ms = def.stop_timeout_ms ? def.stop_timeout_ms
						 : DEF_STOP_MS;
	d->cancel_signal = def.cancel_signal ? def.cancel_signal
					     : SIGRTMIN + 6;
	memcpy(d->mask_ops, def.test_mask_ops, sizeof(d->mask_ops));
	pthread_mutex_init(&d->efd_lock, NULL);
	pthread_mutex_init(&d->cq_sleep_lock, NULL);
	pthread_mutex_init(&d->drive_lock, NULL);
	pthread_mutex_init(&d->pool_lock, NULL);
	pthread_mutex_init(&d->sync_lock, NULL);
	pthread_cond_init(&d->pool_cv, NULL);

	d->nsync = d->sq->entries;
	d->nops = d->cq->entries + d->nsync;
	d->pend_cap = d->cq->entries;
	d->opmem = aligned_alloc(64, (size_t)d->nops * sizeof(struct kop));
	d->pend = calloc(d->pend_cap, sizeof(*d->pend));
	d->pq_batch = calloc(d->nops, sizeof(*d->pq_batch));
	d->waiters = calloc(d->nsync, sizeof(*d->waiters));
	d->sync_free = calloc(d->nsync, sizeof(*d->sync_free));
	err = -ENOMEM;
	if (!d->opmem || !d->pend || !d->pq_batch || !d->waiters ||
	    !d->sync_free)
		goto fail;
	memset(d->opmem, 0, (size_t)d->nops * sizeof(struct kop));
	for (i = d->nops; i-- > 0;)
		op_free(d, &d->opmem[i]);
	for (i = 0; i < d->nsync; i++)
		d->sync_free[i] = d->nsync - 1 - i;
	d->nsync_free = d->nsync;
	err = mprod_init(&d->sqp, d->sq);
	if (!err)
		err = mprod_init(&d->cqp, d->cq);
	if (err)
		goto fail;

	err = ksvc__signal_get(d->cancel_signal);
	if (err)
		goto fail;
	err = ksvc__pool_start(d);
	if (err)
		goto fail_pool;

	if (d->driven) {
		err = ksvc__t1_init(d);
		if (err)
			goto fail_pool;
		route_table_build(d);
	} else {
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = -pthread_create(&d->thread, NULL, dispatcher_main, d);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err)
			goto fail_pool;
		d->has_thread = 1;
		while (!__atomic_load_n(&d->init_done, __ATOMIC_SEQ_CST))
			futex_wait_until(&d->init_done, 0, 0);
		err = d->init_err;
		if (err) {
			pthread_join(d->thread, NULL);
			d->has_thread = 0;
			goto fail_pool;
		}
	}
	*out = d;
	return 0;

fail_pool:
	ksvc__pool_join(d);
	ksvc__signal_put(d->cancel_signal);
fail:
	reg_del(k);
	free_all(d, 0);
	return err;
}

int ksvc_dispatch_create(struct ksvc_dispatcher **out, struct ksvc *k,
			 const struct ksvc_dispatch_params *params)
{
	int saved = errno, r = dispatch_create(out, k, params);

	errno = saved;
	return r;
}

static int driver_ok(const struct ksvc_dispatcher *d)
{
	if ((d->flags & KSVC_DISPATCH_ONE_DRIVER) &&
	    !pthread_equal(pthread_self(), d->creator))
		return -EPERM;
	return 0;
}

static void release_drive(struct ksvc_dispatcher *d)
{
	pthread_mutex_unlock(&d->drive_lock);
	A_ADD(&d->drv_gen, 1);
	if (__atomic_load_n(&d->drv_gen_waiters, __ATOMIC_SEQ_CST))
		futex_wake(&d->drv_gen, INT_MAX);
}

static int dispatch_stop(struct ksvc_dispatcher *d)
{
	int err;

	if (!d)
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	err = driver_ok(d);
	if (err)
		return err;
	__atomic_store_n(&d->stop_req, 1, __ATOMIC_SEQ_CST);
	ksvc__doorbell(d, 1);
	if (d->driven) {
		pthread_mutex_lock(&d->drive_lock);
		do_stop(d);
		release_drive(d);
	} else {
		while (!__atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST))
			futex_wait_until(&d->stopped, 0, 0);
	}
	return d->stop_left;
}

int ksvc_dispatch_stop(struct ksvc_dispatcher *d)
{
	int saved = errno, r = dispatch_stop(d);

	errno = saved;
	return r;
}

static void dispatch_destroy(struct ksvc_dispatcher *d)
{
	if (!d)
		return;
	if (foreign(d)) {
		/*
		 * A forked child: no threads, no rings here.  Free this
		 * process's copy of the memory, close its copy of the
		 * io_uring descriptor, and give back its hold on the cancel
		 * signal (the parent's handler, inherited).
		 */
		ksvc__t1_exit(d);
		ksvc__signal_put(d->cancel_signal);
		reg_del(d->k);
		free_all(d, 1);
		return;
	}
	if (!__atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&d->stop_req, 1, __ATOMIC_SEQ_CST);
		ksvc__doorbell(d, 1);
		if (d->driven) {
			pthread_mutex_lock(&d->drive_lock);
			do_stop(d);
			pthread_mutex_unlock(&d->drive_lock);
		}
	}
	if (d->has_thread)
		pthread_join(d->thread, NULL);
	ksvc__pool_join(d);
	ksvc__t1_exit(d);
	ksvc__signal_put(d->cancel_signal);
	reg_del(d->k);
	free_all(d, 0);
}

void ksvc_dispatch_destroy(struct ksvc_dispatcher *d)
{
	int saved = errno;

	dispatch_destroy(d);
	errno = saved;
}

/* ---------------------------------------------------------------- */
/* Submitting                                                        */
/* ---------------------------------------------------------------- */

/*
 * With the caller driving, entries are taken only while some thread
 * drives: a submitter waiting for room drives one pass itself if nobody
 * else is (else a program whose one thread submits and waits would wait
 * for ever).  It does not sleep holding the drive lock: a thread that
 * reaps may need it.  Returns whether the pass did anything.
 */
static int drive_for_space(struct ksvc_dispatcher *d)
{
	int work;

	if (!d->driven || driver_ok(d) ||
	    pthread_mutex_trylock(&d->drive_lock))
		return 0;
	work = pass(d);
	if (__atomic_load_n(&d->stop_req, __ATOMIC_ACQUIRE))
		do_stop(d);
	release_drive(d);
	return work;
}

/*
 * Wait until the driver consumes entries (it wakes space_waiters through
 * a futex on the ring's head word), or 100 ms as a safety net.
 */
static void wait_space(struct ksvc_dispatcher *d, __u32 n)
{
	__u32 head;
	__u64 resv;

	if (drive_for_space(d))
		return;
	__atomic_add_fetch(&d->space_waiters, 1, __ATOMIC_SEQ_CST);
	head = __atomic_load_n(&d->sq->hdr->head, __ATOMIC_SEQ_CST);
	resv = __atomic_load_n(&d->sqp.resv, __ATOMIC_SEQ_CST);
	if (!(resv & MPROD_CLOSED) && (__u32)resv - head <= d->sq->entries &&
	    d->sq->entries - ((__u32)resv - head) < n)
		futex_wait_until(&d->sq->hdr->head, head,
				 ksvc__now_ns() + 100000000ull);
	__atomic_sub_fetch(&d->space_waiters, 1, __ATOMIC_SEQ_CST);
}

/*
 * Wake the submit ring's consumer, the way it sleeps.  Every instance
 * this library makes (CREATE flags 0) has the dispatcher as its consumer,
 * which sleeps on a private futex on the ring's tail word (dsleep_wait());
 * only the driver waits there, so one waiter is enough.
 */
static int sq_wake_consumer(struct ksvc_ring *sq)
{
	if (ksvc__futex(&sq->hdr->tail, FUTEX_WAKE_PRIVATE, 1, NULL) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

int ksvc_sq_wake(struct ksvc *k)
{
	int saved = errno, r = 0;

	if (!k || !k->sq.hdr)
		return -EINVAL;
	/*
	 * A forked child (or a raw clone()): the rings are not mapped
	 * there, and its epoch word is not the opener's.  One load, as
	 * foreign() does for a dispatcher; a vfork child shares the rings
	 * and the word, and may wake.
	 */
	if (__atomic_load_n(ksvc__epoch_word, __ATOMIC_RELAXED) != k->epoch)
		return -EACCES;
	/* The wake fails only on a ring that is not mapped (EFAULT). */
	if (ksvc_ring_needs_wakeup(&k->sq))
		r = sq_wake_consumer(&k->sq) ? -EINVAL : 1;
	errno = saved;
	return r;
}

static int submit_raw(struct ksvc_dispatcher *d, const struct ksvc_entry *e,
		      unsigned int n, unsigned int flags)
{
	struct ksvc_entry *slots;
	__u32 start, i, mask;
	int err;

	for (;;) {
		err = mprod_reserve(&d->sqp, n, &start);
		if (err != -EAGAIN || !(flags & KSVC_SUBMIT_WAIT))
			break;
		wait_space(d, n);
	}
	if (err)
		return err;
	slots = ksvc__sq_slots(d->sq);
	mask = d->sq->mask;
	for (i = 0; i < n; i++)
		slots[(start + i) & mask] = e[i];
	mprod_commit(&d->sqp, start, n);
	if (ksvc_ring_needs_wakeup(d->sq)) {
		/*
		 * One wake per sleep is enough: the driver takes everything
		 * when it wakes.  A wake that comes before its futex wait is
		 * queued is not needed either, if the tail moved past the
		 * value the driver saw: the wait compares the word with it.
		 *
		 * But only a producer that sees entries still waiting may
		 * claim the sleep's wake.  One whose entries the driver had
		 * already taken (it was preempted after publishing them,
		 * while the driver took them and went to sleep on that very
		 * tail) would wake before the futex wait is queued, into the
		 * void, and its claim would make every later producer of
		 * this sleep stay quiet: the driver slept for good with
		 * entries in the ring.  The driver does not consume during a
		 * sleep, and s (acquire) orders the head read after the
		 * driver's last consume before it: tail != head means the
		 * tail moved past what this sleep saw, so this wake counts.
		 * Head first: then head <= tail.
		 */
		__u32 s = __atomic_load_n(&d->dsleep_seq, __ATOMIC_SEQ_CST);
		__u32 *hp = &d->sq->hdr->head, *tp = &d->sq->hdr->tail;
		__u32 head = __atomic_load_n(hp, __ATOMIC_SEQ_CST);
		__u32 tail = __atomic_load_n(tp, __ATOMIC_SEQ_CST);

		if (tail != head &&
		    __atomic_exchange_n(&d->dwoken_seq, s, __ATOMIC_SEQ_CST) !=
		    s) {
			sq_wake_consumer(d->sq);
			A_ADDR(&d->c_wakeups, 1);
		}
	}
	return (int)n;
}

static int dispatch_submit(struct ksvc_dispatcher *d,
			   const struct ksvc_entry *e, unsigned int n,
			   unsigned int flags)
{
	unsigned int i;

	if (!d || !e || !n || (flags & ~KSVC_SUBMIT_WAIT))
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	if (n > d->sq->entries)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if ((e[i].corr_id & KSVC_CORR_RESERVED_MASK) ==
		    KSVC_CORR_RESERVED_MASK)
			return -EINVAL;
	if (e[n - 1].flags & KSVC_ENTRY_LINKED)
		return -EINVAL;
	return submit_raw(d, e, n, flags);
}

int ksvc_dispatch_submit(struct ksvc_dispatcher *d,
			 const struct ksvc_entry *e, unsigned int n,
			 unsigned int flags)
{
	int saved = errno, r = dispatch_submit(d, e, n, flags);

	errno = saved;
	return r;
}

/* ---------------------------------------------------------------- */
/* Reaping and waiting                                               */
/* ---------------------------------------------------------------- */

static void after_pop(struct ksvc_dispatcher *d)
{
	/*
	 * Room appeared: a driver that stopped taking for want of it may go
	 * on.  The driver stores cq_stalled, fences, then reads the head
	 * (dsleep_wait()), so this side fences between its move of the
	 * head and its look at cq_stalled, or each could miss the other's
	 * store.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->cq_stalled, __ATOMIC_SEQ_CST) == 1)
		ksvc__doorbell(d, 1);
}

/*
 * Take up to @max completions if at least @min (>= 1) are ready; 0 if
 * not.  Reapers take no lock: each copies the slots from the head it
 * read and claims them by moving the head on with a compare-and-swap.
 * Producers write only slots outside [head, tail), so while the head has
 * not moved the copied slots were not rewritten, and a claim that
 * succeeds took whole completions, each exactly once.  A reaper that
 * lost the race to another drops its copy and starts again from the new
 * head; and the count against @min is made on the slots it claims, so a
 * wait never returns fewer than its @min.  (A stale copy could pass only
 * if other reapers moved the 32-bit head on by exactly 2^32 between this
 * one's read and its claim: billions of completions while it stood
 * still, as for any ring with free-running 32-bit indices.)  Then
 * after_pop().
 */
static unsigned int pop_min(struct ksvc_dispatcher *d,
			    struct ksvc_completion *out, unsigned int max,
			    unsigned int min)
{
	const struct ksvc_completion *slots = ksvc__cq_slots(d->cq);
	__u32 *hp = &d->cq->hdr->head, mask = d->cq->mask;
	__u32 head = A_LOAD(hp);

	for (;;) {
		__u32 n = A_LOAD(&d->cq->hdr->tail) - head, i;

		if (n > d->cq->entries) {
			__u32 now = A_LOAD(hp);

			/* others took and posted meanwhile: read again */
			if (now != head) {
				head = now;
				continue;
			}
			/* a ring the program scribbled on: as
			 * ksvc_ring_ready(), take it as full */
			n = d->cq->entries;
		}
		if (!n || n < min)
			return 0;
		if (n > max)
			n = max;
		for (i = 0; i < n; i++)
			copy_comp(&out[i], &slots[(head + i) & mask]);
		/* on failure @head is reloaded with the current head */
		if (__atomic_compare_exchange_n(hp, &head, head + n, 0,
						__ATOMIC_SEQ_CST,
						__ATOMIC_ACQUIRE)) {
			after_pop(d);
			return n;
		}
	}
}

int ksvc_dispatch_reap(struct ksvc_dispatcher *d, struct ksvc_completion *out,
		       unsigned int max)
{
	if (!d || (!out && max))
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	if (!max)
		return 0;
	return (int)pop_min(d, out, max, 1);
}

/*
 * The completion ring's KSVC_RING_NEED_WAKEUP says that application
 * threads sleep, or are about to, and posters must wake them
 * (notify_app()).  Several may sleep at once, each for its own @min, so
 * the flag is set while their count is not 0, both changed under
 * cq_sleep_lock: the last sleeper out must not clear it under one that
 * has just set it (a poster that looked between the two would stay
 * quiet, and the new sleeper sleep on).  The fence orders the flag
 * before the sleeper's look at the tail; posters publish the tail, fence
 * and look at the flag, so one of the two sees the other.
 *
 * cq_min_want, set with the flag and under the same fence, is the least
 * @min of the sleepers, so that posters need not wake them for fewer
 * completions than any of them waits for.  A sleeper that leaves does
 * not raise it (that would take the @min of all the others): it may
 * stay lower than any sleeper's @min, which costs wakes, never a sleep
 * too long, until the last sleeper leaves.
 */
static void cq_sleep_begin(struct ksvc_dispatcher *d, unsigned int min)
{
	pthread_mutex_lock(&d->cq_sleep_lock);
	if (!d->cq_sleepers || min < A_LOADR(&d->cq_min_want))
		__atomic_store_n(&d->cq_min_want, min, __ATOMIC_SEQ_CST);
	if (!d->cq_sleepers++)
		__atomic_fetch_or(&d->cq->hdr->flags, KSVC_RING_NEED_WAKEUP,
				  __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&d->cq_sleep_lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void cq_sleep_end(struct ksvc_dispatcher *d)
{
	pthread_mutex_lock(&d->cq_sleep_lock);
	if (!--d->cq_sleepers) {
		ksvc__test_gap(d, 9);
		__atomic_fetch_and(&d->cq->hdr->flags, ~KSVC_RING_NEED_WAKEUP,
				   __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&d->cq_sleep_lock);
}

/* How often a sleeper on an eventfd the program also reads looks. */
#define APP_POLL_SLICE_NS	(10ull * 1000 * 1000)

/* Sleep on the instance's eventfd until it is signalled; 0 or -EINTR. */
static int efd_sleep(struct ksvc_dispatcher *d, __u64 deadline)
{
	struct pollfd pfd = { d->k->eventfd, POLLIN, 0 };
	struct timespec ts, *tsp = NULL;
	__u64 limit = deadline;
	int r;

	/*
	 * The program may read a given eventfd itself and take the count
	 * meant for this sleep; posters signal once per sleep (see
	 * notify_app()), so nothing would wake it again.  Look at the ring
	 * every APP_POLL_SLICE_NS instead: the sleep that follows is a new
	 * one, and is signalled again.
	 */
	if (!d->k->owns_eventfd) {
		__u64 slice = ksvc__now_ns() + APP_POLL_SLICE_NS;

		if (!limit || limit > slice)
			limit = slice;
	}
	if (limit) {
		__u64 now = ksvc__now_ns();
		__u64 left = limit > now ? limit - now : 0;

		ts.tv_sec = (time_t)(left / 1000000000ull);
		ts.tv_nsec = (long)(left % 1000000000ull);
		tsp = &ts;
	}
	r = ppoll(&pfd, 1, tsp, NULL);
	if (r < 0 && errno == EINTR)
		return -EINTR;
	if (r > 0 && (pfd.revents & POLLIN)) {
		__u64 v;
		struct iovec iov = { &v, sizeof(v) };

		/*
		 * The program may read a given eventfd too, and it may be
		 * blocking: if someone took the count since ppoll(), a plain
		 * read() would block here.  RWF_NOWAIT never blocks; a
		 * kernel whose eventfds refuse it gets the plain read().
		 */
		if (preadv2(d->k->eventfd, &iov, 1, -1, RWF_NOWAIT) < 0 &&
		    errno == EOPNOTSUPP &&
		    read(d->k->eventfd, &v, sizeof(v)) < 0) {
			/* someone else took it: fine */
		}
	}
	return 0;
}

/*
 * Sleep until the completion ring may hold @min, *@word != @val (the
 * stopped word with a dispatcher thread, the driving generation with
 * the caller driving: their wakes change no tail, so a wait on the tail
 * alone, queued just after one, would not end), the time is up, or a
 * signal: 0 or -EINTR.
 *
 * Any number of threads sleep at once.  With a dispatcher thread, one
 * of them (whoever holds efd_lock) sleeps on the instance's eventfd, as
 * the ABI says; the eventfd's count goes to one reader, so the others
 * sleep on the completion tail's futex, which every poster that sees the
 * flag wakes, all its sleepers at once.  The futex wait compares the
 * tail with the value read after the flag was set, so a post that comes
 * before the wait is queued is never missed.
 */
static int app_sleep(struct ksvc_dispatcher *d, unsigned int min,
		     __u64 deadline, __u32 *word, __u32 val)
{
	int efd = word == &d->stopped && d->k->eventfd >= 0 &&
		  !pthread_mutex_trylock(&d->efd_lock);
	__u32 tail;
	int ret = 0;

	__atomic_add_fetch(efd ? &d->sleep_seq : &d->cq_futex_sleepers, 1,
			   __ATOMIC_SEQ_CST);
	cq_sleep_begin(d, min);
	tail = __atomic_load_n(&d->cq->hdr->tail, __ATOMIC_SEQ_CST);
	if (ksvc_ring_ready(d->cq) >= min ||
	    __atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(word, __ATOMIC_SEQ_CST) != val)
		goto out;
	if (efd)
		ret = efd_sleep(d, deadline);
	else
		ret = futex_wait2(&d->cq->hdr->tail, tail, word, val,
				  deadline);
out:
	cq_sleep_end(d);
	if (efd)
		pthread_mutex_unlock(&d->efd_lock);
	else
		__atomic_sub_fetch(&d->cq_futex_sleepers, 1, __ATOMIC_SEQ_CST);
	return ret;
}

/*
 * Thread mode: completions come from other threads; the waiter spins,
 * then sleeps, as long as it takes for its own @min.  Waiters take no
 * lock and do not wait for each other (app_sleep()).  One spins at a
 * time (cq_spinner): the others sleep at once, so that many waiting
 * threads do not burn a CPU each.  The stopped word is read before the
 * last look at the ring: the dispatcher posts what it cancels before it
 * says it stopped.
 */
static int wait_thread_mode(struct ksvc_dispatcher *d,
			    struct ksvc_completion *out, unsigned int max,
			    unsigned int min, int timeout_ms, __u64 deadline)
{
	struct kspin ks = KSPIN_INIT;
	__u64 spin_end = 0;
	unsigned int n;
	int err, spinner = 0;

	for (;;) {
		int stopped = __atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST);
		__u64 now;

		n = pop_min(d, out, max, min);
		if (n) {
			err = (int)n;
			break;
		}
		if (stopped) {
			err = -ESHUTDOWN;
			break;
		}
		if (timeout_ms == 0) {
			err = -ETIMEDOUT;
			break;
		}
		now = ksvc__now_ns();
		if (deadline && now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		if (!spin_end) {
			spinner = d->spin_ns &&
				  !__atomic_exchange_n(&d->cq_spinner, 1,
						       __ATOMIC_ACQUIRE);
			spin_end = now + (spinner ? d->spin_ns : 0);
		}
		if (now < spin_end) {
			ksvc__spin(d->on_cpu, &ks, now + d->spin_ns - spin_end);
			continue;
		}
		if (spinner) {
			__atomic_store_n(&d->cq_spinner, 0, __ATOMIC_RELEASE);
			spinner = 0;
		}
		ksvc__idle(d->on_cpu, &ks);
		err = app_sleep(d, min, deadline, &d->stopped, 0);
		if (err)
			break;
	}
	if (spinner)
		__atomic_store_n(&d->cq_spinner, 0, __ATOMIC_RELEASE);
	ksvc__idle(d->on_cpu, &ks);
	return err;
}

/*
 * With the caller driving and another thread driving: take what is
 * ready for this waiter, else sleep until a post (the driver posts
 * every completion) or the driver lets go of the lock; -EAGAIN when it
 * took the lock: the caller drives.
 */
static int wait_beside_driver(struct ksvc_dispatcher *d,
			      struct ksvc_completion *out, unsigned int max,
			      unsigned int min, int timeout_ms, __u64 deadline)
{
	for (;;) {
		__u32 g = __atomic_load_n(&d->drv_gen, __ATOMIC_SEQ_CST);
		int stopped = __atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST);
		int err;

		if (!pthread_mutex_trylock(&d->drive_lock))
			return -EAGAIN;
		err = (int)pop_min(d, out, max, min);
		if (err)
			return err;
		if (stopped)
			return -ESHUTDOWN;
		if (timeout_ms == 0 ||
		    (deadline && ksvc__now_ns() >= deadline))
			return -ETIMEDOUT;
		__atomic_add_fetch(&d->drv_gen_waiters, 1, __ATOMIC_SEQ_CST);
		err = app_sleep(d, min, deadline, &d->drv_gen, g);
		__atomic_sub_fetch(&d->drv_gen_waiters, 1, __ATOMIC_SEQ_CST);
		if (err == -EINTR) {
			err = (int)pop_min(d, out, max, min);
			return err ? err : -EINTR;
		}
	}
}

static int wait_driven(struct ksvc_dispatcher *d, struct ksvc_completion *out,
		       unsigned int max, unsigned int min, int timeout_ms,
		       __u64 deadline)
{
	struct kspin ks = KSPIN_INIT;
	__u64 idle = 0;
	int err;

	if (pthread_mutex_trylock(&d->drive_lock)) {
		/*
		 * Another thread drives, maybe asleep until its own @min:
		 * this one takes what is ready for it, and sleeps for the
		 * rest, until the other lets go of the lock.
		 */
		err = wait_beside_driver(d, out, max, min, timeout_ms,
					 deadline);
		if (err != -EAGAIN)
			return err;
	}
	ksvc__busy(d->on_cpu, &ks);
	for (;;) {
		int work = pass(d);
		__u64 now;

		if (__atomic_load_n(&d->stop_req, __ATOMIC_ACQUIRE))
			do_stop(d);
		if (ksvc_ring_ready(d->cq) >= min) {
			ksvc__test_gap(d, 8);
			err = (int)pop_min(d, out, max, min);
			if (err)
				break;
			/* another thread reaped them: wait on */
		}
		if (__atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST)) {
			err = -ESHUTDOWN;
			break;
		}
		if (timeout_ms == 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (work) {
			idle = 0;
			continue;
		}
		now = ksvc__now_ns();
		if (deadline && now >= deadline) {
			err = -ETIMEDOUT;
			break;
		}
		if (idle_spin(d, &ks, &idle, now))
			continue;
		err = dsleep(d, &ks, deadline);
		if (err == -EINTR) {
			/* A signal: let the caller see it, unless its
			 * completions are there. */
			pass(d);
			err = (int)pop_min(d, out, max, min);
			if (!err)
				err = -EINTR;
			break;
		}
		idle = 0;
	}
	ksvc__idle(d->on_cpu, &ks);
	release_drive(d);
	return err;
}

/*
 * One pass of a caller-driven dispatcher, if no other thread is driving
 * (-EBUSY then).  Returns the events handled, or -ESHUTDOWN once it has
 * stopped and there was nothing left to do.
 */
static int drive_once(struct ksvc_dispatcher *d)
{
	int err, work;

	if (pthread_mutex_trylock(&d->drive_lock))
		return -EBUSY;
	work = pass(d);
	if (__atomic_load_n(&d->stop_req, __ATOMIC_ACQUIRE))
		do_stop(d);
	err = __atomic_load_n(&d->stopped, __ATOMIC_SEQ_CST) && !work ?
	      -ESHUTDOWN : work;
	release_drive(d);
	return err;
}

static int dispatch_wait(struct ksvc_dispatcher *d, struct ksvc_completion *out,
			 unsigned int max, unsigned int min, int timeout_ms)
{
	__u64 deadline;
	int err;

	if (!d || (!out && max) || min > max)
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	if (min > d->cq->entries)
		return -EINVAL;
	if (d->driven) {
		err = driver_ok(d);
		if (err)
			return err;
	}
	if (min == 0) {
		/*
		 * Nothing to wait for; but a caller-driven dispatcher moves
		 * only when somebody drives it, so a program that polls
		 * with min 0 gets one pass first (unless another thread is
		 * driving: then that one moves it).
		 */
		if (d->driven)
			drive_once(d);
		return max ? ksvc_dispatch_reap(d, out, max) : 0;
	}
	deadline = deadline_of(timeout_ms);
	if (d->driven)
		return wait_driven(d, out, max, min, timeout_ms, deadline);
	return wait_thread_mode(d, out, max, min, timeout_ms, deadline);
}

int ksvc_dispatch_wait(struct ksvc_dispatcher *d, struct ksvc_completion *out,
		       unsigned int max, unsigned int min, int timeout_ms)
{
	int saved = errno, r = dispatch_wait(d, out, max, min, timeout_ms);

	errno = saved;
	return r;
}

static int dispatch_run(struct ksvc_dispatcher *d)
{
	int err;

	if (!d)
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	if (!d->driven)
		return -EINVAL;
	err = driver_ok(d);
	if (err)
		return err;
	return drive_once(d);
}

int ksvc_dispatch_run(struct ksvc_dispatcher *d)
{
	int saved = errno, r = dispatch_run(d);

	errno = saved;
	return r;
}

/* ---------------------------------------------------------------- */
/* The blocking call                                                 */
/* ---------------------------------------------------------------- */

static int tier0(long nr, const __u64 *a, __s64 *res)
{
	long r;

	switch (nr) {
	case SYS_getpid:	*res = ksvc_getpid(); return 1;
	case SYS_getppid:	*res = ksvc_getppid(); return 1;
	case SYS_getuid:	*res = ksvc_getuid(); return 1;
	case SYS_getgid:	*res = ksvc_getgid(); return 1;
	case SYS_geteuid:	*res = ksvc_geteuid(); return 1;
	case SYS_getegid:	*res = ksvc_getegid(); return 1;
	case SYS_uname:
		r = ksvc_uname((struct utsname *)(uintptr_t)a[0]);
		*res = r < 0 ? -errno : r;
		return 1;
	case SYS_getrlimit:
		/* NULL: the system call says EFAULT, getrlimit(3) 0. */
		if (a[0] != RLIMIT_NOFILE || !a[1])
			return 0;
		r = ksvc_getrlimit((int)a[0], (struct rlimit *)(uintptr_t)a[1]);
		*res = r < 0 ? -errno : r;
		return 1;
	}
	return 0;
}

static int waiter_get(struct ksvc_dispatcher *d, struct kwaiter **wp,
		      __u64 *corr)
{
	struct kwaiter *w;
	__u32 idx;

	pthread_mutex_lock(&d->sync_lock);
	if (!d->nsync_free) {
		pthread_mutex_unlock(&d->sync_lock);
		return -EAGAIN;
	}
	idx = d->sync_free[--d->nsync_free];
	pthread_mutex_unlock(&d->sync_lock);
	w = &d->waiters[idx];
	w->gen++;
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->state, W_WAIT, __ATOMIC_RELEASE);
	*wp = w;
	*corr = KSVC_CORR_RESERVED_MASK | ((__u64)w->gen << 16) | idx;
	return 0;
}

static void waiter_put(struct ksvc_dispatcher *d, struct kwaiter *w)
{
	__atomic_store_n(&w->state, W_FREE, __ATOMIC_RELEASE);
	pthread_mutex_lock(&d->sync_lock);
	d->sync_free[d->nsync_free++] = (__u32)(w - d->waiters);
	pthread_mutex_unlock(&d->sync_lock);
}

static void wait_sync_thread(struct ksvc_dispatcher *d, struct kwaiter *w)
{
	struct kspin ks = KSPIN_INIT;
	__u64 start = ksvc__now_ns();

	while (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != W_DONE) {
		__u64 now = ksvc__now_ns();

		if (now - start < d->spin_ns) {
			ksvc__spin(d->on_cpu, &ks, now - start);
			continue;
		}
		ksvc__idle(d->on_cpu, &ks);
		__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->state, __ATOMIC_SEQ_CST) != W_DONE)
			futex_wait_until(&w->state, W_WAIT, 0);
		__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
	}
	ksvc__idle(d->on_cpu, &ks);
}

static void wait_sync_driven(struct ksvc_dispatcher *d, struct kwaiter *w)
{
	for (;;) {
		__u32 g = __atomic_load_n(&d->drv_gen, __ATOMIC_SEQ_CST);

		if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == W_DONE)
			return;
		if (pthread_mutex_trylock(&d->drive_lock) == 0) {
			struct kspin ks = KSPIN_INIT;
			__u64 idle = 0;

			ksvc__busy(d->on_cpu, &ks);
			while (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) !=
			       W_DONE) {
				int work = pass(d);

				if (__atomic_load_n(&d->stop_req,
						    __ATOMIC_ACQUIRE))
					do_stop(d);
				if (work || __atomic_load_n(&w->state,
						__ATOMIC_ACQUIRE) == W_DONE) {
					idle = 0;
					continue;
				}
				if (idle_spin(d, &ks, &idle, ksvc__now_ns()))
					continue;
				dsleep(d, &ks, 0);
				idle = 0;
			}
			ksvc__idle(d->on_cpu, &ks);
			release_drive(d);
			return;
		}
		__atomic_add_fetch(&d->drv_gen_waiters, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->state, __ATOMIC_SEQ_CST) != W_DONE)
			futex_wait_until(&d->drv_gen, g, 0);
		__atomic_sub_fetch(&d->drv_gen_waiters, 1, __ATOMIC_SEQ_CST);
	}
}

static int check_sync(struct ksvc_dispatcher *d)
{
	if (!d)
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	return d->driven ? driver_ok(d) : 0;
}

/* Submit @e (corr_id set here) and wait for its answer. */
static int run_sync(struct ksvc_dispatcher *d, struct ksvc_entry *e,
		    __s64 *result, __u32 *cflags)
{
	struct kwaiter *w;
	int err;

	err = waiter_get(d, &w, &e->corr_id);
	if (err)
		return err;
	err = submit_raw(d, e, 1, 0);
	if (err < 0) {
		waiter_put(d, w);
		return err;
	}
	if (d->driven)
		wait_sync_driven(d, w);
	else
		wait_sync_thread(d, w);
	*result = w->res;
	if (cflags)
		*cflags = w->cflags;
	waiter_put(d, w);
	return 0;
}

static int dispatch_call(struct ksvc_dispatcher *d, long nr,
			 const __u64 args[6], __s64 *result, __u32 *cflags)
{
	static const __u64 zero[6];
	struct ksvc_entry e;
	int err;

	err = result ? check_sync(d) : -EINVAL;
	if (err)
		return err;
	if (!args)
		args = zero;
	if (tier0(nr, args, result)) {
		if (cflags)
			*cflags = 0;
		return 0;
	}
	memset(&e, 0, sizeof(e));
	e.syscall_nr = (__u32)nr;
	memcpy(e.args, args, sizeof(e.args));
	return run_sync(d, &e, result, cflags);
}

int ksvc_dispatch_call(struct ksvc_dispatcher *d, long nr,
		       const __u64 args[6], __s64 *result, __u32 *cflags)
{
	int saved = errno, r = dispatch_call(d, nr, args, result, cflags);

	errno = saved;
	return r;
}

static int dispatch_cancel(struct ksvc_dispatcher *d, __u64 corr_id)
{
	struct ksvc_entry e;
	__s64 res;
	int err;

	err = check_sync(d);
	if (err)
		return err;
	if ((corr_id & KSVC_CORR_RESERVED_MASK) == KSVC_CORR_RESERVED_MASK)
		return -EINVAL;
	ksvc_prep_cancel(&e, 0, corr_id);
	err = run_sync(d, &e, &res, NULL);
	return err ? err : (int)(res < INT_MAX ? res : INT_MAX);
}

int ksvc_dispatch_cancel(struct ksvc_dispatcher *d, __u64 corr_id)
{
	int saved = errno, r = dispatch_cancel(d, corr_id);

	errno = saved;
	return r;
}

/* ---------------------------------------------------------------- */
/* Counters and names                                                */
/* ---------------------------------------------------------------- */

static void tier_stats(struct ksvc_tier_stats *o, const struct ktier_ctr *c)
{
	o->submitted = __atomic_load_n(&c->submitted, __ATOMIC_RELAXED);
	o->completed = __atomic_load_n(&c->completed, __ATOMIC_RELAXED);
	o->batches = __atomic_load_n(&c->batches, __ATOMIC_RELAXED);
	o->cancelled = __atomic_load_n(&c->cancelled, __ATOMIC_RELAXED);
	o->in_flight = o->submitted > o->completed ?
		       o->submitted - o->completed : 0;
}

int ksvc_dispatch_stats(const struct ksvc_dispatcher *d,
			struct ksvc_dispatch_stats *o)
{
	if (!d || !o)
		return -EINVAL;
	if (foreign(d))
		return -EACCES;
	memset(o, 0, sizeof(*o));
	tier_stats(&o->tier1, &d->c1);
	tier_stats(&o->tier2, &d->c2);
	o->tier2.completed += __atomic_load_n(&d->c2_completed_w,
					      __ATOMIC_RELAXED);
	o->tier2.in_flight = o->tier2.submitted > o->tier2.completed ?
			     o->tier2.submitted - o->tier2.completed : 0;
#define RD(x) __atomic_load_n(&d->x, __ATOMIC_RELAXED)
	o->tier2_inline = RD(c_inline);
	o->refused = RD(c_refused);
	o->invalid = RD(c_invalid);
	o->chain_cancelled = RD(c_chain_cancelled);
	o->taken = RD(c_taken);
	o->posted = RD(c_posted);
	o->direct = RD(c_direct);
	o->sleeps = RD(c_sleeps);
	o->wakeups_sent = RD(c_wakeups);
	o->notifies = RD(c_notifies);
	o->cq_full_stalls = RD(c_stalls);
#undef RD
	o->workers = d->nworkers;
	o->tier1_available = (__u32)d->t1;
	o->uring_setup_flags = d->uring_flags;
	o->wake_method = d->t1 && d->have_futex_op ? 1 : 2;
	return 0;
}

enum ksvc_mode ksvc_dispatch_mode(const struct ksvc_dispatcher *d)
{
	return d ? d->k->mode : 0;
}

const char *ksvc_mode_name(enum ksvc_mode mode)
{
	switch (mode) {
	case KSVC_MODE_KERNEL:
		return "kernel";
	case KSVC_MODE_ANON:
		return "anonymous";
	}
	return "unknown";
}
