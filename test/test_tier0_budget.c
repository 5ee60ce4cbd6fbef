// SPDX-License-Identifier: MIT
/*
 * test_tier0_budget - what one hook call may cost.
 *
 * Hooks run with preemption off, and a refresh walks every thread of the
 * page's owner, so one hook call visits at most 256 threads in all
 * (KSVC_T0_HOOK_THREADS in kernel/ksvc.h); pages it cannot afford are
 * only cleared, never wrong, and their owner's KSVC_IOC_REFRESH (process
 * context, its own expense) brings them back:
 *
 *  - a process of a few threads: setrlimit(RLIMIT_NOFILE) refreshes its
 *    page at once;
 *  - the same process with 300 threads: NOFILE clear after setrlimit,
 *    back after REFRESH;
 *  - 300 instances of a process of one thread: setrlimit refreshes at
 *    most 256 of them and clears the rest; REFRESH brings each back;
 *  - the same for sethostname in a private UTS namespace, where the hook
 *    refreshes every instance that published from that namespace.
 */
#include <pthread.h>
#include <sched.h>

#include "test_tier0.h"

#define BUDGET		256
#define MANY		300

/* ------------------------------------------------------------------ */
/* Many threads                                                        */
/* ------------------------------------------------------------------ */

static int park_fd[2];

