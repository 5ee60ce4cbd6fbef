// SPDX-License-Identifier: MIT
/*
 * test_tier0_host - the Tier 0 accessors without the module.
 *
 * Part 1: no instance (no /dev/ksvc): every accessor is the syscall,
 * errno behaves like libc's, nothing is opened, and a vfork child of a
 * process that never used the accessors writes nothing, also where kcmp
 * cannot compare it with its parent (not dumpable; leader exited).
 *
 * Part 2: a page this test fills itself and installs through the
 * library's test hook (the module does not run here; what is tested is
 * the library's side: the load path, the sequence-count protocol, the
 * fresh bits, fork and vfork).  The page is mapped MADV_DONTFORK, as the
 * module's is VM_DONTCOPY, so a forked child that touched it would die.
 * ksvc_dispatch_call() must answer its Tier 0 calls from that page too,
 * without the submit ring.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "test_tier0.h"

/*
 * The test page's pid and ppid: above the kernel's PID_MAX_LIMIT (2^22),
 * so that no real process has them (a child that happened to get pid
 * 4242 once made a check fail that must not).
 */
#define PAGE_PID	4194401
#define PAGE_PPID	4194402

static int have_dev;

static long sys_pid(void)
{
	return syscall(SYS_getpid);
}

/* ------------------------------------------------------------------ */
/* Part 1: no instance                                                 */
/* ------------------------------------------------------------------ */

/*
 * A vfork child calls every accessor; the parent checks the child's
 * values and that its own library state did not change.  Returns a
 * mask: 1 wrong values, 2 state written, 4 no child (0: all right).
 */
static int vfork_probe(void)
{
	unsigned char before[256], after[256];
	volatile int child_ok = 0;
	size_t nb, na;
	pid_t pid;

	nb = ksvc__t0_state_copy(before, sizeof(before));
	pid = vfork();
	if (pid == 0) {
		struct t0_facts a;

		child_ok = t0_acc_facts(&a) == 0 && a.pid == sys_pid() &&
			   a.ppid == syscall(SYS_getppid);
		_exit(0);
	}
	if (pid < 0 || t0_wait(pid) != 0)
		return 4;
	na = ksvc__t0_state_copy(after, sizeof(after));
	return (child_ok ? 0 : 1) |
	       (nb == na && memcmp(before, after, nb) == 0 ? 0 : 2);
}

static void test_vfork_untouched_fresh(void)
{
	/* Nothing used the accessors yet: no instance, nothing recorded. */
	int r = vfork_probe();

	if (r & 4)
		tap_bail("vfork child failed");
	tap_ok(!(r & 1), "vfork child (nothing opened yet): accessors give "
	       "the child's own values");
	tap_ok(!(r & 2), "vfork child (nothing opened yet) wrote no library "
	       "state");
}

/* Has the thread group leader of this process exited (a zombie)? */
static int leader_gone(void)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", sys_pid());
	f = fopen(path, "r");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static void *leaderless(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5000 && !leader_gone(); i++)
		usleep(1000);
	if (!leader_gone())
		_exit(4);
	_exit(vfork_probe());
}

/*
 * A vfork child must tell that its memory is its parent's even where
 * the kernel will not compare the two (kcmp): a process that is not
 * dumpable and not root is refused, and a parent whose thread group
 * leader has exited is named by a pid whose memory is gone.  Each in a
 * forked process that has not used the accessors.
 */
/* What vfork_probe()'s mask (or a child's exit status) says. */
static const char *probe_why(int st)
{
	static const char *const why[] = {
		"", ": the child's values were wrong",
		": the parent's library state changed",
		": wrong values, and the parent's state changed",
	};

	return st >= 0 && st < 4 ? why[st] : ": setup failed";
}

