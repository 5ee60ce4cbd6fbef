// SPDX-License-Identifier: MIT
/*
 * test_dispatch - the dispatcher's rules, one check each, with the
 * dispatcher on its own thread and with the caller driving it:
 *
 *   - API errors (every documented errno that can be provoked here);
 *   - routing: Tier 1 calls complete with KSVC_COMP_TIER1, Tier 2 calls
 *     (pool and inline) with KSVC_COMP_TIER2, results equal to the system
 *     call's; argument forms io_uring cannot express fall to Tier 2; an
 *     io_uring opcode masked out of the probe falls to Tier 2; NO_TIER1;
 *   - every refused call is refused (-EOPNOTSUPP, KSVC_COMP_REFUSED), also
 *     exit_group and friends, which would end the test if they ran;
 *     argument-dependent refusals; unknown numbers;
 *   - unknown entry flags -> -EINVAL;
 *   - KSVC_ENTRY_LINKED chains in Tier 1, Tier 2 and across tiers: open,
 *     read, close on a real file; a failure mid-chain cancels the rest;
 *     chain members run in order;
 *   - counters per tier;
 *   - ksvc_dispatch_call(): Tier 0 answered without the ring, results
 *     handed over directly (nothing in the completion ring);
 *   - entries the program pushes itself (ksvc_sq_push()) between its
 *     ksvc_dispatch_submit() calls: all run once; destroy returns.
 */
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <linux/keyctl.h>
#include <linux/stat.h>
#include <sys/ioctl.h>
#include <liburing.h>

#include "test_dispatch.h"
#include "util.h"

#define NMODES 2
#define OP_FUTEX_WAIT	51	/* IORING_OP_FUTEX_WAIT (Linux 6.7) */

static char tmpdir[] = "/tmp/ksvc-td-XXXXXX";
static char file_path[256];
static const char file_data[] = "The quick brown fox jumps over the lazy dog.";

