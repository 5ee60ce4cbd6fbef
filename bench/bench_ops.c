// SPDX-License-Identifier: MIT
/*
 * bench_ops - benchmark 1: the cost of one system call, made directly,
 * through KSVC Tier 2, through KSVC Tier 1, and through liburing used
 * directly, at batch sizes 1, 8, 32 and 128.  Side by side in one run.
 *
 *   bench_ops [--csv FILE] [--time-ms N] [--rounds N] [--batches LIST]
 *             [--where LABEL] [--ops LIST] [--methods LIST]
 *
 * The CSV goes to FILE, else $BENCH_OUT/bench_ops.csv when BENCH_OUT is
 * set (bench/run.sh sets it), else ./bench_ops.csv; the goals go next to
 * it, "_goals" added before ".csv" (bench_ops_goals.csv).
 *
 * Operations:
 *   pread1   pread64(fd, buf, 1, 0) on /dev/zero: the cheapest call that
 *            every column can make (getppid has no io_uring opcode, so it
 *            could not be compared with Tier 1 or liburing), and whose
 *            cost is almost only the system call itself.
 *   pread4k  pread64(fd, buf, 4096, off) from a 4 MiB file that is in the
 *            page cache (written, fsync'd and read once first).
 *   getppid  an extra row for Tier 2: direct vs Tier 2 on the pool vs
 *            Tier 2 inline (a call that cannot sleep runs on the
 *            dispatcher thread itself).
 *   recv0    recvfrom(fd, buf, 64, 0) on an empty O_NONBLOCK socket
 *            (one end of an AF_UNIX stream pair): -EAGAIN, what an event
 *            loop's read of an idle connection returns.  Tier 2 only,
 *            like getppid: io_uring does not take a call on a
 *            non-blocking descriptor, and the dispatcher runs it inline
 *            (t2i-*) unless told to use the pool (t2-*).
 *
 * Columns (methods):
 *   direct        syscall(2) in a loop
 *   liburing      our own io_uring (plain setup, the same flags the
 *                 dispatcher gets: SINGLE_ISSUER|DEFER_TASKRUN where the
 *                 kernel has them): prep b SQEs, submit_and_wait(b), reap
 *   liburing-sqp  the same with IORING_SETUP_SQPOLL: a kernel thread on
 *                 another CPU takes the SQEs, and the caller spins for the
 *                 completions (up to 50 us, as KSVC's default spin, then
 *                 waits).  Not a goal: the reference for t1-thread, which
 *                 hands each batch to another thread the same way.  Left
 *                 out in the TCG guest unless --methods names it
 *   t1-thread     KSVC Tier 1, dispatcher on its own thread
 *   t1-driven     KSVC Tier 1, KSVC_DISPATCH_CALLER_DRIVES (the waiting
 *                 thread runs the dispatcher, like io_uring without SQPOLL)
 *                 Both with KSVC_DISPATCH_POSITIONAL_FDS, as a program
 *                 that knows its preads name files would set it: like
 *                 liburing, no look at the descriptor per call
 *   t1-checked    t1-driven without that flag: one statx() per pread to
 *                 make sure the file has positions (the default).  Only
 *                 pread4k: /dev/zero is no regular file, so by default
 *                 pread1's reads go to Tier 2
 *   t2-thread     KSVC Tier 2 on the worker pool (pread's io_uring opcode
 *                 masked out with the test knob, and
 *                 KSVC_DISPATCH_NO_INLINE), dispatcher thread
 *   t2-driven     the same, caller drives
 *   t2i-thread    Tier 2 as the dispatcher routes it by default (pread's
 *                 opcode masked out, as where io_uring is not available):
 *                 getppid cannot sleep and runs on the dispatcher thread;
 *                 a pread is tried there with RWF_NOWAIT first and goes to
 *                 the pool only if that does not read it whole
 *   t2i-driven    the same, caller drives (so the call runs on the
 *                 calling thread, behind the rings)
 *
 * A "batch" of b: b operations submitted together, then all b results
 * collected (for direct: b calls in a row; liburing submits and waits
 * for b, and the KSVC columns wait for all the results still missing).
 * latency = the time of one batch (submit to the last result), p50 and
 * p99 by nearest rank over the batches; throughput = operations per
 * second over the run.
 *
 * Rounds: this machine's speed drifts by tens of percent within minutes,
 * more than the differences measured.  So every cell is measured in
 * --rounds runs (default 5) of --time-ms / rounds each (default 300 ms in
 * all, after a warm-up per run), and the rounds are interleaved: round r
 * runs every method of one (op, batch) before round r + 1 starts, each
 * round starting one method further along the list.  The
 * ops/s and p50 printed are the median over the rounds; the p99 is taken
 * over the batches of all rounds together (a median of the rounds' p99s
 * would hide the tail of a slow round).  Each goal ratio is computed
 * within each round (columns measured well under a second apart) and
 * the median of those ratios is printed.
 *
 * Path check: every completion of a KSVC column must carry the tier the
 * column names (KSVC_COMP_TIER1 for t1-*, KSVC_COMP_TIER2 for t2-* and
 * t2i-*), and the pool columns (t2-thread, t2-driven) must have no call
 * finished on the dispatcher (its tier2_inline count).  A cell where a
 * measured op did not is marked INVALID in the table, counted in the
 * CSV's off_path_ops column, left out of the goals, and makes bench_ops
 * exit 1: it measured another path than its column's.
 *
 * Output: a table on stdout, and CSV (default bench_ops.csv), a line per
 * cell, with the columns where,kernel,mode,op,method,batch,rounds,ops,
 * seconds,ops_per_s,p50_ns,p99_ns,off_path_ops: rounds is how many
 * rounds the cell ran; ops and seconds are totals over those rounds (so
 * ops / seconds is the rate of all rounds together, not ops_per_s);
 * ops_per_s and p50_ns are the median over the rounds, as printed;
 * p99_ns is over the batches of all rounds; off_path_ops is empty for
 * direct and liburing (nothing to check).  Then the goals of the
 * project, as ratios measured in this run: Tier 1 at batch 32 within 10%
 * of liburing (throughput and median batch time), and Tier 2 dispatch
 * adding at most 2 us at p50 (batch 1, vs direct).  They are printed and
 * written to the goals CSV, a line per goal or reference ratio, with the
 * columns where,kernel,mode,op,method,batch,against,ratio,
 * batch_time_ratio,p50_added_us,goal,verdict: ratio is the throughput
 * of method over against, batch_time_ratio against's median batch time
 * over method's, p50_added_us method's p50 minus against's (each empty
 * where it is not the measure); verdict is met, NOT met, invalid (the
 * path check failed; no figures) or reference (no goal).
 * Timings inside QEMU TCG are not hardware timings; the ratios are what
 * to look at there.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <liburing.h>

#include "ksvc.h"
#include "ksvc_dispatch.h"

#define MAX_BATCH	128
#define MAX_ROUNDS	15
#define FILE_SIZE	(4u << 20)

enum op { OP_PREAD1, OP_PREAD4K, OP_GETPPID, OP_RECV0, OP_N };
static const char *op_name[OP_N] = {
	"pread1", "pread4k", "getppid", "recv0",
};

enum meth { M_DIRECT, M_URING, M_URINGSQ, M_T1T, M_T1D, M_T2T, M_T2D,
	    M_T2IT, M_T2ID, M_T1DC, M_N };
static const char *meth_name[M_N] = {
	"direct", "liburing", "liburing-sqp", "t1-thread", "t1-driven",
	"t2-thread", "t2-driven", "t2i-thread", "t2i-driven", "t1-checked",
};

struct result {
	int valid;
	double ops_per_s;
	__u64 p50, p99;
	__u64 ops;
	double secs;
	__u64 off_path;	/* KSVC columns: ops that did not run where the
			 * column says (another tier; inline in a pool
			 * column) */
};

