// SPDX-License-Identifier: MIT
/*
 * test_dispatch_full - full rings: nothing is ever dropped.
 *
 *   - With 16-entry rings and nobody reaping, the dispatcher takes only as
 *     many entries as the completion ring can answer (16), then stops
 *     taking; the submit ring fills (16 more) and the next submission
 *     gets -EAGAIN.  After reaping, every one of the 32 comes back exactly
 *     once, and more can be submitted.  Meanwhile a dispatcher thread
 *     sleeps: it does not spin on the full completion ring.
 *   - KSVC_SUBMIT_WAIT: 5000 entries through 16-entry rings with a slow
 *     reaper: no -EAGAIN, every entry back exactly once; and one thread
 *     alone waiting for room in a full submit ring (with the caller
 *     driving, it must drive while it waits).
 *   - ksvc_dispatch_stop() with the completion ring full and entries left
 *     in the submit ring: it reports them (they cannot be answered), the
 *     completions already in the ring stay reapable, and from then on
 *     submissions get -ESHUTDOWN and waits -ESHUTDOWN.
 * Both with the dispatcher thread and with the caller driving.
 */
#include "test_dispatch.h"

static void settle(struct ksvc_dispatcher *d, int mode)
{
	/* Give the dispatcher time to take what it can. */
	if (mode == 1)
		ksvc_dispatch_run(d);
	else
		usleep(50000);
}

/* Process CPU time, in ms. */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * A dispatcher thread that stopped taking for want of completion slots
 * sleeps until a reaper makes room (and rings the doorbell), rather than
 * trying again and again: over 300 ms of nobody reaping, the process
 * (whose only other threads sleep too) uses far less than 300 ms of CPU.
 */
static void check_stalled_sleep(struct ksvc_dispatcher *d)
{
	struct ksvc_dispatch_stats a, b;
	double t0, used;

	ksvc_dispatch_stats(d, &a);
	t0 = cpu_ms();
	usleep(300000);
	used = cpu_ms() - t0;
	ksvc_dispatch_stats(d, &b);
	tap_ok(used < 90.0 && b.taken == a.taken,
	       "thread: with the completion ring full and nobody reaping, the "
	       "dispatcher sleeps: %.1f ms of CPU in 300 ms, %llu sleeps, "
	       "nothing more taken", used,
	       (unsigned long long)(b.sleeps - a.sleeps));
}

