// SPDX-License-Identifier: MIT
/*
 * test_tier0_change - the shared page after each change of a fact.
 *
 * For every change the issue lists, the page (read directly) and the
 * accessors are compared with the real system calls of every thread:
 *
 *  - set*id through glibc (every thread changes): IDS set and exact at
 *    once;
 *  - set*id as a raw syscall on one thread while others exist: the
 *    threads disagree, IDS must be clear and each thread's accessors give
 *    that thread's ids; once they agree again IDS is set at once;
 *  - personality (uname(2) answers i686 under PER_LINUX32), per thread;
 *  - setrlimit/prlimit on itself: NOFILE set and exact at once; prlimit
 *    from another process: never wrong, back after KSVC_IOC_REFRESH;
 *  - sethostname/setdomainname by the process (set at once) and by
 *    another process of the same UTS namespace (never wrong, back after
 *    REFRESH), /proc/sys/kernel/hostname, unshare(CLONE_NEWUTS) and then
 *    sethostname;
 *  - reparenting to a subreaper and to the init of a pid namespace, with
 *    a reader checking the page and the accessors all along, and four
 *    more threads checking the page against their own getppid().
 *
 * Host names are only changed inside private UTS namespaces.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>

#include "test_tier0.h"

#define ALL KSVC_FRESH_ALL

static struct t0_inst inst;
static struct t0_worker w1, w2;

/* Report the bits of a child's exit status as tests. */
static void child_results(pid_t pid, int n, const char *const names[])
{
	int st = t0_wait(pid), i;

	if (st < 0 || st >= 128)
		tap_diag("child %d ended with status %d", (int)pid, st);
	for (i = 0; i < n; i++)
		tap_ok(st >= 0 && st < 128 && !(st & (1 << i)), "%s",
		       names[i]);
}

/* ------------------------------------------------------------------ */
/* Checks on every thread                                              */
/* ------------------------------------------------------------------ */

static unsigned check_must;

static long check_here(void *arg)
{
	const char *what = arg;

	return t0_page_ok(inst.p, check_must, what) &&
	       t0_page_ok(t0_lib_page(), check_must, what) &&
	       t0_acc_ok(what);
}

/* Every thread: fresh groups exact, @must set, accessors right. */
static int check_all(unsigned must, const char *what)
{
	int ok;

	check_must = must;
	ok = check_here((void *)what);
	ok &= (int)t0_worker_run(&w1, check_here, (void *)what);
	ok &= (int)t0_worker_run(&w2, check_here, (void *)what);
	return ok;
}

