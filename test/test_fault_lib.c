// SPDX-License-Identifier: MIT
/*
 * test_fault_lib - make each resource acquisition inside libksvc fail in
 * turn, and check that every failure unwinds completely.
 *
 * The program is linked with -Wl,--wrap=SYMBOL for the library's
 * resource calls (test/test.mk, FAULT_WRAPS): every call that libksvc.a's
 * objects make to them reaches __wrap_SYMBOL below, which counts it and,
 * when armed, fails the n-th call of one function with the errno that
 * function gives when it runs out (ENOMEM, EMFILE, EAGAIN), else calls
 * the real one (__real_SYMBOL: under AddressSanitizer, its interceptor).
 * liburing's own calls (inside liburing.so) cannot be reached that way:
 * the boundary is liburing's public functions that libksvc calls
 * (io_uring_queue_init_params, io_uring_queue_init,
 * io_uring_get_probe_ring).  Tier 0 (lib/tier0.c) makes raw system calls
 * through syscall(3): the wrapper of syscall fails its openat, mmap and
 * KSVC_IOC_CREATE, and lets every other number through.
 *
 * Scenarios, each through the public API only:
 *   open, open-given-efd, open-anon
 *	ksvc_open (the default flags plus KSVC_OPEN_ANON_FALLBACK; with
 *	KSVC_OPEN_EVENTFD_GIVEN; with KSVC_OPEN_ANON), the rings used,
 *	ksvc_notify, ksvc_close;
 *   dispatch-thread, caller-drives, one-driver
 *	ksvc_dispatch_create (2 workers) on an open instance, a Tier 1
 *	pread64, a pool call (nanosleep) and a refused one (gettid)
 *	submitted and waited for, a ksvc_dispatch_call of the pool call,
 *	ksvc_dispatch_destroy;
 *   tier0-first-use (in a forked child: Tier 0 opens its instance once
 *	per process) the accessors' first use against the system calls;
 *   pos-probe (in a forked child: probed once per process) a short Tier 1
 *	write at the position of a regular file, which probes the kernel's
 *	file position handling (lib/tier1.c, pos_probe()), then another.
 *
 * For each scenario: one run without a fault counts the calls of each
 * function (one TAP line); then for every function and n = 1, 2, ...:
 * arm "fail the n-th call", run the scenario, disarm, until a run ends
 * without the fault firing; one TAP line per run that fired.  Such a run
 * passes if the public call that met the fault returned the documented
 * error (ksvc.h, ksvc_dispatch.h: -ENOMEM, -EMFILE, -EAGAIN, or what the
 * failed setup call said) with errno and the out pointer untouched, or,
 * where the library is documented to go on without the resource (no
 * io_uring: Tier 2; no worker timer; Tier 0 without its page), every
 * call gave the right result; and if afterwards the process has the same
 * descriptors, threads (but io_uring's own workers), mappings (under
 * a sanitizer, whose runtime maps memory as threads come and go: the
 * shared ones), library allocations and mappings (counted by the
 * wrappers), the same cancel signal disposition and, with the module,
 * the same debugfs instance and page counts as before;
 * and if the same scenario then runs right without a fault.  Under
 * AddressSanitizer, LeakSanitizer also checks at exit.
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <liburing.h>

#include "test_dispatch.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* ------------------------------------------------------------------ */
/* The interposed functions                                            */
/* ------------------------------------------------------------------ */

enum fn {
	F_MALLOC, F_CALLOC, F_ALIGNED_ALLOC, F_MMAP, F_MPROTECT, F_OPEN,
	F_EVENTFD, F_FCNTL_DUPFD, F_IOCTL_CREATE, F_PTHREAD_CREATE,
	F_SIGACTION, F_TIMER_CREATE, F_URING_INIT_PARAMS, F_URING_INIT,
	F_URING_PROBE, F_MEMFD_CREATE, F_SYS_OPENAT, F_SYS_MMAP,
	F_SYS_IOCTL_CREATE, NFN
};

static const struct {
	const char *name;
	int err;		/* the errno (or -errno) it fails with */
} fns[NFN] = {
	[F_MALLOC] = { "malloc", ENOMEM },
	[F_CALLOC] = { "calloc", ENOMEM },
	[F_ALIGNED_ALLOC] = { "aligned_alloc", ENOMEM },
	[F_MMAP] = { "mmap", ENOMEM },
	[F_MPROTECT] = { "mprotect", ENOMEM },
	[F_OPEN] = { "open", EMFILE },
	[F_EVENTFD] = { "eventfd", EMFILE },
	[F_FCNTL_DUPFD] = { "fcntl(F_DUPFD_CLOEXEC)", EMFILE },
	[F_IOCTL_CREATE] = { "ioctl(KSVC_IOC_CREATE)", ENOMEM },
	[F_PTHREAD_CREATE] = { "pthread_create", EAGAIN },
	/* sigaction has no resource to run out of; EINVAL is what it
	 * says, and ksvc_dispatch_create() passes a setup call's error */
	[F_SIGACTION] = { "sigaction", EINVAL },
	[F_TIMER_CREATE] = { "timer_create", EAGAIN },
	[F_URING_INIT_PARAMS] = { "io_uring_queue_init_params", ENOMEM },
	[F_URING_INIT] = { "io_uring_queue_init", ENOMEM },
	[F_URING_PROBE] = { "io_uring_get_probe_ring", ENOMEM },
	[F_MEMFD_CREATE] = { "memfd_create", EMFILE },
	[F_SYS_OPENAT] = { "syscall(SYS_openat)", EMFILE },
	[F_SYS_MMAP] = { "syscall(SYS_mmap)", ENOMEM },
	[F_SYS_IOCTL_CREATE] = { "syscall(SYS_ioctl, KSVC_IOC_CREATE)",
				 ENOMEM },
};

