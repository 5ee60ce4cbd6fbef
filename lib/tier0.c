// SPDX-License-Identifier: MIT
/*
 * tier0.c - the Tier 0 accessors' slow paths and the process-wide
 * instance behind them.
 *
 * The fast path is inline in ksvc.h: it finds the page through
 * ksvc__t0_slot and reads one group under the page's sequence count.
 * Everything else happens here:
 *
 *  - First use opens /dev/ksvc (O_RDWR | O_CLOEXEC), creates an instance
 *    with the smallest rings and no eventfd, and maps only the shared
 *    page, read-only.  It is never unmapped.  Where /dev/ksvc is missing
 *    or anything fails, the process remembers that and makes syscalls.
 *
 *  - The state lives in a private anonymous page marked MADV_WIPEONFORK:
 *    a child created by fork(), _Fork() or a raw clone() without
 *    CLONE_VM reads zeroes there, so it never touches its parent's
 *    mapping (which the kernel does not copy) and opens its own instance
 *    on first use.  Where MADV_WIPEONFORK is unavailable a pthread_atfork
 *    handler clears the state instead (raw clones are then not covered).
 *    The descriptor inherited from the parent is closed in the child
 *    (by the atfork handler, or on first use after a raw clone) once the
 *    kernel says it is a KSVC instance this process does not own (a pid
 *    cannot say: a child in a new pid namespace may have its parent's
 *    number).  A fork() while another thread opens the instance waits
 *    until the open is over (see t0_opener).  A raw clone(CLONE_FILES)
 *    child, which shares its parent's descriptor table, neither closes
 *    that descriptor nor opens one: it makes system calls.
 *
 *  - A clear fresh bit: issue KSVC_IOC_REFRESH at most once per value
 *    of the page's sequence count (the value after the refresh is
 *    remembered), plus at most once per ~13 ms, because a bit can become
 *    settable again without the page changing (a vfork child that went
 *    away); then read again, and make the real syscall if the bit is
 *    still clear.
 *
 *  - A vfork or other CLONE_VM child shares this memory with its parent.
 *    The kernel keeps every bit clear while it exists, so its accessors
 *    come here; it must write nothing: before any write (opening the
 *    instance, claiming a refresh) the caller proves it is the process
 *    that owns the state (getpid() against the recorded owner, and
 *    against the process whose memory the state page is, which the
 *    page records from the start: see t0_borrowed_mm()).
 *
 * Everything here is async-signal-safe: raw syscalls through syscall(3)
 * with errno saved and restored, atomics, no locks, no malloc.  A thread
 * that finds the instance being opened by another thread (or by itself,
 * from a signal handler) makes the syscall meanwhile.  The one wait is
 * fork()'s, for another thread's open, bounded (t0_atfork_prepare()).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ksvc.h"
#include "tier0.h"

_Static_assert(sizeof(struct utsname) == KSVC__T0_UTS_BYTES,
	       "struct utsname is six 65-byte strings");
_Static_assert(__builtin_offsetof(struct utsname, domainname) ==
	       5 * KSVC_UTS_LEN, "utsname layout");
_Static_assert(KSVC__T0_OFF(utsname_domainname) ==
	       KSVC__T0_OFF(utsname_sysname) + 5 * KSVC_UTS_LEN,
	       "page utsname layout");

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

/* The private state page.  Zero means "not opened yet". */
struct t0_state {
	const struct ksvc_shared_page *page;	/* the slot; set last */
	int state;				/* KSVC__T0_* */
	int fd;
	pid_t owner;
	pid_t mm;		/* whose memory this is; 0: a forked child's */
	__u64 rdev;				/* of fd: a KSVC device */
	__u64 gate;				/* seq << 32 | ticks */
};

/* What the slot points to until the state page exists. */
static const struct ksvc_shared_page *const t0_no_page;
const struct ksvc_shared_page *const *ksvc__t0_slot = &t0_no_page;