static void test_vfork_kcmp_blind(void)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_DUMPABLE, 0) != 0 ||
		    setresgid(65534, 65534, 65534) != 0 ||
		    setresuid(65534, 65534, 65534) != 0)
			_exit(8);
		_exit(vfork_probe());
	}
	st = t0_wait(pid);
	if (st == 8)
		tap_skip("cannot become uid 65534 (not root?)",
			 "vfork child of a process kcmp may not look at");
	else
		tap_ok(st == 0, "vfork child of a process that is not "
		       "dumpable and not root (kcmp refused): own values, "
		       "nothing written%s", probe_why(st));

	pid = fork();
	if (pid == 0) {
		pthread_t th;

		if (pthread_create(&th, NULL, leaderless, NULL))
			_exit(4);
		pthread_exit(NULL);
	}
	st = t0_wait(pid);
	tap_ok(st == 0, "vfork child of a thread whose leader has exited "
	       "(kcmp says \"not shared\"): own values, nothing written%s",
	       probe_why(st));
}

static void test_no_instance(void)
{
	struct t0_facts a, sys;
	struct ksvc__t0_info info;
	struct rlimit rl;
	unsigned d;
	int r, e, i, all;

	if (have_dev) {
		for (i = 0; i < 14; i++)
			tap_skip("/dev/ksvc exists", "no-instance case %d", i);
		return;
	}

	errno = 777;
	r = t0_acc_facts(&a);
	e = errno;
	t0_sys_facts(&sys);
	d = t0_diff(&a, &sys);
	tap_ok(r == 0 && !(d & KSVC_FRESH_PID), "no instance: ksvc_getpid");
	tap_ok(r == 0 && !(d & KSVC_FRESH_PPID), "no instance: ksvc_getppid");
	tap_ok(r == 0 && a.uid == sys.uid && a.euid == sys.euid,
	       "no instance: ksvc_getuid, ksvc_geteuid");
	tap_ok(r == 0 && a.gid == sys.gid && a.egid == sys.egid,
	       "no instance: ksvc_getgid, ksvc_getegid");
	tap_ok(r == 0 && !(d & KSVC_FRESH_UTS), "no instance: ksvc_uname");
	tap_ok(r == 0 && !(d & KSVC_FRESH_NOFILE),
	       "no instance: ksvc_getrlimit(RLIMIT_NOFILE)");
	tap_ok(e == 777, "no instance: errno untouched by successful calls "
	       "(%d)", e);

	ksvc__t0_info(&info);
	tap_ok(info.state == KSVC__T0_NONE && info.page == NULL &&
	       info.fd == -1,
	       "no /dev/ksvc remembered: state %d", info.state);

	errno = 0;
	tap_errno(ksvc_uname(NULL), EFAULT, "ksvc_uname(NULL): EFAULT");
	errno = 0;
	tap_errno(ksvc_getrlimit(-1, &rl), EINVAL,
		  "ksvc_getrlimit(-1): EINVAL");
	errno = 0;
	tap_errno(ksvc_getrlimit(RLIMIT_NLIMITS, &rl), EINVAL,
		  "ksvc_getrlimit(RLIMIT_NLIMITS): EINVAL");
	{
		/* glibc's getrlimit is prlimit64(0, res, NULL, rlim). */
		struct rlimit *none = NULL;
		long want = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL,
				    none);

		tap_ok(ksvc_getrlimit(RLIMIT_NOFILE, none) == want,
		       "ksvc_getrlimit(RLIMIT_NOFILE, NULL) like glibc's "
		       "getrlimit (%ld)", want);
	}

	all = 1;
	for (i = 0; i < RLIMIT_NLIMITS; i++) {
		struct { unsigned long long cur, max; } k;

		if (ksvc_getrlimit(i, &rl) != 0 ||
		    syscall(SYS_prlimit64, 0, i, NULL, &k) != 0 ||
		    rl.rlim_cur != k.cur || rl.rlim_max != k.max) {
			tap_diag("resource %d differs", i);
			all = 0;
		}
	}
	tap_ok(all, "ksvc_getrlimit: every resource equals prlimit64");

	/* A change is seen at once (nothing is cached). */
	{
		struct rlimit old, nl;

		getrlimit(RLIMIT_NOFILE, &old);
		nl = old;
		nl.rlim_cur = old.rlim_cur > 64 ? old.rlim_cur - 1 : 32;
		setrlimit(RLIMIT_NOFILE, &nl);
		r = ksvc_getrlimit(RLIMIT_NOFILE, &rl);
		tap_ok(r == 0 && rl.rlim_cur == nl.rlim_cur,
		       "no instance: setrlimit is seen at once");
		setrlimit(RLIMIT_NOFILE, &old);
	}
}