static int g_counting;		/* count (and maybe fail) calls */
static int g_arm_fn = -1;	/* the function to fail, or -1 */
static unsigned int g_arm_n;	/* ... at its n-th call */
static int g_fired;		/* it did */
static unsigned int g_calls[NFN];
static long g_live_allocs;	/* the library's blocks not yet freed */
static long g_live_maps;	/* the library's mappings not yet unmapped */

#define LD(p)		__atomic_load_n(p, __ATOMIC_SEQ_CST)
#define ST(p, v)	__atomic_store_n(p, v, __ATOMIC_SEQ_CST)
#define ADD(p, v)	__atomic_add_fetch(p, v, __ATOMIC_SEQ_CST)

/* Count a call of @f; 1 if it is to fail (errno set). */
static int fault(enum fn f)
{
	unsigned int c;

	if (!LD(&g_counting))
		return 0;
	c = ADD(&g_calls[f], 1);
	if ((int)f == LD(&g_arm_fn) && c == LD(&g_arm_n)) {
		ST(&g_fired, 1);
		errno = fns[f].err;
		return 1;
	}
	return 0;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_aligned_alloc(size_t align, size_t n);
void __real_free(void *p);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __real_munmap(void *addr, size_t len);
int __real_mprotect(void *addr, size_t len, int prot);
int __real_open(const char *path, int flags, ...);
int __real_eventfd(unsigned int count, int flags);
int __real_fcntl(int fd, int cmd, ...);
int __real_ioctl(int fd, unsigned long req, ...);
int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg);
int __real_sigaction(int sig, const struct sigaction *sa,
		     struct sigaction *old);
int __real_timer_create(clockid_t clk, struct sigevent *sev, timer_t *t);
int __real_io_uring_queue_init_params(unsigned int entries,
				      struct io_uring *ring,
				      struct io_uring_params *p);
int __real_io_uring_queue_init(unsigned int entries, struct io_uring *ring,
			       unsigned int flags);
struct io_uring_probe *__real_io_uring_get_probe_ring(struct io_uring *ring);
int __real_memfd_create(const char *name, unsigned int flags);
long __real_syscall(long nr, ...);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t n);
void __wrap_free(void *p);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __wrap_munmap(void *addr, size_t len);
int __wrap_mprotect(void *addr, size_t len, int prot);
int __wrap_open(const char *path, int flags, ...);
int __wrap_eventfd(unsigned int count, int flags);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg);
int __wrap_sigaction(int sig, const struct sigaction *sa,
		     struct sigaction *old);
int __wrap_timer_create(clockid_t clk, struct sigevent *sev, timer_t *t);
int __wrap_io_uring_queue_init_params(unsigned int entries,
				      struct io_uring *ring,
				      struct io_uring_params *p);
int __wrap_io_uring_queue_init(unsigned int entries, struct io_uring *ring,
			       unsigned int flags);
struct io_uring_probe *__wrap_io_uring_get_probe_ring(struct io_uring *ring);
int __wrap_memfd_create(const char *name, unsigned int flags);
long __wrap_syscall(long nr, ...);

void *__wrap_malloc(size_t n)
{
	void *p;

	if (fault(F_MALLOC))
		return NULL;
	p = __real_malloc(n);
	if (p)
		ADD(&g_live_allocs, 1);
	return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
	void *p;

	if (fault(F_CALLOC))
		return NULL;
	p = __real_calloc(n, size);
	if (p)
		ADD(&g_live_allocs, 1);
	return p;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	void *p;

	if (fault(F_ALIGNED_ALLOC))
		return NULL;
	p = __real_aligned_alloc(align, n);
	if (p)
		ADD(&g_live_allocs, 1);
	return p;
}

void __wrap_free(void *p)
{
	if (p)
		ADD(&g_live_allocs, -1);
	__real_free(p);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	void *p;

	if (fault(F_MMAP))
		return MAP_FAILED;
	p = __real_mmap(addr, len, prot, flags, fd, off);
	if (p != MAP_FAILED)
		ADD(&g_live_maps, 1);
	return p;
}

int __wrap_munmap(void *addr, size_t len)
{
	int r = __real_munmap(addr, len);

	if (r == 0)
		ADD(&g_live_maps, -1);
	return r;
}

int __wrap_mprotect(void *addr, size_t len, int prot)
{
	if (fault(F_MPROTECT))
		return -1;
	return __real_mprotect(addr, len, prot);
}

int __wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	int mode;

	va_start(ap, flags);
	mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ?
	       va_arg(ap, int) : 0;
	va_end(ap);
	if (fault(F_OPEN))
		return -1;
	return __real_open(path, flags, mode);
}