static int zero_fd, file_fd, sock_fd;
static char *bufs;		/* MAX_BATCH x 4096 */
static unsigned int time_ms = 300;
static const char *where_label;
/* res[op][method][batch][round] */
static struct result res[OP_N][M_N][8][MAX_ROUNDS];
/* p99 of the batch times of all rounds of a cell together */
static __u64 p99_all[OP_N][M_N][8];
static unsigned int rounds = 5;
static unsigned int batches[8] = { 1, 8, 32, 128 };
static unsigned int nbatches = 4;
static enum ksvc_mode run_mode;
static const char *only_ops, *only_methods;	/* comma lists, or NULL */
static int skip_sqp;		/* leave liburing-sqp out (see main()) */

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (!list)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return 1;
		p += n;
	}
	return 0;
}
static __u32 uring_flags_seen;	/* the dispatcher's io_uring */
static __u32 liburing_flags_seen;	/* the liburing column's */

/* Run time of one round of one cell, in ms (after WARM_MS of warm-up). */
static unsigned int round_ms(void)
{
	unsigned int t = time_ms / rounds;

	return t < 20 ? 20 : t;
}

#define WARM_MS	20

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Batch times of the (op, batch) being measured: one buffer per method,
 * every round of it, for the p99 over all of them.  A round's own
 * samples start at round_start.
 */
struct samples {
	__u64 *v;
	size_t n, cap;
};
static struct samples smp[M_N];
static struct samples *cur;	/* the cell running */
static size_t round_start;

static void sample(__u64 v)
{
	if (cur->n == cur->cap) {
		cur->cap = cur->cap ? cur->cap * 2 : 1 << 16;
		cur->v = realloc(cur->v, cur->cap * sizeof(*cur->v));
		if (!cur->v) {
			perror("realloc");
			exit(1);
		}
	}
	cur->v[cur->n++] = v;
}

