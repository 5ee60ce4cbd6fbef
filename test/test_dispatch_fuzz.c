// SPDX-License-Identifier: MIT
/*
 * test_dispatch_fuzz - random mixes of the dispatcher's features, one
 * seeded configuration after another, checked against the invariants
 * ksvc_dispatch.h promises.
 *
 * Each seed picks a configuration: dispatcher thread, caller-driven or
 * caller-driven with ONE_DRIVER; ring sizes from 16 (full rings) to 256;
 * 1..8 workers; a spin or none; NO_TIER1 or not; an eventfd or not;
 * BLOCKING_FDS, POSITIONAL_FDS, RECV_POLL_FIRST or not; sometimes small
 * test gaps (ksvc__pool_test_gap()) in random windows.
 * Then 1..6 application threads run for a short while, each doing a
 * random mix: single entries and batches (cheap calls, calls that block
 * for a bounded time, a read of a pipe or a receive from a socket --
 * AF_UNIX stream or datagram, loopback TCP; read, recvfrom with or
 * without an address, recvmsg into two iovecs, MSG_WAITALL -- that a
 * helper thread writes to a little later, LINKED chains that write or
 * send (write, sendto, sendmsg) then read back, pwrite64 to a slot of a
 * file of the op's own, receives that may not wait and find nothing,
 * links that fail, refused and invalid entries), reaps and waits with
 * random minimums and time-outs, ksvc_dispatch_call(),
 * ksvc_dispatch_cancel() and cancel entries of their own outstanding
 * entries, pauses.  The main thread (the creator, hence the driver under
 * ONE_DRIVER) reaps all the time and, for some seeds, stops the
 * dispatcher in the middle (the main thread, an application thread, or
 * all of them at once, while the others go on), or, for some seeds
 * without a stop, destroys it once the application threads are done
 * with work of theirs still in flight (each submits a 50 ms nanosleep, a
 * pipe read and a socket receive last), as the header allows: no other
 * call on the dispatcher at the same time.  For a quarter of the seeds
 * an application thread or the main thread forks (or makes a raw
 * clone(), which runs no atfork handler) once or twice while the others
 * go on.  The child checks what the header promises it: every call on
 * the parent's handle fails with EACCES (a create on the parent's
 * instance too), mode and route answer as in the parent, the rings are
 * not mapped; and, after a fork (not under AddressSanitizer, whose
 * allocator a child of threads may find locked), that it can destroy its
 * copy of the handle, before or after it opens an instance and a
 * dispatcher of its own and checks a batch through them.  The parent
 * waits for the child; its own entries are checked with all the others.
 *
 * The flags' promises are kept: under BLOCKING_FDS no descriptor an
 * entry reads or writes has O_NONBLOCK (the receives that must not wait
 * use MSG_DONTWAIT then); under POSITIONAL_FDS the positional calls go
 * to the file and /dev/zero only, never to the pipe whose pread64 must
 * otherwise fail with ESPIPE.
 *
 * Checked per seed: every corr_id submitted completes exactly once, none
 * is unknown, none whose submit failed comes back (with a stop, exactly
 * the entries stop said it left unanswered never come); each result is
 * the one its call must give (bytes read or received match what was
 * written or sent, byte for byte; a pwrite64's slot holds its bytes;
 * -EAGAIN, -ESPIPE, -EBADF where the system call says so; -ECANCELED
 * only after a cancel of that entry, a stop, or a failed link before it in
 * its chain; a chain's links after a failure, or after a link that a
 * cancel found in flight, all -ECANCELED without a tier flag); ksvc_dispatch_call() results; the return values of cancel, wait,
 * submit and stop; the counters of ksvc_dispatch_stats() against what the
 * program saw; a stop or a destroy within 5 s.  After a destroy the
 * completions are taken from the instance's ring, and entries may lack
 * one only if that ring is full.  A watchdog ends a seed that hangs with
 * its configuration and the entries still outstanding.
 *
 * Environment (also for soaking): KSVC_FUZZ_SEEDS=N seeds (default 24,
 * divided by the scale), KSVC_FUZZ_FIRST=S the first seed (default 1),
 * KSVC_FUZZ_MS=M the longest time the application threads run per seed
 * (default 120); or the options --seeds N, --first S, --ms M (for the
 * guest, whose programs get arguments but no environment).  A failure
 * names its seed: --first S --seeds 1 runs that one again (timing
 * differs, of course).
 */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "test_dispatch.h"

/*
 * GCC 12's AddressSanitizer does not lock its allocator around fork(): a
 * child of a threaded process that allocates or starts threads can
 * deadlock (see test_dispatch_fork.c).  Under ASan the forked children
 * only make the calls that take no lock; under ThreadSanitizer too,
 * which refuses to start threads in such a child.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHILD_MAY_ALLOCATE 0
#else
#define CHILD_MAY_ALLOCATE 1
#endif

/* lib/tier2.c, for tests */
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us);

#define MAX_THREADS	6
#define MAX_OPS		20000
#define MAX_CHAIN	4
#define MAX_BATCH	8
#define FILE_SIZE	65536
#define CORR_BASE	0x00f0000000000000ull
#define STOP_BOUND_MS	5000
#define DRAIN_MS	20000
#define SEED_LIMIT_S	90
#define NGAPS		10	/* KSVC_TEST_GAPS, lib/dispatch_int.h */
#define MAX_FORKS	2
#define CHILD_MS	10000

enum kind {
	K_PPID,		/* getppid: inline Tier 2 */
	K_ZERO,		/* read of /dev/zero */
	K_NULL,		/* write to /dev/null */
	K_PREAD,	/* pread64 of the temporary file */
	K_SLEEP,	/* nanosleep 0..2 ms */
	K_POLL,		/* ppoll of a quiet pipe, time-out 0..3 ms */
	K_HREAD,	/* read of a pipe the helper writes to later */
	K_PWRITE,	/* chain: write to the chain's pipe */
	K_PREADP,	/* chain: read back what K_PWRITE wrote */
	K_BADFD,	/* read of descriptor -1: -EBADF, a failing link */
	K_GETTID,	/* refused */
	K_BADNR,	/* unknown system call number: refused */
	K_BADFLAGS,	/* unknown entry flag: -EINVAL */
	K_SREAD,	/* receive from a socket the helper sends to later */
	K_SSEND,	/* chain: send to the chain's socket */
	K_SRECVP,	/* chain: receive what K_SSEND sent */
	K_NBRECV,	/* a receive that may not wait, of nothing: -EAGAIN */
	K_PWRITEF,	/* pwrite64 to this op's own slot of a file */
	K_ESPIPE,	/* pread64 of a pipe: -ESPIPE (not POSITIONAL_FDS) */
	K_CANCEL,	/* a KSVC_ENTRY_CANCEL entry */
	K_NKINDS
};

static const char *const kind_names[K_NKINDS] = {
	"getppid", "read-zero", "write-null", "pread", "nanosleep", "ppoll",
	"helper-read", "pipe-write", "pipe-read", "read-badfd", "gettid",
	"bad-nr", "bad-flags", "sock-read", "sock-send", "sock-recv",
	"recv-eagain", "pwrite-file", "pread-pipe", "cancel"
};

/* Sockets: the types, and the calls that read or write them. */
enum { ST_USTREAM, ST_UDGRAM, ST_TCP, ST_NTYPES };
static const char *const stype_names[ST_NTYPES] = {
	"unix-stream", "unix-dgram", "tcp"
};
enum { H_RW, H_TO, H_FROM_ADDR, H_MSG, H_NHOW };
static const char *const how_names[H_NHOW] = {
	"read/write", "recvfrom/sendto", "recvfrom+address", "recvmsg/sendmsg"
};

enum { S_FREE, S_PENDING, S_FAILED };