/* Threads racing on first use. */
#define RACE_THREADS 8
static pthread_barrier_t race_barrier;
static int race_bad;

static void *race_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&race_barrier);
	if (!t0_acc_ok("racing first use"))
		__atomic_fetch_add(&race_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void test_race_first_use(void)
{
	pthread_t t[RACE_THREADS];
	struct ksvc__t0_info info;
	int i;

	ksvc__t0_test_reset();
	pthread_barrier_init(&race_barrier, NULL, RACE_THREADS);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_create(&t[i], NULL, race_main, NULL);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&race_barrier);
	tap_ok(race_bad == 0, "%d threads racing on first use: all right",
	       RACE_THREADS);
	ksvc__t0_info(&info);
	if (have_dev)
		tap_ok(info.state == KSVC__T0_READY || info.state ==
		       KSVC__T0_NONE, "one of them opened it (state %d)",
		       info.state);
	else
		tap_ok(info.state == KSVC__T0_NONE,
		       "no device: state NONE after the race (%d)",
		       info.state);
}

/* ------------------------------------------------------------------ */
/* Part 2: an installed page                                           */
/* ------------------------------------------------------------------ */

static struct ksvc_shared_page *page;

static void page_write_begin(void)
{
	__atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void page_write_end(void)
{
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&page->seq, page->seq + 1, __ATOMIC_RELEASE);
}

static void set_fresh(unsigned fresh)
{
	page_write_begin();
	__atomic_store_n(&page->fresh, fresh, __ATOMIC_RELAXED);
	page_write_end();
}

/*
 * The dispatcher's Tier 0: ksvc_dispatch_call() answers these calls
 * from the shared page (the test page's values, which no system call
 * gives), and none of them reaches the submit ring.
 */
