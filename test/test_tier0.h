/* SPDX-License-Identifier: MIT */
/*
 * test_tier0.h - helpers shared by the Tier 0 tests (test_tier0*.c).
 *
 * Every value is compared with the real system call made through
 * syscall(2), so that no libc cache (or preload shim) is in the way.
 */
#ifndef KSVC_TEST_TIER0_H
#define KSVC_TEST_TIER0_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "ksvc.h"
#include "../lib/tier0.h"
#include "tap.h"

/* The facts as the system calls give them, on the calling thread. */
struct t0_facts {
	long pid, ppid;
	long uid, gid, euid, egid;
	struct utsname uts;
	unsigned long long nofile, nofile_max;
};

static inline void t0_sys_facts(struct t0_facts *f)
{
	struct { unsigned long long cur, max; } rl;

	memset(f, 0, sizeof(*f));
	f->pid = syscall(SYS_getpid);
	f->ppid = syscall(SYS_getppid);
	f->uid = syscall(SYS_getuid);
	f->gid = syscall(SYS_getgid);
	f->euid = syscall(SYS_geteuid);
	f->egid = syscall(SYS_getegid);
	if (syscall(SYS_uname, &f->uts) != 0)
		tap_bail("uname: %s", strerror(errno));
	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) != 0)
		tap_bail("prlimit64: %s", strerror(errno));
	f->nofile = rl.cur;
	f->nofile_max = rl.max;
}