struct fop {
	int kind;
	int thread;
	int state;		/* S_*, atomic */
	int ncomp;		/* completions seen, atomic */
	int cancel_req;		/* a cancel named it (atomic) */
	int cancel_found;	/* cancels that found it in flight (atomic) */
	int chain;		/* first op of its chain, or -1 */
	int chain_len;		/* on the first op */
	int pipe_owner;		/* op owning the pipe it uses, or -1 */
	int fd[2];		/* owner: pipe or socket pair (read, write) */
	int stype;		/* socket ops: ST_* */
	int how;		/* socket ops: H_*; K_ZERO: 1 for pread64 */
	int sflags;		/* socket ops: the MSG_* flags passed */
	int refs;		/* owner: users left before closing (atomic) */
	unsigned int len;
	__u64 off;
	__u64 target;		/* K_CANCEL: the corr_id it names */
	int target_idx;
	__s64 res;
	__u32 cflags;
	struct timespec ts;
	struct pollfd pfd;
	unsigned char wbuf[64];
	unsigned char rbuf[64];
	struct iovec iov[2];
	struct msghdr msg;
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct hjob {
	int owner;
	__u64 due_ns;
};

static struct cfg {
	uint64_t seed;
	int mode;		/* 0 thread, 1 driven, 2 driven ONE_DRIVER */
	int blocking, positional;	/* BLOCKING_FDS, POSITIONAL_FDS */
	__u32 sq, cq, workers, spin_us, flags;
	int evfd, nthreads, stop_at_ms, stop_by_app, double_stop;
	int stop_many;		/* by-app: every app thread stops */
	int destroy_busy;	/* destroy with work in flight, no stop */
	unsigned int run_ms;
	unsigned int gap_us[NGAPS];
	int nforks;
	unsigned int fork_ms[MAX_FORKS];	/* when, after the start */
	int fork_thread[MAX_FORKS];	/* which app thread; -1 main */
	int fork_raw[MAX_FORKS];	/* a raw clone(), no atfork handlers */
	char desc[320];
} cfg;

static struct ksvc_dispatcher *g_d;
static struct ksvc *g_k;
/* the parent's answers, which a child's copy of the handle must give */
static enum ksvc_mode g_mode;
static enum ksvc_route g_route;
static int g_tier1;
static struct fop *ops;
static int next_op;			/* atomic */
static int file_fd = -1, zero_fd = -1, null_fd = -1, wfile_fd = -1;
static int quiet[2] = { -1, -1 };
/* sockets nobody sends to: blocking, and a non-blocking one */
static int qsock[2] = { -1, -1 }, qsock_nb[2] = { -1, -1 };
/* loopback TCP: a listener; tcp_lock pairs each connect with its accept */
static int lsn_fd = -1;
static struct sockaddr_in lsn_addr;
static pthread_mutex_t tcp_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char file_data[FILE_SIZE];

/* per seed, atomics */
static int stop_started, stop_returned;
static int stop_left = -1;
static int apps_working;
static int release_apps;
static int app_failed;
static uint64_t n_recorded, n_unknown, n_dup;
static uint64_t n_direct, n_sync_refused, n_sync_t1, n_sync_t2;
static uint64_t n_stop_ms;
static uint64_t run_t0;
static int forks_done[MAX_FORKS];
static int n_children;

static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static int nmsgs;

/* A problem found by any thread: a diag line (the first few) and a fail. */
static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	__atomic_store_n(&app_failed, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&msg_lock);
	if (nmsgs++ < 12) {
		printf("# seed %llu: ", (unsigned long long)cfg.seed);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	pthread_mutex_unlock(&msg_lock);
}

/* ---------------------------------------------------------------- */
/* The watchdog                                                       */
/* ---------------------------------------------------------------- */

static uint64_t wd_deadline_ms;		/* atomic; 0: not armed */
static uint64_t stall_ms;		/* atomic: see watchdog() */

static void dump_outstanding(void)
{
	int i, n = __atomic_load_n(&next_op, __ATOMIC_SEQ_CST), shown = 0;

	for (i = 0; i < n && i < MAX_OPS; i++) {
		struct fop *op = &ops[i];

		if (__atomic_load_n(&op->state, __ATOMIC_SEQ_CST) !=
		    S_PENDING || __atomic_load_n(&op->ncomp, __ATOMIC_SEQ_CST))
			continue;
		if (shown++ < 10)
			tap_diag("outstanding: corr %#llx %s thread %d "
				 "chain %d%s",
				 (unsigned long long)(CORR_BASE + (unsigned)i),
				 kind_names[op->kind], op->thread, op->chain,
				 op->cancel_req ? " cancel asked" : "");
	}
	tap_diag("%d outstanding", shown);
}

/*
 * Also a clock of the machine's stalls: a 100 ms sleep that takes over
 * a second more means the whole machine (a guest, or the host under it)
 * did not run; the time checks below do not count that time against
 * the library.  A thread of the library that blocks others leaves this
 * one ticking.
 */
static void *watchdog(void *arg)
{
	uint64_t last = td_now_ms();

	(void)arg;
	for (;;) {
		uint64_t dl = __atomic_load_n(&wd_deadline_ms,
					      __ATOMIC_SEQ_CST);
		uint64_t now = td_now_ms();

		if (now - last > 1100)
			__atomic_add_fetch(&stall_ms, now - last - 100,
					   __ATOMIC_SEQ_CST);
		last = now;

		if (dl && td_now_ms() > dl) {
			tap_diag("seed %llu hangs: %s",
				 (unsigned long long)cfg.seed, cfg.desc);
			tap_diag("stop started %d returned %d, apps working %d",
				 stop_started, stop_returned, apps_working);
			dump_outstanding();
			tap_bail("watchdog: seed %llu took over %d s",
				 (unsigned long long)cfg.seed, SEED_LIMIT_S);
		}
		usleep(100000);
	}
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Pipes and the helper that writes to them late                      */
/* ---------------------------------------------------------------- */

static pthread_mutex_t h_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t h_cond = PTHREAD_COND_INITIALIZER;
static struct hjob *hjobs;
static int nhjobs, h_quit;

static void pipe_put(int owner)
{
	struct fop *o = &ops[owner];

	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		close(o->fd[0]);
		close(o->fd[1]);
		o->fd[0] = o->fd[1] = -1;
	}
}

static int pipe_make(int owner, int users)
{
	struct fop *o = &ops[owner];

	if (pipe2(o->fd, O_CLOEXEC))
		return -errno;
	__atomic_store_n(&o->refs, users, __ATOMIC_RELEASE);
	return 0;
}

/* A connected loopback TCP pair: fd[0] the accepted end, fd[1] the other. */
static int tcp_pair(int fd[2])
{
	struct linger lg = { 1, 0 };	/* close: a reset, no TIME_WAIT */
	int c, s = -1;

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		return -errno;
	pthread_mutex_lock(&tcp_lock);
	if (connect(c, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)) == 0)
		s = accept4(lsn_fd, NULL, NULL, SOCK_CLOEXEC);
	pthread_mutex_unlock(&tcp_lock);
	if (s < 0) {
		close(c);
		return -1;
	}
	setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	fd[0] = s;
	fd[1] = c;
	return 0;
}

/*
 * Like pipe_make(), a connected socket pair of a random type (blocking:
 * BLOCKING_FDS may be on).  fd[0] receives what fd[1] sends.
 */
static int sock_make(int owner, int users, uint64_t *rs)
{
	struct fop *o = &ops[owner];
	int t = (int)(td_rnd(rs) % (lsn_fd >= 0 ? 4 : 2)), err;

	if (t == 0 || t == 3)
		t = ST_USTREAM;
	o->stype = t;
	if (t == ST_TCP)
		err = tcp_pair(o->fd);
	else
		err = socketpair(AF_UNIX, (t == ST_UDGRAM ? SOCK_DGRAM :
				 SOCK_STREAM) | SOCK_CLOEXEC, 0, o->fd) ?
		      -errno : 0;
	if (err)
		return err;
	__atomic_store_n(&o->refs, users, __ATOMIC_RELEASE);
	return 0;
}

static void helper_add(int owner, uint64_t delay_us)
{
	pthread_mutex_lock(&h_lock);
	hjobs[nhjobs].owner = owner;
	hjobs[nhjobs].due_ns = td_now_ns() + delay_us * 1000;
	nhjobs++;
	pthread_cond_signal(&h_cond);
	pthread_mutex_unlock(&h_lock);
}

static void *helper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&h_lock);
	for (;;) {
		int i, best = -1;
		uint64_t now;

		for (i = 0; i < nhjobs; i++)
			if (best < 0 || hjobs[i].due_ns < hjobs[best].due_ns)
				best = i;
		if (best < 0) {
			if (h_quit)
				break;
			pthread_cond_wait(&h_cond, &h_lock);
			continue;
		}
		now = td_now_ns();
		if (hjobs[best].due_ns > now) {
			uint64_t us = (hjobs[best].due_ns - now) / 1000;

			pthread_mutex_unlock(&h_lock);
			usleep((useconds_t)(us < 500 ? us : 500));
			pthread_mutex_lock(&h_lock);
			continue;
		} else {
			int owner = hjobs[best].owner;
			struct fop *o = &ops[owner];

			hjobs[best] = hjobs[--nhjobs];
			pthread_mutex_unlock(&h_lock);
			if (write(o->fd[1], o->wbuf, o->len) != (ssize_t)o->len)
				bad("helper: write to the pipe of corr %#llx "
				    "failed", (unsigned long long)
				    (CORR_BASE + (unsigned)owner));
			pipe_put(owner);
			pthread_mutex_lock(&h_lock);
		}
	}
	pthread_mutex_unlock(&h_lock);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Completions                                                        */
/* ---------------------------------------------------------------- */

static void record(const struct ksvc_completion *c)
{
	__u64 i = c->corr_id - CORR_BASE;
	struct fop *op;
	int st;

	__atomic_add_fetch(&n_recorded, 1, __ATOMIC_RELAXED);
	if (c->corr_id < CORR_BASE || i >= MAX_OPS) {
		__atomic_add_fetch(&n_unknown, 1, __ATOMIC_RELAXED);
		bad("completion with unknown corr_id %#llx (result %lld)",
		    (unsigned long long)c->corr_id, (long long)c->result);
		return;
	}
	op = &ops[i];
	st = __atomic_load_n(&op->state, __ATOMIC_ACQUIRE);
	if (st != S_PENDING) {
		__atomic_add_fetch(&n_unknown, 1, __ATOMIC_RELAXED);
		bad("completion for corr %#llx that was %s (result %lld)",
		    (unsigned long long)c->corr_id,
		    st == S_FAILED ? "refused by submit" : "never submitted",
		    (long long)c->result);
		return;
	}
	if (__atomic_add_fetch(&op->ncomp, 1, __ATOMIC_ACQ_REL) != 1) {
		__atomic_add_fetch(&n_dup, 1, __ATOMIC_RELAXED);
		bad("corr %#llx (%s) completed twice: %lld then %lld",
		    (unsigned long long)c->corr_id, kind_names[op->kind],
		    (long long)op->res, (long long)c->result);
		return;
	}
	op->res = c->result;
	op->cflags = c->flags;
	if (op->pipe_owner >= 0)
		pipe_put(op->pipe_owner);
}

static void record_all(const struct ksvc_completion *c, int n)
{
	int i;

	for (i = 0; i < n; i++)
		record(&c[i]);
}

/* ---------------------------------------------------------------- */
/* Building entries                                                   */
/* ---------------------------------------------------------------- */

static int op_reserve(int n)
{
	int first = __atomic_fetch_add(&next_op, n, __ATOMIC_SEQ_CST);

	if (first + n > MAX_OPS)
		return -1;
	return first;
}

static __u64 corr_of(int idx)
{
	return CORR_BASE + (unsigned)idx;
}

static void fill_pattern(unsigned char *b, unsigned int n, uint64_t *rs)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)td_rnd(rs);
}

/* @op's iov[] and msg over @buf (its len), cut in two at random. */
static void prep_msg(struct fop *op, unsigned char *buf, uint64_t *rs)
{
	unsigned int cut = (unsigned int)(td_rnd(rs) % (op->len + 1));

	op->iov[0].iov_base = buf;
	op->iov[0].iov_len = cut;
	op->iov[1].iov_base = buf + cut;
	op->iov[1].iov_len = op->len - cut;
	memset(&op->msg, 0, sizeof(op->msg));
	op->msg.msg_iov = op->iov;
	op->msg.msg_iovlen = 2;
}

/*
 * A receive of op->len bytes from @fd into op->rbuf, by a random call:
 * read, recvfrom (with an address: Tier 2), recvmsg; MSG_WAITALL on
 * stream sockets now and then (Tier 2).  @extra: more MSG_* flags.
 */
static void prep_recv(int idx, int fd, int extra, uint64_t *rs,
		      struct ksvc_entry *e)
{
	struct fop *op = &ops[idx];

	op->how = (int)(td_rnd(rs) % H_NHOW);
	op->sflags = extra;
	if (op->stype != ST_UDGRAM && td_rnd(rs) % 6 == 0)
		op->sflags |= MSG_WAITALL;
	if (op->how == H_RW && op->sflags)
		op->how = H_TO;
	switch (op->how) {
	case H_RW:
		ksvc_prep_call(e, corr_of(idx), SYS_read, (__u64)fd,
			       (uintptr_t)op->rbuf, op->len, 0, 0, 0);
		break;
	case H_TO:
		ksvc_prep_call(e, corr_of(idx), SYS_recvfrom, (__u64)fd,
			       (uintptr_t)op->rbuf, op->len,
			       (__u64)op->sflags, 0, 0);
		break;
	case H_FROM_ADDR:
		op->alen = sizeof(op->addr);
		ksvc_prep_call(e, corr_of(idx), SYS_recvfrom, (__u64)fd,
			       (uintptr_t)op->rbuf, op->len,
			       (__u64)op->sflags, (uintptr_t)&op->addr,
			       (uintptr_t)&op->alen);
		break;
	default:
		prep_msg(op, op->rbuf, rs);
		ksvc_prep_call(e, corr_of(idx), SYS_recvmsg, (__u64)fd,
			       (uintptr_t)&op->msg, (__u64)op->sflags, 0, 0, 0);
		break;
	}
}