/* The lowest free descriptor: what the next open() returns. */
static int next_fd(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

static void setup_file(void)
{
	int fd;

	if (!mkdtemp(tmpdir))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(file_path, sizeof(file_path), "%s/data", tmpdir);
	fd = open(file_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0 || write(fd, file_data, sizeof(file_data) - 1) !=
		      (ssize_t)sizeof(file_data) - 1)
		tap_bail("writing %s: %s", file_path, strerror(errno));
	close(fd);
}

/* Submit @n entries and collect @n completions, in submission order. */
static int run_batch(struct ksvc_dispatcher *d, struct ksvc_entry *e,
		     unsigned int n, struct ksvc_completion *out)
{
	struct ksvc_completion got[64];
	unsigned int i, k;
	int r;

	if (n > 64)
		return -E2BIG;
	r = ksvc_dispatch_submit(d, e, n, 0);
	if (r != (int)n) {
		tap_diag("submit: %d", r);
		return -EIO;
	}
	k = td_collect(d, got, n, 10000);
	if (k != n) {
		tap_diag("only %u of %u completions", k, n);
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		const struct ksvc_completion *c = td_find(got, n, e[i].corr_id);

		if (!c) {
			tap_diag("corr %llu missing",
				 (unsigned long long)e[i].corr_id);
			return -EIO;
		}
		out[i] = *c;
	}
	return 0;
}

static int one(struct ksvc_dispatcher *d, struct ksvc_entry e,
	       struct ksvc_completion *c)
{
	return run_batch(d, &e, 1, c);
}

/* ---------------------------------------------------------------- */

/*
 * ksvc_dispatch_create() that is expected to fail: *out holds a sentinel
 * before the call, and a failure must leave it there (ksvc_dispatch.h).
 * Counts in *@wrote each failure that changed it; a success is destroyed.
 */
static char out_sentinel;
#define OUT_SENTINEL ((struct ksvc_dispatcher *)(void *)&out_sentinel)

static int create_fail(struct ksvc *k, const struct ksvc_dispatch_params *p,
		       unsigned int *wrote)
{
	struct ksvc_dispatcher *d = OUT_SENTINEL;
	int r = ksvc_dispatch_create(&d, k, p);

	if (r == 0)
		ksvc_dispatch_destroy(d);
	else if (d != OUT_SENTINEL)
		(*wrote)++;
	return r;
}

static void app_handler(int sig)
{
	(void)sig;
}

struct targ {
	struct ksvc_dispatcher *d;
	int r;
};

static void *one_driver_thread(void *arg);

/* Drive by waiting for one completion (at most 5 s). */
static void *drive_thread(void *arg)
{
	struct targ *a = arg;
	struct ksvc_completion c;

	a->r = ksvc_dispatch_wait(a->d, &c, 1, 1, 5000);
	return NULL;
}

/*
 * ksvc_prep_call() writes every field (garbage before it must not show
 * through), ksvc_prep_link() sets only the link bit, and entries made
 * with them run, linked, through a real dispatcher.
 */
static void test_prep(void)
{
	struct ksvc *k = td_open(64, 64);
	struct ksvc_dispatcher *d = td_create(k, 0, 1);
	struct ksvc_completion c[2];
	struct ksvc_entry e[2];
	int ok, i;

	memset(e, 0xa5, sizeof(e));
	ksvc_prep_call(&e[0], 0x1122334455667788ull, SYS_pread64, 1, 2, 3, 4,
		       5, 6);
	ok = e[0].corr_id == 0x1122334455667788ull &&
	     e[0].syscall_nr == SYS_pread64 && e[0].flags == 0;
	for (i = 0; i < 6; i++)
		ok = ok && e[0].args[i] == (__u64)i + 1;
	tap_ok(ok, "ksvc_prep_call: every field written, flags cleared");
	ksvc_prep_link(&e[0]);
	ok = e[0].flags == KSVC_ENTRY_LINKED &&
	     e[0].corr_id == 0x1122334455667788ull &&
	     e[0].syscall_nr == SYS_pread64 && e[0].args[5] == 6;
	tap_ok(ok, "ksvc_prep_link: sets KSVC_ENTRY_LINKED, nothing else");

	ksvc_prep_call(&e[0], 1, SYS_openat, (__u64)(__s64)AT_FDCWD,
		       (uintptr_t)"/nonexistent/ksvc", O_RDONLY, 0, 0, 0);
	ksvc_prep_link(&e[0]);
	ksvc_prep_call(&e[1], 2, SYS_getppid, 0, 0, 0, 0, 0, 0);
	ok = run_batch(d, e, 2, c) == 0 && c[0].result == -ENOENT &&
	     c[1].result == -ECANCELED;
	ksvc_prep_call(&e[0], 3, SYS_getppid, 0, 0, 0, 0, 0, 0);
	ksvc_prep_link(&e[0]);
	ksvc_prep_call(&e[1], 4, SYS_getppid, 0, 0, 0, 0, 0, 0);
	ok = ok && run_batch(d, e, 2, c) == 0 && c[0].result == getppid() &&
	     c[1].result == getppid();
	tap_ok(ok, "prepared entries run: a failed link cancels the next, a "
	       "successful one lets it run");
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_api(void)
{
	struct ksvc *k = td_open(64, 64), *k2;
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d, *d2;
	struct ksvc_completion c[4];
	struct ksvc_entry e[2];
	struct sigaction sa, old;
	unsigned int wrote = 0;
	uint64_t t0;
	int r;

	memset(&p, 0, sizeof(p));
	tap_ok(ksvc_dispatch_create(NULL, k, NULL) == -EINVAL,
	       "create: NULL out -> EINVAL");
	tap_ok(create_fail(NULL, NULL, &wrote) == -EINVAL,
	       "create: NULL instance -> EINVAL");
	p.flags = 1u << 20;
	tap_ok(create_fail(k, &p, &wrote) == -EINVAL,
	       "create: unknown flag -> EINVAL");
	p.flags = KSVC_DISPATCH_ONE_DRIVER;
	tap_ok(create_fail(k, &p, &wrote) == -EINVAL,
	       "create: ONE_DRIVER without CALLER_DRIVES -> EINVAL");
	{
		/* The same process's handle, without its rings mapped. */
		struct ksvc ks = *k, kc = *k;

		ks.sq.hdr = NULL;
		kc.cq.hdr = NULL;
		tap_ok(create_fail(&ks, NULL, &wrote) == -EINVAL &&
		       create_fail(&kc, NULL, &wrote) == -EINVAL &&
		       ksvc_sq_wake(&ks) == -EINVAL,
		       "create on an instance whose submit or completion "
		       "ring is not mapped, ksvc_sq_wake on one without a "
		       "submit ring -> EINVAL");
	}
	memset(&p, 0, sizeof(p));
	p.reserved[3] = 1;
	tap_ok(create_fail(k, &p, &wrote) == -EINVAL,
	       "create: non-zero reserved -> EINVAL");
	memset(&p, 0, sizeof(p));
	p.workers = 100000;
	tap_ok(create_fail(k, &p, &wrote) == -EINVAL,
	       "create: 100000 workers -> EINVAL");
	memset(&p, 0, sizeof(p));
	p.uring_entries = 100;
	tap_ok(create_fail(k, &p, &wrote) == -EINVAL,
	       "create: io_uring entries not a power of two -> EINVAL");
	{
		static const struct { __u32 workers, spin_us, uring; } out[] = {
			{ 257, 0, 0 }, { 0, 10001, 0 }, { 0, 0, 4 },
			{ 0, 0, 8192 },
		}, at[] = { { 256, 10000, 8 }, { 1, 0, 4096 } };
		unsigned int i, bad = 0;

		for (i = 0; i < 4; i++) {
			memset(&p, 0, sizeof(p));
			p.workers = out[i].workers;
			p.spin_us = out[i].spin_us;
			p.uring_entries = out[i].uring;
			bad += create_fail(k, &p, &wrote) != -EINVAL;
		}
		tap_ok(!bad, "create: 257 workers, spin_us 10001, 4 or 8192 "
		       "io_uring entries -> EINVAL (%u not)", bad);
		for (i = 0; i < 2; i++) {
			struct ksvc_dispatch_stats st;

			memset(&p, 0, sizeof(p));
			p.workers = at[i].workers;
			p.spin_us = at[i].spin_us;
			p.uring_entries = at[i].uring;
			if (ksvc_dispatch_create(&d, k, &p) == 0) {
				/* With io_uring here, Tier 1 at either size. */
				if (td_uring_here() &&
				    (ksvc_dispatch_stats(d, &st) ||
				     !st.tier1_available))
					bad++;
				ksvc_dispatch_destroy(d);
			} else {
				bad++;
			}
		}
		tap_ok(!bad, "create: at the limits (256 workers, spin_us "
		       "10000, 8 and 4096 io_uring entries) it works, with "
		       "Tier 1 where io_uring is (%u not)", bad);
	}

	/* An application handler on the cancel signal is never replaced. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = app_handler;
	sigaction(SIGRTMIN + 9, &sa, &old);
	memset(&p, 0, sizeof(p));
	p.cancel_signal = SIGRTMIN + 9;
	tap_ok(create_fail(k, &p, &wrote) == -EBUSY,
	       "create: cancel signal with an application handler -> EBUSY");
	sigaction(SIGRTMIN + 9, &old, NULL);
	{
		/*
		 * The library's handler, without SA_RESTART, while any
		 * dispatcher holds the signal; the disposition it found
		 * (SIG_IGN here) back when the last one is destroyed.
		 */
		struct sigaction ign = { .sa_handler = SIG_IGN }, now;
		int sig = SIGRTMIN + 10, good = 1;

		sigaction(sig, &ign, &old);
		memset(&p, 0, sizeof(p));
		p.cancel_signal = sig;
		k2 = td_open(64, 64);
		if (ksvc_dispatch_create(&d, k, &p) ||
		    ksvc_dispatch_create(&d2, k2, &p))
			tap_bail("two dispatchers on signal %d", sig);
		sigaction(sig, NULL, &now);
		good &= now.sa_handler != SIG_IGN &&
			now.sa_handler != SIG_DFL &&
			!(now.sa_flags & (SA_RESTART | SA_SIGINFO));
		ksvc_dispatch_destroy(d);
		sigaction(sig, NULL, &now);
		good &= now.sa_handler != SIG_IGN &&
			now.sa_handler != SIG_DFL;
		ksvc_dispatch_destroy(d2);
		sigaction(sig, NULL, &now);
		good &= now.sa_handler == SIG_IGN;
		ksvc_close(k2);
		sigaction(sig, &old, NULL);
		tap_ok(good, "cancel_signal: the library's handler (no "
		       "SA_RESTART) while a dispatcher holds it, SIG_IGN "
		       "back after the last of two is destroyed");
	}
	{
		/* glibc keeps 32 and 33 (below SIGRTMIN) for itself. */
		const int badsig[] = { -1, SIGKILL, SIGSTOP, 32, 33, _NSIG,
				       INT_MAX, SIGSEGV, SIGBUS, SIGILL,
				       SIGFPE, SIGTRAP, SIGSYS };
		unsigned int i, bad = 0;

		for (i = 0; i < sizeof(badsig) / sizeof(badsig[0]); i++) {
			memset(&p, 0, sizeof(p));
			p.cancel_signal = badsig[i];
			if (create_fail(k, &p, &wrote) != -EINVAL) {
				tap_diag("cancel_signal %d accepted", badsig[i]);
				bad++;
			}
		}
		memset(&p, 0, sizeof(p));
		p.cancel_signal = SIGRTMAX;
		if (ksvc_dispatch_create(&d, k, &p) == 0)
			ksvc_dispatch_destroy(d);
		else
			bad++;
		tap_ok(!bad, "create: cancel_signal -1, SIGKILL, SIGSTOP, 32, "
		       "33, _NSIG, INT_MAX and the fault signals -> EINVAL; "
		       "SIGRTMAX works");
	}

	d = td_create(k, 0, 2);
	tap_ok(create_fail(k, NULL, &wrote) == -EBUSY,
	       "create: a second dispatcher on one instance -> EBUSY");
	tap_ok(!wrote, "create: each failure above (EINVAL, EBUSY) left *out "
	       "as it was (%u changed it)", wrote);
	tap_ok(ksvc_dispatch_mode(d) == k->mode &&
	       strcmp(ksvc_mode_name(ksvc_dispatch_mode(d)),
		      td_have_module() ? "kernel" : "anonymous") == 0,
	       "mode: %s", ksvc_mode_name(ksvc_dispatch_mode(d)));

	e[0] = td_entry(1, SYS_getppid, 0, 0, 0, 0);
	e[1] = td_entry(2, SYS_getppid, 0, 0, 0, 0);
	tap_ok(ksvc_dispatch_submit(d, e, 0, 0) == -EINVAL,
	       "submit: n = 0 -> EINVAL");
	tap_ok(ksvc_dispatch_submit(d, NULL, 1, 0) == -EINVAL,
	       "submit: NULL entries -> EINVAL");
	tap_ok(ksvc_dispatch_submit(d, e, 65, 0) == -EINVAL,
	       "submit: more than the ring holds -> EINVAL");
	tap_ok(ksvc_dispatch_submit(d, e, 1, 0x80) == -EINVAL,
	       "submit: unknown flag -> EINVAL");
	e[1].corr_id = KSVC_CORR_RESERVED_MASK | 5;
	tap_ok(ksvc_dispatch_submit(d, e, 2, 0) == -EINVAL,
	       "submit: reserved corr_id -> EINVAL");
	e[1].corr_id = 2;
	e[1].flags = KSVC_ENTRY_LINKED;
	tap_ok(ksvc_dispatch_submit(d, e, 2, 0) == -EINVAL,
	       "submit: batch ending with LINKED -> EINVAL");
	tap_ok(ksvc_dispatch_reap(d, c, 4) == 0,
	       "rejected submissions queued nothing");

	tap_ok(ksvc_dispatch_wait(d, c, 1, 2, 0) == -EINVAL,
	       "wait: min > max -> EINVAL");
	tap_ok(ksvc_dispatch_wait(d, c, 1000, 1000, 0) == -EINVAL,
	       "wait: min larger than the ring -> EINVAL");
	tap_ok(ksvc_dispatch_wait(d, NULL, 1, 1, 0) == -EINVAL,
	       "wait: NULL out -> EINVAL");
	tap_ok(ksvc_dispatch_wait(d, c, 4, 1, 0) == -ETIMEDOUT,
	       "wait: nothing, no time -> ETIMEDOUT");
	t0 = td_now_ms();
	r = ksvc_dispatch_wait(d, c, 4, 1, 100);
	tap_ok(r == -ETIMEDOUT && td_now_ms() - t0 >= 95,
	       "wait: nothing for 100 ms -> ETIMEDOUT after %llu ms (%d)",
	       (unsigned long long)(td_now_ms() - t0), r);
	e[0] = td_entry(7, SYS_getppid, 0, 0, 0, 0);
	ksvc_dispatch_submit(d, e, 1, 0);
	r = ksvc_dispatch_wait(d, c, 4, 2, 200);
	tap_ok(r == -ETIMEDOUT && ksvc_dispatch_reap(d, c, 4) == 1 &&
	       c[0].corr_id == 7,
	       "wait: fewer than min -> ETIMEDOUT, and nothing was taken");
	{
		/* "-1 (any negative value) waits for ever". */
		struct timespec ms50 = { 0, 50000000 };
		int r2;

		e[0] = td_entry(8, SYS_nanosleep, (uintptr_t)&ms50, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 1, 0);
		r = ksvc_dispatch_wait(d, c, 4, 1, -2);
		e[0] = td_entry(9, SYS_nanosleep, (uintptr_t)&ms50, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 1, 0);
		r2 = ksvc_dispatch_wait(d, c + 1, 3, 1, INT_MIN);
		tap_ok(r == 1 && c[0].corr_id == 8 && c[0].result == 0 &&
		       r2 == 1 && c[1].corr_id == 9 && c[1].result == 0,
		       "wait: timeout -2 and INT_MIN wait for ever, as -1 "
		       "(%d, %d)", r, r2);
	}
	tap_ok(ksvc_dispatch_run(d) == -EINVAL,
	       "run: without CALLER_DRIVES -> EINVAL");
	tap_ok(ksvc_dispatch_call(d, SYS_getppid, NULL, NULL, NULL) == -EINVAL,
	       "call: NULL result -> EINVAL");
	{
		/*
		 * What the pages say of a NULL handle, a NULL argument and
		 * a value no function knows; and errno left alone.
		 */
		struct ksvc_dispatch_stats st;
		__s64 res = 5;
		__u32 cf = 7;
		unsigned int bad = 0;

		errno = 4242;
		bad += ksvc_dispatch_stop(NULL) != -EINVAL;
		bad += ksvc_dispatch_submit(NULL, e, 1, 0) != -EINVAL;
		bad += ksvc_dispatch_wait(NULL, c, 1, 1, 0) != -EINVAL;
		bad += ksvc_dispatch_wait(NULL, c, 1, 0, 0) != -EINVAL;
		bad += ksvc_dispatch_run(NULL) != -EINVAL;
		bad += ksvc_dispatch_call(NULL, SYS_getppid, NULL, &res,
					  &cf) != -EINVAL;
		bad += res != 5 || cf != 7;
		bad += ksvc_dispatch_cancel(NULL, 1) != -EINVAL;
		bad += ksvc_dispatch_stats(NULL, &st) != -EINVAL;
		bad += ksvc_dispatch_stats(d, NULL) != -EINVAL;
		bad += ksvc_dispatch_route(NULL, &e[0]) != KSVC_ROUTE_INVALID;
		bad += ksvc_dispatch_route(d, NULL) != KSVC_ROUTE_INVALID;
		bad += ksvc_dispatch_mode(NULL) != 0;
		bad += strcmp(ksvc_mode_name((enum ksvc_mode)0), "unknown") != 0;
		bad += strcmp(ksvc_mode_name((enum ksvc_mode)99), "unknown") != 0;
		bad += strcmp(ksvc_mode_name(KSVC_MODE_KERNEL), "kernel") != 0;
		bad += strcmp(ksvc_mode_name(KSVC_MODE_ANON), "anonymous") != 0;
		bad += ksvc_dispatch_tier1_opcode(-1) != -1;
		bad += ksvc_dispatch_tier1_opcode(SYS_gettid) != -1;
		bad += ksvc_dispatch_tier1_opcode(100000) != -1;
		ksvc_dispatch_destroy(NULL);
		tap_ok(!bad && errno == 4242, "NULL d: stop, submit, wait, "
		       "run, call, cancel, stats -> EINVAL (call writes "
		       "nothing); stats(d, NULL) -> EINVAL; route of NULL d "
		       "or e -> INVALID; mode(NULL) 0; mode_name of 0 and 99 "
		       "\"unknown\"; tier1_opcode of -1, gettid, 100000 -> -1; "
		       "destroy(NULL) a no-op; errno left alone (%u wrong)",
		       bad);
	}
	ksvc_dispatch_destroy(d);

	/* A second instance, driven, one driver. */
	k2 = td_open(64, 64);
	d = td_create(k2, KSVC_DISPATCH_CALLER_DRIVES |
		      KSVC_DISPATCH_ONE_DRIVER, 1);
	{
		/*
		 * Polling with min 0 drives: nothing else runs this
		 * dispatcher, so without a pass per call neither the
		 * inline getppid nor the pool's nanosleep would ever
		 * come back.
		 */
		struct timespec ms = { 0, 1000000 };
		unsigned int got = 0, polls = 0, right = 0;
		int i;

		e[0] = td_entry(11, SYS_getppid, 0, 0, 0, 0);
		e[1] = td_entry(12, SYS_nanosleep, (uintptr_t)&ms, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 2, 0);
		t0 = td_now_ms();
		while (got < 2 && td_now_ms() - t0 < 5000) {
			r = ksvc_dispatch_wait(d, c, 4, 0, 0);
			polls++;
			for (i = 0; i < r; i++, got++)
				right += (c[i].corr_id == 11 &&
					  c[i].result == getppid()) ||
					 (c[i].corr_id == 12 && c[i].result == 0);
		}
		tap_ok(got == 2 && right == 2,
		       "driven: wait with min 0 gives the dispatcher a pass: "
		       "polling collects an inline and a pool call (%u of 2 "
		       "right, %u polls)", right, polls);
	}
	{
		struct targ a = { d, 0 };
		pthread_t th;

		/* Another thread may submit but not drive. */
		pthread_create(&th, NULL, one_driver_thread, &a);
		pthread_join(th, NULL);
		tap_ok(a.r == 1, "ONE_DRIVER: another thread may submit, and "
		       "gets EPERM from wait/run/call/stop");
	}
	ksvc_dispatch_destroy(d);
	ksvc_close(k2);

	/* reap: NULL arguments; run: another thread is driving. */
	{
		struct timespec ms300 = { 0, 300000000 };
		struct targ a;
		pthread_t th;
		int busy = 0, i;

		k2 = td_open(64, 64);
		d = td_create(k2, KSVC_DISPATCH_CALLER_DRIVES, 1);
		a.d = d;
		a.r = 0;
		e[0] = td_entry(21, SYS_nanosleep, (uintptr_t)&ms300, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 1, 0);
		pthread_create(&th, NULL, drive_thread, &a);
		/* Its wait holds the driving for about 300 ms. */
		for (i = 0; i < 100 && !busy; i++) {
			busy = ksvc_dispatch_run(d) == -EBUSY;
			ku_sleep_ms(2);
		}
		pthread_join(th, NULL);
		tap_ok(busy && a.r == 1 && ksvc_dispatch_reap(d, NULL, 1) ==
		       -EINVAL && ksvc_dispatch_reap(NULL, c, 1) == -EINVAL,
		       "run while another thread drives -> EBUSY (its wait "
		       "returned %d); reap with NULL out or NULL d -> EINVAL",
		       a.r);
		ksvc_dispatch_destroy(d);
		ksvc_close(k2);
	}
	ksvc_close(k);
}

static void *one_driver_thread(void *arg)
{
	struct targ *a = arg;
	struct ksvc_entry e = td_entry(1, SYS_getppid, 0, 0, 0, 0);
	struct ksvc_completion c;
	__s64 res;

	a->r = ksvc_dispatch_submit(a->d, &e, 1, 0) == 1 &&
	       ksvc_dispatch_wait(a->d, &c, 1, 1, 0) == -EPERM &&
	       ksvc_dispatch_run(a->d) == -EPERM &&
	       ksvc_dispatch_call(a->d, SYS_getppid, NULL, &res, NULL) ==
	       -EPERM && ksvc_dispatch_stop(a->d) == -EPERM;
	return NULL;
}

/* ---------------------------------------------------------------- */

static const char *flags_str(__u32 f)
{
	static char buf[4][48];
	static int i;
	char *b = buf[i++ & 3];

	snprintf(b, 48, "%s%s%s%s", f & KSVC_COMP_TIER1 ? "T1 " : "",
		 f & KSVC_COMP_TIER2 ? "T2 " : "",
		 f & KSVC_COMP_REFUSED ? "REFUSED " : "", f ? "" : "none");
	return b;
}

static void test_routing(int mode)
{
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[8];
	struct ksvc_entry e;
	char buf[64];
	struct statx stx;
	struct stat st;
	int fd = open(file_path, O_RDONLY), sv[2], ok;
	long direct;

	/* Tier 1: pread64 of a real file. */
	memset(buf, 0, sizeof(buf));
	e = td_entry(1, SYS_pread64, (__u64)fd, (uintptr_t)buf, 9, 4);
	tap_ok(ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER1,
	       "%s: route(pread64) = Tier 1", m);
	ok = one(d, e, c) == 0;
	tap_ok(ok && c[0].result == 9 && c[0].flags == KSVC_COMP_TIER1 &&
	       memcmp(buf, file_data + 4, 9) == 0,
	       "%s: pread64 ran in Tier 1: %lld, %s, \"%.9s\"", m,
	       (long long)c[0].result, flags_str(c[0].flags), buf);

	/* Tier 1: statx, compared with the real call. */
	memset(&stx, 0, sizeof(stx));
	e = td_entry(2, SYS_statx, (__u64)(__s64)AT_FDCWD, (uintptr_t)file_path,
		     0, STATX_SIZE);
	e.args[4] = (uintptr_t)&stx;
	ok = one(d, e, c) == 0;
	tap_ok(ok && c[0].result == 0 && c[0].flags == KSVC_COMP_TIER1 &&
	       stx.stx_size == sizeof(file_data) - 1,
	       "%s: statx in Tier 1: size %llu", m,
	       (unsigned long long)stx.stx_size);

	/* Tier 1: send and recv on a socketpair (sendto/recvfrom, no address). */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	e = td_entry(3, SYS_sendto, (__u64)sv[0], (uintptr_t)"ping", 4, 0);
	ok = one(d, e, c) == 0 && c[0].result == 4 &&
	     c[0].flags == KSVC_COMP_TIER1;
	memset(buf, 0, sizeof(buf));
	e = td_entry(4, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf, 64, 0);
	ok = ok && one(d, e, c) == 0 && c[0].result == 4 &&
	     c[0].flags == KSVC_COMP_TIER1 && memcmp(buf, "ping", 4) == 0;
	tap_ok(ok, "%s: sendto/recvfrom without address in Tier 1", m);

	/* recvfrom with an address: Tier 2 (the dispatcher never reads
	 * the caller's addrlen itself). */
	if (write(sv[0], "pong", 4) != 4)
		tap_bail("write: %s", strerror(errno));
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		e = td_entry(5, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf, 64,
			     0);
		e.args[4] = (uintptr_t)&ss;
		e.args[5] = (uintptr_t)&sl;
		ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2 &&
		     one(d, e, c) == 0 && c[0].result == 4 &&
		     c[0].flags == KSVC_COMP_TIER2;
		tap_ok(ok, "%s: recvfrom with an address runs in Tier 2 (%s)",
		       m, flags_str(c[0].flags));
	}
	close(sv[0]);
	close(sv[1]);

	/* pread64 with a negative offset: EINVAL, like the system call
	 * (io_uring would read at the file position). */
	e = td_entry(6, SYS_pread64, (__u64)fd, (uintptr_t)buf, 4, -1ull);
	direct = syscall(SYS_pread64, fd, buf, 4, -1L);
	tap_ok(ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2 &&
	       one(d, e, c) == 0 && c[0].result == -EINVAL && direct == -1 &&
	       errno == EINVAL && c[0].flags == KSVC_COMP_TIER2,
	       "%s: pread64 at offset -1 -> Tier 2, EINVAL like the syscall",
	       m);

	/* Tier 2 pool: fstat, nanosleep. */
	memset(&st, 0, sizeof(st));
	e = td_entry(7, SYS_fstat, (__u64)fd, (uintptr_t)&st, 0, 0);
	tap_ok(ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2 &&
	       one(d, e, c) == 0 && c[0].result == 0 &&
	       c[0].flags == KSVC_COMP_TIER2 &&
	       st.st_size == sizeof(file_data) - 1,
	       "%s: fstat in Tier 2 (pool)", m);
	{
		struct timespec ts = { 0, 2000000 };

		e = td_entry(8, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		tap_ok(one(d, e, c) == 0 && c[0].result == 0 &&
		       c[0].flags == KSVC_COMP_TIER2,
		       "%s: nanosleep in Tier 2", m);
	}
	/* Tier 2 inline. */
	e = td_entry(9, SYS_getppid, 0, 0, 0, 0);
	ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2_INLINE &&
	     one(d, e, c) == 0 && c[0].result == getppid() &&
	     c[0].flags == KSVC_COMP_TIER2;
	tap_ok(ok, "%s: getppid in Tier 2 (inline): %lld", m,
	       (long long)c[0].result);
	/* Errors come back as -errno. */
	e = td_entry(10, SYS_pread64, 9999, (uintptr_t)buf, 4, 0);
	tap_ok(one(d, e, c) == 0 && c[0].result == -EBADF,
	       "%s: pread64 on a bad fd -> -EBADF", m);
	e = td_entry(11, SYS_fstat, 9999, (uintptr_t)&st, 0, 0);
	tap_ok(one(d, e, c) == 0 && c[0].result == -EBADF,
	       "%s: fstat on a bad fd -> -EBADF (Tier 2)", m);

	/*
	 * O_NONBLOCK: io_uring would wait; the system call says EAGAIN.
	 * The dispatcher keeps the system call's meaning (Tier 2 for a
	 * non-blocking descriptor); MSG_DONTWAIT works in Tier 1.
	 */
	{
		int nb[2];

		if (pipe2(nb, O_NONBLOCK) || socketpair(AF_UNIX, SOCK_STREAM, 0,
							sv))
			tap_bail("pipe2/socketpair");
		e = td_entry(13, SYS_read, (__u64)nb[0], (uintptr_t)buf, 8, 0);
		ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2 &&
		     one(d, e, c) == 0 && c[0].result == -EAGAIN &&
		     c[0].flags == KSVC_COMP_TIER2;
		tap_ok(ok, "%s: read on an empty O_NONBLOCK pipe: Tier 2, "
		       "-EAGAIN like the system call (%lld)", m,
		       (long long)c[0].result);
		e = td_entry(14, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf, 8,
			     MSG_DONTWAIT);
		ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER1 &&
		     one(d, e, c) == 0 && c[0].result == -EAGAIN &&
		     c[0].flags == KSVC_COMP_TIER1;
		tap_ok(ok, "%s: recvfrom(MSG_DONTWAIT) on an empty socket: "
		       "Tier 1, -EAGAIN", m);
		close(nb[0]);
		close(nb[1]);
		close(sv[0]);
		close(sv[1]);
	}

	/* Unknown entry flags. */
	e = td_entry(12, SYS_getppid, 0, 0, 0, 0);
	e.flags = 0x40;
	tap_ok(ksvc_dispatch_route(d, &e) == KSVC_ROUTE_INVALID &&
	       one(d, e, c) == 0 && c[0].result == -EINVAL && c[0].flags == 0,
	       "%s: unknown entry flags -> -EINVAL, no tier flag", m);

	close(fd);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* An io_uring opcode masked out of the probe, and NO_TIER1. */
static void test_fallback(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(64, 128);
	struct ksvc_dispatcher *d;
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[2];
	struct ksvc_entry e;
	struct ksvc_dispatch_stats st;
	char buf[16];
	int fd = open(file_path, O_RDONLY), ok;

	memset(c, 0, sizeof(c));
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	td_mask_op(&p, IORING_OP_READ);
	d = td_create_p(k, &p);
	e = td_entry(1, SYS_pread64, (__u64)fd, (uintptr_t)buf, 5, 0);
	memset(buf, 0, sizeof(buf));
	ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER2 &&
	     one(d, e, c) == 0 && c[0].result == 5 &&
	     c[0].flags == KSVC_COMP_TIER2 && memcmp(buf, "The q", 5) == 0;
	tap_ok(ok, "%s: IORING_OP_READ masked: pread64 runs in Tier 2 (%s)",
	       m, flags_str(c[0].flags));
	e = td_entry(2, SYS_pwrite64, 9999, (uintptr_t)buf, 1, 0);
	tap_ok(ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER1,
	       "%s: ... while pwrite64 (IORING_OP_WRITE) stays in Tier 1", m);
	ksvc_dispatch_stats(d, &st);
	tap_ok(st.tier1_available == 1,
	       "%s: io_uring in use, setup flags %#x, wake method %u", m,
	       st.uring_setup_flags, st.wake_method);
	ksvc_dispatch_destroy(d);

	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | KSVC_DISPATCH_NO_TIER1;
	d = td_create_p(k, &p);
	e = td_entry(3, SYS_pread64, (__u64)fd, (uintptr_t)buf, 5, 4);
	ok = one(d, e, c) == 0 && c[0].result == 5 &&
	     c[0].flags == KSVC_COMP_TIER2 && memcmp(buf, "quick", 5) == 0;
	ksvc_dispatch_stats(d, &st);
	tap_ok(ok && st.tier1_available == 0 && st.tier1.submitted == 0,
	       "%s: NO_TIER1: pread64 in Tier 2, io_uring unused", m);
	ksvc_dispatch_destroy(d);

	/* BLOCKING_FDS + RECV_POLL_FIRST: no F_GETFL, poll before recv. */
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | KSVC_DISPATCH_BLOCKING_FDS |
		  KSVC_DISPATCH_RECV_POLL_FIRST;
	d = td_create_p(k, &p);
	{
		int nb[2], sv[2];
		struct ksvc_entry e2[2];

		if (pipe2(nb, O_NONBLOCK) ||
		    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			tap_bail("pipe2/socketpair");
		e = td_entry(4, SYS_read, (__u64)nb[0], (uintptr_t)buf, 8, 0);
		ok = ksvc_dispatch_route(d, &e) == KSVC_ROUTE_TIER1;
		/* data already there, and data that comes later */
		if (write(sv[0], "early", 5) != 5)
			tap_bail("write");
		e2[0] = td_entry(5, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf,
				 5, 0);
		ok = ok && one(d, e2[0], c) == 0 && c[0].result == 5 &&
		     c[0].flags == KSVC_COMP_TIER1 &&
		     memcmp(buf, "early", 5) == 0;
		e2[0] = td_entry(6, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf,
				 16, 0);
		ok = ok && ksvc_dispatch_submit(d, e2, 1, 0) == 1;
		usleep(20000);
		if (write(sv[0], "late", 4) != 4)
			tap_bail("write");
		ok = ok && td_collect(d, c, 1, 5000) == 1 && c[0].result == 4 &&
		     memcmp(buf, "late", 4) == 0;
		tap_ok(ok, "%s: BLOCKING_FDS: no descriptor check (Tier 1); "
		       "RECV_POLL_FIRST: receives get data there before and "
		       "data that comes later", m);
		/* The flags argument reaches io_uring: MSG_PEEK leaves it. */
		if (write(sv[0], "peek", 4) != 4)
			tap_bail("write");
		e2[0] = td_entry(7, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf,
				 16, MSG_PEEK);
		memset(buf, 0, 16);
		ok = one(d, e2[0], c) == 0 && c[0].result == 4 &&
		     c[0].flags == KSVC_COMP_TIER1 &&
		     memcmp(buf, "peek", 4) == 0;
		memset(buf, 0, 16);
		ok = ok && recv(sv[1], buf, 16, MSG_DONTWAIT) == 4 &&
		     memcmp(buf, "peek", 4) == 0;
		tap_ok(ok, "%s: recvfrom(MSG_PEEK) in Tier 1 leaves the data "
		       "in the socket", m);
		close(nb[0]);
		close(nb[1]);
		close(sv[0]);
		close(sv[1]);
	}
	ksvc_dispatch_destroy(d);

	/* No IORING_OP_FUTEX_WAIT: the other way to sleep. */
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.spin_us = KSVC_SPIN_NONE;
	td_mask_op(&p, OP_FUTEX_WAIT);
	d = td_create_p(k, &p);
	ksvc_dispatch_stats(d, &st);
	{
		int i, good = 1;

		for (i = 0; i < 200 && good; i++) {
			e = td_entry((__u64)i, i & 1 ? SYS_pread64 : SYS_getppid,
				     (__u64)fd, (uintptr_t)buf, 1, 0);
			good = one(d, e, c) == 0 &&
			       c[0].result == (i & 1 ? 1 : getppid());
			if (i % 10 == 0)
				usleep(2000);	/* let it fall asleep */
		}
		tap_ok(good && st.wake_method == 2,
		       "%s: without IORING_OP_FUTEX_WAIT (wake method %u): "
		       "200 calls with pauses complete", m, st.wake_method);
	}
	ksvc_dispatch_destroy(d);
	close(fd);
	ksvc_close(k);
}

/* ---------------------------------------------------------------- */
/* Refused                                                            */
/* ---------------------------------------------------------------- */

static const struct { long nr; const char *name; } refused[] = {
	{ SYS_clone, "clone" }, { SYS_clone3, "clone3" },
	{ SYS_fork, "fork" }, { SYS_vfork, "vfork" },
	{ SYS_execve, "execve" }, { SYS_execveat, "execveat" },
	{ SYS_exit, "exit" }, { SYS_exit_group, "exit_group" },
	{ SYS_rt_sigprocmask, "rt_sigprocmask" },
	{ SYS_sigaltstack, "sigaltstack" },
	{ SYS_rt_sigreturn, "rt_sigreturn" },
	{ SYS_restart_syscall, "restart_syscall" },
	{ SYS_rt_sigsuspend, "rt_sigsuspend" }, { SYS_pause, "pause" },
	{ SYS_rt_sigtimedwait, "rt_sigtimedwait" },
	{ SYS_rt_sigpending, "rt_sigpending" },
	{ SYS_gettid, "gettid" }, { SYS_set_tid_address, "set_tid_address" },
	{ SYS_set_robust_list, "set_robust_list" },
	{ SYS_arch_prctl, "arch_prctl" },
	{ SYS_set_thread_area, "set_thread_area" },
	{ SYS_get_thread_area, "get_thread_area" },
	{ SYS_rseq, "rseq" }, { SYS_prctl, "prctl" },
	{ SYS_seccomp, "seccomp" },
	{ SYS_landlock_restrict_self, "landlock_restrict_self" },
	{ SYS_iopl, "iopl" }, { SYS_ioperm, "ioperm" },
	{ SYS_personality, "personality" },
	{ SYS_setuid, "setuid" }, { SYS_setgid, "setgid" },
	{ SYS_setreuid, "setreuid" }, { SYS_setregid, "setregid" },
	{ SYS_setresuid, "setresuid" }, { SYS_setresgid, "setresgid" },
	{ SYS_setfsuid, "setfsuid" }, { SYS_setfsgid, "setfsgid" },
	{ SYS_setgroups, "setgroups" }, { SYS_capset, "capset" },
	{ SYS_unshare, "unshare" }, { SYS_setns, "setns" },
	{ SYS_set_mempolicy, "set_mempolicy" },
	{ SYS_get_mempolicy, "get_mempolicy" },
	{ SYS_getcpu, "getcpu" }, { SYS_sched_yield, "sched_yield" },
	{ SYS_ptrace, "ptrace" },
	{ SYS_io_uring_setup, "io_uring_setup" },
	{ SYS_io_uring_enter, "io_uring_enter" },
	{ SYS_io_uring_register, "io_uring_register" },
	{ SYS_add_key, "add_key" }, { SYS_request_key, "request_key" },
	{ SYS_keyctl, "keyctl" }, { SYS_pkey_alloc, "pkey_alloc" },
	/* numbers the table does not know */
	{ 134, "uselib (removed)" }, { 400, "400 (none)" },
	{ 460, "460 (newer than the table)" }, { 100000, "100000" },
};
#define NREFUSED (sizeof(refused) / sizeof(refused[0]))

/* Calls refused only with arguments that name the calling thread. */
struct argcase {
	const char *what;
	long nr;
	__u64 a[6];
	int refused;
};

/*
 * Why the keyring calls are refused: a key the caller keeps in its own
 * thread keyring may be read only by a thread that possesses it, and no
 * dispatcher thread does.  The caller reads it itself.
 */
static void keyring_refused(struct ksvc_dispatcher *d, const char *m)
{
	long id = syscall(SYS_add_key, "user", "ksvc-test", "secret", 6,
			  KEY_SPEC_THREAD_KEYRING);
	char buf[16] = "";
	__u64 a[6] = { KEYCTL_READ, (__u64)id, (uintptr_t)buf, sizeof(buf) };
	__s64 res = 0;
	__u32 cf = 0;
	int r;

	if (id < 0) {
		tap_skip(strerror(errno), "%s: keyctl(KEYCTL_READ) of a key in "
			 "the caller's thread keyring is refused", m);
		return;
	}
	r = ksvc_dispatch_call(d, SYS_keyctl, a, &res, &cf);
	tap_ok(r == 0 && cf == KSVC_COMP_REFUSED &&
	       res == KSVC_REFUSED_RESULT &&
	       syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof(buf)) == 6 &&
	       memcmp(buf, "secret", 6) == 0,
	       "%s: keyctl(KEYCTL_READ) of a key in the caller's thread "
	       "keyring is refused (r %d, %lld, %s); the caller reads it "
	       "itself", m, r, (long long)res, flags_str(cf));
	syscall(SYS_keyctl, KEYCTL_UNLINK, id, KEY_SPEC_THREAD_KEYRING);
}

static volatile sig_atomic_t got_usr2;

static void on_usr2(int sig)
{
	(void)sig;
	got_usr2 = 1;
}

/*
 * Why a wait with a signal mask is refused: a signal sent to the caller
 * alone, which the mask lets through, ends the caller's own wait at once.
 * A worker waiting with that mask would not see it.
 */
static void sigmask_refused(struct ksvc_dispatcher *d, const char *m)
{
	struct timespec t = { 0, 200 * 1000 * 1000 };
	struct sigaction sa, old;
	sigset_t usr2, prev, during;
	__u64 a[6] = { 0, 0, (uintptr_t)&t, (uintptr_t)&during, _NSIG / 8 };
	__s64 res = 0;
	__u32 cf = 0;
	long dr;
	int r, e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, &old);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, &prev);
	during = prev;
	sigdelset(&during, SIGUSR2);
	got_usr2 = 0;
	/* Pending for this thread alone, blocked until a wait lets it in. */
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2);
	r = ksvc_dispatch_call(d, SYS_ppoll, a, &res, &cf);
	dr = syscall(SYS_ppoll, NULL, 0, &t, &during, _NSIG / 8);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	sigaction(SIGUSR2, &old, NULL);
	tap_ok(r == 0 && cf == KSVC_COMP_REFUSED &&
	       res == KSVC_REFUSED_RESULT && dr == -1 && e == EINTR &&
	       got_usr2,
	       "%s: ppoll() with a mask that lets a signal sent to the caller "
	       "through is refused (r %d, %lld, %s); the caller's own ppoll() "
	       "ends with EINTR at once (%ld, %s)", m, r, (long long)res,
	       flags_str(cf), dr, dr < 0 ? strerror(e) : "no error");
}