static void test_full(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[64];
	struct ksvc_dispatch_stats st;
	unsigned char seen[64];
	int accepted = 0, r = 0, i, got, ok;

	for (i = 0; i < 64; i++) {
		struct ksvc_entry e = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);

		r = ksvc_dispatch_submit(d, &e, 1, 0);
		if (r != 1)
			break;
		accepted++;
		settle(d, mode);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(st.tier1_available, "%s: io_uring in use with 16-entry rings",
	       m);
	tap_ok(r == -EAGAIN && accepted == 32,
	       "%s: 16+16-entry rings, nobody reaping: %d accepted, then %s",
	       m, accepted, r < 0 ? strerror(-r) : "no error");
	tap_ok(st.taken == 16 && st.posted == 16 && st.cq_full_stalls > 0 &&
	       ksvc_ring_ready(&k->cq) == 16 && ksvc_ring_ready(&k->sq) == 16,
	       "%s: the dispatcher took only what the completion ring can "
	       "answer: taken %llu, posted %llu, stalls %llu", m,
	       (unsigned long long)st.taken, (unsigned long long)st.posted,
	       (unsigned long long)st.cq_full_stalls);
	if (mode == 0)
		check_stalled_sleep(d);

	memset(seen, 0, sizeof(seen));
	got = (int)td_collect(d, c, 32, 5000);
	ok = got == 32;
	for (i = 0; ok && i < got; i++) {
		if (c[i].corr_id >= 32 || seen[c[i].corr_id] ||
		    c[i].result != getppid())
			ok = 0;
		else
			seen[c[i].corr_id] = 1;
	}
	tap_ok(ok, "%s: after reaping, all 32 came back once (%d)", m, got);
	{
		struct ksvc_entry e = td_entry(99, SYS_getppid, 0, 0, 0, 0);

		ok = ksvc_dispatch_submit(d, &e, 1, 0) == 1 &&
		     td_collect(d, c, 1, 5000) == 1 && c[0].corr_id == 99;
		tap_ok(ok, "%s: and the rings work again", m);
	}
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

struct slow {
	struct ksvc_dispatcher *d;
	int n, got, dup, bad;
	unsigned char *seen;
};

static void *slow_reaper(void *arg)
{
	struct slow *s = arg;
	struct ksvc_completion c[8];

	while (s->got < s->n) {
		int r = ksvc_dispatch_wait(s->d, c, 8, 1, 10000), i;

		if (r < 0) {
			s->bad++;
			return NULL;
		}
		for (i = 0; i < r; i++) {
			if (c[i].corr_id >= (__u64)s->n ||
			    s->seen[c[i].corr_id]++)
				s->dup++;
			if (c[i].result != getppid())
				s->bad++;
		}
		s->got += r;
		if (s->got % 64 < 8)
			usleep(500);
	}
	return NULL;
}

static void test_wait(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct slow s = { d, 5000, 0, 0, 0, NULL };
	pthread_t th;
	int i, again = 0, err = 0;

	s.seen = calloc((size_t)s.n, 1);
	pthread_create(&th, NULL, slow_reaper, &s);
	for (i = 0; i < s.n; i += 4) {
		struct ksvc_entry e[4];
		int j, r;

		for (j = 0; j < 4; j++)
			e[j] = td_entry((__u64)(i + j), SYS_getppid, 0, 0, 0, 0);
		r = ksvc_dispatch_submit(d, e, 4, KSVC_SUBMIT_WAIT);
		if (r == -EAGAIN)
			again++;
		else if (r != 4)
			err++;
	}
	pthread_join(th, NULL);
	tap_ok(!again && !err && s.got == s.n && !s.dup && !s.bad,
	       "%s: KSVC_SUBMIT_WAIT: %d entries through 16-entry rings, "
	       "%d back, %d duplicates, no EAGAIN", m, s.n, s.got, s.dup);
	free(s.seen);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_stop_full(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[32];
	int i, left, got, ok;
	__s64 res;

	for (i = 0; i < 32; i++) {
		struct ksvc_entry e = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);

		ksvc_dispatch_submit(d, &e, 1, 0);
		settle(d, mode);
	}
	left = ksvc_dispatch_stop(d);
	tap_ok(left == 16, "%s: stop with the completion ring full: %d "
	       "entries reported unanswered", m, left);
	got = (int)td_collect(d, c, 32, 1000);
	ok = got == 16;
	for (i = 0; ok && i < got; i++)
		ok = c[i].result == getppid();
	tap_ok(ok, "%s: the 16 completions in the ring stay reapable (%d)",
	       m, got);
	{
		struct ksvc_entry e = td_entry(1, SYS_getppid, 0, 0, 0, 0);

		ok = ksvc_dispatch_submit(d, &e, 1, 0) == -ESHUTDOWN &&
		     ksvc_dispatch_submit(d, &e, 1, KSVC_SUBMIT_WAIT) ==
		     -ESHUTDOWN &&
		     ksvc_dispatch_call(d, SYS_fstat, NULL, &res, NULL) ==
		     -ESHUTDOWN &&
		     ksvc_dispatch_wait(d, c, 4, 1, 1000) == -ESHUTDOWN;
		tap_ok(ok, "%s: after stop: submit, call and wait -> ESHUTDOWN",
		       m);
	}
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* Stop while a submitter waits for room: it gets -ESHUTDOWN. */
struct waiter_arg {
	struct ksvc_dispatcher *d;
	int r;
	__u64 corr;
};

/* One getppid entry submitted with KSVC_SUBMIT_WAIT, on its own thread. */
static void *wait_submitter(void *arg)
{
	struct waiter_arg *a = arg;
	struct ksvc_entry e = td_entry(a->corr, SYS_getppid, 0, 0, 0, 0);

	a->r = ksvc_dispatch_submit(a->d, &e, 1, KSVC_SUBMIT_WAIT);
	return NULL;
}

static void test_stop_waiting_submitter(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	struct waiter_arg a = { d, 0, 1000 };
	pthread_t th;
	int i;

	for (i = 0; i < 32; i++) {
		struct ksvc_entry e = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);

		ksvc_dispatch_submit(d, &e, 1, 0);
		settle(d, mode);
	}
	pthread_create(&th, NULL, wait_submitter, &a);
	usleep(100000);
	ksvc_dispatch_stop(d);
	pthread_join(th, NULL);
	tap_ok(a.r == -ESHUTDOWN, "%s: a submitter waiting for room gets "
	       "ESHUTDOWN from stop (%d)", td_mode_names[mode], a.r);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * One thread alone submits with KSVC_SUBMIT_WAIT into a full submit ring,
 * with room in the completion ring.  With the caller driving, nobody else
 * would ever take entries: the submitter must drive while it waits.
 */

static void test_wait_alone(int mode)
{
	struct ksvc *k = td_open(16, 64);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct waiter_arg a = { d, 1, 16 };
	struct ksvc_completion c[17];
	pthread_t th;
	int i, got, ok, done;

	for (i = 0; i < 16; i++) {
		struct ksvc_entry e = td_entry((__u64)i, SYS_getppid, 0, 0, 0,
					       0);

		while (ksvc_dispatch_submit(d, &e, 1, 0) == -EAGAIN)
			usleep(1000);	/* the dispatcher thread is late */
	}
	/* The submitting thread is the only one that touches d meanwhile. */
	pthread_create(&th, NULL, wait_submitter, &a);
	done = td_join_within(th, 3000);
	if (!done) {
		tap_ok(0, "%s: KSVC_SUBMIT_WAIT into a full submit ring, no other "
		       "thread driving: HANGS", m);
		tap_bail("a submitter is left hanging: cannot go on");
	}
	got = (int)td_collect(d, c, 17, 1000);
	ok = a.r == 1 && got == 17;
	for (i = 0; ok && i < got; i++)
		ok = c[i].result == getppid();
	tap_ok(ok, "%s: KSVC_SUBMIT_WAIT into a full submit ring, no other "
	       "thread driving: accepted (%d), all 17 answered (%d)", m, a.r,
	       got);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * A batch that does not fit whole queues nothing: with the completion
 * ring full the dispatcher takes nothing, 12 entries wait in the 16-entry
 * submit ring, and a batch of 8 gets -EAGAIN with the 12 still alone.
 */
static void test_batch_whole(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[40];
	struct ksvc_entry e[8];
	int i, r, got, ok;
	__u32 ready;

	for (i = 0; i < 28; i++) {
		e[0] = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);
		if (ksvc_dispatch_submit(d, e, 1, 0) != 1)
			tap_bail("submit %d", i);
		settle(d, mode);
	}
	for (i = 0; i < 8; i++)
		e[i] = td_entry(100 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	r = ksvc_dispatch_submit(d, e, 8, 0);
	ready = ksvc_ring_ready(&k->sq);
	got = (int)td_collect(d, c, 40, 2000);
	ok = r == -EAGAIN && ready == 12 && got == 28;
	for (i = 0; i < got; i++)
		if (c[i].corr_id >= 28)
			ok = 0;
	tap_ok(ok, "%s: a batch of 8 with room for 4: -EAGAIN (%d), nothing "
	       "of it queued (%u waiting), the 28 before all answered (%d)",
	       m, r, ready, got);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * After a stop, a wait for more completions than are ready gets
 * -ESHUTDOWN, and what is ready stays for reap; a second stop answers as
 * the first and changes nothing.
 */
static void test_stop_short(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_entry e = td_entry(7, SYS_getppid, 0, 0, 0, 0);
	struct ksvc_completion c[4];
	int i, r, s1, s2;

	if (ksvc_dispatch_submit(d, &e, 1, 0) != 1)
		tap_bail("submit");
	for (i = 0; i < 200 && ksvc_ring_ready(&k->cq) == 0; i++)
		settle(d, mode);
	s1 = ksvc_dispatch_stop(d);
	r = ksvc_dispatch_wait(d, c, 4, 2, 1000);
	s2 = ksvc_dispatch_stop(d);
	tap_ok(s1 == 0 && r == -ESHUTDOWN && ksvc_dispatch_reap(d, c, 4) == 1 &&
	       c[0].corr_id == 7,
	       "%s: after a stop, a wait for 2 with 1 ready: -ESHUTDOWN (%d), "
	       "the 1 stays for reap", m, r);
	tap_ok(s2 == s1 && ksvc_dispatch_reap(d, c, 4) == 0,
	       "%s: a second stop returns as the first (%d, %d)", m, s1, s2);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	int mode;

	td_args(argc, argv);
	tap_plan(2 * 14 + 1);
	td_say_where();
	for (mode = 0; mode < 2; mode++) {
		test_full(mode);
		test_wait(mode);
		test_stop_full(mode);
		test_stop_waiting_submitter(mode);
		test_wait_alone(mode);
		test_batch_whole(mode);
		test_stop_short(mode);
	}
	tap_done();
}
