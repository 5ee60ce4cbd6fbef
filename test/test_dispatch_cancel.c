// SPDX-License-Identifier: MIT
/*
 * test_dispatch_cancel - KSVC_ENTRY_CANCEL and ksvc_dispatch_cancel().
 *
 * In both dispatcher modes:
 *   - a pool call blocked in the kernel (read on an empty pipe) completes
 *     -ECANCELED; the cancel entry says 1; the worker's next calls are
 *     not interrupted (no stray signal);
 *   - a pool call queued behind busy workers completes -ECANCELED at
 *     once, while they stay blocked, also with the cancel in the call's
 *     own batch; ksvc_dispatch_cancel() frees them;
 *   - calls cancelled in the pool's queue leave no hole there: 100 of
 *     them, then the calls queued before and after still complete once;
 *   - a Tier 1 receive waiting for data completes -ECANCELED, and the
 *     socket loses nothing;
 *   - a write that moved data before the cancel returns that count, in
 *     Tier 1 (the dispatcher's continuation) and in the pool, also with
 *     the cancel in the write's own batch;
 *   - chains: a cancelled waiting link never runs; a cancelled running
 *     link ends the chain;
 *   - two entries with one corr_id: both, and the result says 2;
 *   - nothing in flight: -ENOENT; malformed cancel entries: -EINVAL, and
 *     their target runs on;
 *   - a cancel that comes in either window of a pool call (taken, not
 *     yet published; published, not yet started), each held open, and
 *     the driver's (the call ends as its worker's timer is started: the
 *     worker's next call must not get the signal);
 *   - many cancels racing calls that start or finish at that moment:
 *     each call completes once, each cancel lands within the bound, and
 *     no call that was not cancelled ever sees EINTR.
 * "Promptly" is 5 s here: a functional bound, not a timing (QEMU TCG).
 */
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <liburing.h>

#include "test_dispatch.h"

#define PROMPT_MS	5000

/* lib/tier2.c, for tests */
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us);

static struct ksvc_dispatcher *mk(struct ksvc *k, int mode,
				  unsigned int workers, int pool_rw)
{
	struct ksvc_dispatch_params p;

	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = workers;
	if (pool_rw) {	/* read and write in the pool, not Tier 1 */
		td_mask_op(&p, IORING_OP_READ);
		td_mask_op(&p, IORING_OP_WRITE);
	}
	return td_create_p(k, &p);
}

/* Submit, and give the calls time to start (a driven dispatcher: run). */
static void go(struct ksvc_dispatcher *d, int mode,
	       const struct ksvc_entry *e, unsigned int n)
{
	int r = n ? ksvc_dispatch_submit(d, e, n, 0) : 0;

	if (r != (int)n)
		tap_bail("ksvc_dispatch_submit: %d", r);
	if (mode == 1)
		ksvc_dispatch_run(d);
	usleep(50000);
	if (mode == 1)
		ksvc_dispatch_run(d);
}