/* Nearest-rank percentile @p of @n sorted values (n > 0), as echo-client. */
static __u64 pct(const __u64 *v, size_t n, unsigned int p)
{
	size_t rank = (n * p + 99) / 100;	/* ceil(n * p / 100) */

	if (rank == 0)
		rank = 1;
	return v[rank - 1];
}

static void finish_cell(struct result *r, __u64 ops, __u64 t0, __u64 t1)
{
	__u64 *v = cur->v + round_start;
	size_t n = cur->n - round_start;

	r->valid = 1;
	r->ops = ops;
	r->secs = (double)(t1 - t0) / 1e9;
	r->ops_per_s = (double)ops / r->secs;
	qsort(v, n, sizeof(*v), cmp_u64);
	r->p50 = pct(v, n, 50);
	r->p99 = pct(v, n, 99);
}

static void fill_args(enum op op, unsigned int i, __u64 n, __u32 *nr,
		      __u64 a[6])
{
	memset(a, 0, 6 * sizeof(*a));
	switch (op) {
	case OP_PREAD1:
		*nr = SYS_pread64;
		a[0] = (__u64)zero_fd;
		a[1] = (uintptr_t)(bufs + (size_t)i * 4096);
		a[2] = 1;
		a[3] = 0;
		break;
	case OP_PREAD4K:
		*nr = SYS_pread64;
		a[0] = (__u64)file_fd;
		a[1] = (uintptr_t)(bufs + (size_t)i * 4096);
		a[2] = 4096;
		a[3] = (n * 4096) % FILE_SIZE;
		break;
	case OP_RECV0:
		*nr = SYS_recvfrom;
		a[0] = (__u64)sock_fd;
		a[1] = (uintptr_t)(bufs + (size_t)i * 4096);
		a[2] = 64;
		break;
	default:
		*nr = SYS_getppid;
		break;
	}
}

static __s64 expect(enum op op)
{
	switch (op) {
	case OP_PREAD1:
		return 1;
	case OP_PREAD4K:
		return 4096;
	case OP_RECV0:
		return -EAGAIN;
	default:
		return getppid();
	}
}

static void die(const char *what, long err)
{
	fprintf(stderr, "bench_ops: %s: %s\n", what, strerror((int)-err));
	exit(1);
}

/* ---------------------------------------------------------------- */

/* One call made directly, as -errno on failure (as KSVC reports it). */
static __s64 direct_call(__u32 nr, const __u64 a[6])
{
	long v = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);

	return v < 0 ? -errno : v;
}

/*
 * Before a measured loop, outside the clock: the 1-byte reads from
 * /dev/zero bring a zero, so put something else where each slot of a
 * batch reads to.
 */
static void poison(enum op op, unsigned int b)
{
	unsigned int i;

	if (op == OP_PREAD1)
		for (i = 0; i < b; i++)
			bufs[(size_t)i * 4096] = 0x5a;
}

/*
 * After a measured loop, outside the clock.  1-byte reads: a read of
 * the loop landed in each slot.  4 KiB reads: each read of the last
 * batch (ops n - b .. n - 1) brought its own part of the file (the batch
 * before read other offsets into the same buffers).
 */
static void check_data(enum op op, __u64 n, unsigned int b)
{
	unsigned int i, j;

	if (op == OP_PREAD1)
		for (i = 0; i < b; i++)
			if (bufs[(size_t)i * 4096] != 0)
				die("data read", -EIO);
	if (op != OP_PREAD4K || n < b)
		return;
	for (i = 0; i < b; i++) {
		__u64 off = ((n - b + i) * 4096) % FILE_SIZE;
		const char *got = bufs + (size_t)i * 4096;

		for (j = 0; j < 4096; j++)
			if (got[j] != (char)(((off + j) % 65536) * 7))
				die("data read", -EIO);
	}
}

/* Each id of a batch answered exactly once. */
static void check_id(unsigned char *seen, __u64 id, unsigned int b)
{
	if (id >= b || seen[id]++)
		die("completion id", -EIO);
}

static void run_direct(enum op op, unsigned int b, struct result *r)
{
	__u64 t0, t1, end, n = 0, warm = now_ns() + WARM_MS * 1000000ull;
	__s64 want = expect(op);
	__u32 nr;
	__u64 a[6];

	for (;;) {		/* warm-up */
		fill_args(op, 0, n++, &nr, a);
		if (direct_call(nr, a) != want)
			die("direct", -EIO);
		if (now_ns() > warm)
			break;
	}
	poison(op, b);
	t0 = now_ns();
	end = t0 + (__u64)round_ms() * 1000000ull;
	n = 0;
	do {
		__u64 s = now_ns();
		unsigned int i;

		for (i = 0; i < b; i++) {
			fill_args(op, i, n + i, &nr, a);
			if (direct_call(nr, a) != want)
				die("direct", -EIO);
		}
		n += b;
		t1 = now_ns();
		sample(t1 - s);
	} while (t1 < end);
	finish_cell(r, n, t0, t1);
	check_data(op, n, b);
}