static struct t0_state *t0_st;		/* the state page, set once */
static int t0_wipes;			/* it is MADV_WIPEONFORK */
static int t0_atfork_ok;		/* the atfork handler is registered */

/*
 * Ordinary memory, so a forked child still sees it: the descriptor the
 * parent opened, for the child to close.
 */
static struct {
	int fd;
	__u64 rdev;
	__u64 id;	/* KSVC_IOC_INFO's id; 0 until known, or no INFO */
} t0_rec = { -1, 0, 0 };

/*
 * fork() during the first open.  While t0_open() runs, a fork by another
 * thread could give the child a descriptor it cannot know to close (not
 * recorded yet, or no longer).  So the opener publishes itself in
 * t0_opener for all of t0_open(), and the atfork prepare handler
 * announces the fork in t0_forking and waits (boundedly) until t0_open()
 * is over; an opener that finds a fork announced backs out, and the
 * accessor makes its system call this time.
 *
 * Both words carry the pid of the process they describe in their high
 * half.  A child made by _Fork() or a raw clone runs no atfork handler
 * and keeps copies that describe its parent: it ignores them.  A
 * CLONE_VM child shares its parent's, live: its own fork must not change
 * them (t0_fork_announce()).  The descriptor of a child made by _Fork(),
 * vfork or a raw clone is not covered (it is O_CLOEXEC).
 */
static __u64 t0_forking;		/* pid << 32 | forks past prepare */
static __u64 t0_opener;			/* pid << 32 | tid, or 0 */

#define T0_WORD(pid, low)	(((__u64)(__u32)(pid) << 32) | (__u32)(low))
#define T0_WORD_PID(w)		((__u32)((w) >> 32))

/*
 * How long a fork waits for an opener: ~1 s (2^22 ns ticks), and a cap
 * on the polls in case the clock does not move.
 */
#define T0_FORK_WAIT_TICKS	240u
#define T0_FORK_WAIT_POLLS	(1u << 20)

/* Refresh at least this often (in 2^22 ns ticks) while a bit is clear. */
#define T0_RETRY_TICKS	3u

/* ------------------------------------------------------------------ */
/* Raw system calls: -errno on failure, errno untouched               */
/* ------------------------------------------------------------------ */

static long t0_sys(long nr, long a, long b, long c, long d, long e, long f)
{
	int saved = errno;
	long r = syscall(nr, a, b, c, d, e, f);

	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}