/* The same facts through the libksvc accessors. */
static inline int t0_acc_facts(struct t0_facts *f)
{
	struct rlimit rl;

	memset(f, 0, sizeof(*f));
	f->pid = ksvc_getpid();
	f->ppid = ksvc_getppid();
	f->uid = ksvc_getuid();
	f->gid = ksvc_getgid();
	f->euid = ksvc_geteuid();
	f->egid = ksvc_getegid();
	if (ksvc_uname(&f->uts) != 0 ||
	    ksvc_getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	f->nofile = rl.rlim_cur;
	f->nofile_max = rl.rlim_max;
	return 0;
}

/* Groups (KSVC_FRESH_*) in which @a and @b differ. */
static inline unsigned t0_diff(const struct t0_facts *a,
			       const struct t0_facts *b)
{
	unsigned d = 0;

	if (a->pid != b->pid)
		d |= KSVC_FRESH_PID;
	if (a->ppid != b->ppid)
		d |= KSVC_FRESH_PPID;
	if (a->uid != b->uid || a->gid != b->gid || a->euid != b->euid ||
	    a->egid != b->egid)
		d |= KSVC_FRESH_IDS;
	if (memcmp(&a->uts, &b->uts, sizeof(a->uts)) != 0)
		d |= KSVC_FRESH_UTS;
	if (a->nofile != b->nofile || a->nofile_max != b->nofile_max)
		d |= KSVC_FRESH_NOFILE;
	return d;
}

static inline const char *t0_groups(unsigned g, char *buf, size_t len)
{
	static const char *const n[] = { "PID", "PPID", "IDS", "UTS",
					 "NOFILE" };
	size_t i, o = 0;

	buf[0] = 0;
	for (i = 0; i < 5; i++)
		if (g & (1u << i))
			o += (size_t)snprintf(buf + o, o < len ? len - o : 0,
					      "%s%s", o ? "|" : "", n[i]);
	if (!o)
		snprintf(buf, len, "none");
	return buf;
}

/* A consistent copy of a page (fresh and values from one section). */
struct t0_page_snap {
	__u32 seq, fresh;
	struct t0_facts f;
};

static inline void t0_read_page(const struct ksvc_shared_page *p,
				struct t0_page_snap *s)
{
	__u32 seq;

	do {
		seq = ksvc_shared_read_begin(p);
		s->fresh = __atomic_load_n(&p->fresh, __ATOMIC_RELAXED);
		s->f.pid = p->pid;
		s->f.ppid = p->ppid;
		s->f.uid = p->uid;
		s->f.gid = p->gid;
		s->f.euid = p->euid;
		s->f.egid = p->egid;
		s->f.nofile = p->rlimit_nofile;
		s->f.nofile_max = p->rlimit_nofile_max;
		memcpy(&s->f.uts,
		       (const char *)p + __builtin_offsetof(struct ksvc_shared_page,
							   utsname_sysname),
		       sizeof(s->f.uts));
	} while (ksvc_shared_read_retry(p, seq));
	s->seq = seq;
}

/*
 * Check a page against the system calls of the calling thread: every
 * fresh group must be exact, and the fresh mask must include @must.
 * Returns 1 if so; otherwise prints why (prefixed by @what).
 */
static inline int t0_page_ok(const struct ksvc_shared_page *p, unsigned must,
			     const char *what)
{
	struct t0_page_snap s;
	struct t0_facts sys;
	unsigned wrong;
	char b1[64], b2[64];

	t0_read_page(p, &s);
	t0_sys_facts(&sys);
	wrong = t0_diff(&s.f, &sys) & s.fresh;
	if (wrong)
		tap_diag("%s: fresh but wrong: %s (fresh %s)", what,
			 t0_groups(wrong, b1, sizeof(b1)),
			 t0_groups(s.fresh, b2, sizeof(b2)));
	if ((s.fresh & must) != must)
		tap_diag("%s: not fresh: %s (fresh %s)", what,
			 t0_groups(must & ~s.fresh, b1, sizeof(b1)),
			 t0_groups(s.fresh, b2, sizeof(b2)));
	if (wrong & KSVC_FRESH_PID)
		tap_diag("  pid page %ld sys %ld", s.f.pid, sys.pid);
	if (wrong & KSVC_FRESH_PPID)
		tap_diag("  ppid page %ld sys %ld", s.f.ppid, sys.ppid);
	if (wrong & KSVC_FRESH_IDS)
		tap_diag("  ids page %ld %ld %ld %ld sys %ld %ld %ld %ld",
			 s.f.uid, s.f.gid, s.f.euid, s.f.egid, sys.uid,
			 sys.gid, sys.euid, sys.egid);
	if (wrong & KSVC_FRESH_UTS)
		tap_diag("  nodename page '%.65s' sys '%.65s'",
			 s.f.uts.nodename, sys.uts.nodename);
	if (wrong & KSVC_FRESH_NOFILE)
		tap_diag("  nofile page %llu/%llu sys %llu/%llu", s.f.nofile,
			 s.f.nofile_max, sys.nofile, sys.nofile_max);
	return !wrong && (s.fresh & must) == must;
}

/* The accessors against the system calls, on the calling thread. */
static inline int t0_acc_ok(const char *what)
{
	struct t0_facts a, sys;
	unsigned d;
	char b[64];

	if (t0_acc_facts(&a) != 0) {
		tap_diag("%s: accessor failed: %s", what, strerror(errno));
		return 0;
	}
	t0_sys_facts(&sys);
	d = t0_diff(&a, &sys);
	if (d) {
		tap_diag("%s: accessors differ from syscalls: %s", what,
			 t0_groups(d, b, sizeof(b)));
		tap_diag("  pid %ld/%ld ppid %ld/%ld uid %ld/%ld euid %ld/%ld",
			 a.pid, sys.pid, a.ppid, sys.ppid, a.uid, sys.uid,
			 a.euid, sys.euid);
	}
	return d == 0;
}

/* Fill @p from the system calls, every bit set (host tests, benchmark). */
static inline void t0_fill_page(struct ksvc_shared_page *p)
{
	struct t0_facts f;

	t0_sys_facts(&f);
	memset(p, 0, sizeof(*p));
	p->magic = KSVC_SHARED_MAGIC;
	p->version = KSVC_SHARED_VERSION;
	p->pid = (__s32)f.pid;
	p->ppid = (__s32)f.ppid;
	p->uid = (__u32)f.uid;
	p->gid = (__u32)f.gid;
	p->euid = (__u32)f.euid;
	p->egid = (__u32)f.egid;
	p->rlimit_nofile = f.nofile;
	p->rlimit_nofile_max = f.nofile_max;
	memcpy((char *)p + __builtin_offsetof(struct ksvc_shared_page,
					      utsname_sysname),
	       &f.uts, sizeof(f.uts));
	p->fresh = KSVC_FRESH_ALL;
}

/* Wait for @pid; returns its exit status, or 128 + signal. */
static inline int t0_wait(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, __WALL) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/*
 * Fork a child that unshares a new pid namespace and runs @fn as its
 * pid 1; the child exits with @fn's status, or @refused if it may not
 * unshare.  Returns the child's pid (in our namespace).
 */
static inline pid_t t0_fork_pidns_init(int (*fn)(void), int refused)
{
	pid_t pid = fork();

	if (pid == 0) {
		pid_t init;

		if (unshare(CLONE_NEWPID) != 0)
			_exit(refused);
		init = fork();
		if (init == 0)
			_exit(fn());
		_exit(t0_wait(init));
	}
	return pid;
}

/* ------------------------------------------------------------------ */
/* A raw instance of the test's own (VM tests)                         */
/* ------------------------------------------------------------------ */

#include <pthread.h>

struct t0_inst {
	int fd;
	const struct ksvc_shared_page *p;
};

/* Open, create and map the shared page; 0 or -errno.  @cloexec: O_CLOEXEC */
static inline int t0_inst_open(struct t0_inst *in, int cloexec)
{
	struct ksvc_create_params cp;
	void *m;
	int e;

	in->p = NULL;
	in->fd = open(KSVC_DEVICE_PATH, O_RDWR | (cloexec ? O_CLOEXEC : 0));
	if (in->fd < 0)
		return -errno;
	memset(&cp, 0, sizeof(cp));
	cp.submit_ring_entries = KSVC_MIN_ENTRIES;
	cp.complete_ring_entries = KSVC_MIN_ENTRIES;
	cp.eventfd = -1;
	if (ioctl(in->fd, KSVC_IOC_CREATE, &cp) != 0)
		goto fail;
	m = mmap(NULL, KSVC_PAGE_SIZE, PROT_READ, MAP_SHARED, in->fd,
		 (off_t)KSVC_OFF_SHARED_PAGE);
	if (m == MAP_FAILED)
		goto fail;
	in->p = m;
	return 0;
fail:
	e = errno;
	close(in->fd);
	in->fd = -1;
	return -e;
}

static inline void t0_inst_close(struct t0_inst *in)
{
	if (in->p)
		munmap((void *)in->p, KSVC_PAGE_SIZE);
	if (in->fd >= 0)
		close(in->fd);
	in->p = NULL;
	in->fd = -1;
}

static inline int t0_inst_refresh(const struct t0_inst *in)
{
	return ioctl(in->fd, KSVC_IOC_REFRESH, 0) == 0 ? 0 : -errno;
}

/* Open or bail. */
static inline void t0_inst_must(struct t0_inst *in, int cloexec)
{
	int r = t0_inst_open(in, cloexec);

	if (r)
		tap_bail("cannot open a KSVC instance: %s", strerror(-r));
}

/* The library's page (opening it if needed), or NULL. */
static inline const struct ksvc_shared_page *t0_lib_page(void)
{
	struct ksvc__t0_info i;

	(void)ksvc_getpid();
	ksvc__t0_info(&i);
	return i.state == KSVC__T0_READY ? i.page : NULL;
}

/* Does /proc/self/maps show a mapping of /dev/ksvc? */
static inline int t0_maps_ksvc(void)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, KSVC_DEVICE_PATH))
			found++;
	fclose(f);
	return found;
}

