/* SPDX-License-Identifier: MIT */
/*
 * ksvc.h - libksvc, the user-space side of KSVC.
 *
 * The library is split by concern:
 *   setup    ksvc_open(), ksvc_close(): create an instance and map it
 *   rings    static inline producer/consumer helpers (this file)
 *   tier 0   ksvc_getpid() & co.: answered from the shared page
 *   dispatch ksvc_dispatch.h: Tier 1 (io_uring) and Tier 2 (threads)
 *
 * Conventions: functions that return int return 0 (or a count) on
 * success and a negative errno on failure, like liburing, unless they
 * are drop-in replacements of a libc call (the Tier 0 accessors), which
 * behave exactly like the call they replace.
 */
#ifndef KSVC_H
#define KSVC_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "ksvc_uapi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Setup                                                               */
/* ------------------------------------------------------------------ */

/* How an instance is backed. */
enum ksvc_mode {
	KSVC_MODE_KERNEL = 1,	/* /dev/ksvc: the module's rings and page */
	KSVC_MODE_ANON = 2,	/* anonymous shared memory, same layout; the
				 * shared page is never fresh */
};

/* ksvc_open_params.flags */
#define KSVC_OPEN_EVENTFD_NEW	(1u << 0)  /* create an eventfd, owned by
					    * the handle (the default) */
#define KSVC_OPEN_EVENTFD_GIVEN	(1u << 1)  /* use params->eventfd: the
					    * handle keeps a duplicate of
					    * it, so the caller may close
					    * its own at any time */
#define KSVC_OPEN_ANON_FALLBACK	(1u << 2)  /* no /dev/ksvc (or no driver
					    * behind it): use anonymous
					    * memory instead of failing */
#define KSVC_OPEN_ANON		(1u << 3)  /* always anonymous memory */

struct ksvc_open_params {
	__u32 submit_entries;	/* 0: 256 */
	__u32 complete_entries;	/* 0: twice submit_entries, at most
				 * KSVC_MAX_ENTRIES */
	__u32 flags;		/* KSVC_OPEN_*; 0 means EVENTFD_NEW */
	int eventfd;		/* with KSVC_OPEN_EVENTFD_GIVEN: an eventfd,
				 * or -1 for none */
};

/*
 * struct ksvc_ring - a process-local view of one ring mapping.  The
 * geometry is copied out of the header when the ring is mapped and never
 * re-read from shared memory.
 */
struct ksvc_ring {
	struct ksvc_ring_hdr *hdr;	/* start of the mapping */
	unsigned char *slots;		/* entry 0 */
	__u32 entries;
	__u32 mask;
	__u32 entry_size;
	__u32 map_size;			/* bytes mapped */
};

/* struct ksvc - one instance, all three regions mapped. */
struct ksvc {
	int fd;				/* /dev/ksvc, -1 in anonymous mode */
	enum ksvc_mode mode;
	struct ksvc_ring sq;		/* submit ring */
	struct ksvc_ring cq;		/* completion ring */
	const struct ksvc_shared_page *shared;
	int eventfd;			/* -1 if none; the handle's own,
					 * closed by ksvc_close() */
	int owns_eventfd;		/* 1: made by the library; 0: a
					 * duplicate of the program's,
					 * which the program may read */
	__u32 features;			/* KSVC_FEAT_* from the kernel */
	pid_t owner;			/* process that opened it */
	__u64 epoch;			/* ... told apart from a child that
					 * has the same pid number */
};

