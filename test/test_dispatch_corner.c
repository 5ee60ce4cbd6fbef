// SPDX-License-Identifier: MIT
/*
 * test_dispatch_corner - dispatcher corners that need a narrow window
 * held open, or a counter brought near its wrap:
 *
 *  1. A thread waiting for completions without an eventfd sleeps on a
 *     futex on the completion ring's tail.  ksvc_dispatch_stop() wakes
 *     it, but changes no tail: a waiter that checked "stopped" just
 *     before the stop and queued its wait just after would sleep for
 *     ever.  The program defines syscall() (the library's futex calls
 *     resolve to it) and holds that waiter between its checks and its
 *     wait while the stop happens.
 *  2. Posters signal an eventfd once per sleep of the waiter.  A program
 *     that reads a given eventfd may take that one count: the waiter
 *     must still see its completions soon, not at its timeout.  ppoll()
 *     is defined here to hold the waiter while both calls complete, and
 *     to take the count away.
 *  3. The pool queue's indices are free-running and wrap at 2^32: 400
 *     calls queued across the wrap behind a busy worker each complete
 *     exactly once, with the right result.
 *  4. ksvc_dispatch_destroy() from a thread other than the driver, with
 *     KSVC_DISPATCH_ONE_DRIVER and more Tier 1 requests in flight than
 *     io_uring's submission queue holds (the cancellations do not fit,
 *     and io_uring refuses submissions from that thread): it returns,
 *     and every request is answered -ECANCELED.
 *  5. A batch of Tier 1 reads larger than io_uring's submission queue
 *     (the fast path counts the free SQEs once per batch): every read
 *     runs once, at its own offset, in both modes.
 *  6. With the caller driving, a ksvc_dispatch_wait() that has seen its
 *     @min completions in the ring, and another thread's
 *     ksvc_dispatch_reap() that takes them before the waiter does (the
 *     window held open by ksvc__pool_test_gap() 8): the wait must not
 *     return fewer than @min; with nothing more to come, it times out.
 *  7. A pool worker that posted a result and is held before it hands the
 *     op back (ksvc__pool_test_gap() 7): the program that reaped the
 *     completion must already find it in ksvc_dispatch_stats().posted.
 */
#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <sys/eventfd.h>

#include "test_dispatch.h"
#include "util.h"

void ksvc__pool_test_index(struct ksvc_dispatcher *d, unsigned int idx);
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us);

typedef long (*syscall_fn)(long, ...);
static syscall_fn real_syscall;

/* 1: hold the next futex wait on this word for hold_ms. */
static __u32 *hold_word;
static int hold_pending;
static int held;		/* atomic */
static unsigned int hold_ms = 500;