/* A send of op->len bytes of op->wbuf to @fd, by a random call. */
static void prep_send(int idx, int fd, uint64_t *rs, struct ksvc_entry *e)
{
	static const int fl[] = { 0, 0, MSG_NOSIGNAL, MSG_DONTWAIT };
	struct fop *op = &ops[idx];

	op->how = (int)(td_rnd(rs) % H_NHOW);
	if (op->how == H_FROM_ADDR)
		op->how = H_TO;
	op->sflags = op->how == H_RW ? 0 : fl[td_rnd(rs) % 4];
	switch (op->how) {
	case H_RW:
		ksvc_prep_call(e, corr_of(idx), SYS_write, (__u64)fd,
			       (uintptr_t)op->wbuf, op->len, 0, 0, 0);
		break;
	case H_TO:
		ksvc_prep_call(e, corr_of(idx), SYS_sendto, (__u64)fd,
			       (uintptr_t)op->wbuf, op->len,
			       (__u64)op->sflags, 0, 0);
		break;
	default:
		prep_msg(op, op->wbuf, rs);
		ksvc_prep_call(e, corr_of(idx), SYS_sendmsg, (__u64)fd,
			       (uintptr_t)&op->msg, (__u64)op->sflags, 0, 0, 0);
		break;
	}
}

/*
 * Fill op @idx as a call of @kind and its entry @e.  Returns 0, or -1 if
 * the op could not be made (no pipe).
 */
static int make_op(int idx, int kind, int thread, uint64_t *rs,
		   struct ksvc_entry *e)
{
	struct fop *op = &ops[idx];

	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->thread = thread;
	op->chain = -1;
	op->pipe_owner = -1;
	op->fd[0] = op->fd[1] = -1;
	op->target_idx = -1;
	memset(op->rbuf, 0xa5, sizeof(op->rbuf));
	op->len = 1 + (unsigned int)(td_rnd(rs) % sizeof(op->rbuf));
	switch (kind) {
	case K_PPID:
		ksvc_prep_call(e, corr_of(idx), SYS_getppid, 0, 0, 0, 0, 0, 0);
		break;
	case K_ZERO:
		/* /dev/zero takes pread(2): POSITIONAL_FDS allows it */
		op->how = (int)(td_rnd(rs) % 2);
		if (op->how)
			ksvc_prep_call(e, corr_of(idx), SYS_pread64,
				       (__u64)zero_fd, (uintptr_t)op->rbuf,
				       op->len, td_rnd(rs) % 100000, 0, 0);
		else
			ksvc_prep_call(e, corr_of(idx), SYS_read,
				       (__u64)zero_fd, (uintptr_t)op->rbuf,
				       op->len, 0, 0, 0);
		break;
	case K_NULL:
		ksvc_prep_call(e, corr_of(idx), SYS_write, (__u64)null_fd,
			       (uintptr_t)op->wbuf, op->len, 0, 0, 0);
		break;
	case K_PREAD:
		op->off = td_rnd(rs) % (FILE_SIZE - sizeof(op->rbuf));
		ksvc_prep_call(e, corr_of(idx), SYS_pread64, (__u64)file_fd,
			       (uintptr_t)op->rbuf, op->len, op->off, 0, 0);
		break;
	case K_SLEEP:
		op->ts.tv_nsec = (long)(td_rnd(rs) % 2000001);
		ksvc_prep_call(e, corr_of(idx), SYS_nanosleep,
			       (uintptr_t)&op->ts, 0, 0, 0, 0, 0);
		break;
	case K_POLL:
		op->pfd.fd = quiet[0];
		op->pfd.events = POLLIN;
		op->ts.tv_nsec = (long)(td_rnd(rs) % 3000001);
		ksvc_prep_call(e, corr_of(idx), SYS_ppoll, (uintptr_t)&op->pfd,
			       1, (uintptr_t)&op->ts, 0, _NSIG / 8, 0);
		break;
	case K_HREAD:
		/* the op itself and the helper use the pipe */
		if (pipe_make(idx, 2))
			return -1;
		op->pipe_owner = idx;
		fill_pattern(op->wbuf, op->len, rs);
		ksvc_prep_call(e, corr_of(idx), SYS_read, (__u64)op->fd[0],
			       (uintptr_t)op->rbuf, op->len, 0, 0, 0);
		break;
	case K_SREAD:
		/* the op itself and the helper use the socket pair */
		if (sock_make(idx, 2, rs))
			return -1;
		op->pipe_owner = idx;
		fill_pattern(op->wbuf, op->len, rs);
		prep_recv(idx, op->fd[0], 0, rs, e);
		break;
	case K_NBRECV:
		/*
		 * Nothing is ever sent there: MSG_DONTWAIT, or (only without
		 * BLOCKING_FDS) a non-blocking socket, must say -EAGAIN.
		 */
		op->stype = ST_USTREAM;
		if (!cfg.blocking && td_rnd(rs) % 2)
			prep_recv(idx, qsock_nb[0], 0, rs, e);
		else
			prep_recv(idx, qsock[0], MSG_DONTWAIT, rs, e);
		if (e->syscall_nr == SYS_recvfrom)
			e->args[3] &= ~(__u64)MSG_WAITALL;
		else if (e->syscall_nr == SYS_recvmsg)
			e->args[2] &= ~(__u64)MSG_WAITALL;
		op->sflags &= ~MSG_WAITALL;
		break;
	case K_PWRITEF:
		op->off = (__u64)idx * sizeof(op->wbuf);
		fill_pattern(op->wbuf, op->len, rs);
		ksvc_prep_call(e, corr_of(idx), SYS_pwrite64, (__u64)wfile_fd,
			       (uintptr_t)op->wbuf, op->len, op->off, 0, 0);
		break;
	case K_ESPIPE:
		/* never under POSITIONAL_FDS, where it would read the pipe */
		ksvc_prep_call(e, corr_of(idx), SYS_pread64, (__u64)quiet[0],
			       (uintptr_t)op->rbuf, op->len,
			       td_rnd(rs) % 4096, 0, 0);
		break;
	case K_BADFD:
		ksvc_prep_call(e, corr_of(idx), SYS_read, (__u64)(__s64)-1,
			       (uintptr_t)op->rbuf, op->len, 0, 0, 0);
		break;
	case K_GETTID:
		ksvc_prep_call(e, corr_of(idx), SYS_gettid, 0, 0, 0, 0, 0, 0);
		break;
	case K_BADNR:
		ksvc_prep_call(e, corr_of(idx),
			       3000 + (long)(td_rnd(rs) % 1000), 0, 0, 0, 0,
			       0, 0);
		break;
	case K_BADFLAGS:
		ksvc_prep_call(e, corr_of(idx), SYS_getppid, 0, 0, 0, 0, 0, 0);
		e->flags = 1u << (4 + td_rnd(rs) % 27);
		break;
	default:
		return -1;
	}
	return 0;
}

/* Kinds a random single entry or link may be. */
static int pick_kind(uint64_t *rs, int in_chain)
{
	static const int w[] = {
		K_PPID, K_PPID, K_ZERO, K_NULL, K_PREAD, K_PREAD, K_SLEEP,
		K_POLL, K_HREAD, K_HREAD, K_BADFD, K_GETTID, K_BADNR,
		K_BADFLAGS, K_SREAD, K_SREAD, K_NBRECV, K_PWRITEF, K_ESPIPE
	};
	int k;

	do
		k = w[td_rnd(rs) % (sizeof(w) / sizeof(w[0]))];
	while ((in_chain && k == K_BADFLAGS) ||
	       (cfg.positional && k == K_ESPIPE));
	return k;
}

/* ---------------------------------------------------------------- */
/* Application threads                                                */
/* ---------------------------------------------------------------- */

struct app {
	int id;
	pthread_t th;
	uint64_t rs;
	int mine[512];		/* this thread's recent ops, to cancel */
	unsigned int nmine;
	int sync_pipe[2];
};

/* Submit @n entries of ops @first.. (consecutive); set their states. */
static int submit_ops(struct app *a, int first, struct ksvc_entry *e, int n,
		      int nhelp, const int *help, const uint64_t *help_us)
{
	unsigned int fl = td_rnd(&a->rs) % 2 ? KSVC_SUBMIT_WAIT : 0;
	int after_stop = __atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST);
	int i, r;

	for (i = 0; i < n; i++)
		__atomic_store_n(&ops[first + i].state, S_PENDING,
				 __ATOMIC_RELEASE);
	/* The helper may write before the read is even submitted. */
	for (i = 0; i < nhelp; i++)
		helper_add(help[i], help_us[i]);
	r = ksvc_dispatch_submit(g_d, e, (unsigned int)n, fl);
	if (r == n) {
		if (after_stop)
			bad("submit after stop returned %d, not -ESHUTDOWN", r);
		for (i = 0; i < n; i++)
			a->mine[a->nmine++ % 512] = first + i;
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct fop *op = &ops[first + i];

		__atomic_store_n(&op->state, S_FAILED, __ATOMIC_SEQ_CST);
		if (op->pipe_owner >= 0)
			pipe_put(op->pipe_owner);
	}
	if (r == -ESHUTDOWN) {
		if (!__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST))
			bad("submit: -ESHUTDOWN without a stop");
	} else if (r == -EAGAIN) {
		if (fl & KSVC_SUBMIT_WAIT)
			bad("submit with KSVC_SUBMIT_WAIT: -EAGAIN");
	} else {
		bad("submit of %d: %d (%s)", n, r, strerror(-r));
	}
	return -1;
}

/* @co: a cancel entry of thread @a for the op at @target. */
static void cancel_fop(struct fop *co, const struct app *a, int target)
{
	memset(co, 0, sizeof(*co));
	co->kind = K_CANCEL;
	co->thread = a->id;
	co->chain = -1;
	co->pipe_owner = -1;
	co->target = corr_of(target);
	co->target_idx = target;
}

static void do_single_or_batch(struct app *a)
{
	struct ksvc_entry e[MAX_BATCH];
	int help[MAX_BATCH], n, i, first, nh = 0;
	uint64_t help_us[MAX_BATCH];
	unsigned int maxb = cfg.sq < MAX_BATCH ? cfg.sq : MAX_BATCH;

	n = 1 + (int)(td_rnd(&a->rs) % maxb);
	if (td_rnd(&a->rs) % 2)
		n = 1;
	first = op_reserve(n);
	if (first < 0)
		return;
	for (i = 0; i < n; i++) {
		int k = pick_kind(&a->rs, 0);

		if (make_op(first + i, k, a->id, &a->rs, &e[i]) < 0) {
			/* no pipe: make it a cheap one instead */
			make_op(first + i, K_PPID, a->id, &a->rs, &e[i]);
			continue;
		}
		if (k == K_HREAD || k == K_SREAD) {
			help[nh] = first + i;
			help_us[nh++] = td_rnd(&a->rs) % 3000;
		}
	}
	/* Sometimes the batch ends with a cancel of one of its entries. */
	if (n >= 2 && td_rnd(&a->rs) % 6 == 0) {
		int c = first + n - 1;
		int t = first + (int)(td_rnd(&a->rs) % (unsigned)(n - 1));
		struct fop *co = &ops[c];

		if (co->pipe_owner >= 0) {
			/* its pipe has a helper job: keep the entry */
			submit_ops(a, first, e, n, nh, help, help_us);
			return;
		}
		cancel_fop(co, a, t);
		ops[t].cancel_req = 1;
		ksvc_prep_cancel(&e[n - 1], corr_of(c), corr_of(t));
	}
	submit_ops(a, first, e, n, nh, help, help_us);
}