/* Skip the whole program unless the module is there and we are root. */
static inline void t0_need_module(void)
{
	if (access(KSVC_DEVICE_PATH, R_OK | W_OK) != 0)
		tap_skip_all("no /dev/ksvc (module not loaded)");
	if (geteuid() != 0)
		tap_skip_all("needs root");
}

/* ------------------------------------------------------------------ */
/* Worker threads that run a function on request                       */
/* ------------------------------------------------------------------ */

typedef long (*t0_wfn)(void *);

struct t0_worker {
	pthread_t t;
	pthread_mutex_t m;
	pthread_cond_t c;
	t0_wfn fn;
	void *arg;
	long ret;
	int busy, stop;
};

static inline void *t0_worker_main(void *arg)
{
	struct t0_worker *w = arg;

	pthread_mutex_lock(&w->m);
	for (;;) {
		while (!w->busy && !w->stop)
			pthread_cond_wait(&w->c, &w->m);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->m);
		w->ret = w->fn(w->arg);
		pthread_mutex_lock(&w->m);
		w->busy = 0;
		pthread_cond_broadcast(&w->c);
	}
	pthread_mutex_unlock(&w->m);
	return NULL;
}

static inline void t0_worker_start(struct t0_worker *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->m, NULL);
	pthread_cond_init(&w->c, NULL);
	if (pthread_create(&w->t, NULL, t0_worker_main, w) != 0)
		tap_bail("pthread_create");
}