/* Close @n pipes at @p, stop @d, close @k. */
static void teardown(struct ksvc_dispatcher *d, struct ksvc *k,
		     int (*p)[2], int n)
{
	int i;

	for (i = 0; i < n; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static struct ksvc_entry cancel_entry(__u64 corr, __u64 target)
{
	struct ksvc_entry e;

	ksvc_prep_cancel(&e, corr, target);
	return e;
}

/*
 * Cancel entry @id with a cancel entry @id + 1, and collect both answers
 * (@x: the call's, @y: the cancel's; NULL if missing).  Returns how many
 * came.
 */
static unsigned int cancel_now(struct ksvc_dispatcher *d, int mode,
			       __u64 id, struct ksvc_completion *c,
			       const struct ksvc_completion **x,
			       const struct ksvc_completion **y)
{
	struct ksvc_entry e = cancel_entry(id + 1, id);
	unsigned int got;

	go(d, mode, &e, 1);
	got = td_collect(d, c, 2, PROMPT_MS);
	*x = td_find(c, got, id);
	*y = td_find(c, got, id + 1);
	return got;
}

/*
 * Collect the answers of call @id and of its cancel @cid: the call's
 * -ECANCELED and the cancel's 1, and nothing else, within PROMPT_MS.
 * The number of answers in *@got.
 */
static int cancelled_pair(struct ksvc_dispatcher *d, __u64 id, __u64 cid,
			  unsigned int *got)
{
	struct ksvc_completion c[4];
	const struct ksvc_completion *x, *y;

	*got = td_collect(d, c, 2, PROMPT_MS);
	x = td_find(c, *got, id);
	y = td_find(c, *got, cid);
	return *got == 2 && x && x->result == -ECANCELED && y &&
	       y->result == 1;
}

static void mkpipe(int p[2])
{
	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
}

static void put(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		tap_bail("write: %s", strerror(errno));
}

/* Pool calls that must run whole: nanosleep(2 ms) fails with EINTR if a
 * stray cancel signal reaches its worker. */
static int pool_clean(struct ksvc_dispatcher *d, int n)
{
	static const struct timespec ms2 = { 0, 2000000 };
	__u64 a[6] = { (uintptr_t)&ms2, 0 };
	int i, ok = 0;

	for (i = 0; i < n; i++) {
		__s64 res = -1;
		__u32 cf = 0;

		ok += ksvc_dispatch_call(d, SYS_nanosleep, a, &res, &cf) == 0 &&
		      res == 0 && cf == KSVC_COMP_TIER2;
	}
	return ok == n;
}

static void test_pool_running(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x, *y;
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	char buf[8] = "";
	int p[2], ok;
	unsigned int got;
	__u64 t0;

	mkpipe(p);
	e[0] = td_entry(10, SYS_read, (__u64)p[0], (uintptr_t)buf, 8, 0);
	go(d, mode, e, 1);
	got = td_collect(d, c, 1, 100);
	tap_ok(got == 0, "%s: a pool read on an empty pipe blocks", m);

	t0 = td_now_ms();
	got = cancel_now(d, mode, 10, c, &x, &y);
	ok = got == 2 && x && y && x->result == -ECANCELED &&
	     x->flags == KSVC_COMP_TIER2 && y->result == 1 && y->flags == 0;
	tap_ok(ok, "%s: cancelled, it completes -ECANCELED (%lld, %#x); the "
	       "cancel entry says 1 (%lld, %#x), in %llu ms", m,
	       x ? (long long)x->result : 0LL, x ? x->flags : 0,
	       y ? (long long)y->result : 0LL, y ? y->flags : 0,
	       (unsigned long long)(td_now_ms() - t0));

	put(p[1], "ab");
	e[0] = td_entry(12, SYS_read, (__u64)p[0], (uintptr_t)buf, 8, 0);
	go(d, mode, e, 1);
	got = td_collect(d, c, 1, PROMPT_MS);
	tap_ok(got == 1 && c[0].result == 2 && memcmp(buf, "ab", 2) == 0 &&
	       pool_clean(d, 20),
	       "%s: the pipe lost nothing, and 20 pool nanosleep()s after run "
	       "whole (no stray signal)", m);
	teardown(d, k, &p, 1);
}

/*
 * Three pipes at @p; reads 20 and 21 on the first two hold both workers
 * of @d, read 22 on the third waits in the queue behind them.
 */
static void block_two(struct ksvc_dispatcher *d, int mode, int (*p)[2],
		      char (*buf)[8])
{
	struct ksvc_entry e[2];
	int i;

	for (i = 0; i < 3; i++)
		mkpipe(p[i]);
	for (i = 0; i < 2; i++)
		e[i] = td_entry(20 + (__u64)i, SYS_read, (__u64)p[i][0],
				(uintptr_t)buf[i], 8, 0);
	go(d, mode, e, 2);
	e[0] = td_entry(22, SYS_read, (__u64)p[2][0], (uintptr_t)buf[2], 8, 0);
	go(d, mode, e, 1);
}

static void test_pool_queued(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	char buf[3][8];
	int p[3][2], r1, r2, ok;
	unsigned int got;

	block_two(d, mode, p, buf);
	e[0] = cancel_entry(23, 22);
	go(d, mode, e, 1);
	ok = cancelled_pair(d, 22, 23, &got);
	tap_ok(ok && td_collect(d, c, 1, 100) == 0,
	       "%s: a read queued behind 2 blocked workers completes "
	       "-ECANCELED at once; they stay blocked", m);

	/*
	 * A call and its cancel in one batch: the driver takes both in one
	 * pass, and the cancel finds the call before it reaches the queue.
	 */
	e[0] = td_entry(24, SYS_read, (__u64)p[2][0], (uintptr_t)buf[2], 8, 0);
	e[1] = cancel_entry(25, 24);
	go(d, mode, e, 2);
	ok = cancelled_pair(d, 24, 25, &got);
	tap_ok(ok && td_collect(d, c, 1, 100) == 0,
	       "%s: a read and its cancel in one batch, behind 2 blocked "
	       "workers: -ECANCELED at once, not when a worker comes free "
	       "(%u answers)", m, got);

	r1 = ksvc_dispatch_cancel(d, 20);
	r2 = ksvc_dispatch_cancel(d, 21);
	got = td_collect(d, c, 2, PROMPT_MS);
	ok = r1 == 1 && r2 == 1 && got == 2 &&
	     c[0].result == -ECANCELED && c[1].result == -ECANCELED;
	tap_ok(ok, "%s: ksvc_dispatch_cancel() returns 1 for each (%d, %d) "
	       "and both complete -ECANCELED (%u)", m, r1, r2, got);
	tap_ok(ksvc_dispatch_cancel(d, 20) == -ENOENT &&
	       ksvc_dispatch_cancel(d, 999) == -ENOENT &&
	       ksvc_dispatch_cancel(d, KSVC_CORR_RESERVED_MASK | 5) == -EINVAL,
	       "%s: ksvc_dispatch_cancel(): -ENOENT when nothing is in "
	       "flight, -EINVAL for a reserved corr_id", m);
	teardown(d, k, p, 3);
}

/* Submit @e and wait until the dispatcher has taken it. */
static void submit_taken(struct ksvc_dispatcher *d, int mode,
			 const struct ksvc_entry *e)
{
	struct ksvc_dispatch_stats st;
	uint64_t end = td_now_ms() + PROMPT_MS;
	__u64 before;

	ksvc_dispatch_stats(d, &st);
	before = st.taken;
	if (ksvc_dispatch_submit(d, e, 1, 0) != 1)
		tap_bail("ksvc_dispatch_submit");
	do {
		if (mode == 1)
			ksvc_dispatch_run(d);
		ksvc_dispatch_stats(d, &st);
	} while (st.taken == before && td_now_ms() < end);
}

/*
 * A call cancelled in the pool's queue leaves no hole there.  The queue
 * has one slot per op the dispatcher can hold (32 with rings of 16), so
 * with both workers blocked, 100 rounds of a call queued and then
 * cancelled would overrun it if each left its slot taken: the call
 * queued before them would be overwritten (never completed), and the
 * call queued after them would run twice.
 */
static void test_queue_reuse(int mode)
{
	static const struct timespec long_ts = { 30, 0 }, no_ts = { 0, 0 };
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[8];
	struct ksvc_entry e[2];
	char buf[3][8];
	int p[3][2], i, ok = 1;
	unsigned int got, more;

	block_two(d, mode, p, buf);
	for (i = 0; i < 100 && ok; i++) {
		e[0] = td_entry(100, SYS_nanosleep, (uintptr_t)&long_ts, 0, 0,
				0);
		submit_taken(d, mode, e);
		e[1] = cancel_entry(101, 100);
		submit_taken(d, mode, e + 1);
		ok = cancelled_pair(d, 100, 101, &got);
	}
	tap_ok(ok, "%s: 100 calls queued behind 2 blocked workers and "
	       "cancelled there: each -ECANCELED at once (%d rounds)", m, i);

	e[0] = td_entry(23, SYS_nanosleep, (uintptr_t)&no_ts, 0, 0, 0);
	go(d, mode, e, 1);
	for (i = 0; i < 3; i++)
		put(p[i][1], "x");
	got = td_collect(d, c, 4, PROMPT_MS);
	more = td_collect(d, c + got, 8 - got, 200);
	ok = got == 4 && more == 0;
	for (i = 20; i <= 22; i++)
		ok = ok && td_find(c, got, (__u64)i) &&
		     td_find(c, got, (__u64)i)->result == 1;
	ok = ok && td_find(c, got, 23) && td_find(c, got, 23)->result == 0;
	tap_ok(ok, "%s: then the three reads and the call queued after the "
	       "cancels each complete once, with their results (%u, then "
	       "%u more)", m, got, more);
	teardown(d, k, p, 3);
}

static void test_tier1(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 0);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x, *y;
	struct ksvc_dispatch_stats st;
	struct ksvc_completion c[8];
	struct ksvc_entry e[8];
	char buf[8] = "";
	int sv[2], ok, i;
	unsigned int got;
	__s64 xr;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		tap_bail("socketpair");
	ksvc_dispatch_stats(d, &st);
	if (!st.tier1_available && td_uring_here()) {
		tap_ok(0, "%s: io_uring works here, but the dispatcher has none",
		       m);
		tap_skip("see above", "%s: the socket lost nothing", m);
		tap_skip("see above", "%s: a receive that wins", m);
		goto out;
	}
	if (!st.tier1_available) {
		tap_skip("no io_uring", "%s: a Tier 1 receive is cancelled", m);
		tap_skip("no io_uring", "%s: the socket lost nothing", m);
		tap_skip("no io_uring", "%s: a receive that wins", m);
		goto out;
	}
	e[0] = td_entry(30, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf, 8, 0);
	go(d, mode, e, 1);
	got = cancel_now(d, mode, 30, c, &x, &y);
	ok = got == 2 && x && y && x->result == -ECANCELED &&
	     x->flags == KSVC_COMP_TIER1 && y->result == 1;
	tap_ok(ok, "%s: a Tier 1 receive waiting for data completes "
	       "-ECANCELED (%lld, %#x); the cancel says %lld", m,
	       x ? (long long)x->result : 0LL, x ? x->flags : 0,
	       y ? (long long)y->result : 0LL);
	put(sv[1], "xyz");
	e[0] = td_entry(32, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf, 8, 0);
	go(d, mode, e, 1);
	got = td_collect(d, c, 1, PROMPT_MS);
	tap_ok(got == 1 && c[0].result == 3 && memcmp(buf, "xyz", 3) == 0 &&
	       c[0].flags == KSVC_COMP_TIER1,
	       "%s: the socket lost nothing: the next receive gets the data",
	       m);

	/*
	 * A cancel that loses: the receive has its data as the batch goes
	 * in and completes with it.  Its op, freed on the short path, must
	 * not carry the cancel into the next entries that reuse it.
	 */
	put(sv[1], "uvw");
	e[0] = td_entry(33, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf, 8, 0);
	e[1] = cancel_entry(34, 33);
	go(d, mode, e, 2);
	got = td_collect(d, c, 2, PROMPT_MS);
	x = td_find(c, got, 33);
	y = td_find(c, got, 34);
	ok = got == 2 && x && y && x->result == 3 &&
	     (y->result == 1 || y->result == -ENOENT);
	xr = x ? x->result : 0;
	for (i = 0; i < 8; i++)
		e[i] = td_entry(35 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	go(d, mode, e, 8);
	got = td_collect(d, c, 8, PROMPT_MS);
	for (i = 0; i < (int)got; i++)
		ok = ok && c[i].result == getppid();
	tap_ok(ok && got == 8, "%s: a receive that completes with its data "
	       "before its cancel lands returns the data (%lld); the next 8 "
	       "entries run as usual", m, (long long)xr);
out:
	close(sv[0]);
	close(sv[1]);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * A blocking write of 1 MiB into a pipe nobody reads fills the pipe and
 * waits; cancelled, it returns what it wrote, as the system call
 * interrupted by a signal does, and nothing more is written after.
 * @together: the cancel in the same batch.  In Tier 1 (6.12) the first
 * part is then written as the batch goes in, and the cancel finds nothing
 * in io_uring: the dispatcher must not send the rest.  In the pool the
 * call never starts.
 */
static void test_partial(int mode, int pool, int together)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, pool);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x;
	size_t big = 1 << 20;
	char *src = malloc(big), *dst = malloc(big);
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	int p[2], cap, queued = -1, ok;
	unsigned int got;

	if (!src || !dst)
		tap_bail("malloc");
	mkpipe(p);
	cap = fcntl(p[1], F_GETPIPE_SZ);
	memset(src, 'w', big);
	e[0] = td_entry(40, SYS_write, (__u64)p[1], (uintptr_t)src, big, 0);
	e[1] = cancel_entry(41, 40);
	if (together) {
		go(d, mode, e, 2);
		if (pool)
			cap = -ECANCELED;	/* never started */
	} else {
		go(d, mode, e, 1);
		go(d, mode, e + 1, 1);
	}
	got = td_collect(d, c, 2, PROMPT_MS);
	x = td_find(c, got, 40);
	usleep(50000);
	ioctl(p[0], FIONREAD, &queued);
	ok = got == 2 && x && cap && x->result == cap &&
	     queued == (cap > 0 ? cap : 0);
	/*
	 * Tier 1 in one batch: 6.12 writes the first part as the batch goes
	 * in; 6.1 hands the write to a worker, and the cancel may catch it
	 * before it starts.  Either way the result says what the pipe has.
	 */
	if (together && !pool && x && x->result == -ECANCELED && queued == 0)
		ok = got == 2;
	ok = ok && x->flags == (pool ? KSVC_COMP_TIER2 : KSVC_COMP_TIER1);
	tap_ok(ok, "%s: a %s write of 1 MiB into a pipe nobody reads, "
	       "cancelled %s, returns %s (%lld, %#x), and no more came (%d "
	       "in the pipe)", m, pool ? "pool" : "Tier 1",
	       together ? "in its batch" : "once it waits",
	       together && !pool ? "what it wrote, or -ECANCELED" :
	       cap > 0 ? "what it wrote" : "-ECANCELED",
	       x ? (long long)x->result : 0LL, x ? x->flags : 0, queued);
	free(src);
	free(dst);
	teardown(d, k, &p, 1);
}

/*
 * The chain read(@rfd) -> write(@wfd, "abc") as entries @id and @id + 1,
 * then, once the read waits, a cancel of @target as @id + 2.
 */
static void chain_and_cancel(struct ksvc_dispatcher *d, int mode, int rfd,
			     int wfd, char *buf, __u64 id, __u64 target)
{
	struct ksvc_entry e[2];

	e[0] = td_entry(id, SYS_read, (__u64)rfd, (uintptr_t)buf, 8, 0);
	ksvc_prep_link(&e[0]);
	e[1] = td_entry(id + 1, SYS_write, (__u64)wfd, (uintptr_t)"abc", 3, 0);
	go(d, mode, e, 2);
	e[0] = cancel_entry(id + 2, target);
	go(d, mode, e, 1);
}

static void test_chains(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *a, *b, *x;
	char path[] = "/tmp/ksvc-cancel-XXXXXX", buf[8];
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	struct stat sb;
	int p[2], sv[2], fd = mkstemp(path), ok;
	unsigned int got;

	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	unlink(path);
	mkpipe(p);

	/*
	 * Two pool reads first, so that the chain's ops are used ones
	 * (their workers marked them posted): a waiting link is not.
	 */
	put(p[1], "xy");
	e[0] = td_entry(48, SYS_read, (__u64)p[0], (uintptr_t)buf, 1, 0);
	e[1] = td_entry(49, SYS_read, (__u64)p[0], (uintptr_t)buf, 1, 0);
	go(d, mode, e, 2);
	if (td_collect(d, c, 2, PROMPT_MS) != 2)
		tap_bail("two pool reads");
	go(d, mode, NULL, 0);		/* the driver takes the ops back */

	/* The waiting link is cancelled: it never runs. */
	chain_and_cancel(d, mode, p[0], fd, buf, 50, 51);
	got = td_collect(d, c, 1, PROMPT_MS);
	x = td_find(c, got, 52);
	ok = got == 1 && x && x->result == 1;
	put(p[1], "z");
	got += td_collect(d, c + got, 2, PROMPT_MS);
	a = td_find(c, got, 50);
	b = td_find(c, got, 51);
	ok = ok && got == 3 && a && b && a->result == 1 &&
	     b->result == -ECANCELED && b->flags == 0 &&
	     fstat(fd, &sb) == 0 && sb.st_size == 0;
	tap_ok(ok, "%s: chain read -> write (on used ops), the write "
	       "cancelled while the read waits: the read completes 1, the "
	       "write -ECANCELED and never ran (file size 0)", m);

	/* The running link is cancelled: the chain ends there. */
	chain_and_cancel(d, mode, p[0], fd, buf, 53, 53);
	got = td_collect(d, c, 3, PROMPT_MS);
	a = td_find(c, got, 53);
	b = td_find(c, got, 54);
	x = td_find(c, got, 55);
	ok = got == 3 && a && b && x && x->result == 1 &&
	     a->result == -ECANCELED && b->result == -ECANCELED &&
	     b->flags == 0 && fstat(fd, &sb) == 0 && sb.st_size == 0;
	tap_ok(ok, "%s: the same chain with the read cancelled: both "
	       "complete -ECANCELED, the write never ran", m);

	/*
	 * A cancelled link that had moved data returns that count, and the
	 * chain still ends there: a MSG_WAITALL receive of 8 with 3 bytes
	 * there (it waits for the rest, in the pool), cancelled.
	 */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		tap_bail("socketpair: %s", strerror(errno));
	put(sv[1], "abc");
	e[0] = td_entry(60, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf,
			sizeof(buf), MSG_WAITALL);
	ksvc_prep_link(&e[0]);
	e[1] = td_entry(61, SYS_write, (__u64)fd, (uintptr_t)"abc", 3, 0);
	go(d, mode, e, 2);
	e[0] = cancel_entry(62, 60);
	go(d, mode, e, 1);
	got = td_collect(d, c, 3, PROMPT_MS);
	a = td_find(c, got, 60);
	b = td_find(c, got, 61);
	x = td_find(c, got, 62);
	ok = got == 3 && a && b && x && a->result == 3 && x->result == 1 &&
	     b->result == -ECANCELED && fstat(fd, &sb) == 0 &&
	     sb.st_size == 0;
	tap_ok(ok, "%s: a chain whose receive is cancelled after 3 bytes: "
	       "the receive says 3, the write after it -ECANCELED and never "
	       "ran (%u answers; %lld, %lld)", m, got,
	       a ? (long long)a->result : 0LL, b ? (long long)b->result : 0LL);
	close(sv[0]);
	close(sv[1]);
	close(fd);
	teardown(d, k, &p, 1);
}

static void test_matching(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 3, 1);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x;
	struct ksvc_completion c[8];
	struct ksvc_entry e[4];
	char buf[2][8];
	int p[2][2], i, ok, bad;
	unsigned int got;

	for (i = 0; i < 2; i++)
		mkpipe(p[i]);
	for (i = 0; i < 2; i++)
		e[i] = td_entry(60, SYS_read, (__u64)p[i][0],
				(uintptr_t)buf[i], 8, 0);
	go(d, mode, e, 2);

	/* Malformed cancels: -EINVAL, and the reads wait on. */
	e[0] = cancel_entry(61, 60);
	e[0].syscall_nr = SYS_getppid;	/* SYS_read is 0 */
	e[1] = cancel_entry(62, 60);
	e[1].args[1] = 1;
	e[2] = cancel_entry(63, 60);
	e[2].flags |= KSVC_ENTRY_LINKED;
	e[3] = td_entry(64, SYS_getppid, 0, 0, 0, 0);
	go(d, mode, e, 4);
	got = td_collect(d, c, 4, PROMPT_MS);
	bad = 0;
	for (i = 0; i < 3; i++) {
		x = td_find(c, got, 61 + (__u64)i);
		bad += !x || x->result != -EINVAL;
	}
	x = td_find(c, got, 64);
	ok = got == 4 && !bad && x && x->result == -ECANCELED &&
	     td_collect(d, c, 1, 100) == 0;
	tap_ok(ok, "%s: cancel entries with a syscall_nr, an args[1] or "
	       "KSVC_ENTRY_LINKED complete -EINVAL (the linked one's "
	       "successor -ECANCELED); their target waits on", m);

	e[0] = cancel_entry(65, KSVC_CORR_RESERVED_MASK | 60);
	e[1] = cancel_entry(66, 999);
	go(d, mode, e, 2);
	got = td_collect(d, c, 2, PROMPT_MS);
	ok = got == 2 && td_find(c, got, 65) && td_find(c, got, 66) &&
	     td_find(c, got, 65)->result == -EINVAL &&
	     td_find(c, got, 66)->result == -ENOENT;
	tap_ok(ok, "%s: a cancel naming a reserved corr_id: -EINVAL; naming "
	       "nothing in flight: -ENOENT", m);
	for (i = 2; i < 6; i++) {
		e[i - 2] = cancel_entry(90 + (__u64)i, 60);
		e[i - 2].args[i] = 1;
	}
	go(d, mode, e, 4);
	got = td_collect(d, c, 4, PROMPT_MS);
	bad = 0;
	for (i = 2; i < 6; i++) {
		x = td_find(c, got, 90 + (__u64)i);
		bad += !x || x->result != -EINVAL;
	}
	tap_ok(got == 4 && !bad && td_collect(d, c, 1, 100) == 0,
	       "%s: cancel entries with args[2], [3], [4] or [5] set complete "
	       "-EINVAL; their target waits on", m);

	e[0] = cancel_entry(65, KSVC_CORR_RESERVED_MASK | 60);
	e[1] = cancel_entry(66, 999);
	tap_ok(ksvc_dispatch_route(d, &e[0]) == KSVC_ROUTE_INVALID &&
	       ksvc_dispatch_route(d, &e[1]) == KSVC_ROUTE_CANCEL,
	       "%s: ksvc_dispatch_route(): KSVC_ROUTE_CANCEL, or INVALID", m);

	e[0] = cancel_entry(67, 60);
	go(d, mode, e, 1);
	got = td_collect(d, c, 3, PROMPT_MS);
	x = td_find(c, got, 67);
	ok = got == 3 && x && x->result == 2;
	for (i = 0; i < (int)got; i++)
		if (c[i].corr_id == 60 && c[i].result != -ECANCELED)
			ok = 0;
	tap_ok(ok, "%s: two reads with one corr_id: the cancel says 2 (%lld), "
	       "both complete -ECANCELED", m, x ? (long long)x->result : 0LL);

	/* A call that finished is not in flight. */
	e[0] = td_entry(68, SYS_getppid, 0, 0, 0, 0);
	e[1] = cancel_entry(69, 68);
	go(d, mode, e, 2);
	got = td_collect(d, c, 2, PROMPT_MS);
	x = td_find(c, got, 69);
	tap_ok(got == 2 && x && x->result == -ENOENT,
	       "%s: cancelling a call that already finished: -ENOENT", m);
	teardown(d, k, p, 2);
}