/*
 * A chain of 2..MAX_CHAIN links, often with a pipe or a socket pair
 * written then read.
 */
static void do_chain(struct app *a)
{
	struct ksvc_entry e[MAX_CHAIN];
	int help[MAX_CHAIN], n, i, first, nh = 0, wpos = -1, pipe_ok = 1;
	int sock = 0;
	uint64_t help_us[MAX_CHAIN];

	n = 2 + (int)(td_rnd(&a->rs) % (MAX_CHAIN - 1));
	first = op_reserve(n);
	if (first < 0)
		return;
	if (td_rnd(&a->rs) % 3) {
		wpos = (int)(td_rnd(&a->rs) % (unsigned)(n - 1));
		sock = td_rnd(&a->rs) % 2;
	}
	for (i = 0; i < n; i++) {
		int idx = first + i, k;

		if (i == wpos) {
			struct fop *op;

			make_op(idx, K_PPID, a->id, &a->rs, &e[i]);
			op = &ops[idx];
			op->kind = sock ? K_SSEND : K_PWRITE;
			if (sock ? sock_make(idx, 2, &a->rs) :
			    pipe_make(idx, 2)) {
				pipe_ok = 0;
				op->kind = K_PPID;
			} else if (sock) {
				op->pipe_owner = idx;
				fill_pattern(op->wbuf, op->len, &a->rs);
				prep_send(idx, op->fd[1], &a->rs, &e[i]);
			} else {
				op->pipe_owner = idx;
				fill_pattern(op->wbuf, op->len, &a->rs);
				ksvc_prep_call(&e[i], corr_of(idx), SYS_write,
					       (__u64)op->fd[1],
					       (uintptr_t)op->wbuf, op->len,
					       0, 0, 0);
			}
		} else if (i == wpos + 1 && wpos >= 0 && pipe_ok) {
			struct fop *w = &ops[first + wpos], *op;

			make_op(idx, K_PPID, a->id, &a->rs, &e[i]);
			op = &ops[idx];
			op->kind = sock ? K_SRECVP : K_PREADP;
			op->pipe_owner = first + wpos;
			op->len = w->len;
			op->stype = w->stype;
			if (sock)
				prep_recv(idx, w->fd[0], 0, &a->rs, &e[i]);
			else
				ksvc_prep_call(&e[i], corr_of(idx), SYS_read,
					       (__u64)w->fd[0],
					       (uintptr_t)op->rbuf, op->len,
					       0, 0, 0);
		} else {
			k = pick_kind(&a->rs, 1);
			/* failing links rarer than working ones */
			if ((k == K_BADFD || k == K_GETTID || k == K_BADNR) &&
			    td_rnd(&a->rs) % 2)
				k = K_PREAD;
			if (make_op(idx, k, a->id, &a->rs, &e[i]) < 0)
				make_op(idx, K_PPID, a->id, &a->rs, &e[i]);
			else if (k == K_HREAD || k == K_SREAD) {
				help[nh] = idx;
				help_us[nh++] = td_rnd(&a->rs) % 3000;
			}
		}
		ops[idx].chain = first;
		if (i < n - 1)
			ksvc_prep_link(&e[i]);
	}
	ops[first].chain_len = n;
	submit_ops(a, first, e, n, nh, help, help_us);
}

/*
 * Before destroy_busy: entries that are sure to be in flight when the
 * main thread destroys the dispatcher -- a 50 ms nanosleep, a read of a
 * pipe and a receive from a socket that the helper writes to in 30 ms.
 */
static void do_last(struct app *a)
{
	static const int kinds[3] = { K_SLEEP, K_HREAD, K_SREAD };
	struct ksvc_entry e[3];
	int help[3], first, i, nh = 0;
	uint64_t help_us[3];

	first = op_reserve(3);
	if (first < 0)
		return;
	for (i = 0; i < 3; i++) {
		if (make_op(first + i, kinds[i], a->id, &a->rs, &e[i]) < 0) {
			make_op(first + i, K_PPID, a->id, &a->rs, &e[i]);
			continue;
		}
		if (kinds[i] == K_SLEEP) {
			ops[first + i].ts.tv_nsec = 50000000;
			continue;
		}
		help[nh] = first + i;
		help_us[nh++] = 30000;
	}
	submit_ops(a, first, e, 3, nh, help, help_us);
}

/* Ask to cancel one of this thread's recent entries. */
static void do_cancel(struct app *a, int as_entry)
{
	int idx, r, after_stop;
	struct fop *op;

	if (!a->nmine)
		return;
	idx = a->mine[td_rnd(&a->rs) % (a->nmine < 512 ? a->nmine : 512)];
	op = &ops[idx];
	if (op->kind == K_CANCEL)
		return;
	__atomic_store_n(&op->cancel_req, 1, __ATOMIC_SEQ_CST);
	if (as_entry) {
		struct ksvc_entry e;
		int c = op_reserve(1);
		struct fop *co;

		if (c < 0)
			return;
		co = &ops[c];
		cancel_fop(co, a, idx);
		ksvc_prep_cancel(&e, corr_of(c), corr_of(idx));
		submit_ops(a, c, &e, 1, 0, NULL, NULL);
		return;
	}
	after_stop = __atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST);
	r = ksvc_dispatch_cancel(g_d, corr_of(idx));
	if (r >= 1)
		__atomic_add_fetch(&op->cancel_found, 1, __ATOMIC_SEQ_CST);
	if (r == 1 || r == -ENOENT || r == -ECANCELED)
		__atomic_add_fetch(&n_direct, 1, __ATOMIC_RELAXED);
	if (after_stop && r != -ESHUTDOWN)
		bad("ksvc_dispatch_cancel after stop: %d", r);
	else if (r == -ECANCELED || r == -ESHUTDOWN) {
		if (!__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST))
			bad("ksvc_dispatch_cancel: %d without a stop", r);
	} else if (r != 1 && r != -ENOENT && r != -EAGAIN) {
		bad("ksvc_dispatch_cancel of corr %#llx (%s): %d",
		    (unsigned long long)corr_of(idx), kind_names[op->kind], r);
	}
}

/*
 * Read what is in the pipe @fd now.  The sync pipes are blocking under
 * BLOCKING_FDS (the promise the flag makes), so poll before each read.
 */
static void drain(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char junk[64];

	while (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN) &&
	       read(fd, junk, sizeof(junk)) > 0)
		;
}

/* One ksvc_dispatch_call() of a random kind; checks its result. */
static void do_sync(struct app *a)
{
	unsigned char buf[64], wb[16];
	struct timespec ts = { 0, 0 };
	__u64 args[6] = { 0 };
	int kind = (int)(td_rnd(&a->rs) % 5), r, after_stop, shut;
	unsigned int len = 1 + (unsigned int)(td_rnd(&a->rs) % 64);
	__u64 off = td_rnd(&a->rs) % (FILE_SIZE - 64);
	long nr = 0;
	__s64 res = 0, want = 0;
	__u32 cf = 0;

	switch (kind) {
	case 0:
		nr = SYS_pread64;
		args[0] = (__u64)file_fd;
		args[1] = (uintptr_t)buf;
		args[2] = len;
		args[3] = off;
		want = len;
		break;
	case 1:
		nr = SYS_nanosleep;
		ts.tv_nsec = (long)(td_rnd(&a->rs) % 1000001);
		args[0] = (uintptr_t)&ts;
		want = 0;
		break;
	case 2:
		nr = SYS_gettid;
		want = KSVC_REFUSED_RESULT;
		break;
	case 3:
		nr = SYS_getppid;	/* Tier 0: never reaches the ring */
		want = getppid();
		break;
	default:
		/* write then read back a private pipe, two calls */
		fill_pattern(wb, sizeof(wb), &a->rs);
		nr = SYS_write;
		args[0] = (__u64)a->sync_pipe[1];
		args[1] = (uintptr_t)wb;
		args[2] = sizeof(wb);
		want = sizeof(wb);
		break;
	}
	after_stop = __atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST);
	r = ksvc_dispatch_call(g_d, nr, args, &res, &cf);
	shut = __atomic_load_n(&stop_started, __ATOMIC_SEQ_CST);
	if (r == -EAGAIN)
		return;
	if (r == -ESHUTDOWN) {
		if (!shut)
			bad("ksvc_dispatch_call: -ESHUTDOWN without a stop");
		return;
	}
	if (r) {
		bad("ksvc_dispatch_call(%ld): %d", nr, r);
		return;
	}
	if (after_stop && kind != 3)
		bad("ksvc_dispatch_call(%ld) after stop returned: 0, %lld",
		    nr, (long long)res);
	if (kind != 3) {
		__atomic_add_fetch(&n_direct, 1, __ATOMIC_RELAXED);
		if (cf & KSVC_COMP_REFUSED)
			__atomic_add_fetch(&n_sync_refused, 1,
					   __ATOMIC_RELAXED);
		if (cf & KSVC_COMP_TIER1)
			__atomic_add_fetch(&n_sync_t1, 1, __ATOMIC_RELAXED);
		if (cf & KSVC_COMP_TIER2)
			__atomic_add_fetch(&n_sync_t2, 1, __ATOMIC_RELAXED);
	}
	if (res == -ECANCELED && shut && kind != 3) {
		if (kind == 4) {
			/* the write may or may not have happened: empty it */
			drain(a->sync_pipe[0]);
		}
		return;
	}
	if (res != want ||
	    (kind == 2 && cf != KSVC_COMP_REFUSED) ||
	    (kind == 0 && memcmp(buf, file_data + off, len)) ||
	    (kind == 3 && cf != 0)) {
		bad("ksvc_dispatch_call(%ld) kind %d: result %lld flags %#x, "
		    "want %lld", nr, kind, (long long)res, cf, (long long)want);
		return;
	}
	if (kind == 4) {
		/* read back with a second call */
		args[0] = (__u64)a->sync_pipe[0];
		args[1] = (uintptr_t)buf;
		args[2] = sizeof(wb);
		r = ksvc_dispatch_call(g_d, SYS_read, args, &res, &cf);
		shut = __atomic_load_n(&stop_started, __ATOMIC_SEQ_CST);
		if (r == 0)
			__atomic_add_fetch(&n_direct, 1, __ATOMIC_RELAXED);
		if (r == 0 && (cf & KSVC_COMP_TIER1))
			__atomic_add_fetch(&n_sync_t1, 1, __ATOMIC_RELAXED);
		if (r == 0 && (cf & KSVC_COMP_TIER2))
			__atomic_add_fetch(&n_sync_t2, 1, __ATOMIC_RELAXED);
		if ((r == -ESHUTDOWN || (r == 0 && res == -ECANCELED)) &&
		    shut) {
			drain(a->sync_pipe[0]);
			return;
		}
		if (r == -EAGAIN) {
			if (read(a->sync_pipe[0], buf, sizeof(wb)) !=
			    (ssize_t)sizeof(wb))
				bad("sync pipe: the byte is gone");
			return;
		}
		if (r || res != (__s64)sizeof(wb) ||
		    memcmp(buf, wb, sizeof(wb)))
			bad("ksvc_dispatch_call(read) of the sync pipe: %d, "
			    "result %lld", r, (long long)res);
	}
}

