// SPDX-License-Identifier: MIT
/*
 * test_tier0_inherit - the library's own Tier 0 descriptor in children.
 *
 * The library opens /dev/ksvc once per process for the Tier 0 accessors.
 * A child made by fork() inherits that descriptor, and the library closes
 * it there: a child must not keep its parent's instance alive.  Two
 * cases the simple ones (test_tier0_basic) do not reach:
 *
 *  - the child has its parent's pid number: the parent is pid 1 of a new
 *    pid namespace and forks the child into another one, as a
 *    container's init may.  A check by pid would keep the descriptor;
 *  - the fork comes from another thread while the first accessor call
 *    is between openat() and recording the descriptor.  This program
 *    defines syscall() itself (the library's raw calls resolve to it) and
 *    holds the opener in that window while another thread forks.
 *
 * Each child checks, before its own first accessor call (which could
 * reuse the number), that the parent's descriptor is closed.
 *
 * Around them: the same fork on the failure path of the first open
 * (CREATE refused, the descriptor being closed); a signal handler's
 * first accessor call inside the
 * child's closing of the inherited descriptor keeps the child's own new
 * one; the first open backs out while a fork() is under way; a
 * child made by _Fork() or a raw clone (no atfork handler) ignores the
 * copy of its parent's fork-in-progress word; a CLONE_VM child that
 * forks writes none of it; a raw clone(CLONE_FILES) child shares the
 * parent's descriptor table, so it neither closes the parent's
 * descriptor nor opens one of its own there; a descriptor the
 * application opened itself at the number of the library's (after
 * closing that one behind the library's back) stays open in a child,
 * with or without an instance (the library asks KSVC_IOC_INFO for the
 * instance id it recorded), and with a module without that ioctl the
 * child still closes its parent's; a fork() gives up on an
 * opener that is stuck or gone, within about a second (timed, with wide
 * margins).  Runs as root in the VM with the module.
 */
#include <dlfcn.h>
#include <sched.h>
#include <semaphore.h>
#include <stdarg.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "test_tier0.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* syscall(): holds, refuses or interrupts the library's raw calls     */
/* ------------------------------------------------------------------ */

typedef long (*syscall_fn)(long, ...);

static syscall_fn real_syscall;
static int hold_open;		/* pause after the next /dev/ksvc open */
static int hold_kind;		/* HOLD_*: what that pause is */
#define HOLD_BRIEF	0	/* 200 ms */
#define HOLD_STUCK	1	/* 4 s, longer than a fork waits */
#define HOLD_GONE	2	/* the opening thread exits there */
static int held_fd = -1;	/* what that open returned */
static sem_t opened;		/* posted when it returned */
static int fail_create;		/* fail the next KSVC_IOC_CREATE ... */
static int open_fd = -1;	/* ... and hold the close of this one */
static int signal_armed;	/* SIGUSR1 after a child's next INFO */
static pid_t signal_parent;	/* ... in a child of this process */
static int old_module;		/* hide KSVC_IOC_INFO, as a 1.0 module */

/*
 * The library always passes six arguments; this program's own calls
 * pass as many as their call takes.  The first five travel in
 * registers, which va_arg reads from where the prologue saved them; the
 * sixth would be read from the caller's stack, so only mmap (the one
 * six-argument call made here) gets it.
 */
