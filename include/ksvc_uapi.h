/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * ksvc_uapi.h - the KSVC ABI, shared by ksvc.ko and user space.
 *
 * KSVC (Kernel SysCall Virtualization Channel) gives a process, through
 * /dev/ksvc, three memory regions:
 *
 *   - a submit ring     (application produces struct ksvc_entry,
 *                        the dispatcher consumes),
 *   - a completion ring (the dispatcher produces struct ksvc_completion,
 *                        the application consumes),
 *   - a shared page     (read-only; the kernel publishes process facts
 *                        so that getpid() & co. are a memory load).
 *
 * Everything in this file is ABI; every size and offset is pinned by a
 * static assertion at the bottom of this file.  How it may grow:
 *
 *   - struct ksvc_create_params, struct ksvc_info, struct ksvc_ring_hdr
 *     and struct ksvc_shared_page grow only into their reserved space.
 *     Reserved words user space passes in must be zero (EINVAL
 *     otherwise); those the kernel passes out are zero today, and user
 *     space ignores what they hold.
 *   - struct ksvc_entry has no spare byte.  A larger entry can only come
 *     with a new create flag that asks for it; the ring header's
 *     entry_size then tells its size.  With create flags 0, entry_size
 *     is sizeof(struct ksvc_entry) in the submit ring and
 *     sizeof(struct ksvc_completion) in the completion ring.
 *   - struct ksvc_completion: its producer writes reserved0 and
 *     reserved1 as zero, its consumer ignores them.
 *
 * The masks KSVC_CREATE_FLAGS_ALL, KSVC_ENTRY_FLAGS_ALL and
 * KSVC_FRESH_ALL describe this header, not the running module: what a
 * module supports is told by the features it reports at
 * KSVC_IOC_CREATE.
 *
 * Usable from the kernel, from C (C99 or later) and from C++.
 */
#ifndef KSVC_UAPI_H
#define KSVC_UAPI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * KSVC_ABI_VERSION stays 1 for every compatible extension: those come as
 * KSVC_FEAT_* bits, create flags and new requests, and an instance
 * created with flags 0 keeps the behaviour of this file.  Any other
 * abi_version from KSVC_IOC_CREATE means an incompatible ABI: user space
 * must not use the instance.
 */
#define KSVC_ABI_VERSION	1

/*
 * The ABI is defined in 4 KiB pages.  The module refuses to build for a
 * kernel whose PAGE_SIZE differs.  User space gets PAGE_SIZE defined if
 * the C library did not define it, so that
 *
 *   mmap(NULL, ring_pages(256, sizeof(struct ksvc_entry)) * PAGE_SIZE,
 *        PROT_READ | PROT_WRITE, MAP_SHARED, fd, KSVC_OFF_SUBMIT_RING);
 *
 * compiles as written.
 */
#define KSVC_PAGE_SIZE		4096u
#if !defined(__KERNEL__) && !defined(PAGE_SIZE)
#define PAGE_SIZE		KSVC_PAGE_SIZE
#endif

/* ------------------------------------------------------------------ */
/* Device, ioctls, mmap offsets                                        */
/* ------------------------------------------------------------------ */

#define KSVC_DEVICE_PATH	"/dev/ksvc"
#define KSVC_IOC_MAGIC		'K'

/* Ring sizes: a power of two between these bounds (inclusive). */
#define KSVC_MIN_ENTRIES	16u
#define KSVC_MAX_ENTRIES	32768u

/* No create flag is defined in ABI version 1: flags must be zero. */
#define KSVC_CREATE_FLAGS_ALL	0u

/* Bits in ksvc_create_params.features (out). */
#define KSVC_FEAT_NOTIFY	(1u << 0)	/* KSVC_IOC_NOTIFY exists */
#define KSVC_FEAT_REFRESH	(1u << 1)	/* KSVC_IOC_REFRESH exists */
#define KSVC_FEAT_TIER0		(1u << 2)	/* shared page is maintained */
#define KSVC_FEAT_INFO		(1u << 3)	/* KSVC_IOC_INFO exists */

