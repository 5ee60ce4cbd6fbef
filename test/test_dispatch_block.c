// SPDX-License-Identifier: MIT
/*
 * test_dispatch_block - a call that blocks never delays Tier 1 work, nor
 * other Tier 2 work beyond what the pool size implies.
 *
 * Pool of 3 workers, IORING_OP_READ masked so that read() runs in Tier 2:
 *   - 2 reads block on empty pipes (2 workers busy);
 *   - 100 Tier 1 calls, 50 Tier 2 pool calls (fstat) and 20 inline calls
 *     complete while they stay blocked;
 *   - a 3rd blocking read takes the last worker; now a pool call (fstat)
 *     must wait (the pool is exhausted: that is the bound) while Tier 1
 *     calls and inline calls still complete; writing to one pipe frees a
 *     worker, and the queued fstat completes;
 *   - the other reads complete once their pipes get data.
 * And Tier 1 calls blocked in io_uring (reads on empty pipes, no mask) do
 * not delay other Tier 1 or Tier 2 work either.
 * "Promptly" here means within a generous 5 s: this is a functional test,
 * not a timing one (QEMU TCG is slow).
 */
#include <sys/stat.h>
#include <liburing.h>

#include "test_dispatch.h"

#define PROMPT_MS	5000

static int count_done(struct ksvc_completion *c, unsigned int n, __u64 lo,
		      __u64 hi, __s64 want)
{
	unsigned int i;
	int k = 0;

	for (i = 0; i < n; i++)
		if (c[i].corr_id >= lo && c[i].corr_id < hi &&
		    (want == -9999 || c[i].result == want))
			k++;
	return k;
}