long syscall(long nr, ...)
{
	long a[6] = { 0 };
	va_list ap;
	long r;
	int i;

	va_start(ap, nr);
	for (i = 0; i < (nr == SYS_mmap ? 6 : 5); i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!real_syscall)
		real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	if (nr == SYS_ioctl && (unsigned long)a[1] == KSVC_IOC_INFO &&
	    __atomic_load_n(&old_module, __ATOMIC_ACQUIRE)) {
		errno = ENOTTY;
		return -1;
	}
	if (nr == SYS_ioctl && (unsigned long)a[1] == KSVC_IOC_CREATE &&
	    __atomic_load_n(&old_module, __ATOMIC_ACQUIRE)) {
		r = real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (r == 0)
			((struct ksvc_create_params *)a[2])->features &=
				~KSVC_FEAT_INFO;
		return r;
	}
	if (nr == SYS_ioctl && (unsigned long)a[1] == KSVC_IOC_CREATE &&
	    __atomic_load_n(&fail_create, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&open_fd, (int)a[0], __ATOMIC_RELEASE);
		errno = ENOTTY;		/* as from a module without it */
		return -1;
	}
	if (nr == SYS_close && __atomic_load_n(&fail_create, __ATOMIC_ACQUIRE) &&
	    a[0] == __atomic_load_n(&open_fd, __ATOMIC_ACQUIRE)) {
		struct timespec pause = { 0, 200 * 1000 * 1000 };

		__atomic_store_n(&fail_create, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&held_fd, (int)a[0], __ATOMIC_RELEASE);
		sem_post(&opened);
		/* The failed open is about to close it: fork meanwhile. */
		nanosleep(&pause, NULL);
	}
	r = real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (nr == SYS_openat && r >= 0 && a[1] &&
	    !strcmp((const char *)a[1], KSVC_DEVICE_PATH) &&
	    __atomic_exchange_n(&hold_open, 0, __ATOMIC_ACQ_REL)) {
		struct timespec pause = { 0, 200 * 1000 * 1000 };
		int e = errno;

		__atomic_store_n(&held_fd, (int)r, __ATOMIC_RELEASE);
		sem_post(&opened);
		/*
		 * The thread ends here, without unwinding (no libgcc_s in
		 * the guest); the kernel clears its tid, which is what
		 * pthread_join() waits for.
		 */
		if (__atomic_load_n(&hold_kind, __ATOMIC_ACQUIRE) == HOLD_GONE)
			real_syscall(SYS_exit, 0);
		if (__atomic_load_n(&hold_kind, __ATOMIC_ACQUIRE) == HOLD_STUCK)
			pause.tv_sec = 4, pause.tv_nsec = 0;
		/* Long enough for the other thread's fork to land here. */
		nanosleep(&pause, NULL);
		errno = e;
	}
	if (nr == SYS_ioctl && (unsigned long)a[1] == KSVC_IOC_INFO &&
	    __atomic_load_n(&signal_armed, __ATOMIC_ACQUIRE) &&
	    real_syscall(SYS_getpid) != signal_parent) {
		int e = errno;

		__atomic_store_n(&signal_armed, 0, __ATOMIC_RELEASE);
		raise(SIGUSR1);		/* its handler runs before this returns */
		errno = e;
	}
	return r;
}

/* Is @fd closed? */
static int fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) < 0 && errno == EBADF;
}