static inline long t0_worker_run(struct t0_worker *w, t0_wfn fn, void *arg)
{
	long r;

	pthread_mutex_lock(&w->m);
	w->fn = fn;
	w->arg = arg;
	w->busy = 1;
	pthread_cond_broadcast(&w->c);
	while (w->busy)
		pthread_cond_wait(&w->c, &w->m);
	r = w->ret;
	pthread_mutex_unlock(&w->m);
	return r;
}

static inline void t0_worker_stop(struct t0_worker *w)
{
	pthread_mutex_lock(&w->m);
	w->stop = 1;
	pthread_cond_broadcast(&w->c);
	pthread_mutex_unlock(&w->m);
	pthread_join(w->t, NULL);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
}

/* ------------------------------------------------------------------ */
/* A page that stalls whoever touches it first (userfaultfd)           */
/* ------------------------------------------------------------------ */

#include <poll.h>
#include <linux/userfaultfd.h>

struct t0_stall {
	int ufd;	/* -1 if userfaultfd is not there */
	char *page;
	size_t size;
};

/*
 * Map one untouched page and register it for missing faults: a system
 * call whose argument is on it stalls in its copy until t0_stall_fill().
 * Returns 0, or -1 if this kernel gives no userfaultfd (then skip).
 */
static inline int t0_stall_init(struct t0_stall *st)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	void *m;

	st->size = (size_t)sysconf(_SC_PAGESIZE);
	st->page = NULL;
	st->ufd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (st->ufd < 0)
		return -1;
	if (ioctl(st->ufd, UFFDIO_API, &api) != 0)
		goto fail;
	m = mmap(NULL, st->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		goto fail;
	st->page = m;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)m;
	reg.range.len = (__u64)st->size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(st->ufd, UFFDIO_REGISTER, &reg) != 0)
		goto fail;
	return 0;
fail:
	if (st->page)
		munmap(st->page, st->size);
	st->page = NULL;
	close(st->ufd);
	st->ufd = -1;
	return -1;
}

/* Wait up to @ms for the fault on the page; 1 if it came. */
static inline int t0_stall_wait(struct t0_stall *st, int ms)
{
	struct pollfd pfd = { .fd = st->ufd, .events = POLLIN };
	struct uffd_msg msg;

	return poll(&pfd, 1, ms) == 1 &&
	       read(st->ufd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg) &&
	       msg.event == UFFD_EVENT_PAGEFAULT &&
	       msg.arg.pagefault.address == (uintptr_t)st->page;
}

/* Resolve the fault with a page that starts with @len bytes of @data. */
static inline int t0_stall_fill(struct t0_stall *st, const void *data,
				size_t len)
{
	struct uffdio_copy copy;
	char *src = calloc(1, st->size);
	int r;

	if (!src || len > st->size) {
		free(src);
		return -1;
	}
	memcpy(src, data, len);
	memset(&copy, 0, sizeof(copy));
	copy.dst = (uintptr_t)st->page;
	copy.src = (uintptr_t)src;
	copy.len = (__u64)st->size;
	r = ioctl(st->ufd, UFFDIO_COPY, &copy) == 0 ? 0 : -1;
	free(src);
	return r;
}

static inline void t0_stall_destroy(struct t0_stall *st)
{
	if (st->page)
		munmap(st->page, st->size);
	if (st->ufd >= 0)
		close(st->ufd);
	st->page = NULL;
	st->ufd = -1;
}

/* A pipe used as a one-shot signal between processes. */
static inline void t0_post(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1)
		tap_bail("post: %s", strerror(errno));
}

static inline void t0_waitfor(int fd)
{
	char c;

	while (read(fd, &c, 1) != 1)
		if (errno != EINTR)
			_exit(99);
}

static inline long t0_env_long(const char *name, long dflt)
{
	const char *s = getenv(name);

	return s && atol(s) > 0 ? atol(s) : dflt;
}

#endif /* KSVC_TEST_TIER0_H */