static void do_reap(struct app *a)
{
	struct ksvc_completion c[16];
	unsigned int max = 1 + (unsigned int)(td_rnd(&a->rs) % 16);
	int r;

	if (cfg.mode == 2 || td_rnd(&a->rs) % 2) {
		r = ksvc_dispatch_reap(g_d, c, max);
		if (r < 0)
			bad("ksvc_dispatch_reap: %d", r);
		else
			record_all(c, r);
	} else {
		unsigned int min = (unsigned int)(td_rnd(&a->rs) % 3);
		int to = (int)(td_rnd(&a->rs) % 8);
		uint64_t s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST);
		uint64_t t0 = td_now_ms(), took;

		if (min > max)
			min = max;
		r = ksvc_dispatch_wait(g_d, c, max, min, to);
		if (r >= 0) {
			if ((unsigned int)r < min || (unsigned int)r > max)
				bad("ksvc_dispatch_wait(max %u, min %u): %d",
				    max, min, r);
			record_all(c, r);
		} else if (r == -ESHUTDOWN) {
			if (!__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST))
				bad("ksvc_dispatch_wait: -ESHUTDOWN, no stop");
		} else if (r != -ETIMEDOUT) {
			bad("ksvc_dispatch_wait: %d", r);
		}
		took = td_now_ms() - t0;
		s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST) - s0;
		if (took > (uint64_t)to + 10000 + s0)
			bad("ksvc_dispatch_wait(max %u, min %u, timeout %d ms) "
			    "took %llu ms (the machine stalled %llu ms)", max,
			    min, to, (unsigned long long)took,
			    (unsigned long long)s0);
		else if (took > (uint64_t)to + 10000)
			tap_diag("seed %llu: a wait took %llu ms, but the "
				 "machine stalled %llu ms meanwhile",
				 (unsigned long long)cfg.seed,
				 (unsigned long long)took,
				 (unsigned long long)s0);
	}
}

/* Caller-driven: one pass of the dispatcher, if nobody else drives. */
static void do_run(void)
{
	int r = ksvc_dispatch_run(g_d);

	if (r == -ESHUTDOWN) {
		if (!__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST))
			bad("ksvc_dispatch_run: -ESHUTDOWN without a stop");
	} else if (r < 0 && r != -EBUSY) {
		bad("ksvc_dispatch_run: %d", r);
	}
}

/* ONE_DRIVER: the driving calls refuse another thread. */
static void check_eperm(void)
{
	struct ksvc_completion c;
	__s64 res;

	if (ksvc_dispatch_wait(g_d, &c, 1, 0, 0) != -EPERM ||
	    ksvc_dispatch_call(g_d, SYS_gettid, NULL, &res, NULL) != -EPERM ||
	    ksvc_dispatch_cancel(g_d, CORR_BASE) != -EPERM ||
	    ksvc_dispatch_run(g_d) != -EPERM ||
	    ksvc_dispatch_stop(g_d) != -EPERM)
		bad("ONE_DRIVER: a driving call from another thread is not "
		    "-EPERM");
}

/* ---------------------------------------------------------------- */
/* fork() while the dispatcher is busy                                */
/* ---------------------------------------------------------------- */

/* The child's bits: td_child_refused()'s, and these two. */
enum { C_OWN = 1 << 6, C_COPY = 1 << 7 };
#define C_ALL	(TD_CHILD_ALL | C_OWN | C_COPY)

static uint64_t mix(uint64_t x);

/*
 * In a child, before anything else of the library's: destroy the copy
 * of the parent's handle, which must close its copy of the io_uring
 * descriptor and nothing else, and give the cancel signal back (no
 * dispatcher of the child's holds it yet).  Returns 1 if so.
 */
static int child_destroy_first(void)
{
	struct sigaction sa;
	int before = td_count_fds();

	ksvc_dispatch_destroy(g_d);
	return before >= 0 && td_count_fds() == before - g_tier1 &&
	       sigaction(SIGRTMIN + 6, NULL, &sa) == 0 &&
	       sa.sa_handler == SIG_DFL;
}

/*
 * In a forked child: an instance and a dispatcher of its own (with the
 * seed's flags), a batch through it -- getppid, pread64 of the file, a
 * pipe written then read, a socket pair sent to then received from --
 * and a Tier 0 call.  The parent's handle is destroyed (the child's copy
 * only) before its own instance is opened (child_destroy_first()),
 * between its create and its use, or after its destroy, at random.
 * Returns C_OWN if its own dispatcher works, and C_COPY unless
 * child_destroy_first() was run and failed.
 */
static int child_own(uint64_t *rs)
{
	struct ksvc_dispatch_params p;
	struct ksvc_open_params op;
	struct ksvc_dispatcher *d;
	struct ksvc_entry e[6];
	struct ksvc_completion c[6];
	struct ksvc *k;
	unsigned char w[48], rb[3][48];
	unsigned int len = 1 + (unsigned int)(td_rnd(rs) % sizeof(w));
	__u64 off = td_rnd(rs) % (FILE_SIZE - sizeof(w));
	int pfd[2], sfd[2], when = (int)(td_rnd(rs) % 3), got = 0, ok, i;
	int copy = C_COPY;
	__s64 res;
	__u32 cf;

	if (when == 0 && !child_destroy_first())
		copy = 0;
	memset(&op, 0, sizeof(op));
	op.flags = td_have_module() ? 0 : KSVC_OPEN_ANON_FALLBACK;
	memset(&p, 0, sizeof(p));
	p.flags = cfg.flags;
	p.workers = cfg.workers;
	if (ksvc_open(&k, &op))
		return copy;
	if (ksvc_dispatch_create(&d, k, &p)) {
		ksvc_close(k);
		return copy;
	}
	if (when == 1)
		ksvc_dispatch_destroy(g_d);
	if (pipe2(pfd, O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sfd))
		return copy;
	fill_pattern(w, len, rs);
	memset(rb, 0, sizeof(rb));
	ksvc_prep_call(&e[0], 0, SYS_getppid, 0, 0, 0, 0, 0, 0);
	ksvc_prep_call(&e[1], 1, SYS_pread64, (__u64)file_fd,
		       (uintptr_t)rb[0], len, off, 0, 0);
	ksvc_prep_call(&e[2], 2, SYS_write, (__u64)pfd[1], (uintptr_t)w, len,
		       0, 0, 0);
	ksvc_prep_link(&e[2]);
	ksvc_prep_call(&e[3], 3, SYS_read, (__u64)pfd[0], (uintptr_t)rb[1],
		       len, 0, 0, 0);
	ksvc_prep_call(&e[4], 4, SYS_sendto, (__u64)sfd[1], (uintptr_t)w,
		       len, 0, 0, 0);
	ksvc_prep_link(&e[4]);
	ksvc_prep_call(&e[5], 5, SYS_recvfrom, (__u64)sfd[0],
		       (uintptr_t)rb[2], len, 0, 0, 0);
	ok = ksvc_dispatch_submit(d, e, 6, KSVC_SUBMIT_WAIT) == 6;
	while (ok && got < 6) {
		int r = ksvc_dispatch_wait(d, c + got, 6 - (unsigned)got, 1,
					   CHILD_MS / 2);

		if (r <= 0)
			ok = 0;
		else
			got += r;
	}
	for (i = 0; ok && i < 6; i++) {
		__s64 want = c[i].corr_id == 0 ? getppid() : (__s64)len;

		if (c[i].corr_id > 5 || c[i].result != want ||
		    !(c[i].flags & (KSVC_COMP_TIER1 | KSVC_COMP_TIER2)))
			ok = 0;
	}
	if (ok && (memcmp(rb[0], file_data + off, len) ||
		   memcmp(rb[1], w, len) || memcmp(rb[2], w, len)))
		ok = 0;
	/* Tier 0 in the child: its own pid, not the parent's */
	if (ok && (ksvc_dispatch_call(d, SYS_getpid, NULL, &res, &cf) ||
		   res != getpid() || cf))
		ok = 0;
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(pfd[0]);
	close(pfd[1]);
	close(sfd[0]);
	close(sfd[1]);
	if (when == 2)
		ksvc_dispatch_destroy(g_d);
	return copy | (ok ? C_OWN : 0);
}

/*
 * What a child checks; one bit per success: the parent's handle refuses
 * it (td_child_refused()); with @full, the child can open and use a
 * dispatcher of its own, and destroying its copy of the parent's handle
 * does what the header says (child_own()).
 */
static int child_checks(int full, uint64_t rs)
{
	int bits = td_child_refused(g_d, g_k, g_mode, g_route);

	return bits | (full ? child_own(&rs) : C_OWN | C_COPY);
}

/*
 * Fork number @i (fork(), or a raw clone() that runs no atfork handler)
 * from whatever thread is here, while the others go on, and wait for the
 * child.  The parent's entries are checked with all the others: each
 * must still complete once, with its result.
 */
static void do_fork(int i)
{
	int raw = cfg.fork_raw[i], st = 0, r;
	uint64_t end, s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST);
	pid_t pid;

	if (raw)
		pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	else
		pid = fork();
	if (pid == 0) {
		int bits = child_checks(!raw && CHILD_MAY_ALLOCATE,
					mix(cfg.seed + (uint64_t)i));

		if (raw)
			syscall(SYS_exit_group, bits);
		_exit(bits);
	}
	if (pid < 0) {
		bad("%s: %s", raw ? "clone" : "fork", strerror(errno));
		return;
	}
	end = td_now_ms() + CHILD_MS;
	while ((r = (int)waitpid(pid, &st, WNOHANG)) == 0) {
		if (td_now_ms() > end +
		    __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST) - s0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			bad("%s child %d took over %d ms: killed",
			    raw ? "clone" : "fork", i, CHILD_MS);
			return;
		}
		usleep(500);
	}
	__atomic_add_fetch(&n_children, 1, __ATOMIC_SEQ_CST);
	if (r != pid)
		bad("waitpid: %s", strerror(errno));
	else if (WIFSIGNALED(st))
		bad("%s child %d: killed by signal %d", raw ? "clone" : "fork",
		    i, WTERMSIG(st));
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != C_ALL)
		bad("%s child %d: checks %#x, want %#x (1 submit, 2 reap/wait/"
		    "run, 4 call/cancel/create, 8 stats/mode/route, 16 stop: "
		    "EACCES; 32 rings unmapped; 64 own dispatcher; 128 "
		    "destroy of the copy)",
		    raw ? "clone" : "fork", i,
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1, C_ALL);
}

/* Run the forks due now for thread @id (-1: main). */
static void forks_due(int id)
{
	int i;

	for (i = 0; i < cfg.nforks; i++)
		if (cfg.fork_thread[i] == id && !forks_done[i] &&
		    td_now_ms() >= run_t0 + cfg.fork_ms[i]) {
			forks_done[i] = 1;
			do_fork(i);
		}
}

static void do_stop(const char *who);