/*
 * struct ksvc_create_params - argument of KSVC_IOC_CREATE.
 *
 * In:  submit_ring_entries, complete_ring_entries: powers of two in
 *      [KSVC_MIN_ENTRIES, KSVC_MAX_ENTRIES];
 *      flags: zero (see "Sides" below);
 *      eventfd: -1 for none, or an eventfd the kernel signals on
 *      KSVC_IOC_NOTIFY (the instance keeps its own reference);
 *      reserved: zero.
 * Out: abi_version, features and the byte size of each mapping.  Their
 *      input values are ignored.
 */
struct ksvc_create_params {
	__u32 submit_ring_entries;
	__u32 complete_ring_entries;
	__u32 flags;
	__s32 eventfd;
	__u32 abi_version;		/* out: KSVC_ABI_VERSION */
	__u32 features;			/* out: KSVC_FEAT_* */
	__u32 submit_ring_size;		/* out: bytes at KSVC_OFF_SUBMIT_RING */
	__u32 complete_ring_size;	/* out: bytes at KSVC_OFF_COMPLETE_RING */
	__u32 shared_page_size;		/* out: bytes at KSVC_OFF_SHARED_PAGE */
	__u32 reserved[7];		/* in: must be zero */
};

/*
 * struct ksvc_info - argument of KSVC_IOC_INFO (all out).
 *
 * id:    the instance's number, never 0, never given to another instance
 *        while the module stays loaded.  Two descriptors show the same id
 *        exactly when they are the same open file (dup(), fork(),
 *        SCM_RIGHTS): this is how a library tells its own descriptor from
 *        another /dev/ksvc descriptor that took the same number.
 * flags: KSVC_INFO_OWNER if the calling process owns the instance (may
 *        mmap it and use the other ioctls).
 * reserved: zero.
 */
#define KSVC_INFO_OWNER		(1u << 0)

struct ksvc_info {
	__u64 id;
	__u32 flags;
	__u32 reserved[5];
};

/*
 * KSVC_IOC_CREATE: set up the one instance of this open file (EBUSY if
 *                  it has one or another CREATE on it is under way;
 *                  EMFILE past the module's per-user limit,
 *                  max_user_instances; EINVAL or EBADF for a bad
 *                  argument, see struct ksvc_create_params).
 * KSVC_IOC_NOTIFY: signal the instance's eventfd (ENOENT without one).
 * KSVC_IOC_REFRESH: bring every fresh bit of the shared page that can be
 *                   set back (see struct ksvc_shared_page).
 * KSVC_IOC_INFO:   describe the instance; any process holding the
 *                  descriptor may ask (KSVC_FEAT_INFO).
 * All but CREATE fail with EINVAL before CREATE.  NOTIFY and REFRESH
 * take no argument: the third argument of ioctl() must be 0 (EINVAL
 * otherwise), so that a later ABI can give it a meaning.  They belong to
 * the owner (EACCES for others) and refresh the shared page too; INFO
 * changes nothing.  Any other request is ENOTTY.
 *
 * The numbers start at 0x80: 'K' is linux/kd.h's, which has used
 * 0x00 to 0x72, 0xfa and 0xfb, and a request without a size (NOTIFY,
 * REFRESH) is no more than its number.
 *
 * The device itself must be opened O_RDWR (EINVAL otherwise).  It has
 * no read(), write() or poll(): one waits for NOTIFY on the eventfd.
 * The mmap() rules and every errno are in ksvc(4).
 */
#define KSVC_IOC_CREATE		_IOWR(KSVC_IOC_MAGIC, 0x80, struct ksvc_create_params)
#define KSVC_IOC_NOTIFY		_IO(KSVC_IOC_MAGIC, 0x81)
#define KSVC_IOC_REFRESH	_IO(KSVC_IOC_MAGIC, 0x82)
#define KSVC_IOC_INFO		_IOR(KSVC_IOC_MAGIC, 0x83, struct ksvc_info)

/*
 * mmap offsets.  Each region is mapped whole (offset and length exactly
 * as below), MAP_SHARED, by the process that created the instance.
 */
#define KSVC_OFF_SUBMIT_RING	0x00000000ULL
#define KSVC_OFF_COMPLETE_RING	0x10000000ULL
#define KSVC_OFF_SHARED_PAGE	0x20000000ULL