/* IDS clear on both pages. */
static int ids_clear(const char *what)
{
	struct t0_page_snap a, b;

	t0_read_page(inst.p, &a);
	t0_read_page(t0_lib_page(), &b);
	if ((a.fresh | b.fresh) & KSVC_FRESH_IDS)
		tap_diag("%s: IDS set while the threads disagree (fresh %#x, "
			 "library %#x)", what, a.fresh, b.fresh);
	return !((a.fresh | b.fresh) & KSVC_FRESH_IDS);
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */
/* ------------------------------------------------------------------ */

static void test_glibc_ids(void)
{
	int ok;

	ok = setgid(100) == 0 && syscall(SYS_getegid) == 100 &&
	     check_all(ALL, "setgid(100)");
	ok &= setgid(0) == 0 && check_all(ALL, "setgid(0)");
	tap_ok(ok, "glibc setgid on every thread: IDS set and exact at once");

	ok = setregid(200, 300) == 0 && syscall(SYS_getgid) == 200 &&
	     check_all(ALL, "setregid(200, 300)");
	ok &= setregid(0, 0) == 0 && check_all(ALL, "setregid(0, 0)");
	tap_ok(ok, "glibc setregid: IDS set and exact at once");

	ok = setresgid(1, 2, 3) == 0 && syscall(SYS_getegid) == 2 &&
	     check_all(ALL, "setresgid(1, 2, 3)");
	ok &= setresgid(0, 0, 0) == 0 && check_all(ALL, "setresgid(0, 0, 0)");
	tap_ok(ok, "glibc setresgid: IDS set and exact at once");

	ok = setreuid((uid_t)-1, 1000) == 0 && syscall(SYS_geteuid) == 1000 &&
	     check_all(ALL, "setreuid(-1, 1000)");
	ok &= setreuid((uid_t)-1, 0) == 0 && check_all(ALL, "setreuid(-1, 0)");
	tap_ok(ok, "glibc setreuid: IDS set and exact at once");

	ok = setresuid(0, 2000, 0) == 0 && syscall(SYS_geteuid) == 2000 &&
	     check_all(ALL, "setresuid(0, 2000, 0)");
	ok &= setresuid(0, 0, 0) == 0 && check_all(ALL, "setresuid(0, 0, 0)");
	tap_ok(ok, "glibc setresuid: IDS set and exact at once");
}

/* setuid() as root cannot be undone: in a child with threads. */
static void test_glibc_setuid(void)
{
	static const char *const names[] = {
		"glibc setuid(3000) with threads: IDS set and exact at once",
	};
	pid_t pid = fork();

	if (pid == 0) {
		int ok;

		/* fork() kept neither the workers nor the mapping. */
		t0_inst_must(&inst, 1);
		t0_worker_start(&w1);
		t0_worker_start(&w2);
		ok = setuid(3000) == 0 && syscall(SYS_getuid) == 3000 &&
		     check_all(ALL, "setuid(3000)");
		_exit(ok ? 0 : 1);
	}
	child_results(pid, 1, names);
}

struct raw_call {
	const char *name;
	long nr;
	long set[3], back[3];
};

static long raw_do(void *arg)
{
	const long *a = arg;

	return syscall(a[0], a[1], a[2], a[3]);
}

static void test_raw_ids(void)
{
	static const struct raw_call calls[] = {
		{ "setresuid", SYS_setresuid, { 0, 1000, 0 }, { 0, 0, 0 } },
		{ "setreuid", SYS_setreuid, { -1, 1001, 0 }, { -1, 0, 0 } },
		{ "setresgid", SYS_setresgid, { 5, 6, 7 }, { 0, 0, 0 } },
		{ "setregid", SYS_setregid, { 8, 9, 0 }, { 0, 0, 0 } },
		{ "setgid", SYS_setgid, { 10, 0, 0 }, { 0, 0, 0 } },
	};
	size_t i;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct raw_call *c = &calls[i];
		long set[4] = { c->nr, c->set[0], c->set[1], c->set[2] };
		long back[4] = { c->nr, c->back[0], c->back[1], c->back[2] };
		int ok;

		ok = t0_worker_run(&w1, raw_do, set) == 0;
		ok = ok && ids_clear(c->name) && check_all(0, c->name);
		tap_ok(ok, "raw %s on one thread: IDS clear, every thread's "
		       "accessors give its own ids", c->name);
		ok = t0_worker_run(&w1, raw_do, back) == 0 &&
		     check_all(ALL, c->name);
		tap_ok(ok, "raw %s back: the threads agree, IDS set and exact "
		       "at once", c->name);
	}
}

/* Raw setuid on one thread cannot be undone: that thread then exits. */
static void test_raw_setuid(void)
{
	long set[4] = { SYS_setuid, 1002, 0, 0 };
	int ok;

	ok = t0_worker_run(&w1, raw_do, set) == 0;
	ok = ok && ids_clear("raw setuid") && check_all(0, "raw setuid");
	tap_ok(ok, "raw setuid(1002) on one thread: IDS clear, every thread "
	       "right");
	t0_worker_stop(&w1);
	t0_worker_start(&w1);
	ok = t0_inst_refresh(&inst) == 0 && ksvc__t0_refresh() == 0 &&
	     check_all(ALL, "after the setuid thread exited");
	tap_ok(ok, "that thread gone: REFRESH sets IDS again, exact");
}

static long pers_do(void *arg)
{
	return personality((unsigned long)arg);
}