static void *app_main(void *arg)
{
	struct app *a = arg;
	uint64_t end = td_now_ms() + cfg.run_ms;
	int stopped = 0;

	if (cfg.mode == 2 && td_rnd(&a->rs) % 4 == 0)
		check_eperm();
	while (td_now_ms() < end) {
		unsigned int what = (unsigned int)(td_rnd(&a->rs) % 100);

		forks_due(a->id);

		if (cfg.stop_by_app && (a->id == 0 || cfg.stop_many) &&
		    !stopped && td_now_ms() + cfg.run_ms >=
		    end + (unsigned)cfg.stop_at_ms) {
			stopped = 1;
			do_stop("app");
		}
		if (what < 35)
			do_single_or_batch(a);
		else if (what < 50)
			do_chain(a);
		else if (what < 65)
			do_reap(a);
		else if (what < 75 && cfg.mode != 2)
			do_sync(a);
		else if (what < 82)
			do_cancel(a, cfg.mode == 2 || td_rnd(&a->rs) % 2);
		else if (what < 90)
			usleep((useconds_t)(td_rnd(&a->rs) % 500));
		else if (what < 92)
			sched_yield();
		else if (what < 94 && cfg.mode == 1)
			do_run();
		else
			do_reap(a);
	}
	forks_due(a->id);	/* due by now, if the loop missed them */
	if (cfg.destroy_busy)
		do_last(a);
	__atomic_sub_fetch(&apps_working, 1, __ATOMIC_SEQ_CST);
	/*
	 * Stay until the main thread has every completion: with the caller
	 * driving, io_uring cancels the requests of a driving thread that
	 * exits (documented), which would blur the checks.
	 */
	while (!__atomic_load_n(&release_apps, __ATOMIC_SEQ_CST))
		usleep(1000);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Stop                                                               */
/* ---------------------------------------------------------------- */

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

struct stopper {
	pthread_t th;
	int r;
};

static void *stop_again(void *arg)
{
	struct stopper *s = arg;

	s->r = ksvc_dispatch_stop(g_d);
	return NULL;
}

static void do_stop(const char *who)
{
	struct stopper two;
	uint64_t t0, s0;
	int r, have_two = 0;

	__atomic_store_n(&stop_started, 1, __ATOMIC_SEQ_CST);
	if (cfg.double_stop && cfg.mode != 2 &&
	    pthread_create(&two.th, NULL, stop_again, &two) == 0)
		have_two = 1;
	s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST);
	t0 = td_now_ms();
	r = ksvc_dispatch_stop(g_d);
	s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST) - s0;
	/* less any time the whole machine stood still */
	t0 = td_now_ms() - t0;
	t0 = t0 > s0 ? t0 - s0 : 0;
	pthread_mutex_lock(&stop_lock);
	if (t0 > n_stop_ms)
		n_stop_ms = t0;
	pthread_mutex_unlock(&stop_lock);
	if (have_two) {
		pthread_join(two.th, NULL);
		if (two.r != r)
			bad("two stops at once returned %d and %d", r, two.r);
	}
	if (r < 0) {
		bad("ksvc_dispatch_stop (%s): %d", who, r);
		r = 0;
	}
	pthread_mutex_lock(&stop_lock);
	if (stop_left >= 0 && stop_left != r)
		bad("stop returned %d, earlier %d", r, stop_left);
	stop_left = r;
	pthread_mutex_unlock(&stop_lock);
	if (t0 > STOP_BOUND_MS)
		bad("ksvc_dispatch_stop took %llu ms", (unsigned long long)t0);
	/* from now on, submits and calls must say -ESHUTDOWN */
	__atomic_store_n(&stop_returned, 1, __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------------- */
/* Checking                                                           */
/* ---------------------------------------------------------------- */

/*
 * A receive's extras: recvmsg says no truncation; recvfrom wrote the
 * address length back (no peer address on these sockets but a name of
 * at most a family, or none at all).
 */
static int recv_extras_ok(const struct fop *op)
{
	if (op->how == H_MSG)
		return !(op->msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	if (op->how == H_FROM_ADDR)
		return op->alen < sizeof(op->addr);
	return 1;
}

/* What this op's pwrite64 left in its slot of the file. */
static int slot_ok(const struct fop *op)
{
	unsigned char b[sizeof(op->wbuf)];

	return pread(wfile_fd, b, op->len, (off_t)op->off) ==
	       (ssize_t)op->len && !memcmp(b, op->wbuf, op->len);
}

/* Is @op's result right for its call (not counting -ECANCELED)? */
static int result_ok(const struct fop *op, __s64 pid)
{
	__u32 tier = op->cflags & (KSVC_COMP_TIER1 | KSVC_COMP_TIER2);
	unsigned int i;

	switch (op->kind) {
	case K_PPID:
		return op->res == pid && op->cflags == KSVC_COMP_TIER2;
	case K_ZERO:
		for (i = 0; i < op->len; i++)
			if (op->rbuf[i])
				return 0;
		return op->res == (__s64)op->len && tier;
	case K_NULL:
	case K_PWRITE:
		return op->res == (__s64)op->len && tier;
	case K_PREAD:
		return op->res == (__s64)op->len && tier &&
		       !memcmp(op->rbuf, file_data + op->off, op->len);
	case K_SLEEP:
	case K_POLL:
		return op->res == 0 && tier;
	case K_HREAD:
		return op->res == (__s64)op->len && tier &&
		       !memcmp(op->rbuf, op->wbuf, op->len);
	case K_PREADP:
		return op->res == (__s64)op->len && tier &&
		       !memcmp(op->rbuf, ops[op->pipe_owner].wbuf, op->len);
	case K_SREAD:
		return op->res == (__s64)op->len && tier &&
		       !memcmp(op->rbuf, op->wbuf, op->len) &&
		       recv_extras_ok(op);
	case K_SSEND:
		return op->res == (__s64)op->len && tier;
	case K_SRECVP:
		return op->res == (__s64)op->len && tier &&
		       !memcmp(op->rbuf, ops[op->pipe_owner].wbuf, op->len) &&
		       recv_extras_ok(op);
	case K_NBRECV:
		return op->res == -EAGAIN && tier;
	case K_PWRITEF:
		return op->res == (__s64)op->len && tier && slot_ok(op);
	case K_ESPIPE:
		return op->res == -ESPIPE && tier;
	case K_BADFD:
		return op->res == -EBADF && tier;
	case K_GETTID:
	case K_BADNR:
		return op->res == KSVC_REFUSED_RESULT &&
		       op->cflags == KSVC_COMP_REFUSED;
	case K_BADFLAGS:
		return op->res == -EINVAL && op->cflags == 0;
	case K_CANCEL:
		return (op->res == 1 || op->res == -ENOENT) && op->cflags == 0;
	}
	return 0;
}

struct tally {
	uint64_t t1, t2, refused, invalid, ecanceled_t1, ecanceled_t2;
	uint64_t chain_cancelled, chain_cancel_max, missing, bad;
	uint64_t submitted, cancelled;
};

static void check_op(int idx, __s64 pid, int pred_failed, struct tally *t)
{
	struct fop *op = &ops[idx];
	int stopped = __atomic_load_n(&stop_started, __ATOMIC_SEQ_CST);

	if (op->cflags & KSVC_COMP_TIER1)
		t->t1++;
	if (op->cflags & KSVC_COMP_TIER2)
		t->t2++;
	if (op->cflags & KSVC_COMP_REFUSED)
		t->refused++;
	if (op->kind == K_BADFLAGS && op->res == -EINVAL)
		t->invalid++;
	if (op->res == -ECANCELED && (op->cflags & KSVC_COMP_TIER1))
		t->ecanceled_t1++;
	if (op->res == -ECANCELED && (op->cflags & KSVC_COMP_TIER2))
		t->ecanceled_t2++;
	if (pred_failed) {
		if (op->res != -ECANCELED || op->cflags) {
			t->bad++;
			bad("corr %#llx (%s, link %d of chain %#llx) ran "
			    "after a failed link: %lld flags %#x",
			    (unsigned long long)corr_of(idx),
			    kind_names[op->kind], idx - op->chain,
			    (unsigned long long)corr_of(op->chain),
			    (long long)op->res, op->cflags);
		}
		t->chain_cancel_max++;
		t->chain_cancelled++;
		return;
	}
	if (op->res == -ECANCELED) {
		/*
		 * Without a stop, only a cancel that found the entry in
		 * flight may have cancelled it: one that said -ENOENT
		 * found it done.
		 */
		if (!stopped && !op->cancel_found) {
			t->bad++;
			bad("corr %#llx (%s) -ECANCELED, flags %#x, without "
			    "a stop or a cancel that found it (%s)",
			    (unsigned long long)corr_of(idx),
			    kind_names[op->kind], op->cflags,
			    op->cancel_req ? "cancels said -ENOENT" :
			    "never named");
		}
		return;
	}
	if (op->kind == K_CANCEL && op->res == 1 &&
	    !ops[op->target_idx].cancel_req) {
		t->bad++;
		bad("cancel entry found a target never named");
	}
	if (!result_ok(op, pid)) {
		int sk = op->kind >= K_SREAD && op->kind <= K_NBRECV;

		t->bad++;
		bad("corr %#llx (%s%s%s%s%s%s, len %u, msg flags %#x): "
		    "result %lld flags %#x", (unsigned long long)corr_of(idx),
		    kind_names[op->kind], op->chain >= 0 ? ", in a chain" : "",
		    sk ? ", " : "", sk ? stype_names[op->stype] : "",
		    sk ? " " : "", sk ? how_names[op->how] : "", op->len,
		    (unsigned)op->sflags, (long long)op->res, op->cflags);
	}
}

static void check_ops(struct tally *t)
{
	int n = __atomic_load_n(&next_op, __ATOMIC_SEQ_CST), i;
	__s64 pid = getppid();

	if (n > MAX_OPS)
		n = MAX_OPS;
	/* what the cancel entries found */
	for (i = 0; i < n; i++)
		if (ops[i].state == S_PENDING && ops[i].kind == K_CANCEL &&
		    ops[i].ncomp && ops[i].res >= 1)
			ops[ops[i].target_idx].cancel_found++;
	for (i = 0; i < n; i++) {
		struct fop *op = &ops[i];
		int j, failed = 0;

		if (op->state == S_FAILED) {
			if (op->ncomp) {
				t->bad++;
				bad("corr %#llx completed, but its submit "
				    "failed", (unsigned long long)corr_of(i));
			}
			continue;
		}
		if (op->state != S_PENDING)
			continue;
		t->submitted++;
		if (op->ncomp && op->res == -ECANCELED)
			t->cancelled++;
		if (op->chain >= 0 && op->chain != i)
			continue;	/* checked with its chain */
		if (op->chain < 0) {
			if (!op->ncomp)
				t->missing++;
			else
				check_op(i, pid, 0, t);
			continue;
		}
		for (j = 0; j < op->chain_len; j++) {
			struct fop *l = &ops[i + j];

			if (!l->ncomp) {
				t->missing++;
				continue;
			}
			check_op(i + j, pid, failed, t);
			/* A link that failed, or that a cancel found in
			 * flight (whatever it returned), ends its chain. */
			if (l->res < 0 || l->cancel_found)
				failed = 1;
		}
	}
}

/* ---------------------------------------------------------------- */
/* One seed                                                           */
/* ---------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return (x ^ (x >> 31)) | 1;
}

static void pick_config(uint64_t seed, unsigned int max_ms)
{
	static const __u32 sizes[] = { 16, 16, 32, 64, 256 };
	static const __u32 spins[] = { KSVC_SPIN_NONE, 0, 1, 5, 50, 200 };
	uint64_t rs = mix(seed);
	int i, ngaps = 0;
	char gaps[96] = "", forks[64] = "";

	memset(&cfg, 0, sizeof(cfg));
	cfg.seed = seed;
	cfg.mode = (int)(td_rnd(&rs) % 3);
	cfg.sq = sizes[td_rnd(&rs) % 5];
	cfg.cq = sizes[td_rnd(&rs) % 5];
	cfg.workers = 1 + (__u32)(td_rnd(&rs) % 8);
	cfg.spin_us = spins[td_rnd(&rs) % 6];
	cfg.flags = cfg.mode ? KSVC_DISPATCH_CALLER_DRIVES : 0;
	if (cfg.mode == 2)
		cfg.flags |= KSVC_DISPATCH_ONE_DRIVER;
	if (td_rnd(&rs) % 4 == 0)
		cfg.flags |= KSVC_DISPATCH_NO_TIER1;
	if (td_rnd(&rs) % 5 == 0)
		cfg.flags |= KSVC_DISPATCH_NO_INLINE;
	cfg.evfd = (int)(td_rnd(&rs) % 2);
	cfg.nthreads = 1 + (int)(td_rnd(&rs) % MAX_THREADS);
	cfg.run_ms = 20 + (unsigned int)(td_rnd(&rs) % (max_ms - 19));
	if (td_rnd(&rs) % 3 == 0) {
		cfg.stop_at_ms = (int)(td_rnd(&rs) % cfg.run_ms);
		cfg.stop_by_app = cfg.mode != 2 && td_rnd(&rs) % 2;
		cfg.double_stop = td_rnd(&rs) % 3 == 0;
	} else {
		cfg.stop_at_ms = -1;
	}
	if (td_rnd(&rs) % 3 == 0) {
		ngaps = 1 + (int)(td_rnd(&rs) % 3);
		for (i = 0; i < ngaps; i++) {
			int w = (int)(td_rnd(&rs) % NGAPS);

			cfg.gap_us[w] = 1 + (unsigned int)(td_rnd(&rs) % 200);
		}
		for (i = 0; i < NGAPS; i++)
			if (cfg.gap_us[i])
				snprintf(gaps + strlen(gaps),
					 sizeof(gaps) - strlen(gaps), " %d:%u",
					 i, cfg.gap_us[i]);
	}
	/* drawn last: earlier seeds keep the rest of their configuration */
	if (td_rnd(&rs) % 3 == 0)
		cfg.flags |= KSVC_DISPATCH_BLOCKING_FDS;
	if (td_rnd(&rs) % 3 == 0)
		cfg.flags |= KSVC_DISPATCH_POSITIONAL_FDS;
	if (td_rnd(&rs) % 3 == 0)
		cfg.flags |= KSVC_DISPATCH_RECV_POLL_FIRST;
	cfg.blocking = (cfg.flags & KSVC_DISPATCH_BLOCKING_FDS) != 0;
	cfg.positional = (cfg.flags & KSVC_DISPATCH_POSITIONAL_FDS) != 0;
	cfg.stop_many = cfg.stop_by_app && td_rnd(&rs) % 2;
	cfg.destroy_busy = cfg.stop_at_ms < 0 && td_rnd(&rs) % 4 == 0;
	if (td_rnd(&rs) % 4 == 0)
		cfg.nforks = td_rnd(&rs) % 4 ? 1 : MAX_FORKS;
	for (i = 0; i < cfg.nforks; i++) {
		cfg.fork_ms[i] = (unsigned int)(td_rnd(&rs) % cfg.run_ms);
		cfg.fork_thread[i] = (int)(td_rnd(&rs) %
					   (unsigned)(cfg.nthreads + 1)) - 1;
		cfg.fork_raw[i] = td_rnd(&rs) % 4 == 0;
		snprintf(forks + strlen(forks), sizeof(forks) - strlen(forks),
			 " %s%u@%d", cfg.fork_raw[i] ? "clone" : "fork",
			 cfg.fork_ms[i], cfg.fork_thread[i]);
	}
	snprintf(cfg.desc, sizeof(cfg.desc),
		 "mode %s sq %u cq %u workers %u spin %d%s%s%s%s%s %s "
		 "threads %d run %u ms stop %d%s%s%s gaps%s%s%s",
		 cfg.mode == 0 ? "thread" : cfg.mode == 1 ? "driven" :
		 "one-driver", cfg.sq, cfg.cq, cfg.workers,
		 cfg.spin_us == KSVC_SPIN_NONE ? -1 : (int)cfg.spin_us,
		 cfg.flags & KSVC_DISPATCH_NO_TIER1 ? " no-tier1" : "",
		 cfg.flags & KSVC_DISPATCH_NO_INLINE ? " no-inline" : "",
		 cfg.blocking ? " blocking" : "",
		 cfg.positional ? " positional" : "",
		 cfg.flags & KSVC_DISPATCH_RECV_POLL_FIRST ? " poll-first" : "",
		 cfg.evfd ? "eventfd" : "futex", cfg.nthreads, cfg.run_ms,
		 cfg.stop_at_ms, cfg.stop_by_app ? (cfg.stop_many ?
		 " by-apps" : " by-app") : "", cfg.double_stop ? " twice" : "",
		 cfg.destroy_busy ? " destroy-busy" : "",
		 ngaps ? gaps : " none",
		 cfg.nforks ? " forks" : "", forks);
}

/* Reap everything there is now (the driver's own loop). */
static int main_reap(uint64_t *rs)
{
	struct ksvc_completion c[64];
	unsigned int min = (unsigned int)(td_rnd(rs) % 3);
	int to = (int)(td_rnd(rs) % 10), r;
	uint64_t s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST);
	uint64_t t0 = td_now_ms(), took;

	r = ksvc_dispatch_wait(g_d, c, 64, min, to);
	took = td_now_ms() - t0;
	s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST) - s0;
	if (took > (uint64_t)to + 10000 + s0)
		bad("main: ksvc_dispatch_wait(min %u, timeout %d ms) took %llu "
		    "ms (the machine stalled %llu ms)", min, to,
		    (unsigned long long)took, (unsigned long long)s0);
	if (r > 0)
		record_all(c, r);
	else if (r == -ESHUTDOWN &&
		 !__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST))
		bad("main: ksvc_dispatch_wait -ESHUTDOWN without a stop");
	else if (r < 0 && r != -ETIMEDOUT && r != -ESHUTDOWN)
		bad("main: ksvc_dispatch_wait: %d", r);
	return r;
}