/* ------------------------------------------------------------------ */
/* Rings                                                               */
/* ------------------------------------------------------------------ */

/*
 * Every ring mapping starts with a struct ksvc_ring_hdr (256 bytes); the
 * entries follow at byte KSVC_RING_HDR_SIZE.  The mapping is
 * ring_pages(entries, entry_size) pages long.
 *
 * Sides
 * -----
 * Each ring has one producer side and one consumer side, fixed at
 * KSVC_IOC_CREATE.  With create flags 0, the only flags of this version,
 * all four are in the process that made the instance: the application
 * produces entries and consumes completions, the dispatcher (libksvc)
 * consumes entries and produces completions.  The module never consumes
 * or produces ring entries of such an instance, in this version or a
 * later one: a kernel-side consumer (Phase 1) serves only an instance
 * whose CREATE asked for it with a new create flag.
 *
 * Single-producer / single-consumer protocol
 * ------------------------------------------
 * head and tail are free-running 32-bit counters; they wrap at 2^32 and
 * only their difference matters.  Entry i lives in slot (i & mask).
 *
 *   used  = tail - head           (0 .. entries)
 *   empty : used == 0
 *   full  : used == entries
 *
 * The producer alone writes tail and the entries in [tail, head+entries).
 * The consumer alone writes head.
 *
 * Producer:  h = load_acquire(&head);
 *            if (tail - h == entries) -> full, try later;
 *            write slot[tail & mask];            (plain stores)
 *            store_release(&tail, tail + 1);     (publishes the slot)
 *
 * Consumer:  t = load_acquire(&tail);
 *            if (t == head) -> empty;
 *            read slot[head & mask];             (plain loads)
 *            store_release(&head, head + 1);     (gives the slot back)
 *
 * The acquire on one side pairs with the release on the other: an entry
 * is completely written before the consumer can see it, and completely
 * read before the producer can overwrite it.  Batches work the same way
 * with n in place of 1.
 *
 * Sleeping consumer (KSVC_RING_NEED_WAKEUP in flags):
 *   consumer: fetch_or(&flags, NEED_WAKEUP); full fence (seq_cst);
 *             if (load(&tail) != head) {
 *                     fetch_and(&flags, ~NEED_WAKEUP); go on;
 *             }
 *             sleep until woken; fetch_and(&flags, ~NEED_WAKEUP);
 *   producer: publish tail; full fence (seq_cst);
 *             if (load(&flags) & NEED_WAKEUP) wake the consumer.
 * With a full fence on both sides at least one of them sees the other's
 * store, so no wake-up is lost.
 *
 * flags is written by the ring's consumer side only (the submit ring's
 * by the dispatcher, the completion ring's by the application threads
 * that wait), and only with atomic read-modify-write operations, so that
 * bits a writer does not know are kept; the producer side only reads
 * it.  How the consumer sleeps, and so how it is woken, is the
 * consumer's choice (libksvc: a futex for the dispatcher, the instance's
 * eventfd or a futex for the application).  A program that produces on
 * the submit ring itself wakes the consumer through libksvc's
 * ksvc_sq_wake(), which knows the instance's consumer.
 *
 * No completion is ever dropped: the consumer of the submit ring takes
 * an entry only when a completion slot is guaranteed for it (completions
 * owed for entries taken, plus those in the completion ring, never
 * exceed the ring's size), and stops taking while the completion ring is
 * full.  So a producer of completions never overwrites one that has not
 * been consumed.  (libksvc answers the entries of its
 * ksvc_dispatch_call() to the calling thread directly: they need no
 * slot.)
 *
 * The kernel writes the geometry (magic .. ring_size) once, before user
 * space can map the ring; user space reads it and never writes it.  The
 * reserved words of the header belong to the kernel: user space never
 * writes them and ignores what they hold.  flags, head, tail and the
 * entries are user space's: the kernel never reads anything back from a
 * ring in this version, and nothing written there is trusted.  A future
 * kernel-side consumer (Phase 1) will keep its own copy of the geometry,
 * read head/tail once per batch, mask every index and copy each entry
 * before validating it.
 */