#define SYS0(nr)		t0_sys(nr, 0, 0, 0, 0, 0, 0)
#define SYS1(nr, a)		t0_sys(nr, (long)(a), 0, 0, 0, 0, 0)
#define SYS2(nr, a, b)		t0_sys(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(nr, a, b, c)	\
	t0_sys(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(nr, a, b, c, d)	\
	t0_sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS5(nr, a, b, c, d, e)	\
	t0_sys(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static void *t0_mmap(void *addr, size_t len, int prot, int flags, int fd,
		     unsigned long long off)
{
	long r = t0_sys(SYS_mmap, (long)addr, (long)len, prot, flags, fd,
			(long)off);

	return r < 0 && r > -4096 ? MAP_FAILED : (void *)r;
}

static __u32 t0_ticks(void)
{
	struct timespec ts;

	/* vDSO; COARSE needs no hardware clock, so no syscall either. */
	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (__u32)((((__u64)ts.tv_sec * 1000000000u) +
			(__u64)ts.tv_nsec) >> 22);
}

/* ------------------------------------------------------------------ */
/* Process identity                                                    */
/* ------------------------------------------------------------------ */

/*
 * Does this process share its address space with its parent (vfork,
 * posix_spawn, clone(CLONE_VM))?  Then this memory is the parent's and
 * must not be written.
 *
 * The state page says whose memory it is (st->mm, set when the page is
 * made, which the constructor does, and by the atfork child handler): a
 * CLONE_VM child finds another process's pid there.  A child of fork()
 * or of a raw clone() finds 0 (MADV_WIPEONFORK) and claims the page
 * unless the kernel says it shares its parent's memory (kcmp), which is
 * also the only test while no page exists.  kcmp can only say "shared"
 * for sure: a process that may not compare (not dumpable, a seccomp
 * filter) or whose parent is a thread group whose leader has exited
 * gets another answer, which is why the page's word comes first.
 */
static int t0_borrowed_mm(void)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);
	long me = SYS0(SYS_getpid), parent;
	pid_t mm = 0;

	if (st) {
		mm = __atomic_load_n(&st->mm, __ATOMIC_ACQUIRE);
		if (mm)
			return mm != (pid_t)me;
	}
	parent = SYS0(SYS_getppid);
	if (parent > 0 && SYS5(SYS_kcmp, me, parent, KCMP_VM, 0, 0) == 0)
		return 1;
	if (st)
		__atomic_compare_exchange_n(&st->mm, &mm, (pid_t)me, 0,
					    __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
	return 0;
}

/* Is @fd a KSVC device file with device number @rdev (0: any)? */
static int t0_is_ksvc_fd(int fd, __u64 rdev, __u64 *out)
{
	struct stat st;

	if (fd < 0 || SYS2(SYS_fstat, fd, &st) != 0 || !S_ISCHR(st.st_mode))
		return 0;
	if (rdev && (__u64)st.st_rdev != rdev)
		return 0;
	if (out)
		*out = (__u64)st.st_rdev;
	return 1;
}

/*
 * Is @fd, in a child, still the descriptor its parent's library opened?
 * 1: it is, and this process does not own it (close it); 0: it is ours
 * after all (keep it); -1: another file took the number (leave it alone).
 *
 * With the instance id known (KSVC_IOC_INFO) the kernel says which file
 * it is.  Without it (a module without INFO) the only test is whether
 * this process may use it: a KSVC file it does not own (EACCES), or one
 * with no instance yet (EINVAL).  That test cannot tell the library's
 * descriptor from one the application opened itself at the same number
 * after closing ours behind our back.
 */
static int t0_inherited(int fd, __u64 id)
{
	struct ksvc_info info;
	long r;

	if (id) {
		r = SYS3(SYS_ioctl, fd, KSVC_IOC_INFO, &info);
		if (r != 0 || info.id != id)
			return -1;
		return (info.flags & KSVC_INFO_OWNER) ? 0 : 1;
	}
	r = SYS3(SYS_ioctl, fd, KSVC_IOC_REFRESH, 0);
	if (r == 0)
		return 0;
	return r == -EACCES || r == -EINVAL ? 1 : -1;
}

/*
 * A child of fork() inherited its parent's descriptor: close it if it is
 * still that one.  The kernel decides, not the pid: a child forked into
 * a new pid namespace can have its parent's pid number.
 */
static void t0_close_inherited(void)
{
	/* Claimed first: a signal handler's own open may come in between. */
	int fd = __atomic_exchange_n(&t0_rec.fd, -1, __ATOMIC_ACQ_REL);
	__u64 id = __atomic_load_n(&t0_rec.id, __ATOMIC_RELAXED);
	int expected = -1;

	if (fd < 0 || !t0_is_ksvc_fd(fd, t0_rec.rdev, NULL))
		return;
	switch (t0_inherited(fd, id)) {
	case 0:
		/* Ours after all: keep the record. */
		__atomic_compare_exchange_n(&t0_rec.fd, &expected, fd, 0,
					    __ATOMIC_ACQ_REL,
					    __ATOMIC_RELAXED);
		break;
	case 1:
		SYS1(SYS_close, fd);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* The state page and the instance                                     */
/* ------------------------------------------------------------------ */

/* Make the state page (or find the one another thread made). */
static struct t0_state *t0_state_make(void)
{
	struct t0_state *expected = NULL;
	void *p;
	int wipes;

	p = t0_mmap(NULL, KSVC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	wipes = SYS3(SYS_madvise, p, KSVC_PAGE_SIZE, MADV_WIPEONFORK) == 0;
	if (!wipes && !__atomic_load_n(&t0_atfork_ok, __ATOMIC_ACQUIRE)) {
		/* Nothing would forget it in a child yet. */
		SYS2(SYS_munmap, p, KSVC_PAGE_SIZE);
		return NULL;
	}
	((struct t0_state *)p)->mm = (pid_t)SYS0(SYS_getpid);
	if (!__atomic_compare_exchange_n(&t0_st, &expected, p, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		SYS2(SYS_munmap, p, KSVC_PAGE_SIZE);
		return expected;
	}
	__atomic_store_n(&t0_wipes, wipes, __ATOMIC_RELAXED);
	__atomic_store_n(&ksvc__t0_slot,
			 (const struct ksvc_shared_page *const *)
			 &((struct t0_state *)p)->page, __ATOMIC_RELEASE);
	return p;
}

/* The state page, made now unless this memory is another process's. */
static struct t0_state *t0_state_page(void)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);

	if (st)
		return st;
	if (t0_borrowed_mm())
		return NULL;
	return t0_state_make();
}

/* Open the instance; @st->state is BUSY and ours. */
static void t0_open(struct t0_state *st)
{
	struct ksvc_create_params cp;
	const struct ksvc_shared_page *page;
	long me = SYS0(SYS_getpid), tid = SYS0(SYS_gettid);
	__u64 rdev = 0, forking;
	int is_ksvc;
	long fd;

	/* Pairs with t0_atfork_prepare(): one of the two sees the other. */
	__atomic_store_n(&t0_opener, T0_WORD(me, tid), __ATOMIC_SEQ_CST);
	forking = __atomic_load_n(&t0_forking, __ATOMIC_SEQ_CST);
	if ((__u32)forking && T0_WORD_PID(forking) == (__u32)me) {
		__atomic_store_n(&t0_opener, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&st->state, KSVC__T0_UNINIT, __ATOMIC_RELEASE);
		return;
	}
	/*
	 * A raw clone(CLONE_FILES) child shares its parent's descriptor
	 * table: the inherited descriptor is the parent's, in use, and one
	 * opened here would stay in the parent.  No instance for it.
	 */
	if (SYS5(SYS_kcmp, tid, SYS0(SYS_getppid), KCMP_FILES, 0, 0) == 0)
		goto none;
	t0_close_inherited();

	fd = SYS3(SYS_openat, AT_FDCWD, KSVC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	is_ksvc = fd >= 0 && t0_is_ksvc_fd((int)fd, 0, &rdev);
	if (is_ksvc) {
		/* Record it at once: a child made from now on must close it. */
		t0_rec.rdev = rdev;
		__atomic_store_n(&t0_rec.id, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&t0_rec.fd, (int)fd, __ATOMIC_RELEASE);
	}
	if (fd < 0)
		goto none;
	if (!is_ksvc)
		goto close;

	memset(&cp, 0, sizeof(cp));
	cp.submit_ring_entries = KSVC_MIN_ENTRIES;
	cp.complete_ring_entries = KSVC_MIN_ENTRIES;
	cp.eventfd = -1;
	if (SYS3(SYS_ioctl, fd, KSVC_IOC_CREATE, &cp) != 0)
		goto unrecord;
	if (cp.abi_version != KSVC_ABI_VERSION ||
	    !(cp.features & KSVC_FEAT_TIER0) ||
	    !(cp.features & KSVC_FEAT_REFRESH) ||
	    cp.shared_page_size != KSVC_PAGE_SIZE)
		goto unrecord;
	page = t0_mmap(NULL, KSVC_PAGE_SIZE, PROT_READ, MAP_SHARED, (int)fd,
		       KSVC_OFF_SHARED_PAGE);
	if (page == MAP_FAILED)
		goto unrecord;
	if (page->magic != KSVC_SHARED_MAGIC || page->version < 1) {
		SYS2(SYS_munmap, page, KSVC_PAGE_SIZE);
		goto unrecord;
	}
	if (cp.features & KSVC_FEAT_INFO) {
		struct ksvc_info info;

		if (SYS3(SYS_ioctl, fd, KSVC_IOC_INFO, &info) == 0 && info.id)
			__atomic_store_n(&t0_rec.id, info.id, __ATOMIC_RELAXED);
	}

	st->fd = (int)fd;
	st->owner = (pid_t)me;
	st->rdev = rdev;
	/* CREATE refreshed everything: no refresh for this seq. */
	__atomic_store_n(&st->gate,
			 ((__u64)ksvc_shared_read_begin(page) << 32) |
			 t0_ticks(), __ATOMIC_RELAXED);
	__atomic_store_n(&st->page, page, __ATOMIC_RELEASE);
	__atomic_store_n(&st->state, KSVC__T0_READY, __ATOMIC_RELEASE);
	__atomic_store_n(&t0_opener, 0, __ATOMIC_RELEASE);
	return;

unrecord:
	__atomic_store_n(&t0_rec.fd, -1, __ATOMIC_RELAXED);
close:
	SYS1(SYS_close, fd);
none:
	__atomic_store_n(&st->state, KSVC__T0_NONE, __ATOMIC_RELEASE);
	__atomic_store_n(&t0_opener, 0, __ATOMIC_RELEASE);
}

/* The page if the instance is (or can now be made) ready, else NULL. */
static const struct ksvc_shared_page *t0_ready(struct t0_state **out)
{
	struct t0_state *st = t0_state_page();
	const struct ksvc_shared_page *page;
	int expected = KSVC__T0_UNINIT;

	*out = st;
	if (!st)
		return NULL;
	page = __atomic_load_n(&st->page, __ATOMIC_ACQUIRE);
	if (page)
		return page;
	if (__atomic_load_n(&st->state, __ATOMIC_ACQUIRE) != KSVC__T0_UNINIT)
		return NULL;
	/* A vfork child of a process that never opened it: hands off. */
	if (t0_borrowed_mm())
		return NULL;
	if (!__atomic_compare_exchange_n(&st->state, &expected,
					 KSVC__T0_BUSY, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return NULL;
	t0_open(st);
	return __atomic_load_n(&st->page, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------------ */
/* Reading, refreshing                                                 */
/* ------------------------------------------------------------------ */

/* Copy @len bytes at @off if group @bit is fresh; *seq gets the seq. */
static int t0_copy(const struct ksvc_shared_page *page, __u32 bit,
		   size_t off, size_t len, void *out, __u32 *seq)
{
	__u32 s, f;

	do {
		s = ksvc_shared_read_begin(page);
		f = __atomic_load_n(&page->fresh, __ATOMIC_RELAXED);
		if (f & bit)
			memcpy(out, (const char *)page + off, len);
	} while (ksvc_shared_read_retry(page, s));
	*seq = s;
	return (f & bit) != 0;
}

/*
 * Ask the kernel to bring bits back, unless it was asked already for
 * this seq (and recently).  Returns 1 if a refresh was done.
 */
static int t0_refresh_gated(struct t0_state *st,
			    const struct ksvc_shared_page *page, __u32 seq)
{
	__u64 gate = __atomic_load_n(&st->gate, __ATOMIC_RELAXED);
	__u64 claim;
	__u32 now;
	int fd = st->fd;

	if (fd < 0)
		return 0;	/* an installed test page */
	now = t0_ticks();
	if ((__u32)(gate >> 32) == seq &&
	    (__u32)(now - (__u32)gate) < T0_RETRY_TICKS)
		return 0;
	/* Only the owner writes: not a vfork child borrowing our memory. */
	if (SYS0(SYS_getpid) != st->owner)
		return 0;
	claim = ((__u64)seq << 32) | now;
	if (!__atomic_compare_exchange_n(&st->gate, &gate, claim, 0,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return 0;	/* another thread is at it */
	/* The application may have closed our descriptor behind our back. */
	if (!t0_is_ksvc_fd(fd, st->rdev, NULL))
		return 0;
	if (SYS3(SYS_ioctl, fd, KSVC_IOC_REFRESH, 0) != 0)
		return 0;
	__atomic_compare_exchange_n(&st->gate, &claim,
				    ((__u64)ksvc_shared_read_begin(page) << 32)
				    | now, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	return 1;
}

/* The slow path of one group: 1 with @out filled from the page. */
static int t0_fetch(__u32 bit, size_t off, size_t len, void *out)
{
	struct t0_state *st;
	const struct ksvc_shared_page *page = t0_ready(&st);
	__u32 seq;

	if (!page)
		return 0;
	if (t0_copy(page, bit, off, len, out, &seq))
		return 1;
	if (!t0_refresh_gated(st, page, seq))
		return 0;
	return t0_copy(page, bit, off, len, out, &seq);
}

static void t0_hit(unsigned *hit, unsigned v)
{
	if (hit)
		*hit = v;
}

#define T0_SLOW_ID(name, type, field, bit, nr)				\
type name(unsigned *hit)						\
{									\
	__u32 v;							\
									\
	if (t0_fetch(bit, KSVC__T0_OFF(field), sizeof(v), &v)) {	\
		t0_hit(hit, 1);						\
		return (type)v;						\
	}								\
	t0_hit(hit, 0);							\
	return (type)SYS0(nr);						\
}

T0_SLOW_ID(ksvc__getpid_slow, pid_t, pid, KSVC_FRESH_PID, SYS_getpid)
T0_SLOW_ID(ksvc__getppid_slow, pid_t, ppid, KSVC_FRESH_PPID, SYS_getppid)
T0_SLOW_ID(ksvc__getuid_slow, uid_t, uid, KSVC_FRESH_IDS, SYS_getuid)
T0_SLOW_ID(ksvc__getgid_slow, gid_t, gid, KSVC_FRESH_IDS, SYS_getgid)
T0_SLOW_ID(ksvc__geteuid_slow, uid_t, euid, KSVC_FRESH_IDS, SYS_geteuid)
T0_SLOW_ID(ksvc__getegid_slow, gid_t, egid, KSVC_FRESH_IDS, SYS_getegid)

int ksvc__uname_slow(struct utsname *buf, unsigned *hit)
{
	long r;

	if (buf && t0_fetch(KSVC_FRESH_UTS, KSVC__T0_OFF(utsname_sysname),
			    KSVC__T0_UTS_BYTES, buf)) {
		t0_hit(hit, 1);
		return 0;
	}
	t0_hit(hit, 0);
	r = SYS1(SYS_uname, buf);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

int ksvc__getrlimit_slow(int resource, struct rlimit *rlim, unsigned *hit)
{
	__u64 v[2];
	long r;

	if (resource == RLIMIT_NOFILE && rlim &&
	    t0_fetch(KSVC_FRESH_NOFILE, KSVC__T0_OFF(rlimit_nofile),
		     sizeof(v), v)) {
		rlim->rlim_cur = (rlim_t)v[0];
		rlim->rlim_max = (rlim_t)v[1];
		t0_hit(hit, 1);
		return 0;
	}
	t0_hit(hit, 0);
	/* What glibc's getrlimit() does: prlimit64 on ourselves. */
	if (sizeof(rlim_t) == sizeof(__u64)) {
		r = SYS4(SYS_prlimit64, 0, resource, NULL, rlim);
	} else {
		r = SYS4(SYS_prlimit64, 0, resource, NULL, rlim ? v : NULL);
		if (r == 0 && rlim) {
			rlim->rlim_cur = v[0] > (rlim_t)-1 ? RLIM_INFINITY
							   : (rlim_t)v[0];
			rlim->rlim_max = v[1] > (rlim_t)-1 ? RLIM_INFINITY
							   : (rlim_t)v[1];
		}
	}
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* fork                                                                */
/* ------------------------------------------------------------------ */

/* A fork starts in process @me (also the test hook's way in). */
static void t0_fork_announce(__u32 me)
{
	__u64 w = __atomic_load_n(&t0_forking, __ATOMIC_RELAXED), nw;

	do {
		if (T0_WORD_PID(w) == me)
			nw = w + 1;
		else if (!(__u32)w)
			nw = T0_WORD(me, 1);
		else
			/*
			 * Another process's fork under way: a stale copy
			 * (we were made by _Fork() or a raw clone) or, in a
			 * CLONE_VM child, our parent's, live.  Leave it:
			 * such a child writes nothing of its parent's.  Our
			 * openers do not back out then; the wait below
			 * still holds for those already in t0_open().
			 */
			return;
	} while (!__atomic_compare_exchange_n(&t0_forking, &w, nw, 0,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
}

/* ... and is over: only a count of ours goes down. */
static void t0_fork_over(__u32 me)
{
	__u64 w = __atomic_load_n(&t0_forking, __ATOMIC_RELAXED);

	do {
		if (T0_WORD_PID(w) != me || !(__u32)w)
			return;
	} while (!__atomic_compare_exchange_n(&t0_forking, &w, w - 1, 0,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

/* Hold the fork until no other thread of ours is in t0_open(). */
static void t0_atfork_prepare(void)
{
	__u32 me = (__u32)SYS0(SYS_getpid), tid, start, polls = 0;
	__u64 op;

	t0_fork_announce(me);
	op = __atomic_load_n(&t0_opener, __ATOMIC_SEQ_CST);
	if (!op || T0_WORD_PID(op) != me)
		return;
	tid = (__u32)op;
	/* Never wait for ourselves (a signal handler's fork). */
	if (tid == (__u32)SYS0(SYS_gettid))
		return;
	start = t0_ticks();
	while (__atomic_load_n(&t0_opener, __ATOMIC_ACQUIRE) == op) {
		/*
		 * Opening takes microseconds.  An opener that is gone (a
		 * cancelled thread) or stuck (a handler that longjmp'd out)
		 * is given up on, and later forks do not wait for it.
		 */
		if (t0_ticks() - start >= T0_FORK_WAIT_TICKS ||
		    ++polls >= T0_FORK_WAIT_POLLS ||
		    SYS3(SYS_tgkill, me, tid, 0) == -ESRCH) {
			__atomic_compare_exchange_n(&t0_opener, &op, 0, 0,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
			return;
		}
		SYS0(SYS_sched_yield);
	}
}

static void t0_atfork_parent(void)
{
	t0_fork_over((__u32)SYS0(SYS_getpid));
}

static void t0_atfork_child(void)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_RELAXED);

	__atomic_store_n(&t0_forking, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&t0_opener, 0, __ATOMIC_RELAXED);
	if (st && !__atomic_load_n(&t0_wipes, __ATOMIC_RELAXED))
		memset(st, 0, sizeof(*st));
	/* This memory is the child's: say so before a vfork child of its
	 * own could claim it. */
	if (st)
		__atomic_store_n(&st->mm, (pid_t)SYS0(SYS_getpid),
				 __ATOMIC_RELEASE);
	t0_close_inherited();
}

__attribute__((constructor)) static void t0_init(void)
{
	if (pthread_atfork(t0_atfork_prepare, t0_atfork_parent,
			   t0_atfork_child) == 0)
		__atomic_store_n(&t0_atfork_ok, 1, __ATOMIC_RELEASE);
	/*
	 * The state page now, so that it says whose memory it is before a
	 * vfork child can ask (t0_borrowed_mm()); it opens nothing.  No
	 * need to ask whose memory this is: a constructor runs in the image
	 * execve() loaded.
	 */
	(void)t0_state_make();
}

/* ------------------------------------------------------------------ */
/* Internal hooks (tier0.h)                                            */
/* ------------------------------------------------------------------ */

void ksvc__t0_info(struct ksvc__t0_info *out)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	out->wipeonfork = __atomic_load_n(&t0_wipes, __ATOMIC_RELAXED);
	if (!st)
		return;
	out->state = __atomic_load_n(&st->state, __ATOMIC_ACQUIRE);
	out->page = __atomic_load_n(&st->page, __ATOMIC_ACQUIRE);
	if (out->state == KSVC__T0_READY) {
		out->fd = st->fd;
		out->owner = st->owner;
	}
}

int ksvc__t0_refresh(void)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);
	long r;

	if (!st || __atomic_load_n(&st->state, __ATOMIC_ACQUIRE) !=
	    KSVC__T0_READY || st->fd < 0)
		return -ENODEV;
	r = SYS3(SYS_ioctl, st->fd, KSVC_IOC_REFRESH, 0);
	return r < 0 ? (int)r : 0;
}

size_t ksvc__t0_state_copy(void *buf, size_t len)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);
	unsigned char *b = buf;
	size_t n = 0;

	if (st && len >= sizeof(*st)) {
		memcpy(b, st, sizeof(*st));
		n += sizeof(*st);
	}
	if (len - n >= sizeof(t0_rec)) {
		memcpy(b + n, &t0_rec, sizeof(t0_rec));
		n += sizeof(t0_rec);
	}
	if (len - n >= sizeof(t0_st)) {
		memcpy(b + n, &t0_st, sizeof(t0_st));
		n += sizeof(t0_st);
	}
	if (len - n >= 2 * sizeof(__u64)) {
		__u64 w[2] = {
			__atomic_load_n(&t0_forking, __ATOMIC_RELAXED),
			__atomic_load_n(&t0_opener, __ATOMIC_RELAXED),
		};

		memcpy(b + n, w, sizeof(w));
		n += sizeof(w);
	}
	return n;
}

void ksvc__t0_test_reset(void)
{
	struct t0_state *st = __atomic_load_n(&t0_st, __ATOMIC_ACQUIRE);

	if (!st)
		return;
	if (__atomic_load_n(&st->state, __ATOMIC_ACQUIRE) == KSVC__T0_READY &&
	    st->fd >= 0) {
		SYS2(SYS_munmap, st->page, KSVC_PAGE_SIZE);
		SYS1(SYS_close, st->fd);
		__atomic_store_n(&t0_rec.fd, -1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&st->page, NULL, __ATOMIC_RELEASE);
	st->fd = -1;
	st->owner = 0;
	st->rdev = 0;
	__atomic_store_n(&st->gate, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&st->state, KSVC__T0_UNINIT, __ATOMIC_RELEASE);
}

int ksvc__t0_test_install(const struct ksvc_shared_page *page)
{
	struct t0_state *st;

	ksvc__t0_test_reset();
	st = t0_state_page();
	if (!st)
		return -ENOMEM;
	st->fd = -1;
	st->owner = (pid_t)SYS0(SYS_getpid);
	__atomic_store_n(&st->page, page, __ATOMIC_RELEASE);
	__atomic_store_n(&st->state, KSVC__T0_READY, __ATOMIC_RELEASE);
	return 0;
}

void ksvc__t0_test_fork_hold(int on)
{
	__u32 me = (__u32)SYS0(SYS_getpid);

	if (on)
		t0_fork_announce(me);
	else
		t0_fork_over(me);
}
