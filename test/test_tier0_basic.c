// SPDX-License-Identifier: MIT
/*
 * test_tier0_basic - the shared page in steady state, and the process
 * shapes around it: threads, CREATE on a non-main thread, fork, _Fork,
 * raw clone, vfork, a CLONE_VM child (and a thread of one that outlives
 * it; and more of them at once than the module keeps records of), execve, a new pid namespace, a
 * user namespace with a uid map (and, before the map, the overflow ids
 * changed by sysctl), a new UTS namespace.
 *
 * Each check compares the page (read directly, under its sequence count)
 * and the libksvc accessors with the real system calls of the calling
 * thread, and checks the fresh bits the issue demands: on Debian's 6.12
 * every bit is set in steady state and after each change the process
 * makes itself (but IDS while its ids have no mapping in its user
 * namespace).  Runs as root in the VM with the module.
 */
#include <sched.h>
#include <sys/stat.h>

#include "test_tier0.h"
#include "util.h"

#define ALL KSVC_FRESH_ALL

static const char *self_exe = "/proc/self/exe";

/* Report the bits of a child's exit status as tests. */
static void child_results(pid_t pid, int n, const char *const names[])
{
	int st = t0_wait(pid), i;

	if (st < 0 || st >= 128)
		tap_diag("child %d ended with status %d (signal %d?)", (int)pid,
			 st, st >= 128 ? st - 128 : 0);
	for (i = 0; i < n; i++)
		tap_ok(st >= 0 && st < 128 && !(st & (1 << i)), "%s",
		       names[i]);
}

/* ------------------------------------------------------------------ */

static struct t0_inst main_inst;

int t0_refresh_ok(void);

static void test_steady(void)
{
	const struct ksvc_shared_page *lp;

	tap_ok(t0_page_ok(main_inst.p, ALL, "steady"),
	       "steady state: every bit set, every value exact");
	tap_ok(main_inst.p->magic == KSVC_SHARED_MAGIC &&
	       main_inst.p->version == KSVC_SHARED_VERSION,
	       "page magic and version");
	lp = t0_lib_page();
	tap_ok(lp != NULL, "the library opened its own instance");
	tap_ok(lp && t0_page_ok(lp, ALL, "library page"),
	       "library page: every bit set, every value exact");
	tap_ok(t0_acc_ok("main thread"), "accessors equal the syscalls");
	tap_ok(t0_refresh_ok(), "KSVC_IOC_REFRESH on the library instance");
}

/* From a non-main thread. */
static long thread_check(void *arg)
{
	(void)arg;
	return t0_page_ok(main_inst.p, ALL, "other thread") &&
	       t0_page_ok(t0_lib_page(), ALL, "other thread, library") &&
	       t0_acc_ok("other thread");
}

/* CREATE on a non-main thread. */
static long thread_create(void *arg)
{
	struct t0_inst *in = arg;

	if (t0_inst_open(in, 1) != 0)
		return 0;
	return t0_page_ok(in->p, ALL, "created on a thread") &&
	       in->p->pid == (long)syscall(SYS_getpid) &&
	       in->p->pid != (long)syscall(SYS_gettid);
}

static long thread_first_use(void *arg)
{
	(void)arg;
	return ksvc_getpid() == syscall(SYS_getpid) &&
	       t0_page_ok(t0_lib_page(), ALL, "library opened on a thread");
}

static void test_threads(void)
{
	struct t0_worker w;
	struct t0_inst in;

	t0_worker_start(&w);
	tap_ok(t0_worker_run(&w, thread_check, NULL),
	       "from a non-main thread: pages and accessors exact, all bits");
	tap_ok(t0_worker_run(&w, thread_create, &in),
	       "CREATE on a non-main thread: pid is the process's, all bits");
	tap_ok(in.p && t0_page_ok(in.p, ALL, "main reads thread's instance"),
	       "that instance read from the main thread: exact, all bits");
	t0_inst_close(&in);
	ksvc__t0_test_reset();
	tap_ok(t0_worker_run(&w, thread_first_use, NULL),
	       "library instance opened first on a non-main thread: exact");
	t0_worker_stop(&w);
}

/* ------------------------------------------------------------------ */
/* fork and friends                                                    */
/* ------------------------------------------------------------------ */

static int parent_lib_fd;