/* How many of this process's descriptors are /dev/ksvc files. */
static int ksvc_fds(void)
{
	return ku_count_fds(KSVC_DEVICE_PATH);
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
	int st = t0_wait(t0_fork_pidns_init(same_pid_parent, 77));

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

/* ------------------------------------------------------------------ */
/* fork() from another thread during the first open                    */
/* ------------------------------------------------------------------ */

struct forker {
	pthread_t t;
	int status;		/* the child's exit status */
	int held;		/* the fork started while the opener was held */
};

/* Wait (10 s at most) until the syscall() above holds the opener. */
static int opener_held(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (sem_timedwait(&opened, &until) != 0)
		if (errno != EINTR)
			return 0;
	return 1;
}

static void *forker_main(void *arg)
{
	struct forker *f = arg;
	pid_t pid;
	int fd;

	if (!opener_held())
		return NULL;	/* the open was never held */
	fd = __atomic_load_n(&held_fd, __ATOMIC_ACQUIRE);
	f->held = 1;
	pid = fork();
	if (pid == 0)
		_exit(fd_closed(fd) ? 0 : 1);
	f->status = t0_wait(pid);
	return NULL;
}

/* Start a forker, make one first call, join the forker. */
static void first_call_beside_forker(struct forker *f)
{
	if (sem_init(&opened, 0, 0) != 0)
		tap_bail("sem_init: %s", strerror(errno));
	if (pthread_create(&f->t, NULL, forker_main, f) != 0)
		tap_bail("pthread_create failed");
	(void)ksvc_getpid();
	pthread_join(f->t, NULL);
	sem_destroy(&opened);
}

/* The same on a failure path: CREATE fails, the descriptor is closed. */
static void test_fork_on_failure_path(void)
{
	struct ksvc__t0_info info;
	struct forker f = { .status = -1 };

	ksvc__t0_test_reset();
	__atomic_store_n(&held_fd, -1, __ATOMIC_RELEASE);
	__atomic_store_n(&fail_create, 1, __ATOMIC_RELEASE);
	first_call_beside_forker(&f);
	__atomic_store_n(&fail_create, 0, __ATOMIC_RELEASE);
	ksvc__t0_info(&info);

	if (!f.held)
		tap_diag("the close was not held");
	tap_ok(f.held && f.status == 0 && info.state == KSVC__T0_NONE &&
	       fd_closed(held_fd),
	       "fork() by another thread while a failed first open closes its "
	       "descriptor: the child does not keep it (status %d, state %d)",
	       f.status, info.state);
	ksvc__t0_test_reset();	/* not NONE for the tests after this */
}

static void test_fork_during_open(void)
{
	struct ksvc__t0_info info;
	struct forker f = { .status = -1 };

	ksvc__t0_test_reset();	/* the next accessor call opens again */
	__atomic_store_n(&hold_open, 1, __ATOMIC_RELEASE);
	first_call_beside_forker(&f);
	__atomic_store_n(&hold_open, 0, __ATOMIC_RELEASE);
	ksvc__t0_info(&info);

	if (!f.held || held_fd < 0)
		tap_diag("the open was not held (held %d, fd %d)", f.held,
			 held_fd);
	tap_ok(f.held && f.status == 0,
	       "fork() by another thread while the first accessor call opens "
	       "/dev/ksvc: the child does not keep the descriptor (status %d)",
	       f.status);
	tap_ok(info.state == KSVC__T0_READY && info.fd == held_fd &&
	       t0_page_ok(info.page, KSVC_FRESH_ALL, "opener after the fork"),
	       "the opener's instance is set up, exact, all bits");
}

/*
 * A signal handler's accessor call lands inside the forked child's
 * closing of the inherited descriptor: between its ioctl and its close.
 * The handler opens the child's own instance, which may take the lowest
 * free number; the close must still hit the inherited descriptor only.
 */
static void first_call_handler(int sig)
{
	(void)sig;
	(void)ksvc_getpid();
}

static void test_signal_during_close(void)
{
	struct sigaction sa, old;
	pid_t pid;
	int st;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = first_call_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, &old) != 0)
		tap_bail("sigaction: %s", strerror(errno));
	if (!t0_lib_page())
		tap_bail("no library page");
	signal_parent = getpid();
	__atomic_store_n(&signal_armed, 1, __ATOMIC_RELEASE);
	pid = fork();
	if (pid == 0) {
		struct ksvc__t0_info i;
		int bad = 0;

		if (__atomic_load_n(&signal_armed, __ATOMIC_ACQUIRE))
			bad |= 1;	/* no signal: the test proves nothing */
		ksvc__t0_info(&i);
		if (i.state != KSVC__T0_READY || fd_closed(i.fd))
			bad |= 2;
		if (ksvc__t0_refresh() != 0 || ksvc_getpid() != getpid())
			bad |= 4;
		_exit(bad);
	}
	__atomic_store_n(&signal_armed, 0, __ATOMIC_RELEASE);
	st = t0_wait(pid);
	sigaction(SIGUSR1, &old, NULL);
	tap_ok(st == 0, "a signal handler's first accessor call inside the "
	       "forked child's closing of the inherited descriptor: the "
	       "child keeps its own new descriptor (status %d)", st);
}

/* ------------------------------------------------------------------ */
/* The first open while a fork() is under way                          */
/* ------------------------------------------------------------------ */