/*
 * The two windows of a pool call, made 200 ms wide: the cancel comes
 * while the worker holds the call but has not published it (the worker
 * must see the cancel itself), or after the worker looked for one and
 * before the call (the first signal is taken there; the next one, a
 * millisecond later, must interrupt the call).
 */
static void test_windows(int mode)
{
	static const char *const what[2] = { "before the worker publishes it",
					     "just before the call starts" };
	const char *m = td_mode_names[mode];
	int where;

	for (where = 0; where < 2; where++) {
		struct ksvc *k = td_open(64, 64);
		struct ksvc_dispatcher *d = mk(k, mode, 1, 1);
		const struct ksvc_completion *x, *y;
		struct ksvc_completion c[4];
		struct ksvc_entry e[1];
		char buf[8];
		unsigned int got;
		int p[2];

		mkpipe(p);
		ksvc__pool_test_gap(d, where, 200000);
		e[0] = td_entry(70, SYS_read, (__u64)p[0], (uintptr_t)buf, 8,
				0);
		go(d, mode, e, 1);
		got = cancel_now(d, mode, 70, c, &x, &y);
		ksvc__pool_test_gap(d, where, 0);
		tap_ok(got == 2 && x && y && x->result == -ECANCELED &&
		       y->result == 1 && pool_clean(d, 5),
		       "%s: a read on an empty pipe cancelled %s completes "
		       "-ECANCELED (%lld); the worker runs on", m, what[where],
		       x ? (long long)x->result : 0LL);
		teardown(d, k, &p, 1);
	}
}