int __wrap_eventfd(unsigned int count, int flags)
{
	if (fault(F_EVENTFD))
		return -1;
	return __real_eventfd(count, flags);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	/* Every command takes at most one argument, int or pointer. */
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fault(F_FCNTL_DUPFD))
		return -1;
	return __real_fcntl(fd, cmd, arg);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KSVC_IOC_CREATE && fault(F_IOCTL_CREATE))
		return -1;
	return __real_ioctl(fd, req, arg);
}

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	if (fault(F_PTHREAD_CREATE))
		return EAGAIN;
	return __real_pthread_create(th, attr, fn, arg);
}

/*
 * The query and the installation of a handler may be failed; not the
 * restoring of a disposition sigaction() itself returned (SIG_DFL or
 * SIG_IGN, as the library accepts no other), which cannot fail, and
 * after which the library could do nothing.
 */
int __wrap_sigaction(int sig, const struct sigaction *sa,
		     struct sigaction *old)
{
	if ((!sa || (!(sa->sa_flags & SA_SIGINFO) &&
		     sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN)) &&
	    fault(F_SIGACTION))
		return -1;
	return __real_sigaction(sig, sa, old);
}

int __wrap_timer_create(clockid_t clk, struct sigevent *sev, timer_t *t)
{
	if (fault(F_TIMER_CREATE))
		return -1;
	return __real_timer_create(clk, sev, t);
}

/* liburing's convention: -errno, errno untouched. */
int __wrap_io_uring_queue_init_params(unsigned int entries,
				      struct io_uring *ring,
				      struct io_uring_params *p)
{
	int saved = errno;

	if (fault(F_URING_INIT_PARAMS)) {
		errno = saved;
		return -ENOMEM;
	}
	return __real_io_uring_queue_init_params(entries, ring, p);
}

int __wrap_io_uring_queue_init(unsigned int entries, struct io_uring *ring,
			       unsigned int flags)
{
	int saved = errno;

	if (fault(F_URING_INIT)) {
		errno = saved;
		return -ENOMEM;
	}
	return __real_io_uring_queue_init(entries, ring, flags);
}

struct io_uring_probe *__wrap_io_uring_get_probe_ring(struct io_uring *ring)
{
	if (fault(F_URING_PROBE))
		return NULL;
	return __real_io_uring_get_probe_ring(ring);
}

int __wrap_memfd_create(const char *name, unsigned int flags)
{
	if (fault(F_MEMFD_CREATE))
		return -1;
	return __real_memfd_create(name, flags);
}

/* Six arguments, as syscall(3) itself reads them. */
long __wrap_syscall(long nr, ...)
{
	va_list ap;
	long a[6];
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if ((nr == SYS_openat && fault(F_SYS_OPENAT)) ||
	    (nr == SYS_mmap && fault(F_SYS_MMAP)) ||
	    (nr == SYS_ioctl && (unsigned long)a[1] == KSVC_IOC_CREATE &&
	     fault(F_SYS_IOCTL_CREATE)))
		return -1;
	return __real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

static void arm(int f, unsigned int n)
{
	memset(g_calls, 0, sizeof(g_calls));
	ST(&g_fired, 0);
	ST(&g_arm_n, n);
	ST(&g_arm_fn, f);
	ST(&g_counting, 1);
}

static void disarm(void)
{
	ST(&g_counting, 0);
	ST(&g_arm_fn, -1);
}

/* ------------------------------------------------------------------ */
/* What the process holds                                              */
/* ------------------------------------------------------------------ */

struct snap {
	int fds, tasks, maps, smaps;
	long allocs, lmaps;
	void (*sig)(int);
	int sigflags;
	struct ku_counts kc;
};

/*
 * Threads of this process but io_uring's workers (iou-wrk-*), which the
 * kernel starts for requests that block and lets go when idle (after
 * seconds); a ring left open would show among the descriptors.
 */
static int count_tasks(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	char path[320], comm[32];
	int n = 0;
	FILE *f;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "re");
		if (f) {
			if (fgets(comm, sizeof(comm), f) &&
			    !strncmp(comm, "iou-", 4)) {
				fclose(f);
				continue;
			}
			fclose(f);
		}
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * Lines of /proc/self/maps: all of them, or (@shared) only the shared
 * mappings: the rings (the library's, io_uring's), the shared page.
 * A sanitizer's runtime maps and unmaps private memory of its own as
 * threads come and go, so that only the shared ones can be compared
 * there; the library's private mappings are counted by the wrappers.
 */
static int count_maps(int shared)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], perms[8];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n'))
			continue;	/* the rest of a long line */
		if (!shared || (sscanf(line, "%*s %7s", perms) == 1 &&
				perms[3] == 's'))
			n++;
	}
	fclose(f);
	return n;
}

static int have_kc;

static void snap(struct snap *s)
{
	struct sigaction sa;

	s->fds = ku_count_fds(NULL);
	s->tasks = count_tasks();
	s->maps = SANITIZED ? 0 : count_maps(0);
	s->smaps = count_maps(1);
	s->allocs = LD(&g_live_allocs);
	s->lmaps = LD(&g_live_maps);
	__real_sigaction(SIGRTMIN + 6, NULL, &sa);
	s->sig = sa.sa_handler;
	s->sigflags = sa.sa_flags;
	if (have_kc)
		s->kc = ku_counts();
}

/* The same from inside a run: the test's own calls (util.h's open of
 * the debugfs counters) are not the library's. */