static void test_open_meets_fork(void)
{
	struct ksvc__t0_info held, after;
	int before, during, pid_ok;

	ksvc__t0_test_reset();
	before = ksvc_fds();
	ksvc__t0_test_fork_hold(1);
	pid_ok = ksvc_getpid() == (pid_t)syscall(SYS_getpid);
	ksvc__t0_info(&held);
	during = ksvc_fds();
	ksvc__t0_test_fork_hold(0);
	(void)ksvc_getpid();
	ksvc__t0_info(&after);

	tap_ok(pid_ok && held.state == KSVC__T0_UNINIT && during == before,
	       "first accessor call while a fork() is under way: the right "
	       "pid, nothing opened (state %d, %d -> %d descriptors)",
	       held.state, before, during);
	tap_ok(after.state == KSVC__T0_READY && ksvc_fds() == before + 1 &&
	       t0_page_ok(after.page, KSVC_FRESH_ALL, "after the fork"),
	       "the next call, after the fork, opens the instance: exact, all "
	       "bits");
}

/*
 * _Fork() and raw clones run no atfork handler: a child made while a
 * fork() of its parent is under way copies a word that describes the
 * parent, and must not take it for its own.
 */
static int stale_child(void)
{
	struct ksvc__t0_info i;

	if (ksvc_getpid() != (pid_t)syscall(SYS_getpid))
		return 1;
	ksvc__t0_info(&i);
	return i.state == KSVC__T0_READY ? 0 : 2;
}

static void test_stale_fork_word(void)
{
	pid_t pid;
	int st;

	if (!t0_lib_page())
		tap_bail("no library page");
	ksvc__t0_test_fork_hold(1);
	pid = _Fork();
	if (pid == 0)
		_exit(stale_child());
	ksvc__t0_test_fork_hold(0);
	st = t0_wait(pid);
	tap_ok(st == 0, "_Fork() child made while a fork() of its parent is "
	       "under way: opens its own instance (status %d)", st);

	ksvc__t0_test_fork_hold(1);
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		syscall(SYS_exit_group, stale_child());
	ksvc__t0_test_fork_hold(0);
	st = t0_wait(pid);
	tap_ok(st == 0, "raw clone child made while a fork() of its parent is "
	       "under way: opens its own instance (status %d)", st);
}

/*
 * A CLONE_VM child that is not a thread shares its parent's memory and
 * must write nothing of the library's state there, also when it calls
 * fork() (whose handlers the library has) while a fork of its parent is
 * under way.
 */
static int cvm_forker(void *arg)
{
	pid_t pid = fork();

	(void)arg;
	/*
	 * Not _exit(): before a call that does not return, AddressSanitizer
	 * cleans the thread's stack as it knows it, and warns (and says
	 * false reports may follow) when the stack pointer is elsewhere, as
	 * on the stack clone() was given.  syscall() is an ordinary call.
	 */
	if (pid == 0)
		syscall(SYS_exit_group, 0);
	if (pid < 0)
		return 2;
	return t0_wait(pid) == 0 ? 0 : 3;
}

