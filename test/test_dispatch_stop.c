// SPDX-License-Identifier: MIT
/*
 * test_dispatch_stop - stopping completes or cancels everything in
 * flight, including calls blocked in the kernel, within a bound, and
 * frees everything.
 *
 * In flight when ksvc_dispatch_stop() is called:
 *   - a Tier 1 recv on an empty socket (blocked in io_uring), first link
 *     of a chain whose second link is a write;
 *   - a Tier 2 read on an empty pipe (IORING_OP_READ masked) and a Tier 2
 *     nanosleep of 60 s, blocked in the kernel on the two workers;
 *   - a Tier 2 fstat queued behind them (no free worker);
 *   - a blocking ksvc_dispatch_call() of nanosleep(60 s) on another
 *     thread;
 *   - with the caller driving: entries never taken from the submit ring;
 *   - a blocking ksvc_dispatch_call() behind entries that the full
 *     completion ring cannot answer (nobody reaps): stop leaves those
 *     entries, but the call must still return -ECANCELED.
 * stop must return within 3 s (the blocking calls would take 60 s), each
 * of them must complete -ECANCELED, the pipe must still be empty (the
 * read was interrupted, not satisfied), and after destroy no thread and
 * no descriptor of the dispatcher may remain.
 *
 * Then the race between the cancel signal and the start of the call: 50
 * times, a blocking read is submitted and the dispatcher stopped at once,
 * so that the signal often arrives just before the worker enters read();
 * every stop must still return within the bound.
 */
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <liburing.h>

#include "test_dispatch.h"

#define BOUND_MS	3000

