// SPDX-License-Identifier: MIT
/*
 * test_tier0_setns - the shared page when a thread joins another UTS
 * namespace with setns(2).
 *
 * unshare(CLONE_NEWUTS) is covered by test_tier0_change; setns() takes
 * another way into switch_task_namespaces() (commit_nsset()), and the
 * page must follow it just the same:
 *
 *  - a single-threaded process joins a namespace with another host
 *    name: every fresh fact exact, on the page and through the
 *    accessors;
 *  - one thread of two joins it: the threads' uname() now differ, so
 *    UTS must not be fresh, and every fresh fact must be exact for
 *    each thread;
 *  - that thread comes back: UTS may be set again, and must be exact;
 *  - the same through a pidfd (setns(pidfd, CLONE_NEWUTS)).
 *
 * Host names are only changed inside private UTS namespaces.
 */
#include <pthread.h>
#include <sched.h>

#include "test_tier0.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define ALL KSVC_FRESH_ALL

static struct t0_inst inst;

static int check(const char *what)
{
	return t0_page_ok(inst.p, 0, what) &&
	       t0_page_ok(t0_lib_page(), 0, what) && t0_acc_ok(what);
}

/* A process in a UTS namespace of its own named @name, until killed. */
static pid_t ns_holder(const char *name)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		if (unshare(CLONE_NEWUTS) || sethostname(name, strlen(name)))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		tap_bail("namespace holder %s did not start", name);
	close(p[0]);
	return pid;
}

static int open_uts(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/uts", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		tap_bail("%s: %s", path, strerror(errno));
	return fd;
}

static long check_here(void *arg)
{
	return check(arg);
}

struct join {
	int fd;
	int nstype;
};

static long join_here(void *arg)
{
	const struct join *j = arg;

	return setns(j->fd, j->nstype) == 0;
}

/* One thread of two joins @fd's namespace, checks, and goes back. */
static void one_thread(int fd, int nstype, int home, const char *how)
{
	struct join to = { fd, nstype }, back = { home, CLONE_NEWUTS };
	struct t0_worker w;
	char what[128];
	int ok;

	t0_worker_start(&w);
	if (t0_inst_refresh(&inst) != 0)
		tap_diag("REFRESH: %s", strerror(errno));
	ok = t0_worker_run(&w, join_here, &to) == 1;
	if (!ok)
		tap_diag("setns %s: %s", how, strerror(errno));
	snprintf(what, sizeof(what), "one thread of two %s", how);
	ok = ok && check(what) && t0_worker_run(&w, check_here, what);
	tap_ok(ok, "%s: every fresh fact exact for both threads", what);

	ok = t0_worker_run(&w, join_here, &back) == 1 &&
	     t0_inst_refresh(&inst) == 0;
	snprintf(what, sizeof(what), "that thread back (%s)", how);
	ok = ok && check(what) && t0_worker_run(&w, check_here, what);
	tap_ok(ok, "%s: every fresh fact exact for both threads", what);
	t0_worker_stop(&w);
}

static void single(int fd, int nstype, int home, const char *how)
{
	char what[128];
	int ok;

	if (t0_inst_refresh(&inst) != 0)
		tap_diag("REFRESH: %s", strerror(errno));
	ok = setns(fd, nstype) == 0;
	if (!ok)
		tap_diag("setns %s: %s", how, strerror(errno));
	snprintf(what, sizeof(what), "single thread %s", how);
	tap_ok(ok && check(what), "%s: every fresh fact exact", what);
	if (setns(home, CLONE_NEWUTS) != 0)
		tap_bail("setns back: %s", strerror(errno));
}

int main(void)
{
	pid_t a, b;
	int home, fb, pfd;

	t0_need_module();
	tap_plan(4);

	/* A namespace of our own, and another one to join. */
	if (unshare(CLONE_NEWUTS) != 0 || sethostname("setns-home", 10) != 0)
		tap_bail("unshare(CLONE_NEWUTS): %s", strerror(errno));
	a = getpid();
	b = ns_holder("setns-other");
	home = open_uts(a);
	fb = open_uts(b);
	pfd = (int)syscall(SYS_pidfd_open, b, 0);

	t0_inst_must(&inst, 1);
	t0_lib_page();
	if (!t0_page_ok(inst.p, ALL, "start"))
		tap_diag("not all bits set at the start");

	single(fb, CLONE_NEWUTS, home, "setns(nsfd, CLONE_NEWUTS)");
	if (pfd >= 0)
		single(pfd, CLONE_NEWUTS, home, "setns(pidfd, CLONE_NEWUTS)");
	else
		tap_skip(strerror(errno), "single thread setns(pidfd, CLONE_NEWUTS)");
	one_thread(fb, CLONE_NEWUTS, home, "setns(nsfd, CLONE_NEWUTS)");

	kill(b, SIGKILL);
	t0_wait(b);
	t0_inst_close(&inst);
	tap_done();
}