static void dispatch_tier0_from_page(void)
{
	struct ksvc_open_params op = { .flags = KSVC_OPEN_ANON };
	struct ksvc_dispatch_stats st;
	struct ksvc_dispatcher *d;
	struct utsname u;
	struct rlimit rl;
	struct ksvc *k;
	__s64 pid = 0, ppid = 0, uid = 0, un = -1, nofile = -1;
	__u64 a[6] = { 0 };
	__u32 cf, cfs = 0;

	if (ksvc_open(&k, &op) ||
	    ksvc_dispatch_create(&d, k, NULL))
		tap_bail("anonymous instance and dispatcher");
	/* Each call must clear its cflags: start them non-zero. */
#define CALL(nr, res) \
	do { \
		cf = ~0u; \
		ksvc_dispatch_call(d, nr, a, res, &cf); \
		cfs |= cf; \
	} while (0)
	CALL(SYS_getpid, &pid);
	CALL(SYS_getppid, &ppid);
	CALL(SYS_getuid, &uid);
	a[0] = (uintptr_t)&u;
	CALL(SYS_uname, &un);
	a[0] = RLIMIT_NOFILE;
	a[1] = (uintptr_t)&rl;
	CALL(SYS_getrlimit, &nofile);
#undef CALL
	ksvc_dispatch_stats(d, &st);
	tap_ok(pid == PAGE_PID && ppid == PAGE_PPID && uid == 5001 && un == 0 &&
	       strcmp(u.nodename, "from-the-page") == 0 && nofile == 0 &&
	       rl.rlim_cur == 77 && cfs == 0 && st.taken == 0,
	       "ksvc_dispatch_call() answers Tier 0 from the page: getpid "
	       "%lld, getppid %lld, getuid %lld, uname %lld, getrlimit %lld; "
	       "%llu entries taken from the ring",
	       (long long)pid, (long long)ppid, (long long)uid,
	       (long long)un, (long long)nofile,
	       (unsigned long long)st.taken);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

static void test_installed(void)
{
	struct ksvc__t0_info info;
	struct t0_facts sys;
	struct utsname u;
	struct rlimit rl;
	struct { unsigned long long cur, max; } k;
	static const struct {
		unsigned bit;
		const char *name;
	} groups[] = {
		{ KSVC_FRESH_PID, "PID" }, { KSVC_FRESH_PPID, "PPID" },
		{ KSVC_FRESH_IDS, "IDS" }, { KSVC_FRESH_UTS, "UTS" },
		{ KSVC_FRESH_NOFILE, "NOFILE" },
	};
	size_t i;

	page = mmap(NULL, KSVC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || madvise(page, KSVC_PAGE_SIZE,
					  MADV_DONTFORK) != 0)
		tap_bail("mmap/madvise: %s", strerror(errno));
	t0_fill_page(page);
	/* Values no syscall gives here, to see where answers come from. */
	page->pid = PAGE_PID;
	page->ppid = PAGE_PPID;
	page->uid = 5001;
	page->gid = 5002;
	page->euid = 5003;
	page->egid = 5004;
	strcpy(page->utsname_nodename, "from-the-page");
	page->rlimit_nofile = 77;
	page->rlimit_nofile_max = 88;

	tap_ok(ksvc__t0_test_install(page) == 0, "test page installed");
	ksvc__t0_info(&info);
	tap_ok(info.state == KSVC__T0_READY && info.page == page,
	       "library reports it (state %d)", info.state);

	tap_ok(ksvc_getpid() == PAGE_PID,
	       "fresh PID: ksvc_getpid from the page");
	tap_ok(ksvc_getppid() == PAGE_PPID,
	       "fresh PPID: ksvc_getppid from the page");
	tap_ok(ksvc_getuid() == 5001 && ksvc_getgid() == 5002 &&
	       ksvc_geteuid() == 5003 && ksvc_getegid() == 5004,
	       "fresh IDS: the four id accessors from the page");
	tap_ok(ksvc_uname(&u) == 0 &&
	       strcmp(u.nodename, "from-the-page") == 0 &&
	       memcmp(u.sysname, page->utsname_sysname, 65) == 0 &&
	       memcmp(u.domainname, page->utsname_domainname, 65) == 0,
	       "fresh UTS: ksvc_uname from the page (all six strings)");
	tap_ok(ksvc_getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 77 &&
	       rl.rlim_max == 88,
	       "fresh NOFILE: ksvc_getrlimit(RLIMIT_NOFILE) from the page");
	tap_ok(ksvc_getrlimit(RLIMIT_STACK, &rl) == 0 &&
	       syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &k) == 0 &&
	       rl.rlim_cur == k.cur && rl.rlim_max == k.max,
	       "other resources by syscall even with a fresh page");
	errno = 0;
	tap_errno(ksvc_uname(NULL), EFAULT,
		  "ksvc_uname(NULL) with a fresh page: EFAULT");
	tap_ok(ksvc_getrlimit(RLIMIT_NOFILE, NULL) == 0,
	       "ksvc_getrlimit(RLIMIT_NOFILE, NULL) with a fresh page: 0");
	dispatch_tier0_from_page();

	/* Each bit clear: that group comes from the syscall, others not. */
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		struct t0_facts a;
		unsigned d;

		set_fresh(KSVC_FRESH_ALL & ~groups[i].bit);
		t0_acc_facts(&a);
		t0_sys_facts(&sys);
		d = t0_diff(&a, &sys);
		tap_ok(d == (KSVC_FRESH_ALL & ~groups[i].bit),
		       "%s clear: only that group from the syscall "
		       "(differs: %#x)", groups[i].name, d);
	}
	set_fresh(KSVC_FRESH_ALL);
}

/* Torn reads: a writer alternates two host names of different lengths. */
#define NAME_A "a"
#define NAME_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define NAME_X "stale-name-behind-a-clear-bit"
static int stress_stop;
static long stress_bad, stress_page, stress_sys;