static void snap_quiet(struct snap *s)
{
	int counting = LD(&g_counting);

	ST(&g_counting, 0);
	snap(s);
	ST(&g_counting, counting);
}

/* ------------------------------------------------------------------ */
/* One run                                                             */
/* ------------------------------------------------------------------ */

struct run {
	int api_err;		/* the first error of a public call */
	char api[48];		/* ... that call */
	int t1;			/* dispatcher: tier1_available */
	int bad;		/* a check failed */
	char why[240];		/* the first that did */
};

static void bad(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bad(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad++)
		return;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static void api_fail(struct run *r, const char *api, int err)
{
	if (r->api_err)
		return;
	r->api_err = err;
	snprintf(r->api, sizeof(r->api), "%s", api);
}

/* Descriptors, threads, mappings as before (threads may take a moment
 * to go: io_uring's workers exit on their own). */
static void snap_cmp(const struct snap *a, struct run *r, const char *when)
{
	uint64_t end = td_now_ms() + (have_kc ? 10000 : 3000);
	struct snap b;

	for (;;) {
		snap(&b);
		if ((b.tasks == a->tasks && b.maps == a->maps &&
		     b.smaps == a->smaps &&
		     (!have_kc || ku_counts_eq(a->kc, b.kc))) ||
		    td_now_ms() > end)
			break;
		usleep(1000);
	}
	if (b.fds != a->fds)
		bad(r, "%s: %d descriptors, %d before", when, b.fds, a->fds);
	if (b.tasks != a->tasks)
		bad(r, "%s: %d threads, %d before", when, b.tasks, a->tasks);
	if (b.maps != a->maps)
		bad(r, "%s: %d mappings, %d before", when, b.maps, a->maps);
	if (b.smaps != a->smaps)
		bad(r, "%s: %d shared mappings, %d before", when, b.smaps,
		    a->smaps);
	if (b.allocs != a->allocs)
		bad(r, "%s: %ld library allocations live, %ld before", when,
		    b.allocs, a->allocs);
	if (b.lmaps != a->lmaps)
		bad(r, "%s: %ld library mappings live, %ld before", when,
		    b.lmaps, a->lmaps);
	if (b.sig != a->sig || b.sigflags != a->sigflags)
		bad(r, "%s: the cancel signal's disposition changed", when);
	if (have_kc && !ku_counts_eq(a->kc, b.kc))
		bad(r, "%s: module instances %ld pages %ld, before %ld %ld",
		    when, b.kc.instances, b.kc.pages, a->kc.instances,
		    a->kc.pages);
}

/* ------------------------------------------------------------------ */
/* Scenarios                                                           */
/* ------------------------------------------------------------------ */

struct ctx {
	__u32 oflags;		/* ksvc_open flags */
	__u32 dflags;		/* dispatcher flags */
	int efd;		/* the program's eventfd (open-given-efd) */
	int memfd;		/* "hello world", for pread64 */
	int uring;		/* this process can set up an io_uring */
	struct ksvc *k;
	struct ksvc_dispatcher *d;
	int wfd;		/* pos-probe: the file written */
	char *buf;		/* pos-probe: 2 pages, the second PROT_NONE */
	long pg;
	off_t pos1;		/* pos-probe: the position after the first */
};

static char sentinel;
#define SENTINEL ((void *)&sentinel)

static int uring_fault(void)
{
	return LD(&g_fired) && (LD(&g_arm_fn) == F_URING_INIT_PARAMS ||
				LD(&g_arm_fn) == F_URING_PROBE);
}

/* --- open -------------------------------------------------------- */

static void setup_open(struct ctx *c)
{
	c->efd = -1;
	if (c->oflags & KSVC_OPEN_EVENTFD_GIVEN) {
		c->efd = __real_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->efd < 0)
			tap_bail("eventfd: %s", strerror(errno));
	}
}

static void teardown_open(struct ctx *c)
{
	if (c->efd >= 0)
		close(c->efd);
}

static void body_open(struct ctx *c, struct run *r)
{
	struct ksvc_open_params p;
	struct ksvc_completion cc = { .corr_id = 9, .result = 7 }, cc2;
	struct ksvc_entry e, e2;
	struct ksvc *k = SENTINEL;
	int err, kern;
	__u64 v;

	memset(&p, 0, sizeof(p));
	p.flags = c->oflags;
	p.eventfd = c->efd;
	errno = EDOM;
	err = ksvc_open(&k, &p);
	if (errno != EDOM)
		bad(r, "ksvc_open changed errno to %d", errno);
	if (err) {
		api_fail(r, "ksvc_open", err);
		if (k != SENTINEL)
			bad(r, "ksvc_open failed and wrote *out");
		return;
	}
	kern = td_have_module() && !(c->oflags & KSVC_OPEN_ANON);
	if (k->mode != (kern ? KSVC_MODE_KERNEL : KSVC_MODE_ANON))
		bad(r, "instance mode %d", k->mode);
	ksvc_prep_call(&e, 5, SYS_getppid, 1, 2, 3, 4, 5, 6);
	if (ksvc_sq_push(&k->sq, &e) || ksvc_sq_pop(&k->sq, &e2) ||
	    e2.corr_id != 5 || e2.args[5] != 6)
		bad(r, "the submit ring does not carry an entry");
	if (ksvc_cq_push(&k->cq, &cc) || ksvc_cq_pop(&k->cq, &cc2) ||
	    cc2.corr_id != 9 || cc2.result != 7)
		bad(r, "the completion ring does not carry a completion");
	err = ksvc_notify(k);
	if (err)
		bad(r, "ksvc_notify: %d", err);
	if (c->efd >= 0 && (read(c->efd, &v, sizeof(v)) != sizeof(v) || !v))
		bad(r, "ksvc_notify did not signal the given eventfd");
	errno = EDOM;
	ksvc_close(k);
	if (errno != EDOM)
		bad(r, "ksvc_close changed errno");
}