static int fork_child_checks(void)
{
	int bad = 0;
	struct stat a, b;
	struct ksvc__t0_info info;

	if (t0_maps_ksvc() != 0)
		bad |= 1;		/* inherited a mapping */
	if (mmap(NULL, KSVC_PAGE_SIZE, PROT_READ, MAP_SHARED, main_inst.fd,
		 (off_t)KSVC_OFF_SHARED_PAGE) != MAP_FAILED || errno != EACCES)
		bad |= 2;		/* could map the parent's instance */
	if (ioctl(main_inst.fd, KSVC_IOC_REFRESH, 0) == 0 || errno != EACCES)
		bad |= 2;
	if (!t0_acc_ok("child") || ksvc_getpid() != syscall(SYS_getpid))
		bad |= 4;
	ksvc__t0_info(&info);
	if (info.state != KSVC__T0_READY || !info.page ||
	    !t0_page_ok(info.page, ALL, "child's own library page") ||
	    t0_maps_ksvc() != 1)
		bad |= 8;		/* no own instance */
	/* The parent's library descriptor is closed (or is ours now). */
	if (fstat(parent_lib_fd, &a) == 0 &&
	    (parent_lib_fd != info.fd || fstat(info.fd, &b) != 0))
		bad |= 16;
	return bad;
}

static void test_fork(void)
{
	static const char *const names[] = {
		"fork child: no KSVC mapping inherited",
		("fork child: the parent's instance cannot be mapped or "
		 "refreshed (EACCES)"),
		"fork child: accessors give the child's values",
		"fork child: own library instance, exact, all bits",
		"fork child: the parent's library descriptor was closed",
	};
	static const char *const fnames[] = {
		"_Fork child: no KSVC mapping inherited",
		"_Fork child: the parent's instance cannot be mapped (EACCES)",
		"_Fork child: accessors give the child's values",
		"_Fork child: own library instance, exact, all bits",
		"_Fork child: the parent's library descriptor was closed",
	};
	static const char *const cnames[] = {
		"raw clone child: no KSVC mapping inherited",
		"raw clone child: the parent's instance cannot be mapped",
		"raw clone child: accessors give the child's values",
		"raw clone child: own library instance, exact, all bits",
		"raw clone child: the parent's library descriptor was closed",
	};
	struct ksvc__t0_info info;
	pid_t pid;

	t0_lib_page();
	ksvc__t0_info(&info);
	parent_lib_fd = info.fd;

	pid = fork();
	if (pid == 0)
		_exit(fork_child_checks());
	child_results(pid, 5, names);

	pid = _Fork();
	if (pid == 0)
		_exit(fork_child_checks());
	child_results(pid, 5, fnames);

	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		syscall(SYS_exit_group, fork_child_checks());
	child_results(pid, 5, cnames);

	tap_ok(t0_page_ok(main_inst.p, ALL, "parent after forks") &&
	       t0_page_ok(t0_lib_page(), ALL, "parent library after forks"),
	       "parent after the forks: exact, all bits");
}

static int refresh_and_check(const char *what)
{
	return t0_inst_refresh(&main_inst) == 0 &&
	       t0_page_ok(main_inst.p, ALL, what);
}

