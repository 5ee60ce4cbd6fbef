// SPDX-License-Identifier: MIT
/*
 * test_dispatch_fork - after fork() the child never touches the parent's
 * dispatcher or rings.
 *
 * In the child (of fork(), and of a raw clone() that skips the
 * pthread_atfork handlers): every dispatcher call on the parent's handle
 * fails with EACCES; the rings are not even mapped there (ksvc_sq_wake()
 * on the parent's instance: EACCES too); destroying the
 * handle only frees the child's copy (and gives back the cancel signal's
 * disposition the copy held); the child can open its own
 * instance and dispatcher and use them.  The parent's dispatcher keeps
 * working during and after, also when the fork happens while one of its
 * Tier 2 calls is blocked.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "test_dispatch.h"

/*
 * GCC 12's AddressSanitizer does not lock its allocator around fork(): a
 * child of a threaded process that allocates or starts threads can
 * deadlock on a lock another thread held (POSIX only promises
 * async-signal-safe calls there anyway).  Under ASan the child checks
 * everything that takes no lock and skips freeing the handle and
 * starting its own dispatcher, which the plain build checks.
 * ThreadSanitizer refuses to start threads in such a child at all, so
 * under TSan too.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHILD_MAY_ALLOCATE 0
#else
#define CHILD_MAY_ALLOCATE 1
#endif

/* The child's bits: td_child_refused()'s, and its own dispatcher. */
enum { C_OWN = 1 << 6 };
#define C_ALL	(TD_CHILD_ALL | C_OWN)

static struct ksvc *pk;
static struct ksvc_dispatcher *pd;
/* The parent's answers, which the child's copy must give too. */
static enum ksvc_mode pmode;
static enum ksvc_route proute;
static int ptier1;

/* What the child checks; the exit status has one bit per success. */
static int child_checks(int full)
{
	int bits = td_child_refused(pd, pk, pmode, proute);

	if (!full || !CHILD_MAY_ALLOCATE)
		return bits | C_OWN;
	{
		int before = td_count_fds();

		/* frees the child's copy only, and closes its io_uring fd */
		ksvc_dispatch_destroy(pd);
		if (before < 0 || td_count_fds() != before - (ptier1 ? 1 : 0))
			return bits;
	}
	{
		struct sigaction sa;

		/* ... and gives back the cancel signal it held */
		if (sigaction(SIGRTMIN + 6, NULL, &sa) < 0 ||
		    sa.sa_handler != SIG_DFL)
			return bits;
	}
	{
		struct ksvc_open_params op;
		struct ksvc *k;
		struct ksvc_dispatcher *d;
		/* /dev/zero takes pread but is no regular file */
		struct ksvc_dispatch_params dp = {
			.flags = KSVC_DISPATCH_POSITIONAL_FDS,
		};
		__s64 res;
		__u32 cf;

		memset(&op, 0, sizeof(op));
		op.flags = td_have_module() ? 0 : KSVC_OPEN_ANON_FALLBACK;
		if (ksvc_open(&k, &op) == 0) {
			if (ksvc_dispatch_create(&d, k, &dp) == 0) {
				__u64 a[6] = { 0 };
				int fd = open("/dev/zero", O_RDONLY);
				char b[4] = "xxx";

				a[0] = (__u64)fd;
				a[1] = (uintptr_t)b;
				a[2] = 2;
				if (ksvc_dispatch_call(d, SYS_pread64, a, &res,
						       &cf) == 0 && res == 2 &&
				    b[0] == 0 && cf == KSVC_COMP_TIER1)
					bits |= C_OWN;
				ksvc_dispatch_destroy(d);
				close(fd);
			}
			ksvc_close(k);
		}
	}
	return bits;
}

static int parent_works(void)
{
	struct ksvc_entry e[8];
	struct ksvc_completion c[8];
	int i;

	for (i = 0; i < 8; i++)
		e[i] = td_entry(500 + (__u64)i, SYS_getppid, 0, 0, 0, 0);
	if (ksvc_dispatch_submit(pd, e, 8, 0) != 8 ||
	    td_collect(pd, c, 8, 5000) != 8)
		return 0;
	for (i = 0; i < 8; i++)
		if (c[i].result != getppid())
			return 0;
	return 1;
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_mode(int mode)
{
	const char *m = td_mode_names[mode];
	struct ksvc_entry e;
	struct ksvc_completion c[2];
	int pfd[2], st, ok;
	pid_t pid;
	char rb[4];

	pk = td_open(64, 128);
	pd = td_create(pk, td_mode_flags[mode], 2);
	tap_ok(parent_works(), "%s: the parent's dispatcher works", m);
	{
		struct ksvc_entry ge = td_entry(1, SYS_getppid, 0, 0, 0, 0);
		struct ksvc_dispatch_stats st;

		pmode = ksvc_dispatch_mode(pd);
		proute = ksvc_dispatch_route(pd, &ge);
		ptier1 = ksvc_dispatch_stats(pd, &st) == 0 &&
			 st.tier1_available;
	}

	pid = fork();
	if (pid == 0)
		_exit(child_checks(1));
	ok = parent_works();
	st = wait_child(pid);
	tap_ok(st == C_ALL, "%s: fork child: submit/reap/wait/run/call/cancel/"
	       "stats/stop, a create and ksvc_sq_wake on the parent's instance "
	       "-> EACCES, mode and route as in the parent, rings unmapped, "
	       "destroy closes the io_uring fd and gives the cancel signal "
	       "back, own dispatcher works (%#x)", m, st);
	tap_ok(ok && parent_works(), "%s: the parent's dispatcher works during "
	       "and after", m);

	/* A raw clone() runs no atfork handler: MADV_WIPEONFORK still tells. */
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		syscall(SYS_exit_group, child_checks(0));
	st = wait_child(pid);
	tap_ok(st == C_ALL, "%s: raw clone() child: the same (%#x)", m, st);

	/* Fork while a Tier 2 call is blocked in the kernel. */
	if (pipe(pfd))
		tap_bail("pipe");
	{
		struct timespec ts = { 0, 300000000 };

		e = td_entry(900, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
		ksvc_dispatch_submit(pd, &e, 1, 0);
		if (mode == 1)
			ksvc_dispatch_run(pd);
	}
	usleep(50000);
	pid = fork();
	if (pid == 0)
		_exit(child_checks(1));
	st = wait_child(pid);
	ok = td_collect(pd, c, 1, 5000) == 1 && c[0].corr_id == 900 &&
	     c[0].result == 0;
	tap_ok(st == C_ALL && ok, "%s: fork while a Tier 2 call is blocked: "
	       "child as above (%#x), the call completes in the parent", m, st);
	(void)rb;
	close(pfd[0]);
	close(pfd[1]);
	ksvc_dispatch_destroy(pd);
	ksvc_close(pk);
}

int main(int argc, char **argv)
{
	td_args(argc, argv);
	tap_plan(2 * 5);
	td_say_where();
	if (!CHILD_MAY_ALLOCATE)
		tap_diag("AddressSanitizer build: forked children only make "
			 "calls that take no lock (see the top of the source)");
	test_mode(0);
	test_mode(1);
	tap_done();
}