#define KSVC_SUBMIT_RING_MAGIC		0x4b535653u	/* "KSVS" */
#define KSVC_COMPLETE_RING_MAGIC	0x4b535643u	/* "KSVC" */

#define KSVC_RING_HDR_SIZE	256u

/* Bits in ksvc_ring_hdr.flags. */
#define KSVC_RING_NEED_WAKEUP	(1u << 0)	/* written by the consumer */

struct ksvc_ring_hdr {
	/* Cache line 0: geometry, written once by the kernel. */
	__u32 magic;
	__u32 entries;		/* power of two */
	__u32 mask;		/* entries - 1 */
	__u32 entry_size;	/* bytes per entry */
	__u32 entries_offset;	/* KSVC_RING_HDR_SIZE */
	__u32 ring_size;	/* bytes of the whole mapping */
	__u32 reserved0[10];

	/* Cache line 1: flags (KSVC_RING_*). */
	__u32 flags;
	__u32 reserved1[15];

	/* Cache line 2: consumer index, written by the consumer only. */
	__u32 head;
	__u32 reserved2[15];

	/* Cache line 3: producer index, written by the producer only. */
	__u32 tail;
	__u32 reserved3[15];
};

/*
 * Bits in ksvc_entry.flags.
 *
 * KSVC_ENTRY_LINKED: the next entry in ring order runs only if this one
 * completes with a result >= 0.  Linked entries make a chain, whose
 * links run one after the other:
 *   - a link with a result < 0 ends the chain: every later link
 *     completes with -ECANCELED and no tier flag, without running.  A
 *     refused link (KSVC_COMP_REFUSED, -EOPNOTSUPP) ends it too;
 *   - a link that a cancel entry named ends the chain whatever its
 *     result (one cancelled after it moved data returns that count);
 *   - an invalid entry (unknown flag bits) or a malformed cancel entry
 *     that carries KSVC_ENTRY_LINKED is still a link: it completes
 *     -EINVAL, and the rest of the chain -ECANCELED;
 *   - the entry after a linked one is its successor whatever it is,
 *     a cancel entry too: that runs only after the link before it
 *     succeeded (else it completes -ECANCELED);
 *   - a chain whose last entry in the ring is linked stays open: the
 *     next entry submitted is its successor;
 *   - the completions of a chain are posted in chain order.
 * Entries that are not linked to each other have no order.
 */
#define KSVC_ENTRY_LINKED	(1u << 0)
/*
 * Not a system call: cancel the entries taken before this one whose
 * corr_id is args[0] and that have not completed.  syscall_nr and
 * args[1..5] must be zero, and KSVC_ENTRY_LINKED clear (else -EINVAL).
 * Its completion's result is the number of entries found (each then
 * completes with -ECANCELED, or with its own result if it finished
 * first), or -ENOENT if none was in flight.
 */
#define KSVC_ENTRY_CANCEL	(1u << 1)
#define KSVC_ENTRY_FLAGS_ALL	(KSVC_ENTRY_LINKED | KSVC_ENTRY_CANCEL)

/*
 * struct ksvc_entry - one system call request, one cache line.
 *
 * corr_id is opaque: the consumer copies it to the completion untouched.
 * The kernel never interprets it (in this version it reads no entry).
 *
 * syscall_nr is a system call number as the process that made the
 * instance passes it to syscall(2), in that process's own numbering: for
 * a 64-bit x86-64 process, the x86-64 table.  The module does not look
 * at the caller's ABI: it creates instances for 32-bit (ia32) and x32
 * processes too.  libksvc, the consumer of this version, supports 64-bit
 * x86-64 processes only, and refuses numbers it does not know.
 *
 * Context.  The call runs as if a thread of the process that made the
 * instance made it, at some time after the consumer took the entry (for
 * a chain's link: after the link before it completed) and before its
 * completion: with the process's credentials, file table, fs (working
 * directory, root, umask), namespaces and resource limits as they are
 * then.  That thread is not the one that submitted the entry: calls
 * whose meaning depends on the calling thread are refused
 * (KSVC_COMP_REFUSED), and per-thread attributes (scheduling policy,
 * nice value, a credential or namespace change one thread made for
 * itself alone) are those of the thread that runs the call.  Seccomp
 * filters are not guaranteed to apply: libksvc runs Tier 1 calls through
 * io_uring, which seccomp does not see, and a filter a thread installed
 * for itself does not follow its entries.
 */