long syscall(long nr, ...)
{
	long a[6] = { 0 };
	va_list ap;
	int i, n = nr == SYS_futex || nr == SYS_mmap ? 6 : 5;
	void *word = NULL;
	syscall_fn fn;

	va_start(ap, nr);
	for (i = 0; i < n; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	/* atomic: the first calls may come from several threads at once */
	fn = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);
	if (!fn) {
		fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
		__atomic_store_n(&real_syscall, fn, __ATOMIC_RELEASE);
	}
	if (nr == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT)
		word = (void *)a[0];
	else if (nr == SYS_futex_waitv && a[0])
		word = (void *)(uintptr_t)((struct futex_waitv *)a[0])->uaddr;
	if (word && word == (void *)__atomic_load_n(&hold_word,
						    __ATOMIC_ACQUIRE) &&
	    __atomic_exchange_n(&hold_pending, 0, __ATOMIC_ACQ_REL)) {
		int e = errno;

		__atomic_store_n(&held, 1, __ATOMIC_SEQ_CST);
		ku_sleep_ms(hold_ms);
		errno = e;
	}
	return fn(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/*
 * 2: before the library's next ppoll() on its descriptor of the eventfd
 * (steal_fd), wait, then take the count through the program's (prog_fd).
 */
static int steal_fd = -1, prog_fd = -1;
static volatile int stolen;

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
	  const sigset_t *sigmask)
{
	struct timespec copy, *tp = NULL;
	struct pollfd *in = fds;

	/* glibc declares @fds write-only; the caller did fill it in. */
	__asm__("" : "+r"(in));
	if (steal_fd >= 0 && n == 1 && in[0].fd == steal_fd) {
		struct pollfd q = { prog_fd, POLLIN, 0 };
		struct timespec zero = { 0, 0 };
		uint64_t v;

		steal_fd = -1;
		ku_sleep_ms(300);		/* both calls complete meanwhile */
		if (syscall(SYS_ppoll, &q, 1, &zero, NULL,
			    (size_t)(_NSIG / 8)) == 1 &&
		    read(q.fd, &v, sizeof(v)) == 8)
			stolen++;
	}
	if (ts) {
		copy = *ts;	/* the system call writes the time left */
		tp = &copy;
	}
	return (int)syscall(SYS_ppoll, fds, n, tp, sigmask,
			    (size_t)(_NSIG / 8));
}

struct waiter {
	struct ksvc_dispatcher *d;
	int ret;
};

static void *wait_one(void *arg)
{
	struct waiter *w = arg;
	struct ksvc_completion c;

	w->ret = ksvc_dispatch_wait(w->d, &c, 1, 1, -1);
	return NULL;
}

static void test_stop_wakes_futex_waiter(void)
{
	struct ksvc_dispatch_params p;
	struct waiter w = { NULL, 1 };
	struct ksvc *k = td_open_with(0, 0, KSVC_OPEN_EVENTFD_GIVEN, -1);
	pthread_t th;
	int done, i;

	memset(&p, 0, sizeof(p));
	p.workers = 1;
	p.spin_us = KSVC_SPIN_NONE;	/* the waiter sleeps at once */
	w.d = td_create_p(k, &p);
	__atomic_store_n(&held, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&hold_word, &k->cq.hdr->tail, __ATOMIC_RELEASE);
	__atomic_store_n(&hold_pending, 1, __ATOMIC_RELEASE);
	pthread_create(&th, NULL, wait_one, &w);
	/* until the waiter is held */
	for (i = 0; !__atomic_load_n(&held, __ATOMIC_SEQ_CST) && i < 2000;
	     i++)
		ku_sleep_ms(5);
	ksvc_dispatch_stop(w.d);
	done = td_join_within(th, 5000);
	__atomic_store_n(&hold_word, NULL, __ATOMIC_RELEASE);
	if (!done) {
		tap_ok(0, "no eventfd: a waiter that queues its futex wait just "
		       "after ksvc_dispatch_stop() HANGS");
		tap_bail("a waiter is left hanging: cannot go on");
	}
	tap_ok(held && w.ret == -ESHUTDOWN,
	       "no eventfd: a waiter held between its checks and its futex "
	       "wait while the dispatcher stops still returns -ESHUTDOWN "
	       "(held %d, returned %d)", held, w.ret);
	ksvc_dispatch_destroy(w.d);
	ksvc_close(k);
}

static void test_stolen_count(void)
{
	struct ksvc_dispatch_params p;
	struct timespec t1 = { 0, 20 * 1000 * 1000 };
	struct timespec t2 = { 0, 60 * 1000 * 1000 };
	struct ksvc_completion c[2];
	struct ksvc_entry e[2];
	struct ksvc_dispatcher *d;
	struct ksvc *k;
	uint64_t t0, ms;
	int efd, n;

	efd = eventfd(0, EFD_CLOEXEC);	/* blocking, as a program may */
	if (efd < 0)
		tap_bail("eventfd");
	k = td_open_with(0, 0, KSVC_OPEN_EVENTFD_GIVEN, efd);
	memset(&p, 0, sizeof(p));
	p.workers = 2;
	p.spin_us = KSVC_SPIN_NONE;
	d = td_create_p(k, &p);
	e[0] = td_entry(1, SYS_nanosleep, (uintptr_t)&t1, 0, 0, 0);
	e[1] = td_entry(2, SYS_nanosleep, (uintptr_t)&t2, 0, 0, 0);
	stolen = 0;
	prog_fd = efd;
	steal_fd = k->eventfd;
	t0 = td_now_ms();
	if (ksvc_dispatch_submit(d, e, 2, 0) != 2)
		tap_bail("submit");
	n = ksvc_dispatch_wait(d, c, 2, 2, 5000);
	ms = td_now_ms() - t0;
	steal_fd = -1;
	tap_ok(n == 2 && stolen == 1 && ms < 2000,
	       "given eventfd: the program takes the one count posted while "
	       "the waiter sleeps; the waiter still has both completions "
	       "after %llu ms, not at its 5000 ms timeout (returned %d, "
	       "stolen %d)", (unsigned long long)ms, n, stolen);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(efd);
}

#define WRAP_CALLS	400

static void test_pool_index_wrap(void)
{
	static struct ksvc_entry e[WRAP_CALLS];
	static struct ksvc_completion c[WRAP_CALLS + 1];
	static unsigned char seen[WRAP_CALLS];
	struct timespec block = { 0, 300 * 1000 * 1000 };
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d;
	struct ksvc_entry first;
	struct ksvc *k;
	unsigned int i, got, once = 0, right = 0;
	pid_t ppid = getppid();

	k = td_open(256, 1024);
	memset(&p, 0, sizeof(p));
	p.workers = 1;
	p.flags = KSVC_DISPATCH_NO_INLINE;	/* getppid on the pool too */
	d = td_create_p(k, &p);
	ksvc__pool_test_index(d, 0u - 300u);
	/* The one worker sleeps; everything after it waits in the queue. */
	first = td_entry(WRAP_CALLS, SYS_nanosleep, (uintptr_t)&block, 0, 0,
			 0);
	if (ksvc_dispatch_submit(d, &first, 1, 0) != 1)
		tap_bail("submit");
	ku_sleep_ms(50);
	for (i = 0; i < WRAP_CALLS; i++)
		e[i] = td_entry(i, SYS_getppid, 0, 0, 0, 0);
	for (i = 0; i < WRAP_CALLS; i += 200)
		if (ksvc_dispatch_submit(d, e + i, 200, KSVC_SUBMIT_WAIT) !=
		    200)
			tap_bail("submit");
	got = td_collect(d, c, WRAP_CALLS + 1, 20000);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < got; i++) {
		if (c[i].corr_id >= WRAP_CALLS)
			continue;
		seen[c[i].corr_id]++;
		if (c[i].result == ppid)
			right++;
	}
	for (i = 0; i < WRAP_CALLS; i++)
		once += seen[i] == 1;
	tap_ok(got == WRAP_CALLS + 1 && once == WRAP_CALLS &&
	       right == WRAP_CALLS,
	       "pool queue indices wrap at 2^32 with %d calls queued: each "
	       "completes exactly once, with its result (%u completions, %u "
	       "once, %u right)", WRAP_CALLS, got, once, right);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

#define T1_READS	20

struct destroyer {
	struct ksvc_dispatcher *d;
};

static void *destroy_it(void *arg)
{
	struct destroyer *x = arg;

	ksvc_dispatch_destroy(x->d);
	return NULL;
}

static void test_destroy_elsewhere(void)
{
	struct ksvc_entry e[T1_READS];
	struct ksvc_dispatch_params p;
	struct ksvc_dispatch_stats st;
	struct destroyer x;
	struct ksvc_completion c;
	struct ksvc *k;
	char buf[T1_READS];
	unsigned int i, cancelled = 0, n = 0;
	pthread_t th;
	int pfd[2];

	if (pipe(pfd))
		tap_bail("pipe");
	k = td_open(64, 128);
	memset(&p, 0, sizeof(p));
	p.flags = KSVC_DISPATCH_CALLER_DRIVES | KSVC_DISPATCH_ONE_DRIVER;
	p.uring_entries = 8;		/* fewer than the requests below */
	x.d = td_create_p(k, &p);
	if (ksvc_dispatch_stats(x.d, &st) || !st.tier1_available) {
		if (td_uring_here())
			tap_ok(0, "ONE_DRIVER: ksvc_dispatch_destroy() on "
			       "another thread: io_uring works here, but the "
			       "dispatcher (8 io_uring entries) has none");
		else
			tap_skip("no io_uring here", "ONE_DRIVER: "
				 "ksvc_dispatch_destroy() on another thread");
		ksvc_dispatch_destroy(x.d);
		ksvc_close(k);
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	/* Reads of an empty pipe: io_uring holds them until data comes. */
	for (i = 0; i < T1_READS; i++)
		e[i] = td_entry(i, SYS_read, (__u64)pfd[0], (uintptr_t)&buf[i],
				1, 0);
	if (ksvc_dispatch_submit(x.d, e, T1_READS, 0) != T1_READS)
		tap_bail("submit");
	while (ksvc_dispatch_run(x.d) > 0)
		;
	ksvc_dispatch_stats(x.d, &st);
	pthread_create(&th, NULL, destroy_it, &x);
	if (!td_join_within(th, 10000)) {
		tap_ok(0, "ONE_DRIVER: ksvc_dispatch_destroy() on another thread "
		       "with %u Tier 1 reads in flight HANGS", T1_READS);
		tap_bail("destroy is left hanging: cannot go on");
	}
	while (ksvc_cq_pop(&k->cq, &c) == 0) {
		n++;
		if (c.corr_id < T1_READS && c.result == -ECANCELED)
			cancelled++;
	}
	tap_ok(st.tier1.in_flight == T1_READS && cancelled == T1_READS &&
	       n == T1_READS,
	       "ONE_DRIVER: ksvc_dispatch_destroy() on another thread, %llu "
	       "Tier 1 reads in flight and an 8-entry io_uring queue: it "
	       "returns, and all are answered -ECANCELED (%u of %u)",
	       (unsigned long long)st.tier1.in_flight, cancelled, n);
	ksvc_close(k);
	close(pfd[0]);
	close(pfd[1]);
}

#define BIG_BATCH	48

static void test_batch_over_sq(int mode)
{
	struct ksvc_entry e[BIG_BATCH];
	struct ksvc_completion c[BIG_BATCH];
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d;
	struct ksvc *k = td_open(64, 128);
	unsigned char data[BIG_BATCH], got[BIG_BATCH];
	char path[] = "/tmp/ksvc-corner.XXXXXX";
	unsigned int i, n, good = 0;
	int fd = mkstemp(path), uring = td_uring_here();

	if (fd < 0)
		tap_bail("mkstemp");
	unlink(path);
	for (i = 0; i < BIG_BATCH; i++)
		data[i] = (unsigned char)(i * 7 + 1);
	if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		tap_bail("write");
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.uring_entries = 8;		/* far fewer than the batch */
	d = td_create_p(k, &p);
	memset(got, 0, sizeof(got));
	for (i = 0; i < BIG_BATCH; i++)
		e[i] = td_entry(i, SYS_pread64, (__u64)fd, (uintptr_t)&got[i],
				1, i);
	if (ksvc_dispatch_submit(d, e, BIG_BATCH, 0) != BIG_BATCH)
		tap_bail("submit");
	n = td_collect(d, c, BIG_BATCH, 5000);
	for (i = 0; i < n; i++)
		if (c[i].corr_id < BIG_BATCH && c[i].result == 1 &&
		    (!uring || (c[i].flags & KSVC_COMP_TIER1)))
			good++;
	tap_ok(n == BIG_BATCH && good == BIG_BATCH &&
	       memcmp(got, data, sizeof(data)) == 0,
	       "%s: %u reads in one batch through an 8-entry io_uring queue: "
	       "%u answered, %u read 1 byte%s, every byte from its offset",
	       td_mode_names[mode], BIG_BATCH, n, good,
	       uring ? " in Tier 1" : " (no io_uring here)");
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(fd);
}

struct min_waiter {
	struct ksvc_dispatcher *d;
	int ret;
};

static void *wait_min_one(void *arg)
{
	struct min_waiter *w = arg;
	struct ksvc_completion c[4];

	w->ret = ksvc_dispatch_wait(w->d, c, 4, 1, 1500);
	return NULL;
}

static void test_wait_min_vs_reap(void)
{
	struct ksvc_dispatch_params p;
	struct min_waiter w = { NULL, 0 };
	struct ksvc *k = td_open(16, 16);
	struct ksvc_completion c[4];
	struct ksvc_entry e;
	uint64_t end;
	pthread_t th;
	int stolen = 0, r;

	memset(&p, 0, sizeof(p));
	p.flags = KSVC_DISPATCH_CALLER_DRIVES;
	p.workers = 1;
	w.d = td_create_p(k, &p);
	/* the waiter holds for 300 ms once it has seen the completion */
	ksvc__pool_test_gap(w.d, 8, 300000);
	ksvc_prep_call(&e, 1, SYS_getppid, 0, 0, 0, 0, 0, 0);
	r = ksvc_dispatch_submit(w.d, &e, 1, 0);
	pthread_create(&th, NULL, wait_min_one, &w);
	/* the waiter's pass posts it; take it while the waiter holds */
	end = td_now_ms() + 1000;
	while (r == 1 && !stolen && td_now_ms() < end) {
		stolen = ksvc_dispatch_reap(w.d, c, 4);
		if (!stolen)
			usleep(200);
	}
	if (!td_join_within(th, 10000))
		tap_bail("caller-driven wait hangs after another thread "
			 "reaped its completion");
	ksvc__pool_test_gap(w.d, 8, 0);
	if (stolen == 1)
		tap_ok(w.ret == -ETIMEDOUT,
		       "driven: a wait (min 1) whose completion another "
		       "thread reaped in between times out (returned %d)",
		       w.ret);
	else
		tap_ok(w.ret == 1,
		       "driven: the waiter took the completion itself (the "
		       "reaper was too late: window not hit) and returned %d",
		       w.ret);
	ksvc_dispatch_destroy(w.d);
	ksvc_close(k);
}

static void test_posted_counted_first(void)
{
	struct ksvc_dispatch_params p;
	struct ksvc_dispatch_stats st;
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d;
	struct ksvc_completion c;
	struct timespec ts = { 0, 0 };
	struct ksvc_entry e;
	uint64_t end;
	int r;

	memset(&p, 0, sizeof(p));
	p.workers = 1;
	d = td_create_p(k, &p);
	/* the worker holds for 300 ms once its result is out */
	ksvc__pool_test_gap(d, 7, 300000);
	ksvc_prep_call(&e, 7, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0, 0, 0);
	r = ksvc_dispatch_submit(d, &e, 1, 0);
	/*
	 * Reap, not wait: the worker wakes a sleeping waiter only after
	 * the window; a program that polls sees the completion at once.
	 */
	end = td_now_ms() + 10000;
	if (r == 1)
		while ((r = ksvc_dispatch_reap(d, &c, 1)) == 0 &&
		       td_now_ms() < end)
			usleep(100);
	memset(&st, 0, sizeof(st));
	ksvc_dispatch_stats(d, &st);
	tap_ok(r == 1 && c.result == 0 && (c.flags & KSVC_COMP_TIER2) &&
	       st.posted == 1 && st.taken == 1,
	       "thread: a pool result reaped while its worker is held after "
	       "posting is already counted (reap %d, posted %llu, taken %llu)",
	       r, (unsigned long long)st.posted,
	       (unsigned long long)st.taken);
	ksvc__pool_test_gap(d, 7, 0);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	td_args(argc, argv);
	tap_plan(8);
	td_say_where();
	test_stop_wakes_futex_waiter();
	test_stolen_count();
	test_pool_index_wrap();
	test_destroy_elsewhere();
	test_batch_over_sq(0);
	test_batch_over_sq(1);
	test_wait_min_vs_reap();
	test_posted_counted_first();
	tap_done();
}