/* --- dispatcher -------------------------------------------------- */

static void setup_dispatch(struct ctx *c)
{
	static const char data[] = "hello world";

	c->k = td_open(0, 0);
	c->memfd = __real_memfd_create("test_fault_lib", MFD_CLOEXEC);
	if (c->memfd < 0 || pwrite(c->memfd, data, sizeof(data), 0) !=
	    (ssize_t)sizeof(data))
		tap_bail("memfd: %s", strerror(errno));
}

static void teardown_dispatch(struct ctx *c)
{
	close(c->memfd);
	ksvc_close(c->k);
}

static void check_comp(struct run *r, const char *what, __s64 res,
		       __u32 cf, __s64 want_res, __u32 want_cf)
{
	if (res != want_res || cf != want_cf)
		bad(r, "%s: result %lld flags %#x, want %lld %#x", what,
		    (long long)res, cf, (long long)want_res, want_cf);
}

static void body_dispatch(struct ctx *c, struct run *r)
{
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d = SENTINEL;
	struct ksvc_dispatch_stats st;
	struct ksvc_completion comp[4];
	struct timespec zero = { 0, 0 };
	struct ksvc_entry e[3];
	__u64 args[6] = { (uintptr_t)&zero, 0, 0, 0, 0, 0 };
	char buf[8] = { 0 };
	__s64 res;
	__u32 cf;
	int err, n, i, t1;

	memset(&p, 0, sizeof(p));
	p.flags = c->dflags;
	p.workers = 2;
	errno = EDOM;
	err = ksvc_dispatch_create(&d, c->k, &p);
	if (errno != EDOM)
		bad(r, "ksvc_dispatch_create changed errno to %d", errno);
	if (err) {
		api_fail(r, "ksvc_dispatch_create", err);
		if (d != SENTINEL)
			bad(r, "ksvc_dispatch_create failed and wrote *out");
		return;
	}
	if (ksvc_dispatch_stats(d, &st))
		bad(r, "ksvc_dispatch_stats failed");
	t1 = r->t1 = (int)st.tier1_available;
	if (c->uring && !t1 && !uring_fault())
		bad(r, "no Tier 1, and io_uring's setup did not fail");
	if (t1 && LD(&g_fired) && LD(&g_arm_fn) == F_URING_PROBE)
		bad(r, "Tier 1 in use without its probe");
	if (t1 && LD(&g_fired) && LD(&g_arm_fn) == F_URING_INIT_PARAMS &&
	    (c->dflags & (KSVC_DISPATCH_CALLER_DRIVES |
			  KSVC_DISPATCH_ONE_DRIVER)) ==
	    KSVC_DISPATCH_CALLER_DRIVES)
		bad(r, "Tier 1 in use, but its one io_uring setup failed");

	ksvc_prep_call(&e[0], 1, SYS_pread64, (__u64)c->memfd,
		       (uintptr_t)buf, 5, 0, 0, 0);
	ksvc_prep_call(&e[1], 2, SYS_nanosleep, (uintptr_t)&zero, 0, 0, 0,
		       0, 0);
	ksvc_prep_call(&e[2], 3, SYS_gettid, 0, 0, 0, 0, 0, 0);
	if (ksvc_dispatch_route(d, &e[0]) !=
	    (t1 ? KSVC_ROUTE_TIER1 : KSVC_ROUTE_TIER2))
		bad(r, "pread64 routed %d", ksvc_dispatch_route(d, &e[0]));
	if (ksvc_dispatch_route(d, &e[1]) != KSVC_ROUTE_TIER2)
		bad(r, "nanosleep routed %d", ksvc_dispatch_route(d, &e[1]));
	if (ksvc_dispatch_route(d, &e[2]) != KSVC_ROUTE_REFUSED)
		bad(r, "gettid routed %d", ksvc_dispatch_route(d, &e[2]));

	n = ksvc_dispatch_submit(d, e, 3, KSVC_SUBMIT_WAIT);
	if (n != 3) {
		bad(r, "ksvc_dispatch_submit: %d", n);
	} else {
		for (i = 0; i < 3; ) {
			n = ksvc_dispatch_wait(d, comp + i, 3 - i, 1, 10000);
			if (n <= 0) {
				bad(r, "ksvc_dispatch_wait: %d", n);
				break;
			}
			i += n;
		}
		for (n = 0; n < i; n++) {
			if (comp[n].corr_id == 1)
				check_comp(r, "pread64", comp[n].result,
					   comp[n].flags, 5, t1 ?
					   KSVC_COMP_TIER1 : KSVC_COMP_TIER2);
			else if (comp[n].corr_id == 2)
				check_comp(r, "nanosleep", comp[n].result,
					   comp[n].flags, 0, KSVC_COMP_TIER2);
			else if (comp[n].corr_id == 3)
				check_comp(r, "gettid", comp[n].result,
					   comp[n].flags, KSVC_REFUSED_RESULT,
					   KSVC_COMP_REFUSED);
			else
				bad(r, "a completion for corr_id %llu",
				    (unsigned long long)comp[n].corr_id);
		}
		if (memcmp(buf, "hello", 5))
			bad(r, "pread64 read \"%.5s\"", buf);
	}
	res = 1;
	cf = 0;
	err = ksvc_dispatch_call(d, SYS_nanosleep, args, &res, &cf);
	if (err)
		bad(r, "ksvc_dispatch_call: %d", err);
	else
		check_comp(r, "ksvc_dispatch_call(nanosleep)", res, cf, 0,
			   KSVC_COMP_TIER2);
	errno = EDOM;
	ksvc_dispatch_destroy(d);
	if (errno != EDOM)
		bad(r, "ksvc_dispatch_destroy changed errno");
}