/*
 * ksvc_open - create an instance and map its rings and shared page.
 * @out:    receives the handle
 * @params: NULL for the defaults
 *
 * Returns 0, or a negative errno: -ENOENT when /dev/ksvc does not exist
 * (module not loaded; -ENODEV or -ENXIO: a node with no driver behind
 * it), -EACCES when it cannot be opened, -EINVAL for bad sizes or flags
 * (checked before the kernel is asked; both EVENTFD flags; a given
 * descriptor that is not an eventfd: without /proc, one that is not an
 * anonymous inode), -EBADF for a given eventfd that is
 * not open, -EPROTO when the kernel's layout does not match this library
 * (an abi_version other than KSVC_ABI_VERSION, or other region sizes),
 * -ENOMEM, or whatever open, eventfd, fcntl (the duplicate of a given
 * eventfd), KSVC_IOC_CREATE, mmap or mprotect returned.  On failure
 * nothing is left behind and *out is untouched.
 * Like every function here but the Tier 0 accessors, it leaves errno as
 * it was.
 * ksvc_strerror() turns each into a sentence that says what to do.
 * The device is opened O_CLOEXEC.
 *
 * A given eventfd (KSVC_OPEN_EVENTFD_GIVEN) may be blocking, and the
 * program may read it too, for instance from its own epoll loop.  A
 * dispatcher thread waiting in ksvc_dispatch_wait() also reads it, never
 * blocking.  The dispatcher signals it once per such sleep, so a count
 * the program takes may be the one that waiter needed; so a thread that
 * waits on an eventfd the program gave looks at the completion ring
 * every 10 ms while it sleeps, and is late by at most that much.  A
 * program that reads the eventfd itself should reap with
 * ksvc_dispatch_reap() when it fires.
 */
int ksvc_open(struct ksvc **out, const struct ksvc_open_params *params);

/* ksvc_close - unmap everything, close the fds, free the handle. */
void ksvc_close(struct ksvc *k);

/* ksvc_strerror - a sentence for a negative errno from this library
 * (ksvc_open() and the dispatcher alike), never NULL. */
const char *ksvc_strerror(int err);

/* ksvc_notify - signal the instance's eventfd (through the kernel when
 * the module backs the instance).  0 or -errno. */
int ksvc_notify(struct ksvc *k);

/* ksvc_refresh - KSVC_IOC_REFRESH: bring back the shared page's fresh
 * bits that can be set.  0 or -errno (-EOPNOTSUPP in anonymous mode). */
int ksvc_refresh(struct ksvc *k);

/* ------------------------------------------------------------------ */
/* Rings: static inline, the hot path                                  */
/* ------------------------------------------------------------------ */
/*
 * The protocol is documented in ksvc_uapi.h.  These helpers implement it
 * with C11 memory orders (through the GCC/Clang __atomic builtins, which
 * are the same operations and also work from C++).  A ring has exactly
 * one producer thread and one consumer thread at a time; the dispatcher
 * (ksvc_dispatch.h) adds the locking that lets many threads submit.
 */