static void test_clone_vm_fork(void)
{
	unsigned char before[256], after[256];
	size_t nb, na, sz = 256 * 1024;
	char *stack;
	pid_t pid;
	int st;

	if (!t0_lib_page())
		tap_bail("no library page");
	stack = mmap(NULL, sz, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	ksvc__t0_test_fork_hold(1);
	nb = ksvc__t0_state_copy(before, sizeof(before));
	pid = clone(cvm_forker, stack + sz, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0)
		tap_bail("clone: %s", strerror(errno));
	st = t0_wait(pid);
	na = ksvc__t0_state_copy(after, sizeof(after));
	ksvc__t0_test_fork_hold(0);
	munmap(stack, sz);
	tap_ok(st == 0, "a CLONE_VM child calls fork() (status %d)", st);
	tap_ok(nb == na && !memcmp(before, after, nb),
	       "... and writes none of its parent's library state, while a "
	       "fork of the parent is under way");
}

/* ------------------------------------------------------------------ */
/* A raw clone(CLONE_FILES) child shares the descriptor table          */
/* ------------------------------------------------------------------ */

static void test_clone_files(void)
{
	struct ksvc__t0_info info;
	int before, st;
	pid_t pid;

	if (!t0_lib_page())
		tap_bail("no library page");
	ksvc__t0_info(&info);
	before = ksvc_fds();
	pid = (pid_t)syscall(SYS_clone, CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		struct ksvc__t0_info i;
		int bad = 0;

		if (ksvc_getpid() != (pid_t)syscall(SYS_getpid))
			bad |= 1;
		ksvc__t0_info(&i);
		if (i.state != KSVC__T0_NONE)
			bad |= 2;
		syscall(SYS_exit_group, bad);
	}
	st = t0_wait(pid);
	tap_ok(st == 0, "raw clone(CLONE_FILES) child: the right pid, and no "
	       "instance of its own (status %d)", st);
	tap_ok(!fd_closed(info.fd) && ksvc_fds() == before &&
	       ksvc__t0_refresh() == 0 &&
	       t0_page_ok(t0_lib_page(), KSVC_FRESH_ALL, "parent"),
	       "the parent's descriptor stays open and works, and the shared "
	       "table holds nothing of the child's (%d -> %d descriptors)",
	       before, ksvc_fds());
}

/* ------------------------------------------------------------------ */
/* The application's own /dev/ksvc at the library's number             */
/* ------------------------------------------------------------------ */

/*
 * In a process of its own: close the library's descriptor behind its
 * back, open /dev/ksvc at the same number (with an instance of its own
 * if @create), and fork.  The child's first accessor call must leave
 * that descriptor alone: it is the application's, not the library's.
 */
static int app_took_number(int create)
{
	struct ksvc__t0_info info;
	struct ksvc_info ki;
	__u64 app_id = 0;
	int fd, n, st;
	pid_t pid;

	if (!t0_lib_page())
		return 10;
	ksvc__t0_info(&info);
	n = info.fd;
	if (n < 0 || close(n) != 0)
		return 11;
	fd = open(KSVC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && fd != n) {
		if (dup2(fd, n) != n)
			return 12;
		close(fd);
	}
	if (fd < 0)
		return 13;
	if (create) {
		if (ku_create(n, 16, 16, -1) != 0 ||
		    ioctl(n, KSVC_IOC_INFO, &ki) != 0)
			return 14;
		app_id = ki.id;
	}
	pid = fork();
	if (pid == 0) {
		int bad = 0, r;

		if (ksvc_getpid() != (pid_t)syscall(SYS_getpid))
			bad |= 1;
		if (fd_closed(n))
			_exit(bad | 2);
		r = ioctl(n, KSVC_IOC_INFO, &ki) == 0 ? 0 : -errno;
		if (create ? r != 0 || ki.id != app_id : r != -EINVAL)
			bad |= 4;
		if (!child_own_instance())
			bad |= 8;
		_exit(bad);
	}
	st = t0_wait(pid);
	return st;
}

/*
 * A module without KSVC_IOC_INFO: the child falls back to asking whether
 * it may use the descriptor, and closes its parent's.
 */
static int old_module_parent(void)
{
	struct ksvc__t0_info info;
	int n, st;
	pid_t pid;

	__atomic_store_n(&old_module, 1, __ATOMIC_RELEASE);
	if (!t0_lib_page())
		return 10;
	ksvc__t0_info(&info);
	n = info.fd;
	if (n < 0)
		return 11;
	pid = fork();
	if (pid == 0) {
		struct ksvc__t0_info i;
		struct ksvc_info ki;
		int bad = 0;

		if (ksvc_getpid() != (pid_t)syscall(SYS_getpid))
			bad |= 1;
		ksvc__t0_info(&i);
		/* Its own new one may have taken the number. */
		if (i.fd == n ? ioctl(n, KSVC_IOC_INFO, &ki) != 0 ||
				!(ki.flags & KSVC_INFO_OWNER) : !fd_closed(n))
			bad |= 2;
		if (!child_own_instance())
			bad |= 4;
		_exit(bad);
	}
	st = t0_wait(pid);
	return st;
}

static void test_old_module(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(old_module_parent());
	st = t0_wait(pid);
	tap_ok(st == 0, "a module without KSVC_IOC_INFO: a forked child still "
	       "closes its parent's library descriptor (status %d)", st);
}

static void test_app_took_number(int create)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(app_took_number(create));
	st = t0_wait(pid);
	tap_ok(st == 0, "the application closed the library's descriptor and "
	       "opened /dev/ksvc at its number (%s): a forked child keeps "
	       "it, and gets its own instance (status %d)",
	       create ? "with an instance of its own" : "no instance yet", st);
}