/*
 * test_windows()'s second window, for a worker whose timer could not be
 * made: timer_create() fails with EAGAIN while RLIMIT_SIGPENDING is 0,
 * as it is here while the worker starts.  The limit is back before the
 * cancel: the worker must still be interrupted once it is in the call.
 */
static void test_window_no_timer(int mode)
{
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x, *y;
	struct ksvc_completion c[4];
	struct ksvc_dispatcher *d;
	struct ksvc_entry e[1];
	struct rlimit old, zero;
	struct ksvc *k;
	unsigned int got;
	char buf[8];
	int p[2];

	if (getrlimit(RLIMIT_SIGPENDING, &old))
		tap_bail("getrlimit");
	zero = old;
	zero.rlim_cur = 0;
	k = td_open(64, 64);
	if (setrlimit(RLIMIT_SIGPENDING, &zero))
		tap_bail("setrlimit");
	d = mk(k, mode, 1, 1);
	/* the worker has started (and tried its timer) once it answers */
	pool_clean(d, 1);
	if (setrlimit(RLIMIT_SIGPENDING, &old))
		tap_bail("setrlimit");
	mkpipe(p);
	ksvc__pool_test_gap(d, 1, 200000);
	e[0] = td_entry(75, SYS_read, (__u64)p[0], (uintptr_t)buf, 8, 0);
	go(d, mode, e, 1);
	got = cancel_now(d, mode, 75, c, &x, &y);
	ksvc__pool_test_gap(d, 1, 0);
	tap_ok(got == 2 && x && y && x->result == -ECANCELED &&
	       y->result == 1 && pool_clean(d, 5),
	       "%s: a worker without its timer: a read cancelled just before "
	       "the call starts completes -ECANCELED (%lld, %u answers)", m,
	       x ? (long long)x->result : 0LL, got);
	teardown(d, k, &p, 1);
}