static void test_pool(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d;
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[256];
	struct ksvc_entry e[128];
	struct stat sb;
	char rb[3][8];
	int pfd[3][2], i, n, null_fd = open("/dev/null", O_WRONLY), ok;
	unsigned int got;

	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = 3;
	td_mask_op(&p, IORING_OP_READ);
	d = td_create_p(k, &p);
	for (i = 0; i < 3; i++)
		if (pipe(pfd[i]))
			tap_bail("pipe");

	/* Two blocking reads. */
	for (i = 0; i < 2; i++)
		e[i] = td_entry(1000 + (__u64)i, SYS_read, (__u64)pfd[i][0],
				(uintptr_t)rb[i], 8, 0);
	ksvc_dispatch_submit(d, e, 2, 0);
	usleep(50000);
	if (mode == 1)
		ksvc_dispatch_run(d);

	/* Tier 1, pool and inline work alongside. */
	n = 0;
	for (i = 0; i < 100; i++, n++)
		e[n] = td_entry(2000 + (__u64)i, SYS_write, (__u64)null_fd,
				(uintptr_t)"x", 1, 0);
	ksvc_dispatch_submit(d, e, (unsigned)n, 0);
	n = 0;
	for (i = 0; i < 50; i++, n++)
		e[n] = td_entry(3000 + (__u64)i, SYS_fstat, (__u64)null_fd,
				(uintptr_t)&sb, 0, 0);
	for (i = 0; i < 20; i++, n++)
		e[n] = td_entry(4000 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	ksvc_dispatch_submit(d, e, (unsigned)n, 0);
	got = td_collect(d, c, 170, PROMPT_MS);
	ok = got == 170 && count_done(c, got, 2000, 2100, 1) == 100 &&
	     count_done(c, got, 3000, 3050, 0) == 50 &&
	     count_done(c, got, 4000, 4020, getppid()) == 20 &&
	     count_done(c, got, 1000, 1003, -9999) == 0;
	tap_ok(ok, "%s: 2 of 3 workers blocked in read(): 100 Tier 1, 50 pool "
	       "and 20 inline calls complete (%u)", m, got);

	/* The third worker blocks too: the pool is exhausted. */
	e[0] = td_entry(1002, SYS_read, (__u64)pfd[2][0], (uintptr_t)rb[2], 8, 0);
	ksvc_dispatch_submit(d, e, 1, 0);
	usleep(50000);
	e[0] = td_entry(5000, SYS_fstat, (__u64)null_fd, (uintptr_t)&sb, 0, 0);
	ksvc_dispatch_submit(d, e, 1, 0);
	n = 0;
	for (i = 0; i < 20; i++, n++)
		e[n] = td_entry(6000 + (__u64)i, SYS_write, (__u64)null_fd,
				(uintptr_t)"y", 1, 0);
	for (i = 0; i < 5; i++, n++)
		e[n] = td_entry(7000 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	ksvc_dispatch_submit(d, e, (unsigned)n, 0);
	got = td_collect(d, c, 25, PROMPT_MS);
	ok = got == 25 && count_done(c, got, 6000, 6020, 1) == 20 &&
	     count_done(c, got, 7000, 7005, -9999) == 5;
	tap_ok(ok, "%s: all 3 workers blocked: Tier 1 and inline calls still "
	       "complete (%u)", m, got);
	got = td_collect(d, c, 1, 300);
	tap_ok(got == 0, "%s: ... while the pool call waits for a worker "
	       "(the bound the pool size implies)", m);

	/* Free one worker: the queued call runs. */
	if (write(pfd[0][1], "abc", 3) != 3)
		tap_bail("write");
	got = td_collect(d, c, 2, PROMPT_MS);
	ok = got == 2 && count_done(c, got, 1000, 1001, 3) == 1 &&
	     count_done(c, got, 5000, 5001, 0) == 1;
	tap_ok(ok, "%s: data for one read frees its worker; the queued "
	       "fstat completes", m);
	if (write(pfd[1][1], "de", 2) != 2 || write(pfd[2][1], "f", 1) != 1)
		tap_bail("write");
	got = td_collect(d, c, 2, PROMPT_MS);
	ok = got == 2 && count_done(c, got, 1001, 1002, 2) == 1 &&
	     count_done(c, got, 1002, 1003, 1) == 1 &&
	     memcmp(rb[0], "abc", 3) == 0 && memcmp(rb[1], "de", 2) == 0;
	tap_ok(ok, "%s: the other blocked reads complete with their data", m);
	for (i = 0; i < 3; i++) {
		close(pfd[i][0]);
		close(pfd[i][1]);
	}
	close(null_fd);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_tier1_blocked(int mode)
{
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[256];
	struct ksvc_entry e[128];
	struct stat sb;
	char rb[10][4];
	int pfd[10][2], i, n, null_fd = open("/dev/null", O_WRONLY), ok;
	unsigned int got;

	for (i = 0; i < 10; i++) {
		if (pipe(pfd[i]))
			tap_bail("pipe");
		e[i] = td_entry(100 + (__u64)i, SYS_read, (__u64)pfd[i][0],
				(uintptr_t)rb[i], 4, 0);
	}
	ksvc_dispatch_submit(d, e, 10, 0);
	n = 0;
	for (i = 0; i < 50; i++, n++)
		e[n] = td_entry(200 + (__u64)i, SYS_write, (__u64)null_fd,
				(uintptr_t)"x", 1, 0);
	for (i = 0; i < 20; i++, n++)
		e[n] = td_entry(300 + (__u64)i, SYS_fstat, (__u64)null_fd,
				(uintptr_t)&sb, 0, 0);
	ksvc_dispatch_submit(d, e, (unsigned)n, 0);
	got = td_collect(d, c, 70, PROMPT_MS);
	ok = got == 70 && count_done(c, got, 200, 250, 1) == 50 &&
	     count_done(c, got, 300, 320, 0) == 20 &&
	     count_done(c, got, 100, 110, -9999) == 0;
	tap_ok(ok, "%s: 10 Tier 1 reads blocked in io_uring: 50 Tier 1 and 20 "
	       "Tier 2 calls complete (%u)", m, got);
	for (i = 0; i < 10; i++)
		if (write(pfd[i][1], "zz", 2) != 2)
			tap_bail("write");
	got = td_collect(d, c, 10, PROMPT_MS);
	tap_ok(got == 10 && count_done(c, got, 100, 110, 2) == 10,
	       "%s: ... and complete when their pipes get data", m);
	for (i = 0; i < 10; i++) {
		close(pfd[i][0]);
		close(pfd[i][1]);
	}
	close(null_fd);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	int mode;

	td_args(argc, argv);
	tap_plan(2 * 7);
	td_say_where();
	for (mode = 0; mode < 2; mode++) {
		test_pool(mode);
		test_tier1_blocked(mode);
	}
	tap_done();
}