static void test_personality(void)
{
	struct utsname u;
	int ok;

	ok = personality(PER_LINUX32) != -1;
	ok = ok && syscall(SYS_uname, &u) == 0 && strcmp(u.machine, "i686") == 0;
	if (!ok)
		tap_diag("PER_LINUX32: uname machine %s", u.machine);
	ok = ok && check_all(0, "PER_LINUX32 on one thread");
	tap_ok(ok, "personality(PER_LINUX32) on one thread: uname never wrong "
	       "on any thread");
	personality(PER_LINUX);
	ok = t0_worker_run(&w1, pers_do, (void *)(long)PER_LINUX32) != -1 &&
	     t0_worker_run(&w2, pers_do, (void *)(long)PER_LINUX32) != -1 &&
	     personality(PER_LINUX32) != -1 &&
	     check_all(0, "PER_LINUX32 everywhere");
	tap_ok(ok, "PER_LINUX32 on every thread: never wrong");
	ok = t0_worker_run(&w1, pers_do, (void *)(long)PER_LINUX) != -1 &&
	     t0_worker_run(&w2, pers_do, (void *)(long)PER_LINUX) != -1 &&
	     personality(PER_LINUX) != -1 && check_all(ALL, "PER_LINUX back");
	tap_ok(ok, "PER_LINUX back on every thread: UTS set and exact at once");
}

/* ------------------------------------------------------------------ */
/* RLIMIT_NOFILE                                                       */
/* ------------------------------------------------------------------ */

static void test_rlimit(void)
{
	static const char *const names[] = {
		"another process lowered our RLIMIT_NOFILE with prlimit",
	};
	struct rlimit old, nl;
	int ok;
	pid_t pid, me = (pid_t)syscall(SYS_getpid);

	getrlimit(RLIMIT_NOFILE, &old);
	nl = old;
	nl.rlim_cur = old.rlim_cur - 1;
	ok = setrlimit(RLIMIT_NOFILE, &nl) == 0 &&
	     check_all(ALL, "setrlimit");
	tap_ok(ok, "setrlimit(RLIMIT_NOFILE): NOFILE set and exact at once");

	nl.rlim_cur = old.rlim_cur - 2;
	nl.rlim_max = old.rlim_max - 1;
	ok = prlimit(0, RLIMIT_NOFILE, &nl, NULL) == 0 &&
	     check_all(ALL, "prlimit(0)");
	nl.rlim_cur = old.rlim_cur - 3;
	ok &= prlimit(me, RLIMIT_NOFILE, &nl, NULL) == 0 &&
	      check_all(ALL, "prlimit(self)");
	tap_ok(ok, "prlimit(0 and own pid, RLIMIT_NOFILE), hard limit too: "
	       "set and exact at once");
	ok = prlimit(0, RLIMIT_NOFILE, &old, NULL) == 0 &&
	     check_all(ALL, "prlimit back");
	tap_ok(ok, "raising it back: set and exact at once");

	/* From outside. */
	pid = fork();
	if (pid == 0) {
		struct rlimit o = { old.rlim_cur - 5, old.rlim_max - 2 };

		_exit(prlimit(me, RLIMIT_NOFILE, &o, NULL) == 0 ? 0 : 1);
	}
	child_results(pid, 1, names);
	tap_ok(syscall(SYS_getpid) == me &&
	       check_all(0, "after prlimit from outside"),
	       "prlimit from another process: the page is never wrong, the "
	       "accessors right on every thread");
	ok = t0_inst_refresh(&inst) == 0 && ksvc__t0_refresh() == 0 &&
	     check_all(ALL, "REFRESH after prlimit from outside");
	{
		struct rlimit now;

		getrlimit(RLIMIT_NOFILE, &now);
		ok = ok && now.rlim_cur == old.rlim_cur - 5 &&
		     inst.p->rlimit_nofile == old.rlim_cur - 5;
	}
	tap_ok(ok, "REFRESH brings NOFILE back with the new limit");

	/*
	 * Again from outside; KSVC_IOC_NOTIFY brings it back too.  The page
	 * is read before any getrlimit() of ours: that is a prlimit64()
	 * whose return hook refreshes a cleared NOFILE by itself.
	 */
	pid = fork();
	if (pid == 0) {
		struct rlimit o = { old.rlim_cur - 6, old.rlim_max - 2 };

		_exit(prlimit(me, RLIMIT_NOFILE, &o, NULL) == 0 ? 0 : 1);
	}
	{
		struct t0_page_snap before, after;
		int st = t0_wait(pid), r, bad;
		struct ksvc_info ki;

		/*
		 * Refused for its argument: changes nothing; nor does INFO,
		 * which succeeds.
		 */
		bad = ioctl(inst.fd, KSVC_IOC_REFRESH, 1) < 0 &&
		      errno == EINVAL &&
		      ioctl(inst.fd, KSVC_IOC_NOTIFY, 1) < 0 && errno == EINVAL &&
		      ioctl(inst.fd, KSVC_IOC_INFO, &ki) == 0;
		t0_read_page(inst.p, &before);
		r = ioctl(inst.fd, KSVC_IOC_NOTIFY, 0);	/* no eventfd: ENOENT */
		t0_read_page(inst.p, &after);
		ok = st == 0 && bad && !(before.fresh & KSVC_FRESH_NOFILE) &&
		     r < 0 && errno == ENOENT &&
		     (after.fresh & KSVC_FRESH_NOFILE) &&
		     after.f.nofile == old.rlim_cur - 6 &&
		     after.f.nofile_max == old.rlim_max - 2;
		if (!ok)
			tap_diag("child %d, argument refused %d, fresh %#x "
				 "then %#x, NOTIFY %d (%s), nofile %llu/%llu",
				 st, bad, before.fresh, after.fresh, r,
				 strerror(errno),
				 after.f.nofile, after.f.nofile_max);
	}
	tap_ok(ok, "KSVC_IOC_NOTIFY brings NOFILE back too (also without an "
	       "eventfd, where it fails with ENOENT); REFRESH or NOTIFY with "
	       "a non-zero argument does not (EINVAL), nor does INFO");
	prlimit(0, RLIMIT_NOFILE, &old, NULL);
}

