// SPDX-License-Identifier: MIT
/*
 * test_dispatch_vg - the dispatcher under valgrind: no invalid access, no
 * use of uninitialised memory, and nothing leaked, after a run that uses
 * every path that allocates: Tier 1, Tier 2 (pool and inline), refused,
 * chains, the blocking call, full rings, a writev continued after a short
 * count, two blocked calls cancelled one by one (KSVC_ENTRY_CANCEL), and a
 * stop that cancels calls blocked in the kernel (one of them
 * such a writev waiting for room); with the dispatcher thread and with
 * the caller driving.
 *
 * The program runs itself again under valgrind (memcheck, --leak-check=
 * full, errors and definite/indirect/possible leaks are failures).  It
 * skips where valgrind is not installed, and in sanitizer builds
 * (AddressSanitizer and valgrind cannot share a process).
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <liburing.h>

#include "test_dispatch.h"

#if defined(__SANITIZE_ADDRESS__)
#define KSVC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KSVC_ASAN 1
#endif
#endif

static const char *valgrind_path(void)
{
	static const char *const cand[] = { "/usr/bin/valgrind",
					    "/usr/local/bin/valgrind" };
	unsigned int i;

	for (i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
		if (access(cand[i], X_OK) == 0)
			return cand[i];
	return NULL;
}

/* The scenario; returns the number of failed checks. */
#define VG_BIG	(128 * 1024)

/* Read @fd until VG_BIG bytes came. */
static void *drain(void *arg)
{
	static char b[8192];
	size_t got = 0;
	ssize_t n;

	while (got < VG_BIG && (n = read(*(int *)arg, b, sizeof(b))) > 0)
		got += (size_t)n;
	return (void *)(uintptr_t)got;
}

/* Submit calls that will block, and give them time to start. */
static void start_blocked(struct ksvc_dispatcher *d, int mode,
			  const struct ksvc_entry *e, unsigned int n)
{
	ksvc_dispatch_submit(d, e, n, 0);
	if (mode == 1)
		ksvc_dispatch_run(d);
	usleep(200000);
}