/*
 * Why close_range(CLOSE_RANGE_UNSHARE) is refused: it gives the thread
 * that makes it a file table of its own.  A worker that made it would
 * close nothing of the caller's and no longer see descriptors opened
 * after, so the pool must still see them.
 */
static void unshare_refused(struct ksvc_dispatcher *d, const char *m)
{
	__u64 a[6] = { 1u << 30, 1u << 30, CLOSE_RANGE_UNSHARE };
	struct stat sb;
	__s64 res = 0, res2;
	__u32 cf = 0, cf2;
	int r, i, fd, seen = 0;

	r = ksvc_dispatch_call(d, SYS_close_range, a, &res, &cf);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < 8; i++) {
		a[0] = (__u64)fd;
		a[1] = (uintptr_t)&sb;
		seen += ksvc_dispatch_call(d, SYS_fstat, a, &res2, &cf2) == 0 &&
			res2 == 0 && cf2 == KSVC_COMP_TIER2;
	}
	close(fd);
	tap_ok(r == 0 && cf == KSVC_COMP_REFUSED &&
	       res == KSVC_REFUSED_RESULT && seen == 8,
	       "%s: close_range(CLOSE_RANGE_UNSHARE) is refused (r %d, %lld, "
	       "%s); the pool sees a descriptor opened after (%d of 8)", m, r,
	       (long long)res, flags_str(cf), seen);
}