/* With SQPOLL: spin for a completion up to 50 us, then wait for one. */
static int sqpoll_wait(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	__u64 end = now_ns() + 50000;

	while (!io_uring_cq_ready(ring))
		if (now_ns() >= end)
			return io_uring_wait_cqe(ring, &cqe);
	return 0;
}

static void run_uring(enum op op, unsigned int b, int sqpoll,
		      struct result *r)
{
	struct io_uring ring;
	struct io_uring_params p;
	__u64 t0, t1 = 0, end, n = 0, warm;
	__s64 want = expect(op);
	int ret, phase;

	memset(&p, 0, sizeof(p));
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 10;		/* ms */
	} else {
		p.flags = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN |
			  IORING_SETUP_TASKRUN_FLAG;
	}
	ret = io_uring_queue_init_params(256, &ring, &p);
	if (ret < 0 && !sqpoll) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(256, &ring, &p);
	}
	if (ret < 0)
		die("io_uring_queue_init", ret);
	if (!sqpoll)
		liburing_flags_seen = p.flags;
	for (phase = 0; phase < 2; phase++) {
		if (phase)
			poison(op, b);
		warm = now_ns() + WARM_MS * 1000000ull;
		t0 = now_ns();
		end = phase ? t0 + (__u64)round_ms() * 1000000ull : warm;
		n = 0;
		do {
			__u64 s = now_ns();
			unsigned int i, got = 0;
			unsigned char seen[MAX_BATCH];

			memset(seen, 0, b);
			for (i = 0; i < b; i++) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				__u32 nr;
				__u64 a[6];

				fill_args(op, i, n + i, &nr, a);
				io_uring_prep_read(sqe, (int)a[0],
						   (void *)(uintptr_t)a[1],
						   (unsigned)a[2], a[3]);
				sqe->user_data = i;
			}
			ret = sqpoll ? io_uring_submit(&ring) :
				       io_uring_submit_and_wait(&ring, b);
			if (ret < 0)
				die("io_uring_submit", ret);
			while (got < b) {
				struct io_uring_cqe *cqe;
				unsigned int head, k = 0;

				io_uring_for_each_cqe(&ring, head, cqe) {
					if (cqe->res != want)
						die("liburing result", -EIO);
					check_id(seen, cqe->user_data, b);
					k++;
				}
				io_uring_cq_advance(&ring, k);
				got += k;
				if (got < b) {
					ret = sqpoll ? sqpoll_wait(&ring) :
					      io_uring_wait_cqe(&ring, &cqe);
					if (ret < 0)
						die("io_uring_wait_cqe", ret);
				}
			}
			n += b;
			t1 = now_ns();
			if (phase)
				sample(t1 - s);
		} while (t1 < end);
	}
	io_uring_queue_exit(&ring);
	finish_cell(r, n, t0, t1);
	check_data(op, n, b);
}

static void run_ksvc(enum op op, enum meth m, unsigned int b,
		     struct result *r)
{
	struct ksvc_open_params kp;
	struct ksvc_dispatch_params dp;
	struct ksvc_dispatcher *d;
	struct ksvc_completion c[MAX_BATCH];
	struct ksvc_entry e[MAX_BATCH];
	struct ksvc_dispatch_stats st0, st1;
	struct ksvc *k;
	__u64 t0 = 0, t1 = 0, end, n = 0, off = 0;
	__s64 want = expect(op);
	/* The tier each completion must carry: the column's. */
	__u32 tier = m == M_T1T || m == M_T1D || m == M_T1DC ?
		     KSVC_COMP_TIER1 : KSVC_COMP_TIER2;
	int ret, phase;

	memset(&kp, 0, sizeof(kp));
	kp.submit_entries = 256;
	kp.complete_entries = 512;
	kp.flags = access(KSVC_DEVICE_PATH, F_OK) == 0 ? 0
						       : KSVC_OPEN_ANON_FALLBACK;
	ret = ksvc_open(&k, &kp);
	if (ret < 0)
		die("ksvc_open", ret);
	run_mode = k->mode;
	memset(&dp, 0, sizeof(dp));
	if (m == M_T1D || m == M_T2D || m == M_T2ID || m == M_T1DC)
		dp.flags = KSVC_DISPATCH_CALLER_DRIVES |
			   KSVC_DISPATCH_ONE_DRIVER;
	if (m == M_T1T || m == M_T1D)
		dp.flags |= KSVC_DISPATCH_POSITIONAL_FDS;
	if (m == M_T2T || m == M_T2D || m == M_T2IT || m == M_T2ID)
		dp.test_mask_ops[IORING_OP_READ / 64] |=
			1ull << (IORING_OP_READ % 64);
	if (m == M_T2T || m == M_T2D)
		dp.flags |= KSVC_DISPATCH_NO_INLINE;
	ret = ksvc_dispatch_create(&d, k, &dp);
	if (ret < 0)
		die("ksvc_dispatch_create", ret);
	if (m == M_T1T || m == M_T1D) {
		ksvc_dispatch_stats(d, &st0);
		uring_flags_seen = st0.uring_setup_flags;
	}

