// SPDX-License-Identifier: MIT
/*
 * test_dispatch_handoff - the hand-off of a single Tier 2 call to the
 * spinning pool worker (the mailbox in lib/tier2.c).
 *
 * 1. Racing the spin's end: one worker spinning for 1 us at most, and
 *    200000 single lseek() calls (Tier 2, pool) with random busy pauses
 *    of 0 to 3 us between them, so that many pushes land just as the
 *    worker gives up spinning.  A call put in the mailbox after the
 *    spinner left, and not taken back, would never run: the wait for it
 *    times out (10 s).  Every result must be the offset asked for.
 * 2. A spinner that takes a call which blocks (a read on an empty pipe)
 *    must not hold up the calls pushed after it: 200 lseek() calls, one
 *    at a time, complete on the other worker while it is blocked; then
 *    the pipe gets a byte and the read completes.
 * 3. A call queued while a worker was between its call and its spin,
 *    then a call that blocks, handed to that worker through the mailbox:
 *    the worker that takes the second call wakes another for the first
 *    (the windows held open 300 ms by ksvc__pool_test_gap()).
 * Both with the dispatcher on its own thread and with the caller
 * driving; and the Tier 2 counters must add up.
 */
#include <sys/mman.h>

#include "test_dispatch.h"

/* lib/tier2.c, for tests */
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us);

static void busy_ns(uint64_t ns)
{
	uint64_t end = td_now_ns() + ns;

	while (td_now_ns() < end)
		;
}

/* Submit one entry, wait up to 10 s for its completion. */
static int one(struct ksvc_dispatcher *d, const struct ksvc_entry *e,
	       struct ksvc_completion *c)
{
	int r = ksvc_dispatch_submit(d, e, 1, KSVC_SUBMIT_WAIT);

	if (r != 1)
		return r < 0 ? r : -EIO;
	r = ksvc_dispatch_wait(d, c, 1, 1, 10000);
	if (r != 1)
		return r < 0 ? r : -EIO;
	return c->corr_id == e->corr_id ? 0 : -EIO;
}