/* The library gets its bits back by itself (time gate), within 1 s. */
static int lib_recovers(void)
{
	int i;

	for (i = 0; i < 1000; i++) {
		struct t0_page_snap s;

		(void)ksvc_getpid();
		t0_read_page(t0_lib_page(), &s);
		if (s.fresh == ALL)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void test_vfork(void)
{
	unsigned char before[256], after[256];
	size_t nb, na;
	volatile long c_pid = 0, c_acc = 0, c_ppid = 0;
	volatile int c_ok = 0;
	pid_t pid;

	t0_lib_page();
	nb = ksvc__t0_state_copy(before, sizeof(before));
	pid = vfork();
	if (pid == 0) {
		c_pid = syscall(SYS_getpid);
		c_acc = ksvc_getpid();
		c_ppid = ksvc_getppid();
		c_ok = t0_acc_ok("vfork child");
		_exit(0);
	}
	t0_wait(pid);
	na = ksvc__t0_state_copy(after, sizeof(after));
	tap_ok(c_acc == c_pid && c_pid == pid && c_ppid == syscall(SYS_getpid),
	       "vfork child: ksvc_getpid is the child's pid (%ld/%ld), "
	       "ksvc_getppid the parent's", (long)c_acc, (long)c_pid);
	tap_ok(c_ok, "vfork child: every accessor equals its syscall");
	tap_ok(nb == na && memcmp(before, after, nb) == 0,
	       "vfork child wrote no library state");
	tap_ok(t0_page_ok(main_inst.p, 0, "after vfork") &&
	       refresh_and_check("after vfork, REFRESH"),
	       "after the vfork child: never wrong; REFRESH sets every bit");
	tap_ok(lib_recovers(), "the library's accessors bring their bits back "
	       "by themselves");

	/* A vfork child of a process whose library never opened. */
	ksvc__t0_test_reset();
	nb = ksvc__t0_state_copy(before, sizeof(before));
	pid = vfork();
	if (pid == 0) {
		c_pid = syscall(SYS_getpid);
		c_acc = ksvc_getpid();
		c_ok = t0_acc_ok("vfork child, library unopened");
		_exit(0);
	}
	t0_wait(pid);
	na = ksvc__t0_state_copy(after, sizeof(after));
	tap_ok(c_ok && c_acc == c_pid,
	       "vfork child of an unopened library: right values");
	tap_ok(nb == na && memcmp(before, after, nb) == 0 &&
	       t0_maps_ksvc() == 1,
	       "... and it opened nothing in its parent's memory");
}

/* clone(CLONE_VM) without CLONE_VFORK: both run at once. */
static volatile int cvm_go, cvm_ok;
static volatile long cvm_pid, cvm_acc;

static int cvm_child(void *arg)
{
	(void)arg;
	cvm_pid = syscall(SYS_getpid);
	cvm_acc = ksvc_getpid();
	cvm_ok = t0_acc_ok("CLONE_VM child");
	__atomic_store_n(&cvm_go, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&cvm_go, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	return 0;
}

static void test_clone_vm(void)
{
	size_t sz = 256 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct t0_page_snap s;
	pid_t pid;

	t0_lib_page();
	pid = clone(cvm_child, stack + sz, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		tap_bail("clone: %s", strerror(errno));
	while (__atomic_load_n(&cvm_go, __ATOMIC_ACQUIRE) != 1)
		usleep(1000);
	t0_read_page(main_inst.p, &s);
	tap_ok(s.fresh == 0, "while a CLONE_VM child shares the memory every "
	       "bit is clear (fresh %#x)", s.fresh);
	t0_inst_refresh(&main_inst);
	t0_read_page(main_inst.p, &s);
	tap_ok(s.fresh == 0, "... even after REFRESH (fresh %#x)", s.fresh);
	tap_ok(t0_acc_ok("parent beside a CLONE_VM child"),
	       "the parent's accessors are right meanwhile");
	tap_ok(cvm_ok && cvm_acc == cvm_pid && cvm_pid == pid,
	       "the CLONE_VM child's accessors give its own values");
	__atomic_store_n(&cvm_go, 2, __ATOMIC_RELEASE);
	t0_wait(pid);
	munmap(stack, sz);
	tap_ok(refresh_and_check("after the CLONE_VM child"),
	       "after it exited, REFRESH sets every bit again");
}

/*
 * A thread of a CLONE_VM child outlives the child's first thread: the
 * process that shares the owner's memory is still there, as that
 * thread, after its leader's exit dropped the address space.  The page
 * must stay clear for it (it would read the owner's pid as its own).
 */
static volatile int cvt_state, cvt_thread_ok;
static char *cvt_stack2;

static char cvt_proc_state(long tgid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", tgid, tgid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 'X';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 'X';
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

static int cvt_thread(void *arg)
{
	long tgid = syscall(SYS_getpid);
	char st = '?';
	int i;

	(void)arg;
	__atomic_store_n(&cvt_state, 1, __ATOMIC_RELEASE);
	/* The leader leaves: exit_mm() comes before it turns zombie. */
	for (i = 0; i < 5000; i++) {
		st = cvt_proc_state(tgid);
		if (st == 'Z' || st == 'X')
			break;
		usleep(1000);
	}
	cvt_thread_ok = (st == 'Z' || st == 'X') &&
		t0_page_ok(main_inst.p, 0, "thread of a CLONE_VM child, its "
			   "leader gone") &&
		t0_acc_ok("thread of a CLONE_VM child, its leader gone");
	__atomic_store_n(&cvt_state, 2, __ATOMIC_RELEASE);
	while (__atomic_load_n(&cvt_state, __ATOMIC_ACQUIRE) != 3)
		usleep(1000);
	syscall(SYS_exit, 0);
	return 0;
}

static int cvt_child(void *arg)
{
	(void)arg;
	if (clone(cvt_thread, cvt_stack2 + 256 * 1024,
		  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
		  CLONE_THREAD | CLONE_SYSVSEM, NULL) < 0)
		syscall(SYS_exit, 1);
	while (__atomic_load_n(&cvt_state, __ATOMIC_ACQUIRE) != 1)
		usleep(1000);
	syscall(SYS_exit, 0);	/* this thread only */
	return 0;
}

static void test_clone_vm_thread(void)
{
	size_t sz = 256 * 1024;
	char *stack = mmap(NULL, 2 * sz, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct t0_page_snap s;
	pid_t pid;
	int i;

	if (stack == MAP_FAILED)
		tap_bail("mmap");
	cvt_stack2 = stack + sz;
	pid = clone(cvt_child, stack + sz, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		tap_bail("clone: %s", strerror(errno));
	for (i = 0; i < 10000 &&
	     __atomic_load_n(&cvt_state, __ATOMIC_ACQUIRE) != 2; i++)
		usleep(1000);
	if (__atomic_load_n(&cvt_state, __ATOMIC_ACQUIRE) != 2)
		tap_bail("the CLONE_VM child's thread did not report");
	tap_ok(cvt_thread_ok, "a thread of a CLONE_VM child, after that "
	       "child's first thread exited: never wrong on the owner's page "
	       "(which it still maps), accessors right");
	t0_inst_refresh(&main_inst);
	t0_read_page(main_inst.p, &s);
	tap_ok(s.fresh == 0, "... and while it lives every bit stays clear, "
	       "even after REFRESH (fresh %#x)", s.fresh);
	__atomic_store_n(&cvt_state, 3, __ATOMIC_RELEASE);
	t0_wait(pid);
	munmap(stack, 2 * sz);
	tap_ok(refresh_and_check("after the CLONE_VM child's thread"),
	       "after it exited, REFRESH sets every bit again");
}

/*
 * More CLONE_VM children at once than the module keeps a record of (it
 * keeps 16, then only notes that more may exist).  The last one made,
 * which has no record, lives longest: the bits must stay clear until it
 * is gone too, also through REFRESHes (each may walk the tasks for
 * sharers, at most every 100 ms; a walk that finds few makes records of
 * them), and come back when it goes, without a REFRESH (its record).
 */
#define MANY_CVM	40

static volatile int many_go[MANY_CVM];

static int many_child(void *arg)
{
	volatile int *go = arg;

	__atomic_store_n(go, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(go, __ATOMIC_ACQUIRE) != 2)
		syscall(SYS_sched_yield);
	return 0;
}

/* REFRESH every 10 ms for @ms, or until the bits are @until; the bits. */
static unsigned int refresh_for(int ms, unsigned int until)
{
	struct t0_page_snap s;
	int j;

	for (j = 0; j < ms / 10; j++) {
		t0_inst_refresh(&main_inst);
		t0_read_page(main_inst.p, &s);
		if (until && s.fresh == until)
			break;
		usleep(10000);
	}
	return s.fresh;
}

static void test_many_clone_vm(void)
{
	size_t sz = 64 * 1024;
	char *stacks = mmap(NULL, MANY_CVM * sz, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pids[MANY_CVM];
	struct t0_page_snap s;
	int i, j;

	if (stacks == MAP_FAILED)
		tap_bail("mmap");
	if (!refresh_and_check("before many CLONE_VM children"))
		tap_diag("the page was not fresh before the test");
	for (i = 0; i < MANY_CVM; i++) {
		pids[i] = clone(many_child, stacks + (i + 1) * sz,
				CLONE_VM | SIGCHLD, (void *)&many_go[i]);
		if (pids[i] < 0)
			tap_bail("clone %d: %s", i, strerror(errno));
		for (j = 0; j < 10000 &&
		     __atomic_load_n(&many_go[i], __ATOMIC_ACQUIRE) != 1; j++)
			usleep(1000);
	}
	/* The 16 with records go: 24 without one are left. */
	for (i = 0; i < 16; i++) {
		__atomic_store_n(&many_go[i], 2, __ATOMIC_RELEASE);
		t0_wait(pids[i]);
	}
	/* REFRESHes for 300 ms: walks that find too many to record. */
	s.fresh = refresh_for(300, 0);
	tap_ok(s.fresh == 0, "%d CLONE_VM children, the %d with records gone: "
	       "every bit stays clear through REFRESHes for 300 ms (fresh "
	       "%#x)", MANY_CVM, 16, s.fresh);
	/* All but the last one made go. */
	for (i = 16; i < MANY_CVM - 1; i++) {
		__atomic_store_n(&many_go[i], 2, __ATOMIC_RELEASE);
		t0_wait(pids[i]);
	}
	/* REFRESHes for 3 s: past the walks' back-off (2 s at most). */
	s.fresh = refresh_for(3000, 0);
	tap_ok(s.fresh == 0, "%d CLONE_VM children, %d of them gone: while the "
	       "last one made lives every bit stays clear, through REFRESHes "
	       "for 3 s (fresh %#x)", MANY_CVM, MANY_CVM - 1, s.fresh);
	__atomic_store_n(&many_go[MANY_CVM - 1], 2, __ATOMIC_RELEASE);
	t0_wait(pids[MANY_CVM - 1]);
	t0_read_page(main_inst.p, &s);
	tap_ok(s.fresh == ALL, "when it is gone too, every bit is back, "
	       "without a REFRESH (fresh %#x)", s.fresh);
	munmap(stacks, MANY_CVM * sz);
}

/*
 * The other way round: a CLONE_VM child creates and maps an instance.
 * The mapping lands in the memory it shares with its parent, another
 * process; while they share it, no bit may be set (the parent would read
 * the child's pid as its own).
 */
static volatile int cvc_state;
static const struct ksvc_shared_page *volatile cvc_page;
static volatile long cvc_child_pid;

static int cvc_child(void *arg)
{
	struct t0_inst in;

	(void)arg;
	cvc_child_pid = syscall(SYS_getpid);
	if (t0_inst_open(&in, 1) != 0) {
		__atomic_store_n(&cvc_state, -1, __ATOMIC_RELEASE);
		return 1;
	}
	cvc_page = in.p;
	__atomic_store_n(&cvc_state, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&cvc_state, __ATOMIC_ACQUIRE) != 2)
		usleep(1000);
	/* Leave the mapping to the parent; the descriptor goes with us. */
	return 0;
}

static void test_clone_vm_creates(void)
{
	size_t sz = 256 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct t0_page_snap s;
	pid_t pid;
	int ok;

	pid = clone(cvc_child, stack + sz, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		tap_bail("clone: %s", strerror(errno));
	while (__atomic_load_n(&cvc_state, __ATOMIC_ACQUIRE) == 0)
		usleep(1000);
	ok = cvc_state == 1;
	if (ok) {
		t0_read_page(cvc_page, &s);
		if (s.fresh)
			tap_diag("page of a CLONE_VM child, read by its parent: "
				 "fresh %#x, pid %ld (child %ld, parent %ld)",
				 s.fresh, s.f.pid, (long)cvc_child_pid,
				 (long)syscall(SYS_getpid));
		ok = s.fresh == 0;
	}
	tap_ok(ok, "instance created by a CLONE_VM child: no bit set while "
	       "its parent shares the memory");
	__atomic_store_n(&cvc_state, 2, __ATOMIC_RELEASE);
	t0_wait(pid);
	ok = cvc_page && t0_page_ok(cvc_page, 0, "page left by a CLONE_VM child");
	if (cvc_page) {
		t0_read_page(cvc_page, &s);
		ok = ok && s.fresh == 0;
		if (s.fresh)
			tap_diag("after its creator exited: fresh %#x pid %ld",
				 s.fresh, s.f.pid);
		munmap((void *)cvc_page, KSVC_PAGE_SIZE);
	}
	tap_ok(ok, "... and none after its creator exited");
	munmap(stack, sz);
	/* That child shared our memory too: our own bits come back on ask. */
	t0_inst_refresh(&main_inst);
}

/* ------------------------------------------------------------------ */
/* execve                                                              */
/* ------------------------------------------------------------------ */

static int exec_child(int fd)
{
	const struct ksvc_shared_page *lp;
	int bad = 0;

	if (t0_maps_ksvc() != 0)
		bad |= 1;
	if (mmap(NULL, KSVC_PAGE_SIZE, PROT_READ, MAP_SHARED, fd,
		 (off_t)KSVC_OFF_SHARED_PAGE) != MAP_FAILED || errno != EACCES)
		bad |= 2;
	if (ioctl(fd, KSVC_IOC_REFRESH, 0) == 0 || errno != EACCES)
		bad |= 4;
	if (!t0_acc_ok("after exec"))
		bad |= 8;
	lp = t0_lib_page();
	if (!lp || !t0_page_ok(lp, ALL, "new image's library page")) {
		struct ksvc__t0_info i;

		ksvc__t0_info(&i);
		tap_diag("after exec: library state %d page %p", i.state,
			 (const void *)i.page);
		bad |= 8;
	}
	return bad;
}

static void test_exec(void)
{
	static const char *const names[] = {
		"execve: the new image has no KSVC mapping",
		"execve: mapping the old instance from the new image: EACCES",
		"execve: KSVC_IOC_REFRESH on the old instance: EACCES",
		"execve: the new image's accessors are exact, own instance",
	};
	pid_t pid;

	pid = fork();
	if (pid == 0) {
		struct t0_inst keep;
		char fdarg[16];
		char *argv[] = { (char *)"test_tier0_basic",
				 (char *)"--exec-child", fdarg, NULL };

		/* An instance that survives execve, used by the old image. */
		t0_inst_must(&keep, 0);
		snprintf(fdarg, sizeof(fdarg), "%d", keep.fd);
		if (t0_page_ok(keep.p, ALL, "before exec") &&
		    t0_page_ok(t0_lib_page(), ALL, "library before exec"))
			execv(self_exe, argv);
		_exit(127);
	}
	child_results(pid, 4, names);
}

/* ------------------------------------------------------------------ */
/* Namespaces                                                          */
/* ------------------------------------------------------------------ */

static long ns_thread_create(void *arg)
{
	struct t0_inst in;
	long ok;

	(void)arg;
	if (t0_inst_open(&in, 1) != 0)
		return 0;
	ok = t0_page_ok(in.p, ALL, "pidns thread") && in.p->pid == 1;
	t0_inst_close(&in);
	return ok;
}

static int pidns_init(void)
{
	struct t0_inst in;
	struct t0_worker w;
	int bad = 0;
	pid_t pid;

	if (syscall(SYS_getpid) != 1)
		return 127;
	if (t0_inst_open(&in, 1) != 0)
		return 127;
	if (!t0_page_ok(in.p, ALL, "pidns") || in.p->pid != 1 ||
	    in.p->ppid != 0)
		bad |= 1;
	if (ksvc_getpid() != 1 || ksvc_getppid() != 0 || !t0_acc_ok("pidns") ||
	    !t0_page_ok(t0_lib_page(), ALL, "pidns library"))
		bad |= 2;
	t0_worker_start(&w);
	if (!t0_worker_run(&w, ns_thread_create, NULL))
		bad |= 4;
	t0_worker_stop(&w);
	pid = fork();
	if (pid == 0) {
		struct t0_inst c;

		if (t0_inst_open(&c, 1) != 0)
			_exit(1);
		/* Its pid is not 2: the worker thread above took one. */
		if (c.p->pid != syscall(SYS_getpid) || c.p->pid <= 1 ||
		    c.p->ppid != 1 ||
		    !t0_page_ok(c.p, ALL, "pidns child") ||
		    ksvc_getpid() != c.p->pid || ksvc_getppid() != 1) {
			tap_diag("pidns child: page pid %d ppid %d fresh %#x, "
				 "accessors %d %d, syscalls %ld %ld",
				 c.p->pid, c.p->ppid, c.p->fresh,
				 (int)ksvc_getpid(), (int)ksvc_getppid(),
				 syscall(SYS_getpid), syscall(SYS_getppid));
			_exit(1);
		}
		_exit(0);
	}
	if (t0_wait(pid) != 0)
		bad |= 8;
	t0_inst_close(&in);
	return bad;
}

static void test_pidns(void)
{
	static const char *const names[] = {
		"new pid namespace: pid 1, ppid 0 on the page, all bits",
		"new pid namespace: accessors give 1 and 0, library page exact",
		"new pid namespace: CREATE on a non-main thread gives pid 1",
		"new pid namespace: its child sees its pid and ppid 1",
	};
	pid_t pid = t0_fork_pidns_init(pidns_init, 127);

	child_results(pid, 4, names);
}

/* User namespace, maps written by the process itself. */
static int userns_self(void)
{
	struct t0_inst before, after;
	int bad = 0;

	t0_inst_must(&before, 1);
	t0_lib_page();
	if (unshare(CLONE_NEWUSER) != 0)
		return 127;
	/*
	 * No map yet: the ids read as the overflow ids, which a sysctl can
	 * change (test_overflowuid()): IDS is not published, the rest is.
	 */
	if (!t0_page_ok(before.p, ALL & ~KSVC_FRESH_IDS, "userns, no map") ||
	    (before.p->fresh & KSVC_FRESH_IDS) || ksvc_getuid() != 65534 ||
	    !t0_acc_ok("userns, no map"))
		bad |= 1;
	t0_inst_must(&after, 1);
	if (!t0_page_ok(after.p, ALL & ~KSVC_FRESH_IDS,
			"userns, created inside") ||
	    (after.p->fresh & KSVC_FRESH_IDS))
		bad |= 2;
	if (ku_write_file("/proc/self/setgroups", "deny") != 0 ||
	    ku_write_file("/proc/self/uid_map", "5 0 1") != 0 ||
	    ku_write_file("/proc/self/gid_map", "7 0 1") != 0)
		return 126;
	if (syscall(SYS_getuid) != 5 || syscall(SYS_getgid) != 7)
		return 125;
	if (!t0_page_ok(before.p, ALL, "userns, mapped (old instance)") ||
	    !t0_page_ok(after.p, ALL, "userns, mapped (new instance)") ||
	    before.p->uid != 5 || after.p->egid != 7)
		bad |= 4;
	if (ksvc_getuid() != 5 || ksvc_getgid() != 7 || ksvc_geteuid() != 5 ||
	    ksvc_getegid() != 7 || !t0_acc_ok("userns, mapped") ||
	    !t0_page_ok(t0_lib_page(), ALL, "userns library"))
		bad |= 8;
	return bad;
}

/*
 * Fork a child with an instance of its own that enters a new user
 * namespace (no map yet) and refreshes it.  The parent gets the pid once
 * the child is there; the child gets 0 once the parent, having changed
 * something from outside, calls userns_child_go().
 */
struct userns_child {
	int to_child[2], to_parent[2];
	struct t0_inst in;
};

static pid_t userns_child_start(struct userns_child *u)
{
	pid_t pid;

	if (pipe(u->to_child) || pipe(u->to_parent))
		tap_bail("pipe");
	pid = fork();
	if (pid < 0)
		tap_bail("fork");
	if (pid == 0) {
		t0_inst_must(&u->in, 1);
		t0_lib_page();
		if (unshare(CLONE_NEWUSER) != 0)
			_exit(127);
		t0_inst_refresh(&u->in);
		t0_post(u->to_parent[1]);
		t0_waitfor(u->to_child[0]);
		return 0;
	}
	t0_waitfor(u->to_parent[0]);
	return pid;
}

static void userns_child_go(struct userns_child *u)
{
	t0_post(u->to_child[1]);
	close(u->to_child[0]);
	close(u->to_child[1]);
	close(u->to_parent[0]);
	close(u->to_parent[1]);
}

/* User namespace, maps written by the parent (a change from outside). */
static void test_userns(void)
{
	static const char *const names[] = {
		("user namespace, no map yet: IDS not fresh (overflow ids), "
		 "the rest exact; accessors give the overflow ids"),
		"user namespace, no map yet: instance created inside: the same",
		"uid_map/gid_map written by the process: mapped ids, all bits",
		"uid_map/gid_map written by the process: accessors give them",
	};
	static const char *const onames[] = {
		"maps written by another process: never wrong",
		"... and REFRESH brings IDS back with the mapped ids",
		"... accessors give the mapped ids",
	};
	struct userns_child u;
	char path[64];
	pid_t pid;
	int r;

	pid = fork();
	if (pid == 0)
		_exit(userns_self());
	child_results(pid, 4, names);

	pid = userns_child_start(&u);
	if (pid == 0) {
		int bad = 0;

		if (syscall(SYS_getuid) != 3 || syscall(SYS_getgid) != 4)
			_exit(126);
		if (!t0_page_ok(u.in.p, 0, "maps from outside"))
			bad |= 1;
		if (t0_inst_refresh(&u.in) != 0 ||
		    !t0_page_ok(u.in.p, ALL, "maps from outside, REFRESH") ||
		    u.in.p->uid != 3 || u.in.p->gid != 4)
			bad |= 2;
		if (ksvc_getuid() != 3 || ksvc_getegid() != 4 ||
		    !t0_acc_ok("maps from outside"))
			bad |= 4;
		_exit(bad);
	}
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	r = ku_write_file(path, "3 0 1");
	if (r)
		tap_diag("writing %s: %s", path, strerror(-r));
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	r = ku_write_file(path, "4 0 1");
	if (r)
		tap_diag("writing %s: %s", path, strerror(-r));
	userns_child_go(&u);
	child_results(pid, 3, onames);
}

/*
 * An id with no mapping reads as kernel.overflowuid / overflowgid, which
 * root can change at any time, with no hook on the way: the page must
 * never have published it.
 */
static void test_overflowuid(void)
{
	static const char *const names[] = {
		"no map, then kernel.overflowuid/overflowgid changed: never wrong",
		"... nor after REFRESH; the accessors give the new overflow ids",
	};
	char olduid[32], oldgid[32];
	struct userns_child u;
	pid_t pid;

	if (ku_read_file("/proc/sys/kernel/overflowuid", olduid, sizeof(olduid)) ||
	    ku_read_file("/proc/sys/kernel/overflowgid", oldgid, sizeof(oldgid)) ||
	    !*olduid || !*oldgid)
		tap_bail("cannot read kernel.overflowuid/overflowgid");
	pid = userns_child_start(&u);
	if (pid == 0) {
		int bad = 0;

		if (syscall(SYS_getuid) != 65533 || syscall(SYS_getgid) != 65532)
			_exit(126);
		if (!t0_page_ok(u.in.p, 0, "overflow ids changed"))
			bad |= 1;
		if (t0_inst_refresh(&u.in) != 0 ||
		    !t0_page_ok(u.in.p, 0, "overflow ids changed, REFRESH") ||
		    ksvc_getuid() != 65533 || ksvc_getgid() != 65532 ||
		    !t0_acc_ok("overflow ids changed"))
			bad |= 2;
		_exit(bad);
	}
	if (ku_write_file("/proc/sys/kernel/overflowuid", "65533") != 0 ||
	    ku_write_file("/proc/sys/kernel/overflowgid", "65532") != 0)
		tap_diag("writing kernel.overflowuid/gid: %s", strerror(errno));
	userns_child_go(&u);
	child_results(pid, 2, names);
	if (ku_write_file("/proc/sys/kernel/overflowuid", olduid) != 0 ||
	    ku_write_file("/proc/sys/kernel/overflowgid", oldgid) != 0)
		tap_bail("cannot restore kernel.overflowuid/overflowgid");
}

static void test_utsns(void)
{
	static const char *const names[] = {
		"unshare(CLONE_NEWUTS): exact, all bits",
		"sethostname in the new namespace: new name, all bits",
		"... the accessors give it",
	};
	struct utsname before;
	pid_t pid;

	syscall(SYS_uname, &before);
	pid = fork();
	if (pid == 0) {
		struct t0_inst in;
		struct utsname u;
		int bad = 0;

		t0_inst_must(&in, 1);
		t0_lib_page();
		if (unshare(CLONE_NEWUTS) != 0)
			_exit(127);
		if (!t0_page_ok(in.p, ALL, "new uts ns"))
			bad |= 1;
		if (sethostname("uts-inner", 9) != 0)
			_exit(126);
		if (!t0_page_ok(in.p, ALL, "new uts ns, sethostname") ||
		    strcmp(in.p->utsname_nodename, "uts-inner") != 0)
			bad |= 2;
		if (ksvc_uname(&u) != 0 || strcmp(u.nodename, "uts-inner") ||
		    !t0_acc_ok("uts ns"))
			bad |= 4;
		_exit(bad);
	}
	child_results(pid, 3, names);
	tap_ok(t0_page_ok(main_inst.p, ALL, "parent after child's uts ns") &&
	       strcmp(main_inst.p->utsname_nodename, before.nodename) == 0,
	       "the parent's page keeps the parent's host name");
}

/* ------------------------------------------------------------------ */

int t0_refresh_ok(void)
{
	return ksvc__t0_refresh() == 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--exec-child") == 0)
		return exec_child(atoi(argv[2]));
	t0_need_module();
	tap_plan(6 + 4 + 16 + 7 + 5 + 3 + 2 + 3 + 4 + 4 + 7 + 2 + 4);
	t0_inst_must(&main_inst, 1);

	test_steady();		/* 6 */
	test_threads();		/* 4 */
	test_fork();		/* 16 */
	test_vfork();		/* 7 */
	test_clone_vm();	/* 5 */
	test_clone_vm_thread();	/* 3 */
	test_many_clone_vm();	/* 3 */
	test_clone_vm_creates();	/* 2 */
	test_exec();		/* 4 */
	test_pidns();		/* 4 */
	test_userns();		/* 7 */
	test_overflowuid();	/* 2 */
	test_utsns();		/* 4 */
	t0_inst_close(&main_inst);
	tap_done();
}