struct ksvc_entry {
	__u64 corr_id;		/* copied to the completion untouched */
	__u32 syscall_nr;	/* see above */
	__u32 flags;		/* KSVC_ENTRY_*; unknown bits -> -EINVAL */
	__u64 args[6];		/* the six system call arguments */
};

/*
 * Bits in ksvc_completion.flags.  A consumer ignores bits it does not
 * know: a later producer may set more.
 */
/*
 * KSVC_COMP_REFUSED: the entry was not run and had no effect; result is
 * -EOPNOTSUPP.  Any consumer may refuse any entry: which calls are
 * refused is not ABI (libksvc's list, with its reasons, is in
 * lib/sysclass.c).  The submitter may make the call itself, on its own
 * thread.
 */
#define KSVC_COMP_REFUSED	(1u << 0)
#define KSVC_COMP_TIER1		(1u << 1)	/* ran through io_uring */
#define KSVC_COMP_TIER2		(1u << 2)	/* ran on a worker thread */

/* struct ksvc_completion - the answer to one entry. */
struct ksvc_completion {
	__u64 corr_id;		/* from the entry */
	__s64 result;		/* return value, or -errno */
	__u32 flags;		/* KSVC_COMP_* */
	__u32 reserved0;	/* written 0, ignored by the consumer */
	__u64 reserved1;	/* written 0, ignored by the consumer */
};

/* Pages of a ring mapping with @entries entries of @entry_size bytes. */
static inline __u32 ksvc_ring_pages(__u32 entries, __u32 entry_size)
{
	__u64 bytes = KSVC_RING_HDR_SIZE + (__u64)entries * entry_size;

	return (__u32)((bytes + KSVC_PAGE_SIZE - 1) / KSVC_PAGE_SIZE);
}

#ifndef KSVC_NO_SHORT_NAMES
/* The seed's name for ksvc_ring_pages(). */
static inline __u32 ring_pages(__u32 entries, __u32 entry_size)
{
	return ksvc_ring_pages(entries, entry_size);
}
#endif

/* ------------------------------------------------------------------ */
/* Shared page (Tier 0)                                                */
/* ------------------------------------------------------------------ */

#define KSVC_SHARED_MAGIC	0x4b535030u	/* "KSP0" */
#define KSVC_SHARED_VERSION	1u

/*
 * Bits in ksvc_shared_page.fresh.  A set bit is the kernel's promise that
 * the group equals what the system call would return right now, in the
 * process that created the instance, from any of its threads.  A clear
 * bit promises nothing: make the system call (and KSVC_IOC_REFRESH may
 * bring the bit back).
 */
#define KSVC_FRESH_PID		(1u << 0)	/* pid */
#define KSVC_FRESH_PPID		(1u << 1)	/* ppid */
#define KSVC_FRESH_IDS		(1u << 2)	/* uid, gid, euid, egid */
#define KSVC_FRESH_UTS		(1u << 3)	/* utsname_* */
#define KSVC_FRESH_NOFILE	(1u << 4)	/* rlimit_nofile{,_max} */
#define KSVC_FRESH_ALL		0x1fu

#define KSVC_UTS_LEN		65

/*
 * struct ksvc_shared_page - process facts, one read-only page.
 *
 * seq is a sequence count.  The kernel makes it odd, updates fields,
 * then makes it even again.  Readers use ksvc_shared_read_begin() and
 * ksvc_shared_read_retry() below, so that no reader ever sees a torn
 * value; fresh is read inside the same section as the values it covers.
 */