static void test_refused(int mode)
{
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_entry e[NREFUSED];
	struct ksvc_completion c[NREFUSED];
	struct ksvc_dispatch_stats st;
	unsigned int i, bad = 0;
	cpu_set_t cs;
	struct timespec ts, zero = { 0, 0 };
	struct rusage ru;
	struct epoll_event ee;
	sigset_t mask;
	__u64 msz[2] = { (uintptr_t)&mask, _NSIG / 8 };
	__s64 res;
	__u32 cf;
	int got, prio;

	for (i = 0; i < NREFUSED; i++) {
		/* Arguments that would do harm if the call ran:
		 * exit_group(77), exit(77), kill nothing else. */
		e[i] = td_entry(i + 1, refused[i].nr, 77, 0, 0, 0);
		if (ksvc_dispatch_route(d, &e[i]) != KSVC_ROUTE_REFUSED) {
			tap_diag("%s routed %d", refused[i].name,
				 ksvc_dispatch_route(d, &e[i]));
			bad++;
		}
	}
	tap_ok(bad == 0, "%s: route() refuses all %zu thread-dependent, "
	       "process-shaping and unknown calls", m, NREFUSED);

	got = ksvc_dispatch_submit(d, e, NREFUSED, 0) == (int)NREFUSED;
	got = got && td_collect(d, c, NREFUSED, 5000) == NREFUSED;
	bad = 0;
	for (i = 0; got && i < NREFUSED; i++) {
		const struct ksvc_completion *x =
			td_find(c, NREFUSED, e[i].corr_id);

		if (!x || x->result != KSVC_REFUSED_RESULT ||
		    x->flags != KSVC_COMP_REFUSED) {
			tap_diag("%s: %lld %s", refused[i].name,
				 x ? (long long)x->result : 0LL,
				 x ? flags_str(x->flags) : "missing");
			bad++;
		}
	}
	tap_ok(got && bad == 0, "%s: submitted, each completes with "
	       "-EOPNOTSUPP and KSVC_COMP_REFUSED (and the process lives)", m);
	ksvc_dispatch_stats(d, &st);
	tap_ok(st.refused == NREFUSED, "%s: refused counter %llu", m,
	       (unsigned long long)st.refused);

	/* Argument-dependent. */
	{
		struct argcase ac[] = {
			{ "sched_getaffinity(0)", SYS_sched_getaffinity,
			  { 0, sizeof(cs), (uintptr_t)&cs, 0 }, 1 },
			{ "sched_getaffinity(getpid())", SYS_sched_getaffinity,
			  { (__u64)getpid(), sizeof(cs), (uintptr_t)&cs, 0 }, 0 },
			/* The main thread's own mask back: no change. */
			{ "sched_setaffinity(0)", SYS_sched_setaffinity,
			  { 0, sizeof(cs), (uintptr_t)&cs, 0 }, 1 },
			{ "sched_setaffinity(getpid())", SYS_sched_setaffinity,
			  { (__u64)getpid(), sizeof(cs), (uintptr_t)&cs, 0 }, 0 },
			{ "clock_gettime(CLOCK_THREAD_CPUTIME_ID)",
			  SYS_clock_gettime,
			  { CLOCK_THREAD_CPUTIME_ID, (uintptr_t)&ts, 0, 0 }, 1 },
			{ "clock_gettime(CLOCK_MONOTONIC)", SYS_clock_gettime,
			  { CLOCK_MONOTONIC, (uintptr_t)&ts, 0, 0 }, 0 },
			{ "getrusage(RUSAGE_THREAD)", SYS_getrusage,
			  { RUSAGE_THREAD, (uintptr_t)&ru, 0, 0 }, 1 },
			{ "getrusage(RUSAGE_SELF)", SYS_getrusage,
			  { RUSAGE_SELF, (uintptr_t)&ru, 0, 0 }, 0 },
			{ "getpriority(PRIO_PROCESS, 0)", SYS_getpriority,
			  { PRIO_PROCESS, 0, 0, 0 }, 1 },
			{ "getpriority(PRIO_PROCESS, getpid())",
			  SYS_getpriority,
			  { PRIO_PROCESS, (__u64)getpid(), 0, 0 }, 0 },
			{ "futex(FUTEX_LOCK_PI)", SYS_futex,
			  { (uintptr_t)&prio, FUTEX_LOCK_PI, 0, 0 }, 1 },
			{ "wait4(__WNOTHREAD)", SYS_wait4,
			  { (__u64)-1, 0, 0x20000000 | WNOHANG, 0 }, 1 },
			{ "ppoll(sigmask)", SYS_ppoll,
			  { 0, 0, (uintptr_t)&zero, (uintptr_t)&mask,
			    _NSIG / 8 }, 1 },
			{ "ppoll(no sigmask)", SYS_ppoll,
			  { 0, 0, (uintptr_t)&zero, 0, _NSIG / 8 }, 0 },
			{ "epoll_pwait(sigmask)", SYS_epoll_pwait,
			  { (__u64)-1, (uintptr_t)&ee, 1, 0,
			    (uintptr_t)&mask, _NSIG / 8 }, 1 },
			{ "epoll_pwait(no sigmask)", SYS_epoll_pwait,
			  { (__u64)-1, (uintptr_t)&ee, 1, 0, 0,
			    _NSIG / 8 }, 0 },
			{ "epoll_pwait2(sigmask)", SYS_epoll_pwait2,
			  { (__u64)-1, (uintptr_t)&ee, 1, (uintptr_t)&zero,
			    (uintptr_t)&mask, _NSIG / 8 }, 1 },
			{ "epoll_pwait2(no sigmask)", SYS_epoll_pwait2,
			  { (__u64)-1, (uintptr_t)&ee, 1, (uintptr_t)&zero,
			    0, _NSIG / 8 }, 0 },
			{ "pselect6({mask, size})", SYS_pselect6,
			  { 0, 0, 0, 0, (uintptr_t)&zero, (uintptr_t)msz },
			  1 },
			{ "pselect6(NULL)", SYS_pselect6,
			  { 0, 0, 0, 0, (uintptr_t)&zero, 0 }, 0 },
			{ "io_pgetevents({mask, size})", SYS_io_pgetevents,
			  { 0, 0, 0, 0, (uintptr_t)&zero, (uintptr_t)msz },
			  1 },
			{ "io_pgetevents(NULL)", SYS_io_pgetevents,
			  { 0, 0, 0, 0, (uintptr_t)&zero, 0 }, 0 },
			{ "close_range(CLOSE_RANGE_UNSHARE)", SYS_close_range,
			  { 1u << 30, 1u << 30, CLOSE_RANGE_UNSHARE }, 1 },
			{ "close_range(0)", SYS_close_range,
			  { 1u << 30, 1u << 30, 0 }, 0 },
			/* attr NULL: -EFAULT, where it is not refused */
			{ "perf_event_open(pid 0)", SYS_perf_event_open,
			  { 0, 0, (__u64)-1, (__u64)-1, 0 }, 1 },
			{ "perf_event_open(pid 0, cpu 0)", SYS_perf_event_open,
			  { 0, 0, 0, (__u64)-1, 0 }, 1 },
			{ "perf_event_open(getpid())", SYS_perf_event_open,
			  { 0, (__u64)getpid(), (__u64)-1, (__u64)-1, 0 }, 0 },
			{ "perf_event_open(cgroup fd 0)", SYS_perf_event_open,
			  { 0, 0, 0, (__u64)-1, PERF_FLAG_PID_CGROUP }, 0 },
		};
		unsigned int n = sizeof(ac) / sizeof(ac[0]);

		bad = 0;
		for (i = 0; i < n; i++) {
			int r = ksvc_dispatch_call(d, ac[i].nr, (__u64 *)ac[i].a,
						   &res, &cf);
			int isref = r == 0 && cf == KSVC_COMP_REFUSED &&
				    res == KSVC_REFUSED_RESULT;

			if (r || isref != ac[i].refused ||
			    (!ac[i].refused && cf != KSVC_COMP_TIER2)) {
				tap_diag("%s: r %d res %lld %s", ac[i].what, r,
					 (long long)res, flags_str(cf));
				bad++;
			}
		}
		tap_ok(bad == 0, "%s: %u argument-dependent cases: refused "
		       "exactly when they name the calling thread", m, n);
	}
	sigemptyset(&mask);
	keyring_refused(d, m);
	sigmask_refused(d, m);
	unshare_refused(d, m);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* ---------------------------------------------------------------- */
/* Chains                                                             */
/* ---------------------------------------------------------------- */

/* open, read, close of the data file as one chain. */
static void chain_orc(struct ksvc_dispatcher *d, const char *m,
		      const char *what, __u32 want1, __u32 want2, __u32 want3)
{
	struct ksvc_entry e[3];
	struct ksvc_completion c[3];
	char buf[64];
	int fd = next_fd(), ok;

	memset(buf, 0, sizeof(buf));
	e[0] = td_entry(101, SYS_openat, (__u64)(__s64)AT_FDCWD,
			(uintptr_t)file_path, O_RDONLY | O_CLOEXEC, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(102, SYS_read, (__u64)fd, (uintptr_t)buf, 64, 0);
	e[1].flags = KSVC_ENTRY_LINKED;
	e[2] = td_entry(103, SYS_close, (__u64)fd, 0, 0, 0);
	ok = run_batch(d, e, 3, c) == 0;
	ok = ok && c[0].result == fd && c[1].result == sizeof(file_data) - 1 &&
	     c[2].result == 0 && memcmp(buf, file_data, c[1].result) == 0;
	ok = ok && c[0].flags == want1 && c[1].flags == want2 &&
	     c[2].flags == want3;
	tap_ok(ok && fcntl(fd, F_GETFD) == -1,
	       "%s: chain %s: open %lld (%s), read %lld (%s), close %lld (%s)",
	       m, what, (long long)c[0].result, flags_str(c[0].flags),
	       (long long)c[1].result, flags_str(c[1].flags),
	       (long long)c[2].result, flags_str(c[2].flags));
}

static void test_chains(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d;
	const char *m = td_mode_names[mode];
	struct ksvc_entry e[64];
	struct ksvc_completion c[64];
	struct ksvc_dispatch_stats st;
	char buf[64];
	int fd, pfd[2], ok, i, t;

	d = td_create(k, td_mode_flags[mode], 2);
	chain_orc(d, m, "in Tier 1", KSVC_COMP_TIER1, KSVC_COMP_TIER1,
		  KSVC_COMP_TIER1);

	/* Failure at the head: the rest is cancelled, nothing runs. */
	fd = next_fd();
	e[0] = td_entry(1, SYS_openat, (__u64)(__s64)AT_FDCWD,
			(uintptr_t)"/nonexistent/ksvc", O_RDONLY, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_read, (__u64)fd, (uintptr_t)buf, 64, 0);
	e[1].flags = KSVC_ENTRY_LINKED;
	e[2] = td_entry(3, SYS_close, (__u64)fd, 0, 0, 0);
	ok = run_batch(d, e, 3, c) == 0 && c[0].result == -ENOENT &&
	     c[1].result == -ECANCELED && c[2].result == -ECANCELED &&
	     c[1].flags == 0 && c[2].flags == 0;
	tap_ok(ok, "%s: failed open cancels read and close: %lld %lld %lld",
	       m, (long long)c[0].result, (long long)c[1].result,
	       (long long)c[2].result);

	/* Failure in the middle: open ok, read on a bad fd, close, getppid. */
	fd = next_fd();
	e[0] = td_entry(1, SYS_openat, (__u64)(__s64)AT_FDCWD,
			(uintptr_t)file_path, O_RDONLY, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_read, 9999, (uintptr_t)buf, 64, 0);
	e[1].flags = KSVC_ENTRY_LINKED;
	e[2] = td_entry(3, SYS_close, (__u64)fd, 0, 0, 0);
	e[2].flags = KSVC_ENTRY_LINKED;
	e[3] = td_entry(4, SYS_getppid, 0, 0, 0, 0);
	e[4] = td_entry(5, SYS_getppid, 0, 0, 0, 0);	/* not in the chain */
	ok = run_batch(d, e, 5, c) == 0 && c[0].result == fd &&
	     c[1].result == -EBADF && c[2].result == -ECANCELED &&
	     c[3].result == -ECANCELED && c[4].result == getppid();
	tap_ok(ok && fcntl(fd, F_GETFD) >= 0,
	       "%s: failure mid-chain cancels the rest (the close did not "
	       "run: fd %d still open); the next entry runs", m, fd);
	close(fd);

	/* A refused or invalid member breaks the chain too. */
	e[0] = td_entry(1, SYS_gettid, 0, 0, 0, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_getppid, 0, 0, 0, 0);
	e[1].flags = KSVC_ENTRY_LINKED | 0x100;
	e[2] = td_entry(3, SYS_getppid, 0, 0, 0, 0);
	ok = run_batch(d, e, 3, c) == 0 &&
	     c[0].result == KSVC_REFUSED_RESULT &&
	     c[1].result == -ECANCELED && c[2].result == -ECANCELED;
	e[0] = td_entry(4, SYS_getppid, 0, 0, 0, 0);
	e[0].flags = KSVC_ENTRY_LINKED | 0x100;
	e[1] = td_entry(5, SYS_getppid, 0, 0, 0, 0);
	ok = ok && run_batch(d, e, 2, c) == 0 && c[0].result == -EINVAL &&
	     c[1].result == -ECANCELED;
	tap_ok(ok, "%s: a refused or invalid link cancels what follows", m);

	/* Order: 40 one-byte writes to a pipe as one chain, each waiting
	 * for the one before; three such chains in one batch. */
	if (pipe(pfd))
		tap_bail("pipe");
	for (t = 0; t < 3; t++)
		for (i = 0; i < 20; i++) {
			static const char alpha[] = "abcdefghijklmnopqrstuvwxyz";
			struct ksvc_entry *x = &e[t * 20 + i];

			*x = td_entry((__u64)(t * 20 + i), SYS_write,
				      (__u64)pfd[1], (uintptr_t)&alpha[i], 1, 0);
			if (i < 19)
				x->flags = KSVC_ENTRY_LINKED;
		}
	ok = run_batch(d, e, 60, c) == 0;
	for (i = 0; ok && i < 60; i++)
		ok = c[i].result == 1;
	memset(buf, 0, sizeof(buf));
	ok = ok && read(pfd[0], buf, 64) == 60;
	{
		/* Each chain's letters appear in order. */
		int pos[3] = { 0, 0, 0 };

		for (i = 0; ok && i < 60; i++) {
			int l = buf[i] - 'a', tt;

			/* which chain: the first whose next letter is l */
			for (tt = 0; tt < 3; tt++)
				if (pos[tt] == l) {
					pos[tt]++;
					break;
				}
			ok = tt < 3;
		}
	}
	tap_ok(ok, "%s: three 20-link chains of pipe writes: each in order "
	       "(\"%.60s\")", m, buf);
	close(pfd[0]);
	close(pfd[1]);

	/* A chain waits for a slow first member. */
	{
		struct timespec ts = { 0, 100000000 };
		uint64_t t0 = td_now_ms();
		int wfd[2];

		if (pipe(wfd))
			tap_bail("pipe");
		e[0] = td_entry(1, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		e[0].flags = KSVC_ENTRY_LINKED;
		e[1] = td_entry(2, SYS_write, (__u64)wfd[1], (uintptr_t)"x", 1, 0);
		ok = ksvc_dispatch_submit(d, e, 2, 0) == 2;
		/* The write must not have run before the sleep ended. */
		usleep(30000);
		ok = ok && syscall(SYS_ioctl, wfd[0], FIONREAD, &i) == 0 &&
		     i == 0;
		ok = ok && td_collect(d, c, 2, 5000) == 2 &&
		     td_now_ms() - t0 >= 95;
		ok = ok && read(wfd[0], buf, 1) == 1;
		tap_ok(ok, "%s: the second link waits for a 100 ms nanosleep "
		       "(Tier 2) before its write (Tier 1)", m);
		close(wfd[0]);
		close(wfd[1]);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(st.chain_cancelled >= 6, "%s: chain_cancelled counter %llu", m,
	       (unsigned long long)st.chain_cancelled);
	ksvc_dispatch_destroy(d);

	/* The same open-read-close chain entirely in Tier 2... */
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	td_mask_op(&p, IORING_OP_OPENAT);
	td_mask_op(&p, IORING_OP_READ);
	td_mask_op(&p, IORING_OP_CLOSE);
	d = td_create_p(k, &p);
	chain_orc(d, m, "in Tier 2", KSVC_COMP_TIER2, KSVC_COMP_TIER2,
		  KSVC_COMP_TIER2);
	/* ... failing in Tier 2 ... */
	fd = next_fd();
	e[0] = td_entry(1, SYS_openat, (__u64)(__s64)AT_FDCWD,
			(uintptr_t)"/nonexistent/ksvc", O_RDONLY, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_read, (__u64)fd, (uintptr_t)buf, 64, 0);
	e[1].flags = KSVC_ENTRY_LINKED;
	e[2] = td_entry(3, SYS_close, (__u64)fd, 0, 0, 0);
	ok = run_batch(d, e, 3, c) == 0 && c[0].result == -ENOENT &&
	     c[0].flags == KSVC_COMP_TIER2 && c[1].result == -ECANCELED &&
	     c[2].result == -ECANCELED;
	tap_ok(ok, "%s: failed Tier 2 open cancels the Tier 2 read and close",
	       m);
	ksvc_dispatch_destroy(d);

	/* ... and across tiers: open (1), read (2), close (1). */
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	td_mask_op(&p, IORING_OP_READ);
	d = td_create_p(k, &p);
	chain_orc(d, m, "across tiers", KSVC_COMP_TIER1, KSVC_COMP_TIER2,
		  KSVC_COMP_TIER1);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* ---------------------------------------------------------------- */
/* Counters and the blocking call                                     */
/* ---------------------------------------------------------------- */

static void test_counters(int mode)
{
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	const char *m = td_mode_names[mode];
	struct ksvc_entry e[16];
	struct ksvc_completion c[16];
	struct ksvc_dispatch_stats st;
	struct stat sb;
	char buf[8];
	int fd = open(file_path, O_RDONLY), i, n = 0, ok;
	__s64 res;
	__u32 cf;

	for (i = 0; i < 5; i++, n++)		/* Tier 1 */
		e[n] = td_entry((__u64)n, SYS_pread64, (__u64)fd,
				(uintptr_t)buf, 1, (__u64)i);
	for (i = 0; i < 3; i++, n++)		/* Tier 2 pool */
		e[n] = td_entry((__u64)n, SYS_fstat, (__u64)fd, (uintptr_t)&sb,
				0, 0);
	for (i = 0; i < 2; i++, n++)		/* Tier 2 inline */
		e[n] = td_entry((__u64)n, SYS_getppid, 0, 0, 0, 0);
	for (i = 0; i < 4; i++, n++)		/* refused */
		e[n] = td_entry((__u64)n, SYS_gettid, 0, 0, 0, 0);
	e[n] = td_entry((__u64)n, SYS_getppid, 0, 0, 0, 0);	/* invalid */
	e[n++].flags = 0x8;
	ok = run_batch(d, e, (unsigned)n, c) == 0;
	ksvc_dispatch_stats(d, &st);
	tap_ok(ok && st.tier1.submitted == 5 && st.tier1.completed == 5 &&
	       st.tier1.in_flight == 0 && st.tier1.batches >= 1,
	       "%s: Tier 1 counters: submitted %llu completed %llu in flight "
	       "%llu batches %llu", m,
	       (unsigned long long)st.tier1.submitted,
	       (unsigned long long)st.tier1.completed,
	       (unsigned long long)st.tier1.in_flight,
	       (unsigned long long)st.tier1.batches);
	tap_ok(st.tier2.submitted == 5 && st.tier2.completed == 5 &&
	       st.tier2.in_flight == 0 && st.tier2_inline == 2 &&
	       st.tier2.batches >= 1,
	       "%s: Tier 2 counters: submitted %llu (inline %llu) completed "
	       "%llu batches %llu", m,
	       (unsigned long long)st.tier2.submitted,
	       (unsigned long long)st.tier2_inline,
	       (unsigned long long)st.tier2.completed,
	       (unsigned long long)st.tier2.batches);
	tap_ok(st.refused == 4 && st.invalid == 1 && st.taken == 15 &&
	       st.posted == 15 && st.workers == 2,
	       "%s: refused %llu invalid %llu taken %llu posted %llu", m,
	       (unsigned long long)st.refused, (unsigned long long)st.invalid,
	       (unsigned long long)st.taken, (unsigned long long)st.posted);

	/*
	 * Tier 1 batches count submissions of calls: not the io_uring futex
	 * waits the dispatcher arms when it goes to sleep between them.
	 */
	{
		__u64 b0 = st.tier1.batches, s0 = st.tier1.submitted;

		__u64 a[6] = { (__u64)fd, (uintptr_t)&sb, 0, 0, 0, 0 };

		ok = 1;
		for (i = 0; i < 5; i++) {
			ok = ok && ksvc_dispatch_call(d, SYS_getppid, NULL,
						      &res, &cf) == 0 &&
			     ksvc_dispatch_call(d, SYS_fstat, a, &res,
						&cf) == 0 && res == 0;
			usleep(20000);
		}
		ksvc_dispatch_stats(d, &st);
		tap_ok(ok && st.tier1.batches == b0 &&
		       st.tier1.submitted == s0,
		       "%s: 10 Tier 2 calls with idle sleeps between: Tier 1 "
		       "batches stay %llu (%llu), submitted %llu (%llu); wake "
		       "method %u", m, (unsigned long long)b0,
		       (unsigned long long)st.tier1.batches,
		       (unsigned long long)s0,
		       (unsigned long long)st.tier1.submitted, st.wake_method);
	}

	/* In flight while a call blocks. */
	{
		struct timespec ts = { 0, 300000000 };

		e[0] = td_entry(77, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		ksvc_dispatch_submit(d, e, 1, 0);
		usleep(100000);
		ksvc_dispatch_run(d);	/* driven: take it (EINVAL otherwise) */
		ksvc_dispatch_stats(d, &st);
		ok = st.tier2.in_flight == 1;
		ok = ok && td_collect(d, c, 1, 5000) == 1 && c[0].result == 0;
		ksvc_dispatch_stats(d, &st);
		tap_ok(ok && st.tier2.in_flight == 0,
		       "%s: Tier 2 in flight 1 during a 300 ms nanosleep, 0 after",
		       m);
	}

	/* The blocking call. */
	ksvc_dispatch_stats(d, &st);
	{
		__u64 taken = st.taken;

		ok = ksvc_dispatch_call(d, SYS_getpid, NULL, &res, &cf) == 0 &&
		     res == getpid() && cf == 0;
		ksvc_dispatch_stats(d, &st);
		tap_ok(ok && st.taken == taken,
		       "%s: call(getpid) answered by Tier 0, never on the ring",
		       m);
	}
	{
		__u64 a[6] = { 0, 0, 0, 0, 0, 0 };
		int r1, r2, e1, e2;

		errno = 77;
		r1 = ksvc_dispatch_call(d, SYS_uname, a, &res, &cf);
		e1 = errno;
		ok = r1 == 0 && res == -EFAULT;
		a[0] = RLIMIT_NOFILE;
		errno = 78;
		r2 = ksvc_dispatch_call(d, SYS_getrlimit, a, &res, &cf);
		e2 = errno;
		ok = ok && r2 == 0 && res == -EFAULT;
		tap_ok(ok && e1 == 77 && e2 == 78,
		       "%s: call(uname(NULL)) and call(getrlimit(NOFILE, NULL)) "
		       "-> -EFAULT, as the system calls (not getrlimit(3)'s "
		       "0); errno left alone (%d, %d)", m, e1, e2);
	}
	{
		struct ksvc_entry ce;
		int e3, got;

		/* close(9999) runs on this thread when the caller drives. */
		ksvc_prep_call(&ce, 4242, SYS_close, 9999, 0, 0, 0, 0, 0);
		errno = 79;
		ok = ksvc_dispatch_submit(d, &ce, 1, 0) == 1;
		if (mode == 1)
			ksvc_dispatch_run(d);
		got = ksvc_dispatch_wait(d, c, 1, 1, 5000);
		e3 = errno;
		ok = ok && got == 1 && c[0].corr_id == 4242 &&
		     c[0].result == -EBADF;
		tap_ok(ok && e3 == 79, "%s: submit, run and wait of a close(9999) "
		       "-> -EBADF; errno left alone (%d)", m, e3);
	}
	{
		__u64 a[6] = { (__u64)fd, (uintptr_t)buf, 3, 4, 0, 0 };

		memset(buf, 0, sizeof(buf));
		ok = ksvc_dispatch_call(d, SYS_pread64, a, &res, &cf) == 0 &&
		     res == 3 && cf == KSVC_COMP_TIER1 &&
		     memcmp(buf, "qui", 3) == 0;
		tap_ok(ok && ksvc_dispatch_reap(d, c, 16) == 0,
		       "%s: call(pread64): Tier 1 result handed over directly, "
		       "nothing in the completion ring", m);
		a[0] = 9999;
		ok = ksvc_dispatch_call(d, SYS_fstat, a, &res, &cf) == 0 &&
		     res == -EBADF && cf == KSVC_COMP_TIER2;
		tap_ok(ok, "%s: call(fstat(9999)) -> -EBADF from Tier 2", m);
		ok = ksvc_dispatch_call(d, SYS_gettid, NULL, &res, &cf) == 0 &&
		     res == KSVC_REFUSED_RESULT && cf == KSVC_COMP_REFUSED;
		tap_ok(ok, "%s: call(gettid) is refused, not made", m);
	}
	close(fd);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/*
 * The dispatcher's route table (lib/dispatch.c route_fast()) must give
 * route_of()'s answer for every entry: every system call number up to
 * past the table, with arguments around every limit route_of() tests
 * (lengths around INT_MAX and UINT32_MAX, negative offsets, an address
 * for sendto/recvfrom, a non-blocking descriptor, "self" arguments) and
 * unknown entry flags, on dispatchers whose tables differ.
 */
int ksvc__route_check(const struct ksvc_dispatcher *d,
		      const struct ksvc_entry *e, int *fast, int *slow);

#define RT_NR_MAX	600	/* past the table (451) and every number */
#define RT_CONFIGS	7
#define RT_POOL		16

struct rt_state {
	__u64 pool[RT_POOL];
	__u64 base[6];
	__u64 rnd;
	unsigned long checked, bad;
	const char *name;
};

/* Variant @v of the arguments: base, base with one changed, or random. */
static void rt_args(struct rt_state *st, unsigned int v, __u64 args[6])
{
	unsigned int j;

	memcpy(args, st->base, sizeof(st->base));
	if (v >= 1 && v < 1 + 6 * RT_POOL) {
		args[(v - 1) / RT_POOL] = st->pool[(v - 1) % RT_POOL];
	} else if (v) {
		for (j = 0; j < 6; j++) {
			st->rnd = st->rnd * 6364136223846793005ull +
				  1442695040888963407ull;
			args[j] = st->pool[(st->rnd >> 33) % RT_POOL];
		}
	}
}

static void rt_check(struct rt_state *st, struct ksvc_dispatcher *d,
		     const struct ksvc_entry *e)
{
	const __u64 *a = e->args;
	int fast, slow;

	st->checked++;
	if (ksvc__route_check(d, e, &fast, &slow))
		return;
	if (!st->bad++)
		tap_diag("%s: nr %u flags %#x args %llx %llx %llx %llx %llx "
			 "%llx: table %d, route_of %d", st->name,
			 e->syscall_nr, e->flags, (unsigned long long)a[0],
			 (unsigned long long)a[1], (unsigned long long)a[2],
			 (unsigned long long)a[3], (unsigned long long)a[4],
			 (unsigned long long)a[5], fast, slow);
}

static void test_route_table(void)
{
	static const struct { __u32 flags; int mask[3]; const char *name; }
	cfg[RT_CONFIGS] = {
		{ 0, { -1, -1, -1 }, "default" },
		{ KSVC_DISPATCH_BLOCKING_FDS, { -1, -1, -1 }, "blocking fds" },
		{ KSVC_DISPATCH_BLOCKING_FDS | KSVC_DISPATCH_NO_INLINE,
		  { -1, -1, -1 }, "blocking fds, no inline" },
		{ KSVC_DISPATCH_NO_TIER1, { -1, -1, -1 }, "no Tier 1" },
		{ KSVC_DISPATCH_BLOCKING_FDS,
		  { IORING_OP_READ, IORING_OP_SEND, -1 },
		  "blocking fds, no READ, no SEND" },
		{ KSVC_DISPATCH_BLOCKING_FDS,
		  { IORING_OP_WRITE, IORING_OP_RECV, IORING_OP_SENDMSG },
		  "blocking fds, no WRITE, RECV, SENDMSG" },
		{ KSVC_DISPATCH_CALLER_DRIVES | KSVC_DISPATCH_BLOCKING_FDS,
		  { -1, -1, -1 }, "caller drives, blocking fds" },
	};
	static const __u32 eflags[] = { 0, KSVC_ENTRY_LINKED, 1u << 1,
					1u << 31, ~0u };
	int file_fd = open(file_path, O_RDONLY), pfd[2];
	unsigned int ci, nr, j, v, f, n = 0;
	struct rt_state st;
	char buf[64];

	if (file_fd < 0 || pipe2(pfd, O_NONBLOCK) < 0)
		tap_bail("route table: open/pipe2: %s", strerror(errno));
	memset(&st, 0, sizeof(st));
	st.pool[n++] = 0;
	st.pool[n++] = 1;
	st.pool[n++] = 4096;
	st.pool[n++] = INT_MAX;
	st.pool[n++] = (__u64)INT_MAX + 1;
	st.pool[n++] = UINT32_MAX;
	st.pool[n++] = (__u64)UINT32_MAX + 1;
	st.pool[n++] = ~0ull;			/* -1 */
	st.pool[n++] = ~0ull - 1;		/* -2 */
	st.pool[n++] = 1ull << 63;		/* INT64_MIN */
	st.pool[n++] = (__u64)file_fd;
	st.pool[n++] = (__u64)pfd[0];		/* O_NONBLOCK */
	st.pool[n++] = (__u64)pfd[1];		/* O_NONBLOCK */
	st.pool[n++] = 0x20000000;		/* __WNOTHREAD */
	st.pool[n++] = (uintptr_t)buf;		/* an address */
	st.pool[n++] = (__u64)-4;		/* a "self" clock */
	if (n != RT_POOL)
		tap_bail("route table: pool of %u, not %u", n, RT_POOL);
	/* A plain, Tier 1 shaped call: fd, buffer, 16 bytes, offset 0. */
	st.base[0] = (__u64)file_fd;
	st.base[1] = (uintptr_t)buf;
	st.base[2] = 16;

	for (ci = 0; ci < RT_CONFIGS; ci++) {
		struct ksvc *k = td_open(256, 512);
		struct ksvc_dispatch_params p;
		struct ksvc_dispatcher *d;

		memset(&p, 0, sizeof(p));
		p.flags = cfg[ci].flags;
		p.workers = 1;
		for (j = 0; j < 3; j++)
			if (cfg[ci].mask[j] >= 0)
				td_mask_op(&p, cfg[ci].mask[j]);
		d = td_create_p(k, &p);
		st.name = cfg[ci].name;
		st.checked = 0;
		st.bad = 0;
		st.rnd = 0x9e3779b97f4a7c15ull;
		for (nr = 0; nr < RT_NR_MAX; nr++) {
			for (f = 0; f < sizeof(eflags) / sizeof(eflags[0]);
			     f++) {
				/* 64 random mixes after the systematic ones */
				for (v = 0; v < 1 + 6 * RT_POOL + 64; v++) {
					struct ksvc_entry e;

					memset(&e, 0, sizeof(e));
					e.corr_id = v;
					e.syscall_nr = nr;
					e.flags = eflags[f];
					rt_args(&st, v, e.args);
					rt_check(&st, d, &e);
				}
			}
		}
		tap_ok(st.bad == 0 && st.checked > 0,
		       "route table agrees with route_of() (%s): "
		       "%lu of %lu entries differ",
		       cfg[ci].name, st.bad, st.checked);
		ksvc_dispatch_destroy(d);
		ksvc_close(k);
	}
	close(pfd[0]);
	close(pfd[1]);
	close(file_fd);
}

/* Push @n getppid entries from @corr on with ksvc_sq_push(), and wake. */
static void raw_push(struct ksvc *k, __u64 corr, int n)
{
	struct ksvc_entry e;
	int i;

	for (i = 0; i < n; i++) {
		ksvc_prep_call(&e, corr + (__u64)i, SYS_getppid, 0, 0, 0, 0,
			       0, 0);
		if (ksvc_sq_push(&k->sq, &e))
			tap_bail("ksvc_sq_push: the ring is full");
	}
	if (ksvc_sq_wake(k) < 0)
		tap_bail("ksvc_sq_wake");
}

static void lib_push(struct ksvc_dispatcher *d, __u64 corr, int n)
{
	struct ksvc_entry e[4];
	int i;

	for (i = 0; i < n; i++)
		ksvc_prep_call(&e[i], corr + (__u64)i, SYS_getppid, 0, 0, 0,
			       0, 0, 0);
	if (ksvc_dispatch_submit(d, e, (unsigned int)n, KSVC_SUBMIT_WAIT) != n)
		tap_bail("ksvc_dispatch_submit");
}

struct destroy_arg {
	struct ksvc_dispatcher *d;
	int done;
};

static void *destroy_main(void *arg)
{
	struct destroy_arg *a = arg;

	ksvc_dispatch_destroy(a->d);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A program that writes the submit ring itself (ksvc_sq_push(), and the
 * wake) between its ksvc_dispatch_submit() calls: every entry runs once,
 * the library's after the program's (not over them), and destroy
 * returns (it waits for the library's producers only).
 */
static void test_raw_producer(int mode)
{
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 1);
	const char *m = td_mode_names[mode];
	struct ksvc_completion c[16];
	struct destroy_arg a = { d, 0 };
	unsigned int got, more, seen = 0;
	pthread_t th;
	__s64 r = 0;
	int i, ok;

	raw_push(k, 1, 3);
	lib_push(d, 4, 2);
	raw_push(k, 6, 2);
	lib_push(d, 8, 1);
	raw_push(k, 9, 1);
	got = td_collect(d, c, 9, 5000);
	more = td_collect(d, c + got, 16 - got, 100);
	ok = got == 9 && more == 0;
	for (i = 0; i < (int)got; i++) {
		if (c[i].corr_id < 1 || c[i].corr_id > 9 ||
		    (seen & (1u << c[i].corr_id)) || c[i].result != getppid())
			ok = 0;
		else
			seen |= 1u << c[i].corr_id;
	}
	ok = ok && ksvc_dispatch_call(d, SYS_getppid, NULL, &r, NULL) == 0 &&
	     r == getppid();
	tap_ok(ok, "%s: entries the program pushed itself between "
	       "ksvc_dispatch_submit() calls, and the library's: each "
	       "completes once, with its result (%u, then %u more)",
	       m, got, more);

	raw_push(k, 20, 2);
	td_collect(d, c, 2, 5000);
	if (pthread_create(&th, NULL, destroy_main, &a))
		tap_bail("pthread_create");
	for (i = 0; i < 1000 && !__atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
	     i++)
		usleep(10000);
	ok = __atomic_load_n(&a.done, __ATOMIC_ACQUIRE);
	tap_ok(ok, "%s: ksvc_dispatch_destroy() after the program's own "
	       "entries returns (within 10 s)", m);
	if (!ok)
		tap_bail("ksvc_dispatch_destroy() is stuck");
	pthread_join(th, NULL);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	int mode;

	td_args(argc, argv);
	tap_plan(39 + NMODES * 51 + RT_CONFIGS);
	td_say_where();
	setup_file();
	test_api();
	test_prep();
	test_route_table();
	for (mode = 0; mode < NMODES; mode++) {
		test_routing(mode);
		test_fallback(mode);
		test_refused(mode);
		test_chains(mode);
		test_counters(mode);
		test_raw_producer(mode);
	}
	unlink(file_path);
	rmdir(tmpdir);
	tap_done();
}