struct late_data {
	int fd;
	unsigned int ms;
};

static void *write_late(void *arg)
{
	const struct late_data *ld = arg;

	usleep(ld->ms * 1000);
	put(ld->fd, "L");
	return NULL;
}

/*
 * The driver's windows: it has seen the worker in the call, and is about
 * to claim the kick (@where 2) or to start the worker's timer (@where 3),
 * each held open 200 ms, when the call finishes (data comes) and the
 * worker could take its next call, a queued nanosleep().  In the first,
 * the driver must see the call gone and start nothing; in the second,
 * the worker must wait for the timer, stop it and take the signal
 * itself.  Either way the nanosleep() runs whole.
 */
static void test_kick_window(int mode, int where)
{
	static const struct timespec ms50 = { 0, 50000000 };
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 1, 1);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *a, *b, *x;
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	struct late_data ld;
	pthread_t th;
	unsigned int got;
	char buf[8];
	int p[2];

	mkpipe(p);
	e[0] = td_entry(80, SYS_read, (__u64)p[0], (uintptr_t)buf, 8, 0);
	e[1] = td_entry(81, SYS_nanosleep, (uintptr_t)&ms50, 0, 0, 0);
	go(d, mode, e, 2);
	ksvc__pool_test_gap(d, where, 200000);
	ld.fd = p[1];
	ld.ms = 50;
	if (pthread_create(&th, NULL, write_late, &ld))
		tap_bail("pthread_create");
	e[0] = cancel_entry(82, 80);
	go(d, mode, e, 1);
	got = td_collect(d, c, 3, PROMPT_MS);
	pthread_join(th, NULL);
	ksvc__pool_test_gap(d, where, 0);
	a = td_find(c, got, 80);
	b = td_find(c, got, 81);
	x = td_find(c, got, 82);
	tap_ok(got == 3 && a && b && x && x->result == 1 &&
	       (a->result == 1 || a->result == -ECANCELED) && b->result == 0 &&
	       pool_clean(d, 5),
	       "%s: the call ends as the driver %s: the worker's next call, a "
	       "nanosleep(), runs whole (%lld); the read: %lld", m,
	       where == 2 ? "claims the kick" : "starts the worker's timer",
	       b ? (long long)b->result : 0LL,
	       a ? (long long)a->result : 0LL);
	teardown(d, k, &p, 1);
}

