// SPDX-License-Identifier: MIT
/*
 * test_limit - instances per user (the module parameter
 * max_user_instances, kernel/limit.c).
 *
 * With the limit set to 4 for the test: a user's fifth CREATE fails with
 * EMFILE and changes nothing (no instance, no pages, its argument as it
 * was); closing one lets the next CREATE through, but not while a
 * mapping of it or a forked child's copy of its file remains; another
 * user has a count of its own; an instance is counted against the user
 * that created it, also when the process that holds it changes its uid
 * before it closes it; the ids of a user namespace count against the
 * user who made the namespace too (once, also where it is one of those
 * ids); a limit of 0 refuses every CREATE.  The old limit is put back
 * and the counters return to base.  The harness checks the guest's
 * kernel log (limit.c WARNs on a count that goes wrong, and at unload on
 * a count left behind).
 */
#include <sched.h>
#include <sys/wait.h>

#include "util.h"

#define PARAM	"/sys/module/ksvc/parameters/max_user_instances"
#define LIMIT	4
#define NOBODY	65534

static struct ku_counts base;

static long param_read(void)
{
	char buf[32] = "";
	FILE *f = fopen(PARAM, "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0] ? strtol(buf, NULL, 10) : -1;
}

static int param_write(long v)
{
	FILE *f = fopen(PARAM, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* open + CREATE: the fd, or -errno of the CREATE (the file closed). */
static int make(void)
{
	int fd = ku_open(), err;

	if (fd < 0)
		return fd;
	err = ku_create(fd, 16, 16, -1);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* Make up to @n instances into @fd[]; returns how many, *@err the last. */
static int make_n(int *fd, int n, int *err)
{
	int i;

	*err = 0;
	for (i = 0; i < n; i++) {
		fd[i] = make();
		if (fd[i] < 0) {
			*err = fd[i];
			break;
		}
	}
	return i;
}

static void close_n(int *fd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(fd[i]);
}

static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void test_one_user(void)
{
	struct ksvc_create_params p, before;
	struct ku_counts full;
	int fd[LIMIT + 1], n, err, extra, r;

	n = make_n(fd, LIMIT, &err);
	tap_ok(n == LIMIT, "limit %d: %d CREATEs succeed (error %d)", LIMIT, n,
	       err);
	full = ku_counts();

	extra = ku_open();
	if (extra < 0)
		tap_bail("open: %d", extra);
	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = 16;
	p.complete_ring_entries = 16;
	p.eventfd = -1;
	before = p;
	r = ku_create_p(extra, &p);
	tap_ok(r == -EMFILE && memcmp(&p, &before, sizeof(p)) == 0 &&
	       ku_counts_eq(ku_counts(), full),
	       "the next one fails with EMFILE (%d), leaves its argument "
	       "alone and creates nothing", r);

	close(fd[0]);
	r = ku_create(extra, 16, 16, -1);
	tap_ok(r == 0, "after one file is closed, the same CREATE succeeds "
	       "(%d)", r);
	fd[0] = extra;
	close_n(fd, n);
	tap_ok(ku_counts_wait(base), "all closed: counters back to base");
}

/*
 * An instance counts until it is gone: its descriptor closed while a
 * mapping remains, or while a forked child still holds the file, it
 * still counts; the munmap, or the child's exit, lets the next CREATE
 * through.
 */
static void test_held(void)
{
	int fd[LIMIT], n, err, r_held, r_after, st, go[2];
	char c = 0;
	void *map;
	pid_t pid;

	n = make_n(fd, LIMIT, &err);
	map = n == LIMIT ? ku_map(fd[0], KU_SHARED, 16, 16, &err) : NULL;
	if (!map)
		tap_bail("mmap: %d", err);
	close(fd[0]);
	r_held = make();
	if (r_held >= 0)
		close(r_held);
	munmap(map, PAGE_SIZE);
	r_after = make();
	tap_ok(r_held == -EMFILE && r_after >= 0,
	       "descriptor closed, a mapping left: still counted (%d); after "
	       "the munmap the next CREATE succeeds (%d)", r_held, r_after);
	fd[0] = r_after;

	if (pipe(go))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 1 ? 0 : 1);	/* holds fd[1] */
	}
	close(go[0]);
	close(fd[1]);
	r_held = make();
	if (r_held >= 0)
		close(r_held);
	if (write(go[1], &c, 1) != 1)
		tap_bail("write: %s", strerror(errno));
	close(go[1]);
	st = wait_child(pid);
	r_after = make();
	tap_ok(st == 0 && r_held == -EMFILE && r_after >= 0,
	       "closed by the owner, still open in a forked child: still "
	       "counted (%d); after the child exits the next CREATE succeeds "
	       "(%d)", r_held, r_after);
	fd[1] = r_after;
	close_n(fd, n);
	tap_ok(ku_counts_wait(base), "counters back to base");
}

/* Another user counts apart: nobody can have LIMIT while root has LIMIT. */
static void test_other_user(void)
{
	int fd[LIMIT], n, err, st;
	pid_t pid;

	n = make_n(fd, LIMIT, &err);
	pid = fork();
	if (pid == 0) {
		int cfd[LIMIT], cn, cerr, r;

		if (setresuid(NOBODY, NOBODY, NOBODY))
			_exit(100);
		cn = make_n(cfd, LIMIT, &cerr);
		r = make();
		_exit(cn == LIMIT && r == -EMFILE ? 0 : 1 + cn);
	}
	st = wait_child(pid);
	tap_ok(n == LIMIT && st == 0,
	       "with root at the limit, user %d still creates %d and then "
	       "gets EMFILE (child status %d)", NOBODY, LIMIT, st);
	close_n(fd, n);
	tap_ok(ku_counts_wait(base), "counters back to base");
}

/*
 * A child of root creates 2 (root now at the limit with the parent's 2),
 * becomes nobody and closes them: root's count must drop, nobody's must
 * not be touched.
 */
static void test_charged_uid(void)
{
	int fd[LIMIT], n, err, st, go[2], done[2], more[2] = { -1, -1 };
	int full_r, after_r, i;
	char c = 0;
	pid_t pid;

	if (pipe(go) || pipe(done))
		tap_bail("pipe: %s", strerror(errno));
	n = make_n(fd, LIMIT - 2, &err);
	pid = fork();
	if (pid == 0) {
		int cfd[2], cn, cerr;

		cn = make_n(cfd, 2, &cerr);
		if (write(done[1], &c, 1) != 1 ||	/* holding 2 */
		    read(go[0], &c, 1) != 1)
			_exit(100);
		if (setresuid(NOBODY, NOBODY, NOBODY))
			_exit(101);
		close_n(cfd, cn);			/* as nobody */
		_exit(cn == 2 ? 0 : 1);
	}
	if (read(done[0], &c, 1) != 1)
		tap_bail("child died");
	full_r = make();
	if (full_r >= 0)
		close(full_r);
	if (write(go[1], &c, 1) != 1)
		tap_bail("write: %s", strerror(errno));
	st = wait_child(pid);
	after_r = 0;
	for (i = 0; i < 2; i++) {
		more[i] = make();
		if (more[i] < 0)
			after_r = more[i];
	}
	tap_ok(n == LIMIT - 2 && st == 0 && full_r == -EMFILE && after_r == 0,
	       "instances a child of root created count for root even when "
	       "the child closes them as user %d: EMFILE while it held them "
	       "(%d), two more CREATEs after (%d), child status %d", NOBODY,
	       full_r, after_r, st);
	for (i = 0; i < 2; i++)
		if (more[i] >= 0)
			close(more[i]);
	close_n(fd, n);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	tap_ok(ku_counts_wait(base), "counters back to base");
}

/*
 * The ids of a user namespace share the limit of the user who made it:
 * user OWNER makes a namespace, root maps 8 ids into it, and the
 * namespace's root takes each id in turn (keeping 0 as its saved uid)
 * and creates one instance as it.  Without the owner's charge each id
 * would have a count of its own and all 8 would succeed.
 */
#define OWNER	4242
#define NS_IDS	8

static int ns_child(int ready, int mapped, int self)
{
	int fd[NS_IDS], made = 0, err = 0, i;
	char c = 0;

	if (setresgid(OWNER, OWNER, OWNER) || setresuid(OWNER, OWNER, OWNER))
		return 100;
	if (unshare(CLONE_NEWUSER))
		return 77;
	if (write(ready, &c, 1) != 1 || read(mapped, &c, 1) != 1 || c != 1)
		return 101;
	if (setresgid(0, 0, 0) || setresuid(0, 0, 0))
		return 102;
	for (i = 0; i < NS_IDS; i++) {
		if (setresuid(self ? 0 : i, self ? 0 : i, 0))
			return 103;
		fd[made] = make();
		if (fd[made] >= 0)
			made++;
		else if (!err)
			err = fd[made];
		if (setresuid(0, 0, 0))
			return 104;
	}
	close_n(fd, made);
	return made == LIMIT && err == -EMFILE ? 0 : 1 + made;
}

/* @self: the namespace maps only OWNER itself, as its uid 0. */
static void test_userns(int self)
{
	int ready[2], mapped[2], st;
	char path[64], c = 0;
	pid_t pid;

	if (pipe(ready) || pipe(mapped))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0)
		_exit(ns_child(ready[1], mapped[0], self));
	close(ready[1]);
	close(mapped[0]);
	if (read(ready[0], &c, 1) == 1) {
		const char *map = self ? "0 4242 1\n" : "0 300000 8\n";

		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		c = ku_write_file(path, map) == 0;
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		c = c && ku_write_file(path, map) == 0;
		if (write(mapped[1], &c, 1) != 1)
			tap_bail("write: %s", strerror(errno));
	}
	close(ready[0]);
	close(mapped[1]);
	st = wait_child(pid);
	if (st == 77) {
		tap_skip("no user namespace for an unprivileged user here",
			 "the ids of a user namespace share its owner's limit");
	} else if (self) {
		tap_ok(st == 0, "user %d as root of its own namespace (itself "
		       "twice: uid and owner) is counted once: %d of %d "
		       "CREATEs succeed, then EMFILE (child status %d)", OWNER,
		       LIMIT, NS_IDS, st);
	} else {
		tap_ok(st == 0, "%d ids of a namespace user %d made each create "
		       "once: %d succeed, then EMFILE (child status %d)",
		       NS_IDS, OWNER, LIMIT, st);
	}
	tap_ok(ku_counts_wait(base), "counters back to base");
}

static void test_zero(void)
{
	int r;

	if (param_write(0))
		tap_bail("cannot write " PARAM);
	r = make();
	tap_ok(r == -EMFILE && ku_counts_eq(ku_counts(), base),
	       "limit 0: CREATE fails with EMFILE (%d), nothing created", r);
	if (r >= 0)
		close(r);
	if (param_write(LIMIT))
		tap_bail("cannot write " PARAM);
	r = make();
	tap_ok(r >= 0, "limit back at %d: CREATE succeeds (%d)", LIMIT, r);
	if (r >= 0)
		close(r);
}

int main(void)
{
	long old;

	ku_require_module();
	tap_plan(18);
	base = ku_counts();
	old = param_read();
	if (old < 0)
		tap_bail("cannot read " PARAM);
	tap_diag("max_user_instances was %ld; %d for the test", old, LIMIT);
	if (param_write(LIMIT))
		tap_bail("cannot write " PARAM);
	test_one_user();
	test_held();
	test_other_user();
	test_charged_uid();
	test_userns(0);
	test_userns(1);
	test_zero();
	if (param_write(old))
		tap_bail("cannot put back " PARAM);
	tap_ok(ku_counts_wait(base) && param_read() == old,
	       "the old limit (%ld) is back and so are the counters", old);
	return tap_done();
}