struct ksvc_shared_page {
	__u32 magic;			/* KSVC_SHARED_MAGIC */
	__u32 version;			/* KSVC_SHARED_VERSION */
	__u32 seq;
	__u32 fresh;			/* KSVC_FRESH_* */
	__s32 pid;			/* getpid() */
	__s32 ppid;			/* getppid() */
	__u32 uid, gid, euid, egid;	/* getuid() ... getegid() */
	__u64 rlimit_nofile;		/* RLIMIT_NOFILE rlim_cur */
	__u64 rlimit_nofile_max;	/* RLIMIT_NOFILE rlim_max */
	char utsname_sysname[KSVC_UTS_LEN];
	char utsname_nodename[KSVC_UTS_LEN];
	char utsname_release[KSVC_UTS_LEN];
	char utsname_version[KSVC_UTS_LEN];
	char utsname_machine[KSVC_UTS_LEN];
	char utsname_domainname[KSVC_UTS_LEN];
	__u8 reserved[3650];		/* zero; future fields go here */
};

#ifndef __KERNEL__
/*
 * Read protocol (user space):
 *
 *	do {
 *		s = ksvc_shared_read_begin(page);
 *		... copy the fields and page->fresh ...
 *	} while (ksvc_shared_read_retry(page, s));
 *
 * read_begin waits out a writer (odd seq) and has acquire semantics;
 * read_retry orders the copies before re-reading seq and reports whether
 * a writer ran in between.  The builtins are the C11/C++11 atomic
 * operations with the named memory orders.
 */
static inline __u32
ksvc_shared_read_begin(const struct ksvc_shared_page *page)
{
	__u32 s;

	while ((s = __atomic_load_n(&page->seq, __ATOMIC_ACQUIRE)) & 1u)
		;
	return s;
}

static inline int
ksvc_shared_read_retry(const struct ksvc_shared_page *page, __u32 start)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&page->seq, __ATOMIC_RELAXED) != start;
}
#endif /* !__KERNEL__ */

/* ------------------------------------------------------------------ */
/* Layout pins                                                         */
/* ------------------------------------------------------------------ */

/*
 * static_assert where the language has it (the kernel, C11, C++11);
 * older C gets a declaration that does not compile when @e is false.
 */
#if defined(__KERNEL__)
#include <linux/build_bug.h>
#define KSVC_STATIC_ASSERT(e) static_assert(e, #e)
#elif defined(__cplusplus) && __cplusplus >= 201103L
#define KSVC_STATIC_ASSERT(e) static_assert(e, #e)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#include <assert.h>
#define KSVC_STATIC_ASSERT(e) static_assert(e, #e)
#else
#define KSVC_STATIC_ASSERT(e) extern int ksvc_static_assert_[(e) ? 1 : -1]
#endif

#define KSVC_OFFSETOF(t, m) __builtin_offsetof(t, m)

KSVC_STATIC_ASSERT(sizeof(struct ksvc_create_params) == 64);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_create_params, eventfd) == 12);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_create_params, shared_page_size) == 32);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_create_params, reserved) == 36);

KSVC_STATIC_ASSERT(sizeof(struct ksvc_info) == 32);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_info, flags) == 8);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_info, reserved) == 12);

KSVC_STATIC_ASSERT(sizeof(struct ksvc_ring_hdr) == KSVC_RING_HDR_SIZE);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_ring_hdr, ring_size) == 20);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_ring_hdr, flags) == 64);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_ring_hdr, head) == 128);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_ring_hdr, tail) == 192);

KSVC_STATIC_ASSERT(sizeof(struct ksvc_entry) == 64);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_entry, syscall_nr) == 8);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_entry, args) == 16);

KSVC_STATIC_ASSERT(sizeof(struct ksvc_completion) == 32);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_completion, result) == 8);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_completion, flags) == 16);

KSVC_STATIC_ASSERT(sizeof(struct ksvc_shared_page) == KSVC_PAGE_SIZE);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, seq) == 8);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, pid) == 16);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, egid) == 36);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, rlimit_nofile) == 40);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, utsname_sysname) == 56);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, utsname_domainname) == 381);
KSVC_STATIC_ASSERT(KSVC_OFFSETOF(struct ksvc_shared_page, reserved) == 446);

#undef KSVC_OFFSETOF
#undef KSVC_STATIC_ASSERT

#ifdef __cplusplus
}
#endif

#endif /* KSVC_UAPI_H */