/*
 * Cancels racing calls: a pool read that may or may not have data, and
 * may or may not have started, cancelled after 0 to 2 ms.  Every read
 * completes once (its data, or -ECANCELED), every cancel says 1 or
 * -ENOENT (the read finished first), nothing takes longer than the
 * bound, and a pool nanosleep() after each never sees EINTR.
 */
static void test_race(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	unsigned int n = (unsigned int)td_count(400, 40), i, got;
	unsigned int cancelled = 0, finished = 0, bad = 0, eintr = 0;
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	uint64_t rnd = 0x2545f4914f6cdd1dull;
	char buf[8];
	int p[2];

	mkpipe(p);
	for (i = 0; i < n; i++) {
		const struct ksvc_completion *x, *y;
		uint64_t r = td_rnd(&rnd);
		int data = (r & 3) == 0;
		__u64 id = 1000 + (__u64)i * 2;

		if (data)
			put(p[1], "q");
		e[0] = td_entry(id, SYS_read, (__u64)p[0], (uintptr_t)buf, 1,
				0);
		e[1] = cancel_entry(id + 1, id);
		if (r & 4) {
			if (ksvc_dispatch_submit(d, e, 2, 0) != 2)
				tap_bail("submit");
		} else {
			if (ksvc_dispatch_submit(d, e, 1, 0) != 1)
				tap_bail("submit");
			if (mode == 1)
				ksvc_dispatch_run(d);
			usleep((useconds_t)((r >> 8) % 2000));
			if (ksvc_dispatch_submit(d, e + 1, 1, 0) != 1)
				tap_bail("submit");
		}
		got = td_collect(d, c, 2, PROMPT_MS);
		x = td_find(c, got, id);
		y = td_find(c, got, id + 1);
		if (got != 2 || !x || !y) {
			bad++;
			tap_diag("round %u: %u completions", i, got);
			break;
		}
		if (x->result == -ECANCELED && y->result == 1) {
			cancelled++;
		} else if (x->result == 1 &&
			   (y->result == -ENOENT || y->result == 1)) {
			finished++;
		} else {
			bad++;
			tap_diag("round %u: read %lld, cancel %lld", i,
				 (long long)x->result, (long long)y->result);
		}
		if (!data && x->result == 1)
			bad++;		/* data from nowhere */
		if (data && x->result == -ECANCELED) {
			/* the byte stays in the pipe: take it back */
			if (read(p[0], buf, 1) != 1)
				bad++;
		}
		if (!pool_clean(d, 1))
			eintr++;
	}
	tap_ok(!bad && !eintr && cancelled + finished == n && cancelled > 0,
	       "%s: %u reads each cancelled after 0 to 2 ms: %u cancelled, %u "
	       "finished first, %u wrong, %u stray EINTRs", m, n, cancelled,
	       finished, bad, eintr);
	teardown(d, k, &p, 1);
}