/* ------------------------------------------------------------------ */
/* Host name                                                           */
/* ------------------------------------------------------------------ */

static int sub_check(const struct t0_inst *in, unsigned must, const char *what)
{
	return t0_page_ok(in->p, must, what) && t0_acc_ok(what);
}

/* In a private UTS namespace: changes by itself and by a sibling. */
static int uts_child(void)
{
	struct t0_inst in;
	struct utsname u;
	int bad = 0, fd;
	pid_t h;

	if (unshare(CLONE_NEWUTS) != 0)
		return 127;
	t0_inst_must(&in, 1);
	t0_lib_page();
	if (sethostname("own-name", 8) != 0 ||
	    !sub_check(&in, ALL, "own sethostname") ||
	    strcmp(in.p->utsname_nodename, "own-name"))
		bad |= 1;
	if (setdomainname("own-domain", 10) != 0 ||
	    !sub_check(&in, ALL, "own setdomainname") ||
	    strcmp(in.p->utsname_domainname, "own-domain"))
		bad |= 2;

	h = fork();		/* shares the namespace */
	if (h == 0)
		_exit(sethostname("other-process-name", 18) ? 1 : 0);
	if (t0_wait(h) != 0)
		return 126;
	if (!sub_check(&in, 0, "sethostname from outside"))
		bad |= 4;
	if (t0_inst_refresh(&in) != 0 ||
	    !sub_check(&in, ALL, "REFRESH after sethostname from outside") ||
	    strcmp(in.p->utsname_nodename, "other-process-name"))
		bad |= 8;

	h = fork();
	if (h == 0)
		_exit(setdomainname("other-domain", 12) ? 1 : 0);
	if (t0_wait(h) != 0)
		return 126;
	if (!sub_check(&in, 0, "setdomainname from outside") ||
	    t0_inst_refresh(&in) != 0 ||
	    !sub_check(&in, ALL, "REFRESH after setdomainname from outside") ||
	    strcmp(in.p->utsname_domainname, "other-domain"))
		bad |= 16;

	h = fork();
	if (h == 0) {
		fd = open("/proc/sys/kernel/hostname", O_WRONLY);
		_exit(fd >= 0 && write(fd, "proc-name", 9) == 9 ? 0 : 1);
	}
	if (t0_wait(h) != 0)
		return 126;
	if (!sub_check(&in, 0, "/proc/sys/kernel/hostname from outside") ||
	    t0_inst_refresh(&in) != 0 ||
	    !sub_check(&in, ALL, "REFRESH after /proc hostname") ||
	    strcmp(in.p->utsname_nodename, "proc-name"))
		bad |= 32;
	if (ksvc__t0_refresh() != 0 || ksvc_uname(&u) != 0 ||
	    strcmp(u.nodename, "proc-name") ||
	    !t0_page_ok(t0_lib_page(), ALL, "library after the changes"))
		bad |= 64;
	return bad;
}