/* --- Tier 0 (in a child) ----------------------------------------- */

static void body_tier0(struct ctx *c, struct run *r)
{
	struct utsname u1, u2;
	struct rlimit l1, l2;
	struct snap a, b;

	(void)c;
	snap_quiet(&a);
	if (ksvc_getpid() != (pid_t)__real_syscall(SYS_getpid) ||
	    ksvc_getppid() != (pid_t)__real_syscall(SYS_getppid) ||
	    ksvc_getuid() != (uid_t)__real_syscall(SYS_getuid) ||
	    ksvc_getgid() != (gid_t)__real_syscall(SYS_getgid) ||
	    ksvc_geteuid() != (uid_t)__real_syscall(SYS_geteuid) ||
	    ksvc_getegid() != (gid_t)__real_syscall(SYS_getegid))
		bad(r, "an id accessor disagrees with its system call");
	if (ksvc_uname(&u1) || __real_syscall(SYS_uname, &u2) ||
	    memcmp(&u1, &u2, sizeof(u1)))
		bad(r, "ksvc_uname disagrees with uname");
	if (ksvc_getrlimit(RLIMIT_NOFILE, &l1) ||
	    __real_syscall(SYS_getrlimit, RLIMIT_NOFILE, &l2) ||
	    l1.rlim_cur != l2.rlim_cur || l1.rlim_max != l2.rlim_max)
		bad(r, "ksvc_getrlimit disagrees with getrlimit");
	snap_quiet(&b);
	/*
	 * The instance is opened once and kept (its descriptor and its
	 * page, with the module): a first use that failed keeps nothing.
	 */
	if (LD(&g_fired) || !td_have_module()) {
		if (b.fds != a.fds || b.maps != a.maps || b.smaps != a.smaps)
			bad(r, "descriptors %d, mappings %d (shared %d); "
			    "%d %d (%d) before", b.fds, b.maps, b.smaps,
			    a.fds, a.maps, a.smaps);
	} else if (b.fds > a.fds + 1 || b.maps > a.maps + 1 ||
		   b.smaps > a.smaps + 1) {
		bad(r, "descriptors %d, mappings %d (shared %d); "
		    "%d %d (%d) before", b.fds, b.maps, b.smaps,
		    a.fds, a.maps, a.smaps);
	}
}

/* --- the file position probe (in a child) ------------------------ */

static void setup_pos(struct ctx *c)
{
	struct timespec zero = { 0, 0 };
	__u64 args[6] = { (uintptr_t)&zero, 0, 0, 0, 0, 0 };
	__s64 res;

	c->pg = sysconf(_SC_PAGESIZE);
	c->k = td_open(0, 0);
	c->d = td_create(c->k, KSVC_DISPATCH_CALLER_DRIVES, 1);
	/* Its worker's timer is made before the worker takes a call. */
	if (ksvc_dispatch_call(c->d, SYS_nanosleep, args, &res, NULL) ||
	    res)
		tap_bail("pos-probe setup: a pool call");
	c->wfd = __real_memfd_create("test_fault_lib-pos", MFD_CLOEXEC);
	c->buf = __real_mmap(NULL, (size_t)c->pg * 2, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->wfd < 0 || c->buf == MAP_FAILED ||
	    __real_mprotect(c->buf + c->pg, (size_t)c->pg, PROT_NONE))
		tap_bail("pos-probe setup: %s", strerror(errno));
	c->buf[c->pg - 1] = 'p';
}

static void teardown_pos(struct ctx *c)
{
	__real_munmap(c->buf, (size_t)c->pg * 2);
	close(c->wfd);
	ksvc_dispatch_destroy(c->d);
	ksvc_close(c->k);
}

/* A 2-byte write whose second byte is not mapped: one byte is written. */
static void short_write(struct ctx *c, struct run *r, const char *what)
{
	__u64 args[6] = { (__u64)c->wfd, (uintptr_t)(c->buf + c->pg - 1), 2,
			  0, 0, 0 };
	__s64 res = 0;
	int err = ksvc_dispatch_call(c->d, SYS_write, args, &res, NULL);

	if (err)
		bad(r, "%s: ksvc_dispatch_call: %d", what, err);
	else if (res != 1)
		bad(r, "%s: wrote %lld, want 1", what, (long long)res);
}