static int count_dir(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

struct callarg {
	struct ksvc_dispatcher *d;
	int r;
	__s64 res;
	__u32 cf;
};

static void *blocking_call(void *arg)
{
	struct callarg *a = arg;
	struct timespec ts = { 60, 0 };
	__u64 args[6] = { (uintptr_t)&ts, 0, 0, 0, 0, 0 };

	a->r = ksvc_dispatch_call(a->d, SYS_nanosleep, args, &a->res, &a->cf);
	return NULL;
}

static void test_stop(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc_dispatch_stats st;
	struct ksvc *k = td_open(64, 128);
	struct ksvc_dispatcher *d;
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[16];
	struct ksvc_entry e[8];
	struct timespec ts = { 60, 0 };
	struct callarg ca;
	struct stat sb;
	pthread_t th;
	char rb[8], rb2[8], sbuf[8];
	int sv[2], pfd[2], threads0, fds0, left, got, ok, avail;
	uint64_t t0, took;
	const struct ksvc_completion *x;

	threads0 = td_settle_threads(td_base_threads());
	fds0 = count_dir("/proc/self/fd");
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | KSVC_DISPATCH_BLOCKING_FDS;
	p.workers = 2;
	td_mask_op(&p, IORING_OP_READ);
	d = td_create_p(k, &p);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(pfd))
		tap_bail("socketpair/pipe");

	e[0] = td_entry(1, SYS_recvfrom, (__u64)sv[1], (uintptr_t)sbuf, 8, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_write, (__u64)pfd[1], (uintptr_t)"w", 1, 0);
	e[2] = td_entry(3, SYS_read, (__u64)pfd[0], (uintptr_t)rb, 8, 0);
	e[3] = td_entry(4, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
	e[4] = td_entry(5, SYS_fstat, 0, (uintptr_t)&sb, 0, 0);
	/*
	 * And first, a Tier 1 recv of its own, in no chain: first in the
	 * ring, with BLOCKING_FDS, it takes the short path (take_t1_fast()).
	 */
	e[5] = td_entry(8, SYS_recvfrom, (__u64)sv[0], (uintptr_t)rb2, 8, 0);
	ksvc_dispatch_submit(d, &e[5], 1, 0);
	ksvc_dispatch_submit(d, e, 5, 0);
	if (mode == 1)
		ksvc_dispatch_run(d);
	memset(&ca, 0, sizeof(ca));
	ca.d = d;
	pthread_create(&th, NULL, blocking_call, &ca);
	usleep(200000);
	if (mode == 1) {
		/*
		 * More blocking calls: the thread blocked in
		 * ksvc_dispatch_call() drives, so these are taken and wait
		 * for a worker, or are still in the ring: -ECANCELED either
		 * way.
		 */
		e[0] = td_entry(6, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		e[1] = td_entry(7, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 2, 0);
	}

	t0 = td_now_ms();
	left = ksvc_dispatch_stop(d);
	took = td_now_ms() - t0;
	pthread_join(th, NULL);
	tap_ok(left == 0 && took < BOUND_MS,
	       "%s: stop with calls blocked in the kernel returned in %llu ms "
	       "(bound %d ms)", m, (unsigned long long)took, BOUND_MS);

	got = (int)td_collect(d, c, 16, 1000);
	ok = got == (mode == 1 ? 8 : 6);
	x = td_find(c, (unsigned)got, 1);
	tap_ok(ok && x && x->result == -ECANCELED &&
	       x->flags == KSVC_COMP_TIER1,
	       "%s: the Tier 1 recv blocked in io_uring: -ECANCELED (%lld)", m,
	       x ? (long long)x->result : 0LL);
	x = td_find(c, (unsigned)got, 8);
	tap_ok(x && x->result == -ECANCELED &&
	       x->flags == KSVC_COMP_TIER1,
	       "%s: the other Tier 1 recv, in no chain: -ECANCELED (%lld)", m,
	       x ? (long long)x->result : 0LL);
	x = td_find(c, (unsigned)got, 2);
	tap_ok(x && x->result == -ECANCELED && x->flags == 0,
	       "%s: its linked write: -ECANCELED, never run", m);
	x = td_find(c, (unsigned)got, 3);
	ok = x && x->result == -ECANCELED && x->flags == KSVC_COMP_TIER2;
	avail = -1;
	ioctl(pfd[0], FIONREAD, &avail);
	tap_ok(ok && avail == 0,
	       "%s: the Tier 2 read blocked on an empty pipe: -ECANCELED, "
	       "interrupted (pipe still empty)", m);
	x = td_find(c, (unsigned)got, 4);
	tap_ok(x && x->result == -ECANCELED && x->flags == KSVC_COMP_TIER2,
	       "%s: the Tier 2 nanosleep(60 s): -ECANCELED", m);
	x = td_find(c, (unsigned)got, 5);
	tap_ok(x && x->result == -ECANCELED,
	       "%s: the pool call queued behind them: -ECANCELED", m);
	tap_ok(ca.r == 0 && ca.res == -ECANCELED,
	       "%s: the blocking ksvc_dispatch_call(nanosleep 60 s) on another "
	       "thread returns -ECANCELED (%d, %lld)", m, ca.r,
	       (long long)ca.res);
	if (mode == 1) {
		ok = td_find(c, (unsigned)got, 6) &&
		     td_find(c, (unsigned)got, 6)->result == -ECANCELED &&
		     td_find(c, (unsigned)got, 7) &&
		     td_find(c, (unsigned)got, 7)->result == -ECANCELED;
		tap_ok(ok, "%s: two more nanosleeps submitted meanwhile: "
		       "-ECANCELED", m);
	} else {
		tap_ok(ksvc_ring_ready(&k->sq) == 0,
		       "%s: nothing left in the submit ring", m);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(st.tier1.in_flight == 0 && st.tier2.in_flight == 0 &&
	       st.tier1.cancelled == 2 && st.tier2.cancelled >= 3,
	       "%s: counters: nothing in flight, cancelled tier1 %llu tier2 "
	       "%llu", m, (unsigned long long)st.tier1.cancelled,
	       (unsigned long long)st.tier2.cancelled);
	ksvc_dispatch_destroy(d);
	{
		int after = td_settle_threads(threads0);

		tap_ok(after == threads0,
		       "%s: after destroy no dispatcher thread is left (%d "
		       "threads, %d before)", m, after, threads0);
	}
	close(sv[0]);
	close(sv[1]);
	close(pfd[0]);
	close(pfd[1]);
	tap_ok(count_dir("/proc/self/fd") == fds0,
	       "%s: ... and no descriptor (%d)", m, count_dir("/proc/self/fd"));
	ksvc_close(k);
}

/* Driven, and nobody drives: stop answers what is still in the ring. */
static void test_untaken(void)
{
	struct ksvc *k = td_open(64, 128);
	struct ksvc_dispatcher *d = td_create(k, KSVC_DISPATCH_CALLER_DRIVES, 2);
	struct ksvc_completion c[4];
	struct ksvc_entry e[3];
	struct ksvc_dispatch_stats st;
	int i, ok, got;

	for (i = 0; i < 3; i++)
		e[i] = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);
	ksvc_dispatch_submit(d, e, 3, 0);
	ok = ksvc_dispatch_stop(d) == 0;
	got = (int)td_collect(d, c, 4, 1000);
	ok = ok && got == 3;
	for (i = 0; ok && i < 3; i++)
		ok = c[i].result == -ECANCELED && c[i].flags == 0;
	ksvc_dispatch_stats(d, &st);
	tap_ok(ok && st.tier2.submitted == 0,
	       "driven: entries never taken from the submit ring: -ECANCELED, "
	       "none ran (%d)", got);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * A blocking call behind entries that cannot be answered: the completion
 * ring is full and nobody reaps, so the dispatcher takes nothing more.
 * stop leaves the ordinary entries in the ring (no room for their
 * answers), but the call needs no room: it must return -ECANCELED, and
 * stop must return (with the caller driving, the waiting call's thread
 * is the driver and holds the drive lock that stop takes).
 */
struct stoparg {
	struct ksvc_dispatcher *d;
	int left;
};

static void *stopper(void *arg)
{
	struct stoparg *a = arg;

	a->left = ksvc_dispatch_stop(a->d);
	return NULL;
}

static void test_call_behind_full(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[16];
	struct stoparg sa = { d, -1 };
	struct callarg ca;
	pthread_t cth, sth;
	struct stat sb;
	int i, t, called, stopped, got;
	uint64_t t0, took;
	__u32 queued;

	/* 16 answered (the completion ring is full), then 4 that stay. */
	for (i = 0; i < 20; i++) {
		struct ksvc_entry e = td_entry((__u64)i, SYS_fstat, 0,
					       (uintptr_t)&sb, 0, 0);

		if (ksvc_dispatch_submit(d, &e, 1, 0) != 1)
			tap_bail("submit %d", i);
		if (mode == 1)
			ksvc_dispatch_run(d);
		for (t = 0; i == 15 && ksvc_ring_ready(&k->cq) < 16; t++) {
			if (t == 5000)
				tap_bail("%s: 16 fstat calls not answered", m);
			if (mode == 1)
				ksvc_dispatch_run(d);	/* post the pool's */
			usleep(1000);
		}
	}
	memset(&ca, 0, sizeof(ca));
	ca.d = d;
	ca.r = 1;
	pthread_create(&cth, NULL, blocking_call, &ca);
	/*
	 * The call's entry must be in the ring before stop starts (a stop
	 * that meets a submission is test_race's case).  A fixed pause was
	 * not always enough in a sanitized build in the emulated guest on
	 * a loaded machine: stop then waited for the reservation.
	 */
	for (t = 0; t < 10000 && ksvc_ring_ready(&k->sq) < 5; t++)
		usleep(1000);
	usleep(20000);		/* and the caller is waiting in it */
	queued = ksvc_ring_ready(&k->sq);
	t0 = td_now_ms();
	pthread_create(&sth, NULL, stopper, &sa);
	stopped = td_join_within(sth, BOUND_MS);
	took = td_now_ms() - t0;
	called = td_join_within(cth, BOUND_MS);
	if (!stopped || !called) {
		tap_ok(0, "%s: a blocking call behind entries the full "
		       "completion ring cannot answer (%u in the submit "
		       "ring): stop %s, the call %s", m, queued,
		       stopped ? "returned" : "HANGS",
		       called ? "returned" : "HANGS");
		tap_bail("threads left hanging: cannot go on");
	}
	tap_ok(queued == 5 && ca.r == 0 && ca.res == -ECANCELED &&
	       sa.left == 4,
	       "%s: a blocking call behind entries the full completion ring "
	       "cannot answer (%u in the submit ring): -ECANCELED at stop "
	       "(%d, %lld) in %llu ms; stop reports the 4 ordinary entries "
	       "left (%d)", m, queued, ca.r, (long long)ca.res,
	       (unsigned long long)took, sa.left);
	got = (int)td_collect(d, c, 16, 1000);
	tap_ok(got == 16, "%s: ... and the 16 completions in the ring stay "
	       "reapable (%d)", m, got);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_race(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(64, 128);
	uint64_t worst = 0;
	int i, bad = 0, pfd[2];

	if (pipe(pfd))
		tap_bail("pipe");
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = 1;
	p.spin_us = KSVC_SPIN_NONE;
	td_mask_op(&p, IORING_OP_READ);
	for (i = 0; i < 50; i++) {
		struct ksvc_dispatcher *d = td_create_p(k, &p);
		struct ksvc_completion c[2];
		char rb[4];
		struct ksvc_entry e = td_entry(1, SYS_read, (__u64)pfd[0],
					       (uintptr_t)rb, 4, 0);
		uint64_t t0, took;

		ksvc_dispatch_submit(d, &e, 1, 0);
		if (mode == 1)
			ksvc_dispatch_run(d);
		/* Vary the moment: sometimes before the worker starts. */
		if (i % 3 == 1)
			sched_yield();
		else if (i % 3 == 2)
			usleep((unsigned)(i * 13) % 200);
		t0 = td_now_ms();
		ksvc_dispatch_stop(d);
		took = td_now_ms() - t0;
		if (took > worst)
			worst = took;
		if (took >= BOUND_MS || td_collect(d, c, 2, 1000) != 1 ||
		    c[0].result != -ECANCELED)
			bad++;
		ksvc_dispatch_destroy(d);
	}
	tap_ok(bad == 0, "%s: 50 stops racing the start of a blocking read: "
	       "all cancelled, slowest stop %llu ms", td_mode_names[mode],
	       (unsigned long long)worst);
	close(pfd[0]);
	close(pfd[1]);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	int mode;

	td_args(argc, argv);
	tap_plan(2 * 15 + 1);
	td_say_where();
	for (mode = 0; mode < 2; mode++) {
		test_stop(mode);
		test_race(mode);
		test_call_behind_full(mode);
	}
	test_untaken();
	tap_done();
}