static void test_race(int mode, int fd, uint64_t n)
{
	const char *m = td_mode_names[mode];
	struct ksvc_dispatch_params p;
	struct ksvc_dispatch_stats st;
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d;
	uint64_t i, s = 0x5eedull + (uint64_t)mode, wrong = 0;
	int err = 0;

	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = 1;
	p.spin_us = 1;
	d = td_create_p(k, &p);
	for (i = 0; i < n && !err; i++) {
		struct ksvc_completion c;
		struct ksvc_entry e;
		__u64 off = (i * 7) % 4096;

		ksvc_prep_call(&e, i, SYS_lseek, (__u64)fd, off, SEEK_SET, 0,
			       0, 0);
		err = one(d, &e, &c);
		if (!err && (c.result != (__s64)off ||
			     !(c.flags & KSVC_COMP_TIER2)))
			wrong++;
		busy_ns(td_rnd(&s) % 3001);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(!err && !wrong && i == n && st.tier2.completed == n &&
	       st.tier2.submitted == n,
	       "%s: %llu single pool calls racing a 1 us spin: all back, "
	       "right (error %d at %llu, wrong %llu, Tier 2 completed %llu)",
	       m, (unsigned long long)n, err, (unsigned long long)i,
	       (unsigned long long)wrong,
	       (unsigned long long)st.tier2.completed);
	if (err)
		ksvc_dispatch_stop(d);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_blocked_spinner(int mode, int fd)
{
	const char *m = td_mode_names[mode];
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d;
	struct ksvc_completion c;
	struct ksvc_entry e;
	char byte = 0;
	int pfd[2], err = 0, i, read_done = 0;
	uint64_t t0;

	if (pipe(pfd))
		tap_bail("pipe: %s", strerror(errno));
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | KSVC_DISPATCH_NO_TIER1;
	p.workers = 2;
	d = td_create_p(k, &p);
	/* Warm up: the next call finds a worker spinning. */
	ksvc_prep_call(&e, 1, SYS_lseek, (__u64)fd, 0, SEEK_SET, 0, 0, 0);
	err = one(d, &e, &c);
	ksvc_prep_call(&e, 2, SYS_read, (__u64)pfd[0], (uintptr_t)&byte, 1,
		       0, 0, 0);
	if (!err)
		err = ksvc_dispatch_submit(d, &e, 1, 0) == 1 ? 0 : -EIO;
	t0 = td_now_ms();
	for (i = 0; i < 200 && !err; i++) {
		ksvc_prep_call(&e, 100 + (__u64)i, SYS_lseek, (__u64)fd,
			       (__u64)i, SEEK_SET, 0, 0, 0);
		err = ksvc_dispatch_submit(d, &e, 1, 0) == 1 ? 0 : -EIO;
		/* The read may come back only after the pipe has data. */
		while (!err) {
			int r = ksvc_dispatch_wait(d, &c, 1, 1, 5000);

			if (r != 1) {
				err = r < 0 ? r : -EIO;
				break;
			}
			if (c.corr_id == 2) {
				read_done = 1;	/* must not happen yet */
				continue;
			}
			if (c.corr_id != 100 + (__u64)i ||
			    c.result != (__s64)i)
				err = -EIO;
			break;
		}
	}
	tap_ok(!err && !read_done,
	       "%s: with the spinner blocked in read(), 200 calls pushed one "
	       "by one complete on the other worker (error %d after %d, "
	       "%llu ms)", m, err, i,
	       (unsigned long long)(td_now_ms() - t0));
	if (write(pfd[1], "x", 1) != 1)
		tap_bail("write: %s", strerror(errno));
	while (!read_done && !err) {
		int r = ksvc_dispatch_wait(d, &c, 1, 1, 10000);

		if (r != 1)
			err = r < 0 ? r : -EIO;
		else if (c.corr_id == 2)
			read_done = c.result == 1 && byte == 'x';
	}
	tap_ok(!err && read_done, "%s: then the read completes with the byte",
	       m);
	if (err)
		ksvc_dispatch_stop(d);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(pfd[0]);
	close(pfd[1]);
}

static void submit1(struct ksvc_dispatcher *d, int mode,
		    const struct ksvc_entry *e)
{
	if (ksvc_dispatch_submit(d, e, 1, 0) != 1)
		tap_bail("ksvc_dispatch_submit");
	if (mode == 1)
		ksvc_dispatch_run(d);
}

/*
 * Worker W finishes call X (a read that gets its byte) and waits 300 ms
 * before it claims the spin, then 600 ms before it goes on.  Meanwhile
 * call A is queued, finding no spinner, and the driver waits 300 ms
 * before it decides whom to wake: by then W has claimed the spin, so it
 * wakes nobody.  Call B (a read on an empty pipe) then goes to W through
 * the mailbox.  W runs B, which blocks: unless W wakes the other worker,
 * A waits for B.
 */
static void test_stranded(int mode)
{
	const char *m = td_mode_names[mode];
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d;
	struct ksvc_completion c[4];
	const struct ksvc_completion *a;
	struct ksvc_entry e;
	char bx = 0, bb = 0;
	int px[2], pb[2];
	unsigned int got;
	uint64_t t0;

	if (pipe(px) || pipe(pb))
		tap_bail("pipe: %s", strerror(errno));
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | KSVC_DISPATCH_NO_TIER1 |
		  KSVC_DISPATCH_NO_INLINE;
	p.workers = 2;
	d = td_create_p(k, &p);
	ksvc_prep_call(&e, 1, SYS_read, (__u64)px[0], (uintptr_t)&bx, 1, 0,
		       0, 0);
	submit1(d, mode, &e);
	usleep(50000);			/* X blocks in a worker */
	ksvc__pool_test_gap(d, 4, 300000);
	ksvc__pool_test_gap(d, 5, 600000);
	ksvc__pool_test_gap(d, 6, 300000);
	if (write(px[1], "x", 1) != 1)
		tap_bail("write: %s", strerror(errno));
	usleep(100000);			/* X is done, W waits to claim */
	ksvc_prep_call(&e, 2, SYS_getppid, 0, 0, 0, 0, 0, 0);
	t0 = td_now_ms();
	submit1(d, mode, &e);		/* A: queued */
	if (mode == 0)
		usleep(350000);		/* the driver decides */
	ksvc_prep_call(&e, 3, SYS_read, (__u64)pb[0], (uintptr_t)&bb, 1, 0,
		       0, 0);
	submit1(d, mode, &e);		/* B: the mailbox */
	got = td_collect(d, c, 2, 4000);
	a = td_find(c, got, 2);
	tap_ok(a && a->result == getppid() && td_find(c, got, 1) &&
	       td_find(c, got, 1)->result == 1,
	       "%s: a queued call does not wait behind a blocking call that "
	       "the spinning worker took from the mailbox after it (%s in "
	       "%llu ms)", m, a ? "done" : "not done",
	       (unsigned long long)(td_now_ms() - t0));
	ksvc__pool_test_gap(d, 4, 0);
	ksvc__pool_test_gap(d, 5, 0);
	ksvc__pool_test_gap(d, 6, 0);
	if (write(pb[1], "y", 1) != 1)
		tap_bail("write: %s", strerror(errno));
	got = td_collect(d, c, 1, 5000);
	tap_ok(got == 1 && c[0].corr_id == 3 && c[0].result == 1 && bb == 'y',
	       "%s: then the blocking call completes", m);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(px[0]);
	close(px[1]);
	close(pb[0]);
	close(pb[1]);
}

int main(int argc, char **argv)
{
	int mode, fd;

	td_args(argc, argv);
	tap_plan(10);
	td_say_where();
	fd = memfd_create("ksvc-handoff", MFD_CLOEXEC);	/* lseek works */
	if (fd < 0)
		tap_bail("memfd_create: %s", strerror(errno));
	for (mode = 0; mode < 2; mode++) {
		test_race(mode, fd, td_count(200000, 2000));
		test_blocked_spinner(mode, fd);
		test_stranded(mode);
	}
	close(fd);
	tap_done();
}