	for (phase = 0; phase < 2; phase++) {
		if (phase) {
			ksvc_dispatch_stats(d, &st0);
			poison(op, b);
		}
		t0 = now_ns();
		end = t0 + (__u64)(phase ? round_ms() : WARM_MS) * 1000000ull;
		n = 0;
		do {
			__u64 s = now_ns();
			unsigned int i, got = 0;
			unsigned char seen[MAX_BATCH];

			memset(seen, 0, b);
			for (i = 0; i < b; i++) {
				e[i].corr_id = i;
				e[i].flags = 0;
				fill_args(op, i, n + i, &e[i].syscall_nr,
					  e[i].args);
			}
			ret = ksvc_dispatch_submit(d, e, b, KSVC_SUBMIT_WAIT);
			if (ret < 0)
				die("ksvc_dispatch_submit", ret);
			while (got < b) {
				/* All that is missing, as liburing's
				 * submit_and_wait(b). */
				ret = ksvc_dispatch_wait(d, c, MAX_BATCH,
							 b - got, 10000);
				if (ret < 0)
					die("ksvc_dispatch_wait", ret);
				for (i = 0; i < (unsigned)ret; i++) {
					if (c[i].result != want)
						die("ksvc result",
						    c[i].result < 0 ?
						    c[i].result : -EIO);
					if (!(c[i].flags & tier))
						off++;
					check_id(seen, c[i].corr_id, b);
				}
				got += (unsigned)ret;
			}
			n += b;
			t1 = now_ns();
			if (phase)
				sample(t1 - s);
		} while (t1 < end);
		if (!phase)
			off = 0;	/* count the measured ops only */
	}
	finish_cell(r, n, t0, t1);
	check_data(op, n, b);
	/* A pool column whose calls ran on the dispatcher measured that. */
	ksvc_dispatch_stats(d, &st1);
	if (m == M_T2T || m == M_T2D)
		off += st1.tier2_inline - st0.tier2_inline;
	/*
	 * And an inline column's calls that went to the pool measured the
	 * pool: getppid and recv0 always run inline.  (A pread runs inline
	 * only when RWF_NOWAIT reads it whole, so its share is not fixed.)
	 */
	if ((m == M_T2IT || m == M_T2ID) &&
	    (op == OP_GETPPID || op == OP_RECV0) &&
	    st1.tier2_inline - st0.tier2_inline < n)
		off += n - (st1.tier2_inline - st0.tier2_inline);
	r->off_path = off;
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static int applies(enum op op, enum meth m)
{
	if (m == M_T1DC)
		return op == OP_PREAD4K;
	if (op == OP_GETPPID || op == OP_RECV0)
		return m == M_DIRECT || m == M_T2T || m == M_T2D ||
		       m == M_T2IT || m == M_T2ID;
	return 1;
}

static void run_cell(enum op op, enum meth m, unsigned int bi,
		     unsigned int round)
{
	struct result *r = &res[op][m][bi][round];
	unsigned int b = batches[bi];

	cur = &smp[m];
	round_start = cur->n;

	switch (m) {
	case M_DIRECT:
		run_direct(op, b, r);
		break;
	case M_URING:
	case M_URINGSQ:
		run_uring(op, b, m == M_URINGSQ, r);
		break;
	default:
		run_ksvc(op, m, b, r);
		break;
	}
}

/* ---------------------------------------------------------------- */

static void setup_files(void)
{
	char path[] = "/tmp/ksvc-bench-XXXXXX";
	char *chunk;
	int sv[2];
	unsigned int i;

	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (zero_fd < 0)
		die("/dev/zero", -errno);
	/* Nothing is ever written to the other end: recv0 gets -EAGAIN. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) < 0)
		die("socketpair", -errno);
	sock_fd = sv[0];
	file_fd = mkstemp(path);
	if (file_fd < 0)
		die("mkstemp", -errno);
	unlink(path);
	chunk = malloc(65536);
	if (!chunk)
		die("malloc", -ENOMEM);
	for (i = 0; i < 65536; i++)
		chunk[i] = (char)(i * 7);
	for (i = 0; i < FILE_SIZE / 65536; i++)
		if (write(file_fd, chunk, 65536) != 65536)
			die("write", -errno);
	fsync(file_fd);
	for (i = 0; i < FILE_SIZE / 65536; i++)	/* into the page cache */
		if (pread(file_fd, chunk, 65536, (off_t)i * 65536) != 65536)
			die("pread", -errno);
	free(chunk);
	bufs = aligned_alloc(4096, MAX_BATCH * 4096);
	if (!bufs)
		die("malloc", -ENOMEM);
	memset(bufs, 0, MAX_BATCH * 4096);
}

/* Running in the QEMU TCG guest (vm/init names it ksvc-guest)? */
static int in_guest(void)
{
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	return strcmp(host, "ksvc-guest") == 0;
}

static const char *where(void)
{
	if (where_label)
		return where_label;
	return in_guest() ? "vm(qemu-tcg)" : "host";
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_ops [--csv FILE] [--time-ms N] "
		"[--rounds N] [--batches 1,8,32,128] [--where LABEL] "
		"[--ops pread1,...] [--methods direct,liburing,...]\n");
	exit(2);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of @n values (reorders them); n > 0. */
static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One cell over its rounds: the median of each round's ops/s and p50;
 * the p99 of all its batches, every round pooled; ops and time summed.
 */
struct summary {
	int valid;
	double ops_per_s, p50, p99, secs;
	__u64 ops, off_path;
};

static struct summary summarize(enum op op, enum meth m, unsigned int bi)
{
	double v[2][MAX_ROUNDS];
	struct summary sm = { 0 };
	unsigned int r, n = 0;