/* unshare(CLONE_NEWUTS) then sethostname; the old namespace changes. */
static int uts_unshare_child(void)
{
	int to_old[2], from_old[2];
	struct t0_inst in;
	int bad = 0;
	pid_t old;

	if (unshare(CLONE_NEWUTS) != 0 || sethostname("ns-one", 6) != 0)
		return 127;
	if (pipe(to_old) || pipe(from_old))
		return 127;
	old = fork();		/* stays in namespace one */
	if (old == 0) {
		t0_waitfor(to_old[0]);
		_exit(sethostname("ns-one-again", 12) ? 1 : 0);
	}
	t0_inst_must(&in, 1);
	if (unshare(CLONE_NEWUTS) != 0 ||
	    !sub_check(&in, ALL, "unshare(CLONE_NEWUTS)"))
		bad |= 1;
	if (sethostname("ns-two", 6) != 0 ||
	    !sub_check(&in, ALL, "sethostname after unshare") ||
	    strcmp(in.p->utsname_nodename, "ns-two"))
		bad |= 2;
	t0_post(to_old[1]);
	if (t0_wait(old) != 0)
		return 126;
	if (!sub_check(&in, ALL, "old namespace renamed") ||
	    strcmp(in.p->utsname_nodename, "ns-two"))
		bad |= 4;
	return bad;
}

static void test_uts(void)
{
	static const char *const names[] = {
		"own sethostname: UTS set and exact at once",
		"own setdomainname: UTS set and exact at once",
		"sethostname by another process of the namespace: never wrong",
		"... REFRESH brings UTS back with its name",
		"setdomainname by another process: never wrong, back on REFRESH",
		"/proc/sys/kernel/hostname by another process: same",
		"the library's accessors follow",
	};
	static const char *const unames[] = {
		"unshare(CLONE_NEWUTS): UTS set and exact at once",
		"then sethostname: UTS set and exact at once",
		"a rename of the namespace it left does not touch it",
	};
	pid_t pid = fork();

	if (pid == 0)
		_exit(uts_child());
	child_results(pid, 7, names);
	pid = fork();
	if (pid == 0)
		_exit(uts_unshare_child());
	child_results(pid, 3, unames);
}

/* ------------------------------------------------------------------ */
/* Reparenting                                                         */
/* ------------------------------------------------------------------ */

/*
 * Threads of B that watch beside it: reparenting sets each thread's
 * parent in turn, so a page value must also agree with the getppid() of
 * every thread, not only the first one's.
 */
#define RP_WATCHERS	4

struct rp_watch {
	const struct ksvc_shared_page *p;
	int stop;
	int bad;
};

