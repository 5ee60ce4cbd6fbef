// SPDX-License-Identifier: MIT
/*
 * test_tier0_inherit - the library's own Tier 0 descriptor in children.
 *
 * The library opens /dev/ksvc once per process for the Tier 0 accessors.
 * A child made by fork() inherits that descriptor, and the library closes
 * it there: a child must not keep its parent's instance alive.  The
 * case the simple ones (test_tier0_basic) do not reach: the child has
 * its parent's pid number.  The parent is pid 1 of a new pid namespace
 * and forks the child into another one, as a container's init may.  A
 * check by pid would keep the descriptor.
 *
 * Each child checks, before its own first accessor call (which could
 * reuse the number), that the parent's descriptor is closed.  Runs as
 * root in the VM with the module.
 */
#include <sched.h>

#include "test_tier0.h"

/* Is @fd closed? */
static int fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* A child's own accessors work: exact and from its own instance. */
static int child_own_instance(void)
{
	struct ksvc__t0_info i;

	if (ksvc_getpid() != (pid_t)getpid() || !t0_acc_ok("child"))
		return 0;
	ksvc__t0_info(&i);
	return i.state == KSVC__T0_READY && i.page &&
	       t0_page_ok(i.page, KSVC_FRESH_ALL, "child's own page");
}

/* ------------------------------------------------------------------ */
/* A child with its parent's pid number                               */
/* ------------------------------------------------------------------ */

/* Pid 1 of a new namespace: open the library's instance, fork into another. */
static int same_pid_parent(void)
{
	struct ksvc__t0_info info;
	int fd, st;
	pid_t pid;

	if (!t0_lib_page())
		return 10;
	ksvc__t0_info(&info);
	fd = info.fd;
	if (fd < 0 || getpid() != 1)
		return 11;
	if (unshare(CLONE_NEWPID) != 0)
		return 12;
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		if (getpid() != 1)
			_exit(64);	/* the test would prove nothing */
		if (!fd_closed(fd))
			bad |= 1;
		if (!child_own_instance())
			bad |= 2;
		_exit(bad);
	}
	st = t0_wait(pid);
	/* The parent's own descriptor and page are untouched. */
	if (fd_closed(fd) || !t0_page_ok(t0_lib_page(), KSVC_FRESH_ALL,
					 "pid 1 parent after the fork"))
		return 13;
	return st;
}

static void test_same_pid(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		pid_t init;

		if (unshare(CLONE_NEWPID) != 0)
			_exit(77);
		init = fork();
		if (init == 0)
			_exit(same_pid_parent());
		_exit(t0_wait(init));
	}
	st = t0_wait(pid);
	if (st == 77) {
		tap_skip("no new pid namespace allowed here",
			 "child with its parent's pid number");
		tap_skip("no new pid namespace allowed here",
			 "child with its parent's pid number: own instance");
		return;
	}
	if (st != 0 && st != 1 && st != 2 && st != 3)
		tap_diag("status %d", st);
	tap_ok(st >= 0 && st < 4 && !(st & 1),
	       "child with its parent's pid number (pid 1 of nested pid "
	       "namespaces): the parent's library descriptor is closed");
	tap_ok(st >= 0 && st < 4 && !(st & 2),
	       "child with its parent's pid number: own instance, exact, all "
	       "bits");
}

int main(void)
{
	t0_need_module();
	tap_plan(2);
	test_same_pid();
	tap_done();
}