static void *parked(void *arg)
{
	char c;

	(void)arg;
	while (read(park_fd[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static int nofile_fresh(const struct t0_inst *in, rlim_t want)
{
	struct t0_page_snap s;

	t0_read_page(in->p, &s);
	return (s.fresh & KSVC_FRESH_NOFILE) && s.f.nofile == want;
}

/* NOFILE clear, or set with the right value. */
static int nofile_not_wrong(const struct t0_inst *in, rlim_t want)
{
	struct t0_page_snap s;

	t0_read_page(in->p, &s);
	return !(s.fresh & KSVC_FRESH_NOFILE) || s.f.nofile == want;
}

static void test_threads(void)
{
	static pthread_t t[MANY];
	struct t0_inst in;
	struct rlimit old, nl;
	pthread_attr_t attr;
	int i, ok, n = 0;

	t0_inst_must(&in, 1);
	getrlimit(RLIMIT_NOFILE, &old);
	nl = old;

	nl.rlim_cur = old.rlim_cur - 1;
	ok = setrlimit(RLIMIT_NOFILE, &nl) == 0 &&
	     nofile_fresh(&in, nl.rlim_cur);
	tap_ok(ok, "1 thread: setrlimit(RLIMIT_NOFILE) refreshes the page "
	       "at once");

	if (pipe(park_fd))
		tap_bail("pipe: %s", strerror(errno));
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < MANY; i++, n++)
		if (pthread_create(&t[i], &attr, parked, NULL))
			break;
	pthread_attr_destroy(&attr);
	if (n < MANY)
		tap_diag("only %d threads", n);

	nl.rlim_cur = old.rlim_cur - 2;
	ok = n == MANY && setrlimit(RLIMIT_NOFILE, &nl) == 0 &&
	     nofile_not_wrong(&in, nl.rlim_cur) &&
	     !nofile_fresh(&in, nl.rlim_cur);
	tap_ok(ok, "%d threads: after setrlimit NOFILE is clear (the hook "
	       "does not walk them)", n + 1);
	ok = t0_inst_refresh(&in) == 0 && nofile_fresh(&in, nl.rlim_cur);
	tap_ok(ok, "%d threads: KSVC_IOC_REFRESH brings NOFILE back, exact",
	       n + 1);

	close(park_fd[1]);
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	close(park_fd[0]);

	nl.rlim_cur = old.rlim_cur - 3;
	ok = setrlimit(RLIMIT_NOFILE, &nl) == 0 &&
	     nofile_fresh(&in, nl.rlim_cur);
	tap_ok(ok, "back to 1 thread: setrlimit refreshes the page at once");
	setrlimit(RLIMIT_NOFILE, &old);
	t0_inst_close(&in);
}

/* ------------------------------------------------------------------ */
/* Many instances                                                      */
/* ------------------------------------------------------------------ */

static struct t0_inst many[MANY];

static int open_many(void)
{
	int i, r;

	for (i = 0; i < MANY; i++) {
		r = t0_inst_open(&many[i], 1);
		if (r) {
			tap_diag("instance %d: %s", i, strerror(-r));
			while (i--)
				t0_inst_close(&many[i]);
			return 0;
		}
	}
	return 1;
}

static void close_many(void)
{
	int i;

	for (i = 0; i < MANY; i++)
		t0_inst_close(&many[i]);
}

/*
 * How many pages have @group set; -1 if one is set and wrong.  Every page
 * is read before the first system call: getrlimit() is a prlimit64()
 * whose return hook refreshes cleared NOFILE bits, with a budget of its
 * own.
 */
static int count_fresh(unsigned group)
{
	static struct t0_page_snap s[MANY];
	struct t0_facts sys;
	int i, n = 0;

	for (i = 0; i < MANY; i++)
		t0_read_page(many[i].p, &s[i]);
	t0_sys_facts(&sys);
	for (i = 0; i < MANY; i++) {
		if (!(s[i].fresh & group))
			continue;
		if (t0_diff(&s[i].f, &sys) & group)
			return -1;
		n++;
	}
	return n;
}

static int refresh_many(void)
{
	int i;

	for (i = 0; i < MANY; i++)
		if (t0_inst_refresh(&many[i]))
			return 0;
	return 1;
}

static void test_instances(void)
{
	struct rlimit old, nl;
	int ok, set;

	getrlimit(RLIMIT_NOFILE, &old);
	ok = open_many();
	ok = ok && count_fresh(KSVC_FRESH_NOFILE) == MANY;
	tap_ok(ok, "%d instances of one process, NOFILE set on each", MANY);

	nl = old;
	nl.rlim_cur = old.rlim_cur - 1;
	set = ok && setrlimit(RLIMIT_NOFILE, &nl) == 0 ?
	      count_fresh(KSVC_FRESH_NOFILE) : -2;
	tap_diag("setrlimit: %d of %d pages refreshed by the hook", set, MANY);
	tap_ok(set > 0 && set <= BUDGET,
	       "setrlimit refreshes at most %d of them (%d), clears the rest",
	       BUDGET, set);
	ok = set >= 0 && refresh_many() &&
	     count_fresh(KSVC_FRESH_NOFILE) == MANY;
	tap_ok(ok, "KSVC_IOC_REFRESH on each brings every one back, exact");
	setrlimit(RLIMIT_NOFILE, &old);
	close_many();
}

/* In a private UTS namespace (a child): exit status bit i = test i failed. */
static int uts_child(void)
{
	int st = 0, set;

	if (unshare(CLONE_NEWUTS))
		return 0x40;
	if (!open_many())
		return 0x40;
	if (count_fresh(KSVC_FRESH_UTS) != MANY)
		st |= 1;
	set = sethostname("ksvc-budget", 11) == 0 ?
	      count_fresh(KSVC_FRESH_UTS) : -2;
	printf("# sethostname: %d of %d pages refreshed by the hook\n", set,
	       MANY);
	fflush(stdout);
	if (set <= 0 || set > BUDGET)
		st |= 2;
	if (!refresh_many() || count_fresh(KSVC_FRESH_UTS) != MANY)
		st |= 4;
	close_many();
	return st;
}

static void test_uts(void)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(uts_child());
	st = t0_wait(pid);
	if (st < 0 || st >= 0x40)
		tap_diag("child ended with status %d", st);
	tap_ok(st >= 0 && st < 0x40 && !(st & 1), "%d instances in a private "
	       "UTS namespace, UTS set on each", MANY);
	tap_ok(st >= 0 && st < 0x40 && !(st & 2), "sethostname refreshes at "
	       "most %d of them, clears the rest", BUDGET);
	tap_ok(st >= 0 && st < 0x40 && !(st & 4), "KSVC_IOC_REFRESH on each "
	       "brings every one back, exact");
}

int main(void)
{
	t0_need_module();
	tap_plan(4 + 3 + 3);
	test_threads();
	test_instances();
	test_uts();
	tap_done();
}