	for (r = 0; r < rounds; r++) {
		const struct result *x = &res[op][m][bi][r];

		if (!x->valid)
			continue;
		v[0][n] = x->ops_per_s;
		v[1][n] = (double)x->p50;
		sm.ops += x->ops;
		sm.secs += x->secs;
		sm.off_path += x->off_path;
		n++;
	}
	if (!n)
		return sm;
	sm.valid = 1;
	sm.ops_per_s = median(v[0], n);
	sm.p50 = median(v[1], n);
	sm.p99 = (double)p99_all[op][m][bi];
	return sm;
}

/* A KSVC column: its completions say which path its calls took. */
static int checked(enum meth m)
{
	return m >= M_T1T;
}

static const char *path_name(enum meth m)
{
	if (m == M_T1T || m == M_T1D || m == M_T1DC)
		return "in Tier 1 (io_uring)";
	if (m == M_T2T || m == M_T2D)
		return "on the Tier 2 pool";
	return "in Tier 2";
}

static unsigned int invalid_cells;

/*
 * Whether a cell measured the path its column names; if not, say so (as
 * the rest of a line that @lead begins) and return 0.
 */
static int path_ok(enum op op, enum meth m, unsigned int bi,
		   const char *lead)
{
	struct summary sm = summarize(op, m, bi);

	if (!sm.valid || !sm.off_path)
		return 1;
	printf("%sINVALID, not judged: %llu of %llu measured ops of %s did "
	       "not run %s\n", lead, (unsigned long long)sm.off_path,
	       (unsigned long long)sm.ops, meth_name[m], path_name(m));
	return 0;
}

/*
 * The median over the rounds of a ratio between two cells measured in
 * the same round: throughput of a over b (what = 0), median batch time of
 * b over a (what = 1), or the p50 of a minus that of b in us (what = 2).
 */
static double round_ratio(enum op op, enum meth a, enum meth b,
			  unsigned int bi, int what)
{
	double v[MAX_ROUNDS];
	unsigned int r, n = 0;

	for (r = 0; r < rounds; r++) {
		const struct result *x = &res[op][a][bi][r];
		const struct result *y = &res[op][b][bi][r];

		if (!x->valid || !y->valid)
			continue;
		if (what == 0)
			v[n++] = x->ops_per_s / y->ops_per_s;
		else if (what == 1)
			v[n++] = (double)y->p50 / (double)x->p50;
		else
			v[n++] = ((double)x->p50 - (double)y->p50) / 1000.0;
	}
	return n ? median(v, n) : -1e9;
}

/* The goals CSV, one line per goal and reference ratio. */
static FILE *goals_f;
static const char *kernel_release;
#define NONE	(-1e9)		/* no figure (round_ratio() found none) */
#define T1_GOAL	"throughput and median batch time >= 0.9 of liburing"
#define T2_GOAL	"p50 added <= 2 us"

static void csv_num(double v, const char *fmt)
{
	if (v > NONE / 10)
		fprintf(goals_f, fmt, v);
	fputc(',', goals_f);
}

/*
 * One line: @m against @against; @ratio (throughput), @bt (median batch
 * time) and @add (p50 added, us) where they apply, else NONE.
 */
static void goal_csv(enum op op, enum meth m, unsigned int bi,
		     enum meth against, double ratio, double bt, double add,
		     const char *goal, const char *verdict)
{
	fprintf(goals_f, "%s,%s,%s,%s,%s,%u,%s,", where(), kernel_release,
		ksvc_mode_name(run_mode), op_name[op], meth_name[m],
		batches[bi], meth_name[against]);
	csv_num(ratio, "%.4f");
	csv_num(bt, "%.4f");
	csv_num(add, "%.3f");
	fprintf(goals_f, "%s,%s\n", goal, verdict);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "csv", required_argument, NULL, 'c' },
		{ "time-ms", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "batches", required_argument, NULL, 'b' },
		{ "where", required_argument, NULL, 'w' },
		{ "ops", required_argument, NULL, 'o' },
		{ "methods", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char csvbuf[4096], goalsbuf[4096];
	char lead[64];
	size_t len;
	const char *csv = "bench_ops.csv";
	int csv_given = 0;
	struct utsname u;
	FILE *f;
	int o, op, m;
	unsigned int bi, r, k;

	while ((o = getopt_long(argc, argv, "c:t:r:b:w:o:m:h", lo, NULL)) !=
	       -1) {
		switch (o) {
		case 'c':
			csv = optarg;
			csv_given = 1;
			break;
		case 't':
			time_ms = (unsigned)atoi(optarg);
			if (!time_ms)
				usage();
			break;
		case 'r':
			rounds = (unsigned)atoi(optarg);
			if (!rounds || rounds > MAX_ROUNDS)
				usage();
			break;
		case 'b': {
			char *s = optarg, *end;

			nbatches = 0;
			while (*s && nbatches < 8) {
				unsigned long v = strtoul(s, &end, 10);

				if (end == s || !v || v > MAX_BATCH)
					usage();
				batches[nbatches++] = (unsigned)v;
				s = *end == ',' ? end + 1 : end;
			}
			if (!nbatches)
				usage();
			break;
		}
		case 'w':
			where_label = optarg;
			break;
		case 'o':
			only_ops = optarg;
			break;
		case 'm':
			only_methods = optarg;
			break;
		default:
			usage();
		}
	}
	if (!csv_given && getenv("BENCH_OUT")) {
		snprintf(csvbuf, sizeof(csvbuf), "%s/bench_ops.csv",
			 getenv("BENCH_OUT"));
		csv = csvbuf;
	}
	uname(&u);
	setup_files();
	/*
	 * SQPOLL's kernel thread needs a CPU of its own, and in the TCG
	 * guest both virtual CPUs are emulated by one host thread: there it
	 * measured the tick (about 4 ms a batch), not io_uring.  Left out
	 * unless asked for by name.
	 */
	if (!only_methods && in_guest()) {
		skip_sqp = 1;
		printf("bench_ops: liburing-sqp left out in the TCG guest (its "
		       "kernel thread needs a CPU of its own)\n");
	}

	/*
	 * Rounds innermost but one: a cell's rounds spread over the run.
	 * Each round starts one method further along the methods that run,
	 * so that the first place (right after another cell's rounds or
	 * the last method of the round before) goes round too.
	 */
	for (op = 0; op < OP_N; op++) {
		for (bi = 0; bi < nbatches; bi++) {
			int run[M_N];
			unsigned int nrun = 0;

			for (m = 0; m < M_N; m++)
				if (applies(op, m) &&
				    !(m == M_URINGSQ && skip_sqp) &&
				    listed(only_ops, op_name[op]) &&
				    listed(only_methods, meth_name[m]))
					run[nrun++] = m;
			for (r = 0; r < rounds; r++)
				for (k = 0; k < nrun; k++)
					run_cell(op, run[(k + r) % nrun], bi,
						 r);
			for (m = 0; m < M_N; m++) {
				struct samples *sp = &smp[m];

				if (!sp->n)
					continue;
				qsort(sp->v, sp->n, sizeof(*sp->v), cmp_u64);
				p99_all[op][m][bi] = pct(sp->v, sp->n, 99);
				sp->n = 0;
			}
		}
	}

	printf("bench_ops: %s, kernel %s, KSVC mode %s, io_uring setup flags "
	       "0x%x (liburing column 0x%x), %u rounds of %u ms per cell, "
	       "interleaved\n", where(), u.release, ksvc_mode_name(run_mode),
	       uring_flags_seen, liburing_flags_seen, rounds, round_ms());
	printf("latency = time of one batch (submit .. last result); ops/s "
	       "and p50 are the median over the rounds, p99 is over the "
	       "batches of all rounds together\n\n");
	printf("%-8s %-12s %5s %12s %10s %11s\n", "op", "method", "batch",
	       "ops/s", "p50_ns", "p99_ns(all)");
	f = fopen(csv, "w");
	if (!f)
		die(csv, -errno);
	fprintf(f, "where,kernel,mode,op,method,batch,rounds,ops,seconds,"
		   "ops_per_s,p50_ns,p99_ns,off_path_ops\n");
	for (op = 0; op < OP_N; op++) {
		for (m = 0; m < M_N; m++) {
			for (bi = 0; bi < nbatches; bi++) {
				struct summary sm = summarize(op, m, bi);

				if (!sm.valid)
					continue;
				printf("%-8s %-12s %5u %12.0f %10.0f %11.0f"
				       "%s\n", op_name[op], meth_name[m],
				       batches[bi],
				       sm.ops_per_s, sm.p50, sm.p99,
				       sm.off_path ? "  INVALID (path)" : "");
				if (sm.off_path)
					invalid_cells++;
				fprintf(f, "%s,%s,%s,%s,%s,%u,%u,%llu,%.6f,"
					   "%.0f,%.0f,%.0f,", where(),
					u.release, ksvc_mode_name(run_mode),
					op_name[op], meth_name[m], batches[bi],
					rounds, (unsigned long long)sm.ops,
					sm.secs, sm.ops_per_s, sm.p50, sm.p99);
				if (checked(m))
					fprintf(f, "%llu", (unsigned long long)
						sm.off_path);
				fprintf(f, "\n");
			}
		}
		printf("\n");
	}
	fclose(f);

	/* The goals, from this run: ratios within a round, median. */
	len = strlen(csv);
	if (len > 4 && !strcmp(csv + len - 4, ".csv"))
		len -= 4;
	snprintf(goalsbuf, sizeof(goalsbuf), "%.*s_goals.csv", (int)len, csv);
	goals_f = fopen(goalsbuf, "w");
	if (!goals_f)
		die(goalsbuf, -errno);
	kernel_release = u.release;
	fprintf(goals_f, "where,kernel,mode,op,method,batch,against,ratio,"
		"batch_time_ratio,p50_added_us,goal,verdict\n");
	printf("Goals (measured side by side, median over %u rounds):\n",
	       rounds);
	for (bi = 0; bi < nbatches; bi++) {
		if (batches[bi] != 32)
			continue;
		for (op = OP_PREAD1; op <= OP_PREAD4K; op++) {
			for (m = M_T1T; m <= M_T1D; m++) {
				double tp, lat;
				int ok;

				tp = round_ratio(op, m, M_URING, bi, 0);
				lat = round_ratio(op, m, M_URING, bi, 1);
				if (tp < 0)
					continue;
				snprintf(lead, sizeof(lead), "  Tier 1 %-9s "
					 "batch 32 %-7s: ", meth_name[m] + 3,
					 op_name[op]);
				ok = path_ok(op, m, bi, lead);
				/*
				 * Two views: throughput over the run, and the
				 * median batch time.  Met only if both are.
				 */
				if (ok) {
					const char *v = tp >= 0.9 &&
							lat >= 0.9 ?
							"met" : "NOT met";

					printf("%s%.1f%% of liburing's "
					       "throughput, %.1f%% by median "
					       "batch time (goal >= 90%%): "
					       "%s\n", lead, 100.0 * tp,
					       100.0 * lat, v);
					goal_csv(op, m, bi, M_URING, tp, lat,
						 NONE, T1_GOAL, v);
				} else {
					goal_csv(op, m, bi, M_URING, NONE,
						 NONE, NONE, T1_GOAL,
						 "invalid");
				}
				tp = round_ratio(op, M_T1DC, M_URING, bi, 0);
				if (m == M_T1D && tp >= 0) {
					int cok = path_ok(op, M_T1DC, bi,
							  "    (reference) ");

					if (cok)
						printf("    (reference, no "
						       "goal: without KSVC_"
						       "DISPATCH_POSITIONAL_"
						       "FDS, one statx() per "
						       "pread: %.1f%%)\n",
						       100.0 * tp);
					goal_csv(op, M_T1DC, bi, M_URING,
						 cok ? tp : NONE, NONE, NONE,
						 "none", cok ? "reference" :
						 "invalid");
				}
				if (m != M_T1T || !ok)
					continue;
				tp = round_ratio(op, m, M_URINGSQ, bi, 0);
				if (tp >= 0) {
					printf("    (reference, no goal: %.1f%% of "
					       "liburing with SQPOLL, whose "
					       "kernel thread takes each batch "
					       "on another CPU too)\n",
					       100.0 * tp);
					goal_csv(op, m, bi, M_URINGSQ, tp, NONE,
						 NONE, "none", "reference");
				}
			}
		}
	}
	for (bi = 0; bi < nbatches; bi++) {
		if (batches[bi] != 1)
			continue;
		for (op = 0; op < OP_N; op++) {
			for (m = M_T2T; m <= M_T2ID; m++) {
				double add = round_ratio(op, m, M_DIRECT, bi,
							 2);

				if (add < -1e8)
					continue;
				snprintf(lead, sizeof(lead), "  Tier 2 %-10s "
					 "batch 1 %-7s: ", meth_name[m],
					 op_name[op]);
				if (!path_ok(op, m, bi, lead)) {
					goal_csv(op, m, bi, M_DIRECT, NONE,
						 NONE, NONE, T2_GOAL,
						 "invalid");
					continue;
				}
				printf("%sadds %.2f us at p50 over direct "
				       "(goal <= 2 us): %s\n", lead, add,
				       add <= 2.0 ? "met" : "NOT met");
				goal_csv(op, m, bi, M_DIRECT, NONE, NONE, add,
					 T2_GOAL, add <= 2.0 ? "met" :
					 "NOT met");
			}
		}
	}
	fclose(goals_f);
	printf("CSV: %s, goals: %s\n", csv, goalsbuf);
	if (invalid_cells) {
		fprintf(stderr, "bench_ops: %u cell(s) INVALID: their calls "
			"did not all run on the path the column names (see "
			"above)\n", invalid_cells);
		return 1;
	}
	return 0;
}