static uint64_t outstanding(void)
{
	int n = __atomic_load_n(&next_op, __ATOMIC_SEQ_CST), i;
	uint64_t left = 0;

	if (n > MAX_OPS)
		n = MAX_OPS;
	for (i = 0; i < n; i++)
		if (__atomic_load_n(&ops[i].state, __ATOMIC_SEQ_CST) ==
		    S_PENDING &&
		    !__atomic_load_n(&ops[i].ncomp, __ATOMIC_SEQ_CST))
			left++;
	return left;
}

static int run_seed(uint64_t seed, unsigned int max_ms)
{
	struct app apps[MAX_THREADS];
	struct ksvc_dispatch_params p;
	struct ksvc_dispatch_stats st;
	struct tally t;
	struct ksvc *k;
	pthread_t hth;
	uint64_t rs, t0, drain_end = 0, left;
	int i, err, ok, cq_full = 0, n_after = -1, n_busy = 0;
	char dmsg[96] = "";

	pick_config(seed, max_ms);
	rs = mix(seed ^ 0x5151);
	/* the ops the last seed used (a fork copies what was touched) */
	memset(ops, 0, sizeof(*ops) * (size_t)(next_op < MAX_OPS ? next_op :
					       MAX_OPS));
	if (ftruncate(wfile_fd, 0))
		tap_bail("ftruncate: %s", strerror(errno));
	next_op = 0;
	stop_started = stop_returned = 0;
	stop_left = -1;
	app_failed = 0;
	release_apps = 0;
	n_recorded = n_unknown = n_dup = 0;
	n_direct = n_sync_refused = n_sync_t1 = n_sync_t2 = 0;
	n_stop_ms = 0;
	n_children = 0;
	memset(forks_done, 0, sizeof(forks_done));
	nmsgs = 0;
	nhjobs = 0;
	h_quit = 0;
	__atomic_store_n(&wd_deadline_ms, td_now_ms() + SEED_LIMIT_S * 1000,
			 __ATOMIC_SEQ_CST);

	k = td_open_with(cfg.sq, cfg.cq, cfg.evfd ? KSVC_OPEN_EVENTFD_NEW :
			 KSVC_OPEN_EVENTFD_GIVEN, -1);
	memset(&p, 0, sizeof(p));
	p.flags = cfg.flags;
	p.workers = cfg.workers;
	p.spin_us = cfg.spin_us;
	err = ksvc_dispatch_create(&g_d, k, &p);
	if (err) {
		tap_diag("seed %llu: %s", (unsigned long long)seed, cfg.desc);
		tap_bail("ksvc_dispatch_create: %s", strerror(-err));
	}
	for (i = 0; i < NGAPS; i++)
		if (cfg.gap_us[i])
			ksvc__pool_test_gap(g_d, i, cfg.gap_us[i]);
	g_k = k;
	g_mode = ksvc_dispatch_mode(g_d);
	{
		struct ksvc_entry ge;

		ksvc_prep_call(&ge, CORR_BASE, SYS_getppid, 0, 0, 0, 0, 0, 0);
		g_route = ksvc_dispatch_route(g_d, &ge);
		g_tier1 = ksvc_dispatch_stats(g_d, &st) == 0 &&
			  st.tier1_available;
	}
	if (pthread_create(&hth, NULL, helper, NULL))
		tap_bail("pthread_create");
	apps_working = cfg.nthreads;
	run_t0 = td_now_ms();
	for (i = 0; i < cfg.nthreads; i++) {
		apps[i].id = i;
		apps[i].rs = mix(seed * 7919 + (uint64_t)i + 1);
		apps[i].nmine = 0;
		if (pipe2(apps[i].sync_pipe, O_CLOEXEC |
			  (cfg.blocking ? 0 : O_NONBLOCK)))
			tap_bail("pipe2: %s", strerror(errno));
		if (pthread_create(&apps[i].th, NULL, app_main, &apps[i]))
			tap_bail("pthread_create");
	}

	/* The main thread reaps (and drives) until all is in. */
	t0 = td_now_ms();
	for (;;) {
		int working = __atomic_load_n(&apps_working, __ATOMIC_SEQ_CST);

		if (cfg.stop_at_ms >= 0 && !cfg.stop_by_app &&
		    !__atomic_load_n(&stop_started, __ATOMIC_SEQ_CST) &&
		    td_now_ms() - t0 >= (uint64_t)cfg.stop_at_ms)
			do_stop("main");
		forks_due(-1);
		main_reap(&rs);
		if (working)
			continue;
		if (cfg.destroy_busy)
			break;		/* with what is in flight */
		if (!drain_end)
			drain_end = td_now_ms() + DRAIN_MS;
		left = outstanding();
		if (__atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST)) {
			/* all answered that will be: take what is there */
			struct ksvc_completion c[64];
			int r;

			while ((r = ksvc_dispatch_reap(g_d, c, 64)) > 0)
				record_all(c, r);
			break;
		}
		if (!left)
			break;
		if (td_now_ms() > drain_end)
			break;
	}
	if (cfg.destroy_busy) {
		/*
		 * Destroy stops (as ksvc_dispatch_stop()) with the entries of
		 * several threads still in flight: no other call on the
		 * dispatcher runs now, as the header wants.  Its completions
		 * stay in the instance's ring, which is left open.
		 */
		struct ksvc_completion c;
		uint64_t s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST);

		__atomic_store_n(&stop_started, 1, __ATOMIC_SEQ_CST);
		n_busy = (int)outstanding();
		t0 = td_now_ms();
		ksvc_dispatch_destroy(g_d);
		g_d = NULL;
		t0 = td_now_ms() - t0;
		s0 = __atomic_load_n(&stall_ms, __ATOMIC_SEQ_CST) - s0;
		n_stop_ms = t0 > s0 ? t0 - s0 : 0;
		cq_full = ksvc_ring_ready(&k->cq) == k->cq.entries;
		n_after = 0;
		while (ksvc_cq_pop(&k->cq, &c) == 0) {
			record(&c);
			n_after++;
		}
	}
	__atomic_store_n(&release_apps, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < cfg.nthreads; i++) {
		pthread_join(apps[i].th, NULL);
		close(apps[i].sync_pipe[0]);
		close(apps[i].sync_pipe[1]);
	}
	pthread_mutex_lock(&h_lock);
	h_quit = 1;
	pthread_cond_signal(&h_cond);
	pthread_mutex_unlock(&h_lock);
	pthread_join(hth, NULL);

	memset(&t, 0, sizeof(t));
	check_ops(&t);
	left = t.missing;
	if (cfg.destroy_busy) {
		/* the submit ring's entries get answers while there is room */
		if (left && !cq_full)
			bad("%llu entries never completed, though destroy left "
			    "room in the completion ring",
			    (unsigned long long)left);
		if (n_stop_ms > STOP_BOUND_MS)
			bad("ksvc_dispatch_destroy took %llu ms",
			    (unsigned long long)n_stop_ms);
		goto done;
	}
	if (ksvc_dispatch_stats(g_d, &st))
		bad("ksvc_dispatch_stats failed");
	if ((int64_t)left != (stop_left > 0 ? stop_left : 0))
		bad("%llu entries never completed (stop left %d)",
		    (unsigned long long)left, stop_left);
	if (left && !stop_started)
		dump_outstanding();
	if (st.posted != n_recorded)
		bad("stats: posted %llu, the program reaped %llu",
		    (unsigned long long)st.posted,
		    (unsigned long long)n_recorded);
	if (st.direct != n_direct)
		bad("stats: direct %llu, ksvc_dispatch_call/cancel got %llu",
		    (unsigned long long)st.direct,
		    (unsigned long long)n_direct);
	if (stop_left <= 0 && st.taken != st.posted + st.direct)
		bad("stats: taken %llu != posted %llu + direct %llu",
		    (unsigned long long)st.taken,
		    (unsigned long long)st.posted,
		    (unsigned long long)st.direct);
	if (st.tier1.in_flight || st.tier2.in_flight ||
	    st.tier1.submitted != st.tier1.completed ||
	    st.tier2.submitted != st.tier2.completed)
		bad("stats: in flight %llu + %llu (submitted %llu/%llu, "
		    "completed %llu/%llu)",
		    (unsigned long long)st.tier1.in_flight,
		    (unsigned long long)st.tier2.in_flight,
		    (unsigned long long)st.tier1.submitted,
		    (unsigned long long)st.tier2.submitted,
		    (unsigned long long)st.tier1.completed,
		    (unsigned long long)st.tier2.completed);
	if (st.tier1.completed != t.t1 + n_sync_t1 ||
	    st.tier2.completed != t.t2 + n_sync_t2)
		bad("stats: completed %llu/%llu, the program saw %llu/%llu",
		    (unsigned long long)st.tier1.completed,
		    (unsigned long long)st.tier2.completed,
		    (unsigned long long)(t.t1 + n_sync_t1),
		    (unsigned long long)(t.t2 + n_sync_t2));
	if (st.refused != t.refused + n_sync_refused)
		bad("stats: refused %llu, the program saw %llu",
		    (unsigned long long)st.refused,
		    (unsigned long long)(t.refused + n_sync_refused));
	if (st.invalid != t.invalid)
		bad("stats: invalid %llu, the program saw %llu",
		    (unsigned long long)st.invalid,
		    (unsigned long long)t.invalid);
	if (st.tier1.cancelled > t.ecanceled_t1 + n_sync_t1 ||
	    st.tier2.cancelled > t.ecanceled_t2 + n_sync_t2 ||
	    (!stop_started && (st.tier1.cancelled || st.tier2.cancelled)))
		bad("stats: cancelled by stop %llu/%llu, -ECANCELED seen "
		    "%llu/%llu", (unsigned long long)st.tier1.cancelled,
		    (unsigned long long)st.tier2.cancelled,
		    (unsigned long long)t.ecanceled_t1,
		    (unsigned long long)t.ecanceled_t2);
	if (st.chain_cancelled > t.chain_cancel_max ||
	    (!stop_started && st.chain_cancelled != t.chain_cancelled))
		bad("stats: chain_cancelled %llu, the program saw %llu",
		    (unsigned long long)st.chain_cancelled,
		    (unsigned long long)t.chain_cancelled);
	if (stop_started && n_stop_ms > STOP_BOUND_MS)
		bad("stop took %llu ms", (unsigned long long)n_stop_ms);