static void *stress_reader(void *arg)
{
	struct utsname real, u;
	char a[65] = NAME_A, b[65] = NAME_B;

	(void)arg;
	syscall(SYS_uname, &real);
	while (!__atomic_load_n(&stress_stop, __ATOMIC_RELAXED)) {
		long pid = ksvc_getpid();

		if (ksvc_uname(&u) != 0) {
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (memcmp(u.nodename, a, 65) == 0 ||
		    memcmp(u.nodename, b, 65) == 0)
			__atomic_fetch_add(&stress_page, 1, __ATOMIC_RELAXED);
		else if (memcmp(&u, &real, sizeof(u)) == 0)
			__atomic_fetch_add(&stress_sys, 1, __ATOMIC_RELAXED);
		else
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
		if (pid != 1 && pid != 2 && pid != sys_pid())
			__atomic_fetch_add(&stress_bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_stress(void)
{
	pthread_t r[3];
	long iters = 200000, i;
	const char *env = getenv("KSVC_TIER0_STRESS_ITERS");
	volatile char *node = page->utsname_nodename;

	if (env)
		iters = atol(env);
	/* Start from a state the readers accept. */
	page_write_begin();
	memset(page->utsname_nodename, 0, sizeof(page->utsname_nodename));
	strcpy(page->utsname_nodename, NAME_A);
	page->pid = 1;
	page_write_end();
	for (i = 0; i < 3; i++)
		pthread_create(&r[i], NULL, stress_reader, NULL);
	for (i = 0; i < iters; i++) {
		const char *name = (i & 1) ? NAME_B : NAME_A;
		int clear = i % 7 == 3;
		size_t j, n = strlen(name);

		page_write_begin();
		if (clear) {
			__atomic_store_n(&page->fresh,
					 KSVC_FRESH_ALL & ~(KSVC_FRESH_UTS |
							    KSVC_FRESH_PID),
					 __ATOMIC_RELAXED);
			name = NAME_X;
			n = strlen(name);
		}
		/* Byte by byte, to leave room for a reader in between. */
		for (j = 0; j < 65; j++)
			node[j] = j < n ? name[j] : 0;
		page->pid = (i & 1) ? 2 : 1;
		page_write_end();
		/* Let readers in between writes, too. */
		for (j = 0; j < 64; j++)
			__asm__ __volatile__("" ::: "memory");
		if ((i & 255) == 0)
			sched_yield();
		if (clear) {
			/* Make the bits right again in a section of its own. */
			page_write_begin();
			for (j = 0; j < 65; j++)
				node[j] = 0;
			node[0] = 'a';
			page->pid = 1;
			__atomic_store_n(&page->fresh, KSVC_FRESH_ALL,
					 __ATOMIC_RELAXED);
			page_write_end();
		}
	}
	__atomic_store_n(&stress_stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		pthread_join(r[i], NULL);
	tap_diag("stress: %ld writes, reads from the page %ld, by syscall %ld",
		 iters, stress_page, stress_sys);
	tap_ok(stress_bad == 0 && stress_page > iters / 100,
	       "3 readers, 1 writer: never a torn or stale read (%ld bad)",
	       stress_bad);
	/* Restore the plain test page. */
	page_write_begin();
	strcpy(page->utsname_nodename, "from-the-page");
	page->pid = PAGE_PID;
	page_write_end();
}

/* fork-like children must not touch the (DONTFORK) page. */
static int child_checks(void)
{
	struct ksvc__t0_info info;
	int bad = 0;

	ksvc__t0_info(&info);
	if (info.state != KSVC__T0_UNINIT || info.page)
		bad |= 1;	/* the parent's state leaked into the child */
	if (ksvc_getpid() != sys_pid() || ksvc_getpid() == PAGE_PID)
		bad |= 2;
	if (!t0_acc_ok("child"))
		bad |= 4;
	ksvc__t0_info(&info);
	if (!have_dev && info.state != KSVC__T0_NONE)
		bad |= 8;	/* its own first use did not happen */
	return bad;
}

static int raw_clone_child(void)
{
	return (int)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static void test_fork_children(void)
{
	pid_t pid;
	int st;

	pid = fork();
	if (pid == 0)
		_exit(child_checks());
	st = t0_wait(pid);
	tap_ok(st == 0, "fork(): child uses no parent page, gets its own "
	       "values (status %d)", st);

	pid = _Fork();
	if (pid == 0)
		_exit(child_checks());
	st = t0_wait(pid);
	tap_ok(st == 0, "_Fork() (no atfork handlers): same (status %d)", st);

	pid = raw_clone_child();
	if (pid == 0)
		syscall(SYS_exit_group, child_checks());
	st = t0_wait(pid);
	tap_ok(st == 0, "raw clone(SIGCHLD): same (status %d)", st);

	tap_ok(ksvc_getpid() == PAGE_PID, "the parent still reads its page");
}

static void test_vfork_installed(void)
{
	unsigned char before[256], after[256];
	size_t nb, na;
	volatile long child_pid = -1, child_acc = -2;
	volatile int child_ids = 0;
	pid_t pid;

	/* The module clears every bit while a CLONE_VM child exists. */
	set_fresh(0);
	nb = ksvc__t0_state_copy(before, sizeof(before));
	pid = vfork();
	if (pid == 0) {
		child_pid = sys_pid();
		child_acc = ksvc_getpid();
		child_ids = t0_acc_ok("vfork child");
		_exit(0);
	}
	t0_wait(pid);
	na = ksvc__t0_state_copy(after, sizeof(after));
	set_fresh(KSVC_FRESH_ALL);
	tap_ok(child_acc == child_pid && child_pid == pid,
	       "vfork child: ksvc_getpid gives the child's pid (%ld, %ld)",
	       (long)child_acc, (long)child_pid);
	tap_ok(child_ids, "vfork child: all accessors right");
	tap_ok(nb == na && memcmp(before, after, nb) == 0,
	       "vfork child wrote no library state");
}

/* Accessors from a signal handler while the main loop uses them. */
static volatile sig_atomic_t sig_calls, sig_bad;

static void on_alarm(int sig)
{
	struct utsname u;
	int saved = errno;

	(void)sig;
	sig_calls++;
	if (ksvc_getpid() != PAGE_PID || ksvc_uname(&u) != 0 ||
	    strcmp(u.nodename, "from-the-page") != 0)
		sig_bad++;
	errno = saved;
}

static void test_signal(void)
{
	struct itimerval it = { { 0, 500 }, { 0, 500 } };
	time_t start = time(NULL);
	struct sigaction sa;
	long i, bad = 0;
	struct utsname u;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; sig_calls < 50 && i < 2000000000L; i++) {
		if (ksvc_getpid() != PAGE_PID || ksvc_uname(&u) != 0)
			bad++;
		if ((i & 0xffff) == 0 && time(NULL) - start > 5)
			break;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_DFL);
	tap_ok(sig_calls > 0 && sig_bad == 0 && bad == 0,
	       "accessors from a signal handler (%d calls) and the "
	       "interrupted loop agree", (int)sig_calls);
}

int main(void)
{
	struct stat st;

	have_dev = stat(KSVC_DEVICE_PATH, &st) == 0;
	tap_plan(47);
	test_vfork_untouched_fresh();	/* 2: must run first */
	test_vfork_kcmp_blind();	/* 2 */
	test_no_instance();		/* 14 */
	test_race_first_use();		/* 2 */
	test_installed();		/* 15 */
	test_stress();			/* 1 */
	test_fork_children();		/* 4 */
	test_vfork_installed();		/* 3 */
	test_signal();			/* 1 */
	ksvc__t0_test_reset();
	tap_ok(ksvc_getpid() == sys_pid(), "after a reset: the syscall again");
	tap_ok(t0_acc_ok("after reset"), "after a reset: all accessors right");
	tap_done();
}