static void *rp_watcher(void *arg)
{
	struct rp_watch *w = arg;
	struct t0_page_snap s;
	long pre, post;

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		pre = syscall(SYS_getppid);
		t0_read_page(w->p, &s);
		post = syscall(SYS_getppid);
		if ((s.fresh & KSVC_FRESH_PPID) && s.f.ppid != pre &&
		    s.f.ppid != post)
			__atomic_or_fetch(&w->bad, 2, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * B: watches its page and accessors while its parent A exits, until
 * well after the new parent shows, with RP_WATCHERS threads doing the
 * same.  A page value (or accessor answer) must equal the reading
 * thread's getppid() before or after the read: never a stale parent.
 */
static int reparent_watch(long old_parent, long new_parent, int ready_fd)
{
	struct t0_inst in;
	struct t0_page_snap s;
	struct rp_watch rw = { NULL, 0, 0 };
	pthread_t th[RP_WATCHERS];
	long pre, post, acc, after = 0, spins = 0;
	int bad = 0, i, nth = 0;

	t0_inst_must(&in, 1);
	rw.p = in.p;
	for (i = 0; i < RP_WATCHERS; i++)
		if (pthread_create(&th[nth], NULL, rp_watcher, &rw) == 0)
			nth++;
	if (nth != RP_WATCHERS)
		bad |= 1;
	if (!t0_page_ok(in.p, ALL, "before reparenting") ||
	    in.p->ppid != old_parent ||
	    !t0_page_ok(t0_lib_page(), ALL, "library before") ||
	    ksvc_getppid() != old_parent)
		bad |= 1;
	t0_post(ready_fd);
	while (after < 20000 && spins++ < 200000000L) {
		pre = syscall(SYS_getppid);
		t0_read_page(in.p, &s);
		acc = ksvc_getppid();
		post = syscall(SYS_getppid);
		if ((s.fresh & KSVC_FRESH_PPID) && s.f.ppid != pre &&
		    s.f.ppid != post)
			bad |= 2;
		if (acc != pre && acc != post)
			bad |= 2;
		if ((spins & 1023) == 0)
			t0_inst_refresh(&in);	/* race the exit, too */
		if (post == new_parent)
			after++;
	}
	__atomic_store_n(&rw.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	bad |= __atomic_load_n(&rw.bad, __ATOMIC_RELAXED);
	if (syscall(SYS_getppid) != new_parent)
		return 127;
	if (!t0_page_ok(in.p, 0, "after reparenting"))
		bad |= 4;
	if (t0_inst_refresh(&in) != 0 ||
	    !t0_page_ok(in.p, ALL, "REFRESH after reparenting") ||
	    in.p->ppid != new_parent)
		bad |= 8;
	if (ksvc_getppid() != new_parent || !t0_acc_ok("after reparenting"))
		bad |= 16;
	return bad;
}

/* A: starts B, waits until B watches, exits. */
static void reparent_middle(long new_parent)
{
	int p[2];
	pid_t b;
	long a = syscall(SYS_getpid);

	if (pipe(p))
		_exit(1);
	b = fork();
	if (b == 0)
		_exit(reparent_watch(a, new_parent, p[1]));
	t0_waitfor(p[0]);
	usleep(20000);
	_exit(0);
}

static const char *const rp_names[] = {
	"before: PPID set, the parent's pid",
	"while the parent exits: no stale ppid from page or accessor",
	"after: never wrong",
	"REFRESH: PPID set, the new parent's pid",
	"accessors give the new parent",
};

static void test_reparent_subreaper(void)
{
	char names[5][128];
	const char *n[5];
	long me = syscall(SYS_getpid);
	pid_t a, b;
	int i, st;

	a = fork();
	if (a == 0)
		reparent_middle(me);
	t0_wait(a);
	/* B is ours now: wait for it. */
	b = waitpid(-1, &st, 0);
	for (i = 0; i < 5; i++) {
		snprintf(names[i], sizeof(names[i]), "reparent to a subreaper: %s",
			 rp_names[i]);
		n[i] = names[i];
	}
	for (i = 0; i < 5; i++)
		tap_ok(b > 0 && WIFEXITED(st) && WEXITSTATUS(st) < 128 &&
		       !(WEXITSTATUS(st) & (1 << i)), "%s", n[i]);
}

static int pidns_reaper(void)
{
	pid_t a;
	int st;

	a = fork();
	if (a == 0)
		reparent_middle(1);
	t0_wait(a);
	if (waitpid(-1, &st, 0) < 0 || !WIFEXITED(st))
		return 127;
	return WEXITSTATUS(st);
}

static void test_reparent_init(void)
{
	char names[5][128];
	const char *n[5];
	int i;
	pid_t pid = t0_fork_pidns_init(pidns_reaper, 127);

	for (i = 0; i < 5; i++) {
		snprintf(names[i], sizeof(names[i]),
			 "reparent to a pid namespace's init: %s", rp_names[i]);
		n[i] = names[i];
	}
	child_results(pid, 5, n);
}

int main(void)
{
	t0_need_module();
	tap_plan(5 + 1 + 10 + 2 + 3 + 3 + 1 + 1 + 1 + 1 + 7 + 3 + 5 + 5);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		tap_bail("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
	t0_inst_must(&inst, 1);
	t0_lib_page();
	t0_worker_start(&w1);
	t0_worker_start(&w2);
	if (!check_all(ALL, "start"))
		tap_diag("not all bits set at the start");

	test_glibc_ids();		/* 5 */
	test_glibc_setuid();		/* 1 */
	test_raw_ids();			/* 10 */
	test_raw_setuid();		/* 2 */
	test_personality();		/* 3 */
	test_rlimit();			/* 3 + 1 + 1 + 1 + 1 */
	test_uts();			/* 7 + 3 */
	test_reparent_subreaper();	/* 5 */
	test_reparent_init();		/* 5 */

	t0_worker_stop(&w1);
	t0_worker_stop(&w2);
	t0_inst_close(&inst);
	tap_done();
}
