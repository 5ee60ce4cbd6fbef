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
 * Both with the dispatcher on its own thread and with the caller
 * driving; and the Tier 2 counters must add up.
 */
#include <sys/mman.h>

#include "test_dispatch.h"

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

int main(int argc, char **argv)
{
	int mode, fd;

	td_args(argc, argv);
	tap_plan(6);
	td_say_where();
	fd = memfd_create("ksvc-handoff", MFD_CLOEXEC);	/* lseek works */
	if (fd < 0)
		tap_bail("memfd_create: %s", strerror(errno));
	for (mode = 0; mode < 2; mode++) {
		test_race(mode, fd, td_count(200000, 2000));
		test_blocked_spinner(mode, fd);
	}
	close(fd);
	tap_done();
}