static void body_pos(struct ctx *c, struct run *r)
{
	off_t pos0 = lseek(c->wfd, 0, SEEK_CUR), pos;

	short_write(c, r, "short write");
	c->pos1 = lseek(c->wfd, 0, SEEK_CUR);
	/*
	 * write(2) leaves the position past the byte written.  When the
	 * probe cannot run, the library cannot know whether this kernel
	 * moved it: that one write may be left unmended, no other.
	 */
	if (c->pos1 != pos0 + 1 && !LD(&g_fired))
		bad(r, "position %lld after a short write, want %lld",
		    (long long)c->pos1, (long long)pos0 + 1);
	if (c->pos1 != pos0 + 1 && LD(&g_fired))
		tap_diag("  position %lld after the short write whose probe "
			 "failed (%lld before)", (long long)c->pos1,
			 (long long)pos0);
	/* The next one, with every resource there. */
	ST(&g_counting, 0);
	short_write(c, r, "next short write");
	pos = lseek(c->wfd, 0, SEEK_CUR);
	if (pos != c->pos1 + 1)
		bad(r, "position %lld after the next short write, want %lld",
		    (long long)pos, (long long)c->pos1 + 1);
}

/* --- the list ---------------------------------------------------- */

#define BIT(f)	(1u << (f))

struct scen {
	const char *name;
	__u32 oflags, dflags;
	void (*setup)(struct ctx *);
	void (*body)(struct ctx *, struct run *);
	void (*teardown)(struct ctx *);
	unsigned int tolerated;	/* faults the scenario must survive */
	int child;		/* run each time in a new process */
	int own_check;		/* the body compares what it holds itself */
};

#define DISPATCH_TOLERATED \
	(BIT(F_TIMER_CREATE) | BIT(F_URING_INIT_PARAMS) | BIT(F_URING_PROBE))

static const struct scen scens[] = {
	{ "open", KSVC_OPEN_ANON_FALLBACK, 0, setup_open, body_open,
	  teardown_open, 0, 0, 0 },
	{ "open-given-efd", KSVC_OPEN_ANON_FALLBACK | KSVC_OPEN_EVENTFD_GIVEN,
	  0, setup_open, body_open, teardown_open, 0, 0, 0 },
	{ "open-anon", KSVC_OPEN_ANON, 0, setup_open, body_open,
	  teardown_open, 0, 0, 0 },
	{ "dispatch-thread", 0, 0, setup_dispatch, body_dispatch,
	  teardown_dispatch, DISPATCH_TOLERATED, 0, 0 },
	{ "caller-drives", 0, KSVC_DISPATCH_CALLER_DRIVES, setup_dispatch,
	  body_dispatch, teardown_dispatch, DISPATCH_TOLERATED, 0, 0 },
	{ "one-driver", 0, KSVC_DISPATCH_CALLER_DRIVES |
	  KSVC_DISPATCH_ONE_DRIVER, setup_dispatch, body_dispatch,
	  teardown_dispatch, DISPATCH_TOLERATED, 0, 0 },
	{ "tier0-first-use", 0, 0, NULL, body_tier0, NULL,
	  BIT(F_SYS_OPENAT) | BIT(F_SYS_MMAP) | BIT(F_SYS_IOCTL_CREATE), 1,
	  1 },
	{ "pos-probe", 0, 0, setup_pos, body_pos, teardown_pos,
	  BIT(F_MEMFD_CREATE) | BIT(F_MMAP) | BIT(F_MPROTECT) |
	  BIT(F_URING_INIT), 1, 0 },
};
#define NSCEN	(sizeof(scens) / sizeof(scens[0]))

/* What one run found. */
struct result {
	unsigned int calls[NFN];
	int fired;
	struct run r;		/* the run */
	struct run retry;	/* the same without a fault */
};

static void run_here(const struct scen *s, int f, unsigned int n,
		     struct result *res)
{
	struct ctx c;
	struct snap a;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.oflags = s->oflags;
	c.dflags = s->dflags;
	c.uring = td_uring_here();
	if (s->setup)
		s->setup(&c);
	snap(&a);
	arm(f, n);
	s->body(&c, &res->r);
	disarm();
	res->fired = LD(&g_fired);
	memcpy(res->calls, g_calls, sizeof(g_calls));
	if (!s->own_check)
		snap_cmp(&a, &res->r, "after");
	if (res->fired) {
		ST(&g_fired, 0);
		s->body(&c, &res->retry);
		if (!s->own_check)
			snap_cmp(&a, &res->retry, "after the retry");
	}
	if (s->teardown)
		s->teardown(&c);
#ifdef __SANITIZE_ADDRESS__
	/* A child leaves by _exit(), without LeakSanitizer's check. */
	if (s->child && __lsan_do_recoverable_leak_check())
		bad(&res->r, "LeakSanitizer found a leak (above)");
#endif
}

/* In a child of its own, for a scenario that needs a fresh process. */
static void run_child(const struct scen *s, int f, unsigned int n,
		      struct result *res)
{
	int p[2], st;
	ssize_t got;
	pid_t pid;

	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		run_here(s, f, n, res);
		if (write(p[1], res, sizeof(*res)) != (ssize_t)sizeof(*res))
			_exit(3);
		_exit(0);
	}
	close(p[1]);
	memset(res, 0, sizeof(*res));
	got = read(p[0], res, sizeof(*res));
	close(p[0]);
	waitpid(pid, &st, 0);
	if (got != (ssize_t)sizeof(*res) || !WIFEXITED(st) ||
	    WEXITSTATUS(st)) {
		memset(res, 0, sizeof(*res));
		res->fired = 1;
		bad(&res->r, "the child died (status %#x)", st);
	}
}