/* ------------------------------------------------------------------ */
/* A fork gives up on an opener that is stuck or gone                 */
/* ------------------------------------------------------------------ */

#ifdef __SANITIZE_ADDRESS__
/* The leak check of the end of the process, now; none at the end. */
static void leak_check_now(void)
{
	__lsan_do_leak_check();
}
#else
static void leak_check_now(void)
{
}
#endif

struct timed_forks {
	pthread_t t;
	int held;
	uint64_t first_ms, second_ms;	/* how long each fork() took */
};

static uint64_t fork_ms(void)
{
	uint64_t t0 = ku_now_ms();
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	if (pid > 0)
		t0_wait(pid);
	return ku_now_ms() - t0;
}

/* Once the opener is held: two forks, timed. */
static void *timed_forker(void *arg)
{
	struct timed_forks *f = arg;

	if (!opener_held())
		return NULL;
	f->held = 1;
	f->first_ms = fork_ms();
	f->second_ms = fork_ms();
	return NULL;
}

static void *first_call(void *arg)
{
	(void)arg;
	(void)ksvc_getpid();
	return NULL;
}

/*
 * The opener is held 4 s between its open and its record (a stuck
 * opener), or exits there (a gone one): a fork() waits about a second
 * for the first, not at all for the second, and the fork after it does
 * not wait for either.
 */
static void test_fork_gives_up(int kind)
{
	const char *what = kind == HOLD_STUCK ? "stuck" : "gone";
	uint64_t limit = kind == HOLD_STUCK ? 3000 : 600;
	struct timed_forks f = { .held = 0 };
	pthread_t opener;
	int fd;

	ksvc__t0_test_reset();
	__atomic_store_n(&held_fd, -1, __ATOMIC_RELEASE);
	if (sem_init(&opened, 0, 0) != 0)
		tap_bail("sem_init: %s", strerror(errno));
	__atomic_store_n(&hold_kind, kind, __ATOMIC_RELEASE);
	__atomic_store_n(&hold_open, 1, __ATOMIC_RELEASE);
	if (pthread_create(&f.t, NULL, timed_forker, &f) != 0 ||
	    pthread_create(&opener, NULL, first_call, NULL) != 0)
		tap_bail("pthread_create failed");
	pthread_join(f.t, NULL);
	pthread_join(opener, NULL);
	__atomic_store_n(&hold_open, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&hold_kind, HOLD_BRIEF, __ATOMIC_RELEASE);
	sem_destroy(&opened);
	/* A gone opener never recorded its descriptor: ours to close. */
	fd = __atomic_load_n(&held_fd, __ATOMIC_ACQUIRE);
	if (kind == HOLD_GONE && fd >= 0)
		close(fd);
	ksvc__t0_test_reset();
	tap_ok(f.held && f.first_ms < limit && f.second_ms < 600,
	       "an opener %s between its open and its record: a fork() "
	       "gives up on it (%llu ms, limit %llu), the next fork() does "
	       "not wait (%llu ms)", what, (unsigned long long)f.first_ms,
	       (unsigned long long)limit, (unsigned long long)f.second_ms);
}

int main(void)
{
	t0_need_module();
	tap_plan(19);
	test_same_pid();
	test_fork_during_open();
	test_fork_on_failure_path();
	test_signal_during_close();
	test_open_meets_fork();
	test_stale_fork_word();
	test_clone_vm_fork();
	test_clone_files();
	test_app_took_number(0);
	test_app_took_number(1);
	test_old_module();
	test_fork_gives_up(HOLD_STUCK);
	/*
	 * The gone opener leaves a thread that LeakSanitizer cannot stop
	 * for its check at exit ("Running thread ... was not suspended"):
	 * check for leaks now, all but the last test's.
	 */
	leak_check_now();
	test_fork_gives_up(HOLD_GONE);
	tap_done();
}