static int scenario(int mode)
{
	struct ksvc_dispatch_params p;
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d;
	struct ksvc_completion c[64];
	struct ksvc_entry e[40];
	struct timespec ts = { 30, 0 };
	struct stat sb;
	char *buf = calloc(1, 64), *big = calloc(1, VG_BIG);
	struct iovec *iov = calloc(2, sizeof(*iov));
	int fd = open("/proc/self/exe", O_RDONLY), pfd[2], wfd[2], i, bad = 0;
	pthread_t th;
	void *th_got;
	int st1;
	unsigned int got;
	__s64 res;
	__u32 cf;
	__u64 a[6] = { 0 };

	if (pipe(pfd) || pipe(wfd) || !big || !iov)
		return 100;
	iov[0] = (struct iovec){ big, VG_BIG / 2 };
	iov[1] = (struct iovec){ big + VG_BIG / 2, VG_BIG / 2 };
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = 2;
	/*
	 * valgrind 3.19 keeps its global lock across io_uring_enter() (it
	 * does not treat the call as one that may block), so a dispatcher
	 * asleep in io_uring would stop every other thread for good.  Mask
	 * IORING_OP_FUTEX_WAIT: the dispatcher then sleeps in futex(2), or
	 * in io_uring for at most 1 ms at a time.  Every other path is the
	 * same.  valgrind 3.19 does not know futex_waitv(2) either (it
	 * warns once, "unhandled amd64-linux syscall: 449", and fails the
	 * call with ENOSYS): the library then sleeps on one futex word, a
	 * millisecond at a time, as on kernels before 5.16; this run covers
	 * that path too.
	 */
	td_mask_op(&p, 51);
	d = td_create_p(k, &p);
	{
		struct ksvc_dispatch_stats st;

		ksvc_dispatch_stats(d, &st);
		st1 = st.tier1_available;
		printf("# %s under valgrind: io_uring %s (setup flags %#x), "
		       "wake method %u\n", td_mode_names[mode],
		       st.tier1_available ? "in use" : "unavailable",
		       st.uring_setup_flags, st.wake_method);
		fflush(stdout);
	}
	/* All tiers, and more than the rings hold (full-ring paths). */
	for (i = 0; i < 40; i++) {
		switch (i % 4) {
		case 0:
			e[i] = td_entry((__u64)i, SYS_pread64, (__u64)fd,
					(uintptr_t)buf, 4, 0);
			break;
		case 1:
			e[i] = td_entry((__u64)i, SYS_fstat, (__u64)fd,
					(uintptr_t)&sb, 0, 0);
			break;
		case 2:
			e[i] = td_entry((__u64)i, SYS_getppid, 0, 0, 0, 0);
			break;
		default:
			e[i] = td_entry((__u64)i, SYS_gettid, 0, 0, 0, 0);
		}
	}
	for (i = 0; i < 40; i += 8)
		if (ksvc_dispatch_submit(d, e + i, 8, KSVC_SUBMIT_WAIT) != 8 ||
		    td_collect(d, c, 8, 20000) != 8)
			bad++;
	/* A chain. */
	e[0] = td_entry(1, SYS_pread64, (__u64)fd, (uintptr_t)buf, 4, 0);
	e[0].flags = KSVC_ENTRY_LINKED;
	e[1] = td_entry(2, SYS_fstat, (__u64)fd, (uintptr_t)&sb, 0, 0);
	e[1].flags = KSVC_ENTRY_LINKED;
	e[2] = td_entry(3, SYS_getppid, 0, 0, 0, 0);
	if (ksvc_dispatch_submit(d, e, 3, 0) != 3 ||
	    td_collect(d, c, 3, 20000) != 3)
		bad++;
	/* The blocking call. */
	a[0] = (__u64)fd;
	a[1] = (uintptr_t)buf;
	a[2] = 4;
	if (ksvc_dispatch_call(d, SYS_pread64, a, &res, &cf) || res != 4)
		bad++;
	/* A writev larger than the pipe holds: continued until all is in. */
	if (pthread_create(&th, NULL, drain, &wfd[0]))
		return 100;
	e[0] = td_entry(9, SYS_writev, (__u64)wfd[1], (uintptr_t)iov, 2, 0);
	if (ksvc_dispatch_submit(d, e, 1, 0) != 1 ||
	    td_collect(d, c, 1, 20000) != 1 || c[0].result != VG_BIG)
		bad++;
	pthread_join(th, &th_got);
	if ((uintptr_t)th_got != VG_BIG)
		bad++;
	/* Cancelled one by one: a pool call and a read, each blocked. */
	e[0] = td_entry(20, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
	e[1] = td_entry(21, SYS_read, (__u64)pfd[0], (uintptr_t)buf, 8, 0);
	start_blocked(d, mode, e, 2);
	if (ksvc_dispatch_cancel(d, 20) != 1 ||
	    ksvc_dispatch_cancel(d, 21) != 1)
		bad++;
	got = td_collect(d, c, 2, 20000);
	if (got != 2 || c[0].result != -ECANCELED ||
	    c[1].result != -ECANCELED)
		bad++;
	/* Calls blocked in the kernel, then stop; the writev has 64 KiB in. */
	e[0] = td_entry(10, SYS_read, (__u64)pfd[0], (uintptr_t)buf, 8, 0);
	e[1] = td_entry(11, SYS_nanosleep, (uintptr_t)&ts, 0, 0, 0);
	e[2] = td_entry(12, SYS_writev, (__u64)wfd[1], (uintptr_t)iov, 2, 0);
	start_blocked(d, mode, e, 3);
	if (ksvc_dispatch_stop(d) != 0)
		bad++;
	got = td_collect(d, c, 3, 5000);
	if (got != 3)
		bad++;
	/* a writev in Tier 2 (no io_uring) may also report 64 KiB */
	for (i = 0; i < (int)got; i++)
		if (c[i].corr_id == 12 ?
		    c[i].result != 65536 &&
		    (st1 || c[i].result != -ECANCELED) :
		    c[i].result != -ECANCELED)
			bad++;
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	close(wfd[0]);
	close(wfd[1]);
	free(buf);
	free(big);
	free(iov);
	return bad;
}

int main(int argc, char **argv)
{
	const char *vg;
	char self[4096];
	ssize_t n;
	pid_t pid;
	int st;

	if (argc > 1 && strcmp(argv[1], "--child") == 0) {
		int bad = scenario(0) + scenario(1);

		return bad ? 1 : 0;
	}
#ifdef KSVC_ASAN
	tap_skip_all("sanitizer build: valgrind cannot run it");
#endif
	vg = valgrind_path();
	if (!vg)
		tap_skip_all("valgrind is not installed");
	td_args(argc, argv);
	tap_plan(1);
	td_say_where();
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		tap_bail("readlink: %s", strerror(errno));
	self[n] = 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		dup2(1, 2);
		execl(vg, "valgrind", "--quiet", "--error-exitcode=99",
		      "--leak-check=full",
		      "--show-leak-kinds=definite,indirect,possible",
		      "--errors-for-leak-kinds=definite,indirect,possible",
		      "--child-silent-after-fork=yes", self, "--child",
		      (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		tap_bail("waitpid");
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "valgrind memcheck: thread and driven dispatchers, every tier, "
	       "chains, full rings, a continued writev, cancels, stop with "
	       "blocked calls: no error, no leak (status %d%s)", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
	       WIFEXITED(st) && WEXITSTATUS(st) == 99 ? ": valgrind errors" :
	       WIFEXITED(st) && WEXITSTATUS(st) == 1 ? ": a check failed" : "");
	tap_done();
}