static inline __u32 ksvc__load_acquire(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline __u32 ksvc__load_relaxed(const __u32 *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void ksvc__store_release(__u32 *p, __u32 v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void *ksvc_ring_slot(const struct ksvc_ring *r, __u32 index)
{
	return r->slots + (size_t)(index & r->mask) * r->entry_size;
}

/* Producer: number of free slots. */
static inline __u32 ksvc_ring_space(const struct ksvc_ring *r)
{
	__u32 head = ksvc__load_acquire(&r->hdr->head);
	__u32 tail = ksvc__load_relaxed(&r->hdr->tail);
	__u32 used = tail - head;

	return used > r->entries ? 0 : r->entries - used;
}

/* Producer: the n-th free slot after tail (n < ksvc_ring_space()). */
static inline void *ksvc_ring_prod_slot(const struct ksvc_ring *r, __u32 n)
{
	return ksvc_ring_slot(r, ksvc__load_relaxed(&r->hdr->tail) + n);
}

/* Producer: publish n filled slots. */
static inline void ksvc_ring_produce(struct ksvc_ring *r, __u32 n)
{
	ksvc__store_release(&r->hdr->tail,
			    ksvc__load_relaxed(&r->hdr->tail) + n);
}

/*
 * Producer, after ksvc_ring_produce(): does the consumer sleep and need a
 * wake-up?  The full fence pairs with the one in ksvc_ring_prepare_sleep.
 */
static inline int ksvc_ring_needs_wakeup(const struct ksvc_ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (ksvc__load_relaxed(&r->hdr->flags) & KSVC_RING_NEED_WAKEUP) != 0;
}

/* Internal: ksvc_ring_ready() for a head the consumer already read. */
static inline __u32 ksvc__ring_ready_at(const struct ksvc_ring *r,
					__u32 head)
{
	__u32 used = ksvc__load_acquire(&r->hdr->tail) - head;

	return used > r->entries ? r->entries : used;
}

/* Consumer: number of entries ready. */
static inline __u32 ksvc_ring_ready(const struct ksvc_ring *r)
{
	return ksvc__ring_ready_at(r, ksvc__load_relaxed(&r->hdr->head));
}

/* Consumer: the n-th ready entry after head (n < ksvc_ring_ready()). */
static inline void *ksvc_ring_cons_slot(const struct ksvc_ring *r, __u32 n)
{
	return ksvc_ring_slot(r, ksvc__load_relaxed(&r->hdr->head) + n);
}

/* Consumer: hand n consumed slots back to the producer. */
static inline void ksvc_ring_consume(struct ksvc_ring *r, __u32 n)
{
	ksvc__store_release(&r->hdr->head,
			    ksvc__load_relaxed(&r->hdr->head) + n);
}

/*
 * Consumer, before sleeping: announce it with KSVC_RING_NEED_WAKEUP and
 * re-check.  Returns 1 if the ring is still empty (go to sleep), 0 if an
 * entry arrived meanwhile (the flag is cleared again; do not sleep).
 */
static inline int ksvc_ring_prepare_sleep(struct ksvc_ring *r)
{
	__atomic_fetch_or(&r->hdr->flags, KSVC_RING_NEED_WAKEUP,
			  __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ksvc_ring_ready(r) == 0)
		return 1;
	__atomic_fetch_and(&r->hdr->flags, ~KSVC_RING_NEED_WAKEUP,
			   __ATOMIC_RELAXED);
	return 0;
}

/* Consumer, after waking: withdraw the announcement. */
static inline void ksvc_ring_finish_sleep(struct ksvc_ring *r)
{
	__atomic_fetch_and(&r->hdr->flags, ~KSVC_RING_NEED_WAKEUP,
			   __ATOMIC_RELAXED);
}

/* Typed helpers for the two rings: 0, or -EAGAIN when full / empty. */
static inline int ksvc_sq_push(struct ksvc_ring *sq, const struct ksvc_entry *e)
{
	if (ksvc_ring_space(sq) == 0)
		return -EAGAIN;
	*(struct ksvc_entry *)ksvc_ring_prod_slot(sq, 0) = *e;
	ksvc_ring_produce(sq, 1);
	return 0;
}

static inline int ksvc_sq_pop(struct ksvc_ring *sq, struct ksvc_entry *e)
{
	if (ksvc_ring_ready(sq) == 0)
		return -EAGAIN;
	*e = *(const struct ksvc_entry *)ksvc_ring_cons_slot(sq, 0);
	ksvc_ring_consume(sq, 1);
	return 0;
}

static inline int ksvc_cq_push(struct ksvc_ring *cq,
			       const struct ksvc_completion *c)
{
	if (ksvc_ring_space(cq) == 0)
		return -EAGAIN;
	*(struct ksvc_completion *)ksvc_ring_prod_slot(cq, 0) = *c;
	ksvc_ring_produce(cq, 1);
	return 0;
}

static inline int ksvc_cq_pop(struct ksvc_ring *cq, struct ksvc_completion *c)
{
	if (ksvc_ring_ready(cq) == 0)
		return -EAGAIN;
	*c = *(const struct ksvc_completion *)ksvc_ring_cons_slot(cq, 0);
	ksvc_ring_consume(cq, 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tier 0: process facts from the shared page                          */
/* ------------------------------------------------------------------ */
/*
 * Each accessor returns exactly what the system call it names would
 * return, from the calling thread, right now: from the shared page when
 * the kernel marks the group fresh, through the real system call
 * otherwise.  They need no handle: the library keeps one process-wide
 * Tier 0 instance, opened on first use (and again in a forked child,
 * which closes the descriptor it inherited if KSVC_IOC_INFO shows it is
 * still the library's; never touched from a vfork child), and makes
 * plain system calls where /dev/ksvc does not exist.
 * A fork() while another thread makes the first call waits (at most
 * about a second) until that open is over.  Async-signal-safe and
 * thread-safe; errno is changed only when the call fails, as by the
 * call it replaces.
 *
 *   ksvc_uname(NULL)              -1, errno EFAULT
 *   ksvc_getrlimit(bad, ...)      -1, errno EINVAL
 *   ksvc_getrlimit(res, NULL)     what glibc does: 0 for a valid resource
 *
 * Any other pointer is written to directly when the page answers: one
 * that is not writable faults (SIGSEGV) where the system call would
 * fail with EFAULT, as with the vDSO's calls.
 *
 * The fast path is inline below: two loads to find the page, then the
 * sequence-count read of ksvc_uapi.h.  Everything else (first use,
 * fork, a clear fresh bit, KSVC_IOC_REFRESH) is in lib/tier0.c.
 */

/* Internal to libksvc: not API, may change without notice. */
#if defined(__GNUC__) || defined(__clang__)
#define KSVC__HIDDEN __attribute__((visibility("hidden")))
#else
#define KSVC__HIDDEN
#endif
/*
 * Where the page pointer of the current process lives: a slot inside a
 * private MADV_WIPEONFORK page, so that a forked child reads NULL there
 * and never touches its parent's mapping.  The slot pointer itself
 * starts out pointing at a NULL pointer and is set once.
 */
extern const struct ksvc_shared_page *const *ksvc__t0_slot KSVC__HIDDEN;

/* Slow paths; @hit (may be NULL) is set to 1 if the page answered. */
pid_t ksvc__getpid_slow(unsigned *hit) KSVC__HIDDEN;
pid_t ksvc__getppid_slow(unsigned *hit) KSVC__HIDDEN;
uid_t ksvc__getuid_slow(unsigned *hit) KSVC__HIDDEN;
gid_t ksvc__getgid_slow(unsigned *hit) KSVC__HIDDEN;
uid_t ksvc__geteuid_slow(unsigned *hit) KSVC__HIDDEN;
gid_t ksvc__getegid_slow(unsigned *hit) KSVC__HIDDEN;
int ksvc__uname_slow(struct utsname *buf, unsigned *hit) KSVC__HIDDEN;
int ksvc__getrlimit_slow(int resource, struct rlimit *rlim,
			 unsigned *hit) KSVC__HIDDEN;

#define KSVC__T0_OFF(f) __builtin_offsetof(struct ksvc_shared_page, f)
#define KSVC__T0_UTS_BYTES (6 * KSVC_UTS_LEN)

static inline const struct ksvc_shared_page *ksvc__t0_page(void)
{
	return __atomic_load_n(__atomic_load_n(&ksvc__t0_slot,
					       __ATOMIC_ACQUIRE),
			       __ATOMIC_ACQUIRE);
}

/* One 32-bit field at byte @off of the page, if group @bit is fresh. */
static inline int ksvc__t0_try32(__u32 off, __u32 bit, __u32 *out)
{
	const struct ksvc_shared_page *p = ksvc__t0_page();
	__u32 s, f, v;

	if (__builtin_expect(p == 0, 0))
		return 0;
	s = ksvc_shared_read_begin(p);
	f = __atomic_load_n(&p->fresh, __ATOMIC_RELAXED);
	v = __atomic_load_n((const __u32 *)((const char *)p + off),
			    __ATOMIC_RELAXED);
	if (__builtin_expect(ksvc_shared_read_retry(p, s) || !(f & bit), 0))
		return 0;
	*out = v;
	return 1;
}

/* The six utsname strings (390 bytes, struct utsname's layout). */
static inline int ksvc__t0_try_uts(struct utsname *buf)
{
	const struct ksvc_shared_page *p = ksvc__t0_page();
	__u32 s;

	if (__builtin_expect(p == 0 || buf == 0, 0))
		return 0;
	s = ksvc_shared_read_begin(p);
	if (!(__atomic_load_n(&p->fresh, __ATOMIC_RELAXED) & KSVC_FRESH_UTS))
		return 0;
	__builtin_memcpy(buf, (const char *)p + KSVC__T0_OFF(utsname_sysname),
			 KSVC__T0_UTS_BYTES);
	/* A torn copy is overwritten by the slow path's consistent one. */
	return !ksvc_shared_read_retry(p, s);
}

static inline int ksvc__t0_try_nofile(struct rlimit *rlim)
{
	const struct ksvc_shared_page *p = ksvc__t0_page();
	__u64 cur, max;
	__u32 s, f;

	if (__builtin_expect(p == 0 || rlim == 0, 0))
		return 0;
	s = ksvc_shared_read_begin(p);
	f = __atomic_load_n(&p->fresh, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&p->rlimit_nofile, __ATOMIC_RELAXED);
	max = __atomic_load_n(&p->rlimit_nofile_max, __ATOMIC_RELAXED);
	if (ksvc_shared_read_retry(p, s) || !(f & KSVC_FRESH_NOFILE))
		return 0;
	rlim->rlim_cur = (rlim_t)cur;
	rlim->rlim_max = (rlim_t)max;
	return 1;
}

#define KSVC__T0_ID(name, type, field, bit, slow)			\
static inline type name(void)						\
{									\
	__u32 v;							\
	if (__builtin_expect(ksvc__t0_try32(KSVC__T0_OFF(field), bit,	\
					    &v), 1))			\
		return (type)v;						\
	return slow(0);							\
}

KSVC__T0_ID(ksvc_getpid, pid_t, pid, KSVC_FRESH_PID, ksvc__getpid_slow)
KSVC__T0_ID(ksvc_getppid, pid_t, ppid, KSVC_FRESH_PPID, ksvc__getppid_slow)
KSVC__T0_ID(ksvc_getuid, uid_t, uid, KSVC_FRESH_IDS, ksvc__getuid_slow)
KSVC__T0_ID(ksvc_getgid, gid_t, gid, KSVC_FRESH_IDS, ksvc__getgid_slow)
KSVC__T0_ID(ksvc_geteuid, uid_t, euid, KSVC_FRESH_IDS, ksvc__geteuid_slow)
KSVC__T0_ID(ksvc_getegid, gid_t, egid, KSVC_FRESH_IDS, ksvc__getegid_slow)
#undef KSVC__T0_ID

/* Like uname(2). */
static inline int ksvc_uname(struct utsname *buf)
{
	if (__builtin_expect(ksvc__t0_try_uts(buf), 1))
		return 0;
	return ksvc__uname_slow(buf, 0);
}

/* Like getrlimit(2): RLIMIT_NOFILE from the page, the rest by syscall. */
static inline int ksvc_getrlimit(int resource, struct rlimit *rlim)
{
	if (__builtin_expect(resource == RLIMIT_NOFILE &&
			     ksvc__t0_try_nofile(rlim), 1))
		return 0;
	return ksvc__getrlimit_slow(resource, rlim, 0);
}

#ifdef __cplusplus
}
#endif

/* The dispatcher (Tier 1 and Tier 2) is part of the same library. */
#include "ksvc_dispatch.h"

#endif /* KSVC_H */