/*
 * A pool call whose result the application has seen is no longer in
 * flight, even while its worker has not yet handed the op back to the
 * driver (a window held open 500 ms; with a dispatcher thread the worker
 * posts the result itself).
 */
static void test_posted(int mode)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	const struct ksvc_completion *x, *y;
	struct ksvc_completion c[4];
	struct ksvc_entry e;
	char buf[8];
	int p[2], ok;
	unsigned int got;

	mkpipe(p);
	put(p[1], "z");
	ksvc__pool_test_gap(d, 7, 500000);
	e = td_entry(80, SYS_read, (__u64)p[0], (uintptr_t)buf, 8, 0);
	go(d, mode, &e, 1);
	got = td_collect(d, c, 1, PROMPT_MS);
	x = td_find(c, got, 80);
	ok = x && x->result == 1;
	e = cancel_entry(81, 80);
	go(d, mode, &e, 1);
	got = td_collect(d, c, 1, PROMPT_MS);
	y = td_find(c, got, 81);
	ksvc__pool_test_gap(d, 7, 0);
	tap_ok(ok && y && y->result == -ENOENT,
	       "%s: a cancel naming a pool call whose result was reaped: "
	       "-ENOENT (%lld), though its worker has not handed it back",
	       m, y ? (long long)y->result : 0LL);
	teardown(d, k, &p, 1);
}