static void run(const struct scen *s, int f, unsigned int n,
		struct result *res)
{
	struct ku_counts k0 = { 0, 0 };

	if (have_kc)
		k0 = ku_counts();
	if (s->child)
		run_child(s, f, n, res);
	else
		run_here(s, f, n, res);
	/*
	 * The module frees a closed instance after an RCU grace period:
	 * the next run's "before" must not count this run's (or its
	 * child's) instance.
	 */
	if (have_kc && !ku_counts_wait(k0))
		bad(&res->r, "module instances and pages not back to %ld %ld "
		    "after the run", k0.instances, k0.pages);
}

static const char *errname(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOMEM: return "ENOMEM";
	case EMFILE: return "EMFILE";
	case EAGAIN: return "EAGAIN";
	case EINVAL: return "EINVAL";
	default: return "?";
	}
}

/* One TAP line for a run with fault @f at call @n. */
static void report(const struct scen *s, int f, unsigned int n,
		   const struct result *res)
{
	const struct run *r = &res->r;
	int tolerated = (s->tolerated >> f) & 1, ok = 1;
	char what[160];

	if (tolerated) {
		if (r->api_err) {
			ok = 0;
			tap_diag("%s returned %d (%s), where the fault is "
				 "tolerated", r->api, r->api_err,
				 strerror(-r->api_err));
		}
		snprintf(what, sizeof(what), "tolerated%s",
			 s->body != body_dispatch ? "" :
			 r->t1 ? ", Tier 1" : ", no Tier 1");
	} else {
		if (r->api_err != -fns[f].err) {
			ok = 0;
			tap_diag("%s returned %d (%s), want %d", r->api[0] ?
				 r->api : "no call", r->api_err,
				 r->api_err ? strerror(-r->api_err) : "-",
				 -fns[f].err);
		}
		snprintf(what, sizeof(what), "%s -%s", r->api,
			 errname(r->api_err));
	}
	if (r->bad) {
		ok = 0;
		tap_diag("%s", r->why);
	}
	if (res->retry.api_err || res->retry.bad) {
		ok = 0;
		if (res->retry.api_err)
			tap_diag("retry without a fault: %s returned %d",
				 res->retry.api, res->retry.api_err);
		if (res->retry.bad)
			tap_diag("retry without a fault: %s", res->retry.why);
	}
	tap_ok(ok, "%s: %s #%u fails (%s): %s, nothing left, retry runs",
	       s->name, fns[f].name, n, errname(fns[f].err), what);
}

int main(int argc, char **argv)
{
	static struct result clean[NSCEN];
	struct result res;
	unsigned int i, n, plan = 0;
	int f;

	td_args(argc, argv);
	/* The module's debugfs counters, where this process can read them
	 * (the guest runs the tests as root, with debugfs mounted). */
	have_kc = td_have_module() && ku_dbg_read(KU_INSTANCES) >= 0;

	/*
	 * Warm up: the first run makes what a process makes once (the
	 * epoch page, thread stacks and malloc arenas that stay cached);
	 * then count each scenario's calls.
	 */
	for (i = 0; i < NSCEN; i++) {
		run(&scens[i], -1, 0, &res);
		run(&scens[i], -1, 0, &clean[i]);
		for (f = 0; f < NFN; f++)
			plan += clean[i].calls[f];
		plan += 2;
	}
	tap_plan((int)plan);
	td_say_where();
	tap_diag("io_uring here: %s", td_uring_here() ? "yes" : "no");

	for (i = 0; i < NSCEN; i++) {
		const struct scen *s = &scens[i];
		char list[512] = "";
		size_t len = 0;

		for (f = 0; f < NFN; f++)
			if (clean[i].calls[f] && len < sizeof(list))
				len += (size_t)snprintf(list + len,
						sizeof(list) - len, " %s %u",
						fns[f].name,
						clean[i].calls[f]);
		if (clean[i].r.bad)
			tap_diag("%s", clean[i].r.why);
		if (clean[i].r.api_err)
			tap_diag("%s: %d", clean[i].r.api, clean[i].r.api_err);
		tap_ok(!clean[i].r.bad && !clean[i].r.api_err,
		       "%s: no fault: runs right, nothing left; calls:%s",
		       s->name, list[0] ? list : " none");
		for (f = 0; f < NFN; f++) {
			for (n = 1; ; n++) {
				run(s, f, n, &res);
				if (!res.fired)
					break;
				report(s, f, n, &res);
				/* A child that died says "fired": stop. */
				if (n > clean[i].calls[f] + 2)
					break;
			}
			if (n - 1 != clean[i].calls[f])
				tap_diag("%s: %s failed %u times, counted %u",
					 s->name, fns[f].name, n - 1,
					 clean[i].calls[f]);
		}
#ifdef __SANITIZE_ADDRESS__
		tap_ok(!__lsan_do_recoverable_leak_check(),
		       "%s: LeakSanitizer finds no leak", s->name);
#else
		tap_skip("not built with AddressSanitizer",
			 "%s: LeakSanitizer finds no leak", s->name);
#endif
	}
	tap_done();
}