done:
	if (n_children != cfg.nforks)
		bad("%d of %d forks made a child that finished", n_children,
		    cfg.nforks);

	ksvc_dispatch_destroy(g_d);
	g_d = NULL;
	ksvc_close(k);
	/* pipes of entries never answered (stop left them) */
	for (i = 0; i < MAX_OPS && i < next_op; i++)
		if (ops[i].refs > 0 && ops[i].fd[0] >= 0) {
			close(ops[i].fd[0]);
			close(ops[i].fd[1]);
		}
	__atomic_store_n(&wd_deadline_ms, 0, __ATOMIC_SEQ_CST);

	ok = !__atomic_load_n(&app_failed, __ATOMIC_SEQ_CST) && !t.bad;
	if (n_after >= 0)
		snprintf(dmsg, sizeof(dmsg), ", destroyed with %d not reaped "
			 "(%d answers in the ring after)", n_busy, n_after);
	tap_ok(ok, "seed %llu: %s: %llu entries, %llu -ECANCELED, "
	       "%llu direct%s%s",
	       (unsigned long long)seed, cfg.desc,
	       (unsigned long long)t.submitted,
	       (unsigned long long)t.cancelled, (unsigned long long)n_direct,
	       n_after >= 0 ? dmsg : stop_started ? ", stopped" : "",
	       n_children ? ", children checked" : "");
	if (!ok)
		tap_diag("seed %llu failed: %s", (unsigned long long)seed,
			 cfg.desc);
	return ok;
}

/* A loopback TCP listener for tcp_pair(), if this machine has one. */
static void listen_tcp(void)
{
	socklen_t len = sizeof(lsn_addr);

	memset(&lsn_addr, 0, sizeof(lsn_addr));
	lsn_addr.sin_family = AF_INET;
	lsn_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lsn_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsn_fd >= 0 &&
	    (bind(lsn_fd, (struct sockaddr *)&lsn_addr, sizeof(lsn_addr)) ||
	     listen(lsn_fd, 8) ||
	     getsockname(lsn_fd, (struct sockaddr *)&lsn_addr, &len))) {
		close(lsn_fd);
		lsn_fd = -1;
	}
	if (lsn_fd < 0)
		tap_diag("no loopback TCP (%s): sockets are AF_UNIX only",
			 strerror(errno));
}

/* @opt N on the command line, else the environment's @name, else @def */
static unsigned long opt_num(int argc, char **argv, const char *opt,
			     const char *name, unsigned long def)
{
	const char *s = getenv(name);
	int i;

	for (i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], opt) == 0)
			s = argv[i + 1];
	return s && *s ? strtoul(s, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	unsigned long nseeds, first, max_ms, i;
	pthread_t wd;
	char path[] = "/tmp/ksvc-fuzz.XXXXXX";
	uint64_t rs = 0x1234567ull;

	td_args(argc, argv);
	nseeds = opt_num(argc, argv, "--seeds", "KSVC_FUZZ_SEEDS",
			 td_count(24, 4));
	first = opt_num(argc, argv, "--first", "KSVC_FUZZ_FIRST", 1);
	max_ms = opt_num(argc, argv, "--ms", "KSVC_FUZZ_MS", 120);
	if (max_ms < 40)
		max_ms = 40;
	signal(SIGPIPE, SIG_IGN);

	ops = calloc(MAX_OPS, sizeof(*ops));
	hjobs = calloc(MAX_OPS, sizeof(*hjobs));
	if (!ops || !hjobs)
		tap_bail("out of memory");
	file_fd = mkstemp(path);
	if (file_fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	unlink(path);
	fill_pattern(file_data, FILE_SIZE, &rs);
	if (write(file_fd, file_data, FILE_SIZE) != FILE_SIZE)
		tap_bail("write of the temporary file failed");
	strcpy(path, "/tmp/ksvc-fuzz.XXXXXX");
	wfile_fd = mkstemp(path);
	if (wfile_fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	unlink(path);
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (zero_fd < 0 || null_fd < 0 || pipe2(quiet, O_CLOEXEC))
		tap_bail("open: %s", strerror(errno));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qsock) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		       qsock_nb))
		tap_bail("socketpair: %s", strerror(errno));
	listen_tcp();
	if (pthread_create(&wd, NULL, watchdog, NULL))
		tap_bail("pthread_create");

	tap_plan((int)nseeds);
	td_say_where();
	tap_diag("seeds %lu..%lu, application threads run up to %lu ms",
		 first, first + nseeds - 1, max_ms);
	for (i = 0; i < nseeds; i++)
		run_seed(first + i, (unsigned int)max_ms);
	close(file_fd);
	close(zero_fd);
	close(null_fd);
	close(quiet[0]);
	close(quiet[1]);
	close(wfile_fd);
	close(qsock[0]);
	close(qsock[1]);
	close(qsock_nb[0]);
	close(qsock_nb[1]);
	if (lsn_fd >= 0)
		close(lsn_fd);
	free(hjobs);
	free(ops);
	tap_done();
}