/*
 * Cancels and a stop, with the completion ring full (16 answers nobody
 * reaped), so that the dispatcher takes nothing more, in both modes: a
 * cancel entry submitted as such stays in the submit ring, and so does
 * the one of a ksvc_dispatch_cancel() waiting on another thread.  The
 * stop answers that call -ECANCELED (a blocking call needs no completion
 * slot), leaves the other unanswered for want of room (its return value
 * says 1), and runs neither.  After it, ksvc_dispatch_cancel() gives
 * -ESHUTDOWN.
 */
struct cancel_arg {
	struct ksvc_dispatcher *d;
	int r, done;
};

static void *cancel_thread(void *arg)
{
	struct cancel_arg *a = arg;

	a->r = ksvc_dispatch_cancel(a->d, 70);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_stop(int mode)
{
	struct ksvc *k = td_open(64, 16);
	struct ksvc_dispatcher *d = mk(k, mode, 2, 1);
	const char *m = td_mode_names[mode];
	struct cancel_arg a = { d, 0, 0 };
	struct ksvc_completion c[20];
	struct ksvc_entry e[16];
	int i, left, waited, right;
	unsigned int got;
	pthread_t th;

	for (i = 0; i < 16; i++)
		e[i] = td_entry(200 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	go(d, mode, e, 16);
	for (i = 0; i < 100 && ksvc_ring_ready(&k->cq) < 16; i++)
		go(d, mode, NULL, 0);
	e[0] = cancel_entry(71, 70);
	go(d, mode, e, 1);
	pthread_create(&th, NULL, cancel_thread, &a);
	usleep(100000);
	waited = !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
	left = ksvc_dispatch_stop(d);
	pthread_join(th, NULL);
	tap_ok(waited && a.r == -ECANCELED,
	       "%s: a ksvc_dispatch_cancel() whose entry is still in the "
	       "submit ring when the dispatcher stops returns -ECANCELED "
	       "(%d)", m, a.r);
	got = td_collect(d, c, 20, 300);
	right = got == 16;
	for (i = 0; i < (int)got; i++)
		if (c[i].corr_id < 200 || c[i].result != getppid())
			right = 0;
	tap_ok(left == 1 && right,
	       "%s: the cancel entry with no completion slot is left "
	       "unanswered (stop says %d) and never run; the 16 answers stay "
	       "(%u)", m, left, got);
	tap_ok(ksvc_dispatch_cancel(d, 70) == -ESHUTDOWN,
	       "%s: after a stop, ksvc_dispatch_cancel() gives -ESHUTDOWN", m);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	int mode;

	td_args(argc, argv);
	tap_plan(2 * 35);
	td_say_where();
	for (mode = 0; mode < 2; mode++) {
		test_pool_running(mode);
		test_pool_queued(mode);
		test_queue_reuse(mode);
		test_tier1(mode);
		test_partial(mode, 0, 0);
		test_partial(mode, 1, 0);
		test_partial(mode, 0, 1);
		test_partial(mode, 1, 1);
		test_chains(mode);
		test_matching(mode);
		test_windows(mode);
		test_window_no_timer(mode);
		test_kick_window(mode, 2);
		test_kick_window(mode, 3);
		test_race(mode);
		test_posted(mode);
		test_stop(mode);
	}
	return tap_done();
}
