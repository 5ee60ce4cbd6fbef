/* SPDX-License-Identifier: MIT */
/*
 * test_dispatch.h - helpers shared by the dispatcher tests
 * (test/test_dispatch*.c).
 *
 * Where they run: on the host, /dev/ksvc does not exist and the instance
 * is anonymous (KSVC_OPEN_ANON_FALLBACK); in the VM the module is loaded
 * and the tests insist on the kernel's rings (no fallback: a failure to
 * open /dev/ksvc is a failure).  Every program says which in its TAP
 * output.
 *
 * Scale: KSVC_TEST_SCALE=N (or --scale N) divides the big operation
 * counts by N, for the VM (QEMU TCG is slow); the programs print the
 * counts they actually use.
 */
#ifndef KSVC_TEST_DISPATCH_H
#define KSVC_TEST_DISPATCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>

#include "ksvc.h"
#include "ksvc_dispatch.h"
#include "tap.h"

static unsigned int td_scale = 1;

static inline void td_args(int argc, char **argv)
{
	td_scale = tap_scale(argc, argv);
}

/* xorshift64: a cheap pseudo-random sequence from the seed in *@s. */
static inline uint64_t td_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* @full divided by the scale, at least @min. */
static inline uint64_t td_count(uint64_t full, uint64_t min)
{
	uint64_t n = full / td_scale;

	return n < min ? min : n;
}

static inline int td_have_module(void)
{
	return access(KSVC_DEVICE_PATH, F_OK) == 0;
}

static inline uint64_t td_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t td_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Join @th if it ends within @ms; returns 1 if it did.  A test whose
 * thread hangs (the bug it looks for) reports it instead of hanging too.
 */
static inline int td_join_within(pthread_t th, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

/*
 * Open an instance the way this machine allows, with @flags and @efd as
 * in struct ksvc_open_params; bail out on failure.
 */
static inline struct ksvc *td_open_with(__u32 sq, __u32 cq, __u32 flags,
					int efd)
{
	struct ksvc_open_params p;
	struct ksvc *k;
	int err;

	memset(&p, 0, sizeof(p));
	p.submit_entries = sq;
	p.complete_entries = cq;
	p.flags = flags | (td_have_module() ? 0 : KSVC_OPEN_ANON_FALLBACK);
	p.eventfd = efd;
	err = ksvc_open(&k, &p);
	if (err)
		tap_bail("ksvc_open: %s", ksvc_strerror(err));
	if (td_have_module() && k->mode != KSVC_MODE_KERNEL)
		tap_bail("/dev/ksvc exists but the instance is not the kernel's");
	return k;
}

static inline struct ksvc *td_open(__u32 sq, __u32 cq)
{
	return td_open_with(sq, cq, 0, -1);
}

/*
 * Can this process set up an io_uring of 8 entries itself?  Then a
 * dispatcher without Tier 1 (st.tier1_available == 0) is a failure,
 * never a reason to skip.
 */
static inline int td_uring_here(void)
{
	struct io_uring_params up;
	long fd;

	memset(&up, 0, sizeof(up));
	fd = syscall(__NR_io_uring_setup, 8, &up);
	if (fd < 0)
		return 0;
	close((int)fd);
	return 1;
}

static inline void td_say_where(void)
{
	tap_diag("instance mode: %s (%s)",
		 td_have_module() ? "kernel" : "anonymous",
		 td_have_module() ? "/dev/ksvc, the module's rings"
				  : "no /dev/ksvc: anonymous shared memory");
	if (td_scale > 1)
		tap_diag("KSVC_TEST_SCALE=%u: big counts divided by %u",
			 td_scale, td_scale);
}

static inline struct ksvc_dispatcher *td_create(struct ksvc *k, __u32 flags,
						__u32 workers)
{
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d;
	int err;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.workers = workers;
	err = ksvc_dispatch_create(&d, k, &p);
	if (err)
		tap_bail("ksvc_dispatch_create(flags %#x): %s", flags,
			 strerror(-err));
	return d;
}

static inline struct ksvc_dispatcher *td_create_p(struct ksvc *k,
					const struct ksvc_dispatch_params *p)
{
	struct ksvc_dispatcher *d;
	int err = ksvc_dispatch_create(&d, k, p);

	if (err)
		tap_bail("ksvc_dispatch_create: %s", strerror(-err));
	return d;
}

static inline void td_mask_op(struct ksvc_dispatch_params *p, int op)
{
	p->test_mask_ops[op / 64] |= 1ull << (op % 64);
}

static inline struct ksvc_entry td_entry(__u64 corr, long nr, __u64 a0,
					 __u64 a1, __u64 a2, __u64 a3)
{
	struct ksvc_entry e;

	ksvc_prep_call(&e, corr, nr, a0, a1, a2, a3, 0, 0);
	return e;
}

/*
 * Collect exactly @n completions (waiting at most @ms in total) into
 * @out.  Returns how many arrived.
 */
static inline unsigned int td_collect(struct ksvc_dispatcher *d,
				      struct ksvc_completion *out,
				      unsigned int n, unsigned int ms)
{
	uint64_t end = td_now_ms() + ms;
	unsigned int got = 0;

	while (got < n) {
		uint64_t now = td_now_ms();
		int r;

		if (now >= end)
			break;
		r = ksvc_dispatch_wait(d, out + got, n - got, 1,
				       (int)(end - now));
		if (r < 0) {
			if (r == -ETIMEDOUT || r == -ESHUTDOWN)
				break;
			tap_diag("ksvc_dispatch_wait: %s", strerror(-r));
			break;
		}
		got += (unsigned)r;
	}
	return got;
}

/* The completion with @corr among @n, or NULL. */
static inline const struct ksvc_completion *
td_find(const struct ksvc_completion *c, unsigned int n, __u64 corr)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (c[i].corr_id == corr)
			return &c[i];
	return NULL;
}


/* Open descriptors of this process (not the one used to count them). */
static inline int td_count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir)) != NULL)
		n += de->d_name[0] != '.' && atoi(de->d_name) != dirfd(dir);
	closedir(dir);
	return n;
}

/* Is the page at @p mapped in this process? */
static inline int td_mapped(const void *p)
{
	unsigned char v;
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);

	return mincore(page, 4096, &v) == 0 || errno != ENOMEM;
}

/* What td_child_refused() found, one bit per group of checks. */
enum {
	TD_CHILD_SUBMIT = 1 << 0, TD_CHILD_REAP = 1 << 1,
	TD_CHILD_CALL = 1 << 2, TD_CHILD_STATS = 1 << 3,
	TD_CHILD_STOP = 1 << 4, TD_CHILD_UNMAPPED = 1 << 5,
};
#define TD_CHILD_ALL	0x3f

/*
 * In a child of fork() or clone(): every call on the parent's handle @d
 * fails with EACCES without touching anything (the parent's threads may
 * hold its locks: the child would hang), a create on the parent's
 * instance @k too, mode and route answer as in the parent (@mode,
 * @route for a getppid entry), and neither ring of @k is mapped (and
 * ksvc_sq_wake() on @k says so: EACCES).
 */
static inline int td_child_refused(struct ksvc_dispatcher *d, struct ksvc *k,
				   enum ksvc_mode mode, enum ksvc_route route)
{
	struct ksvc_entry e = td_entry(1, SYS_getppid, 0, 0, 0, 0);
	struct ksvc_dispatcher *d2 = NULL;
	struct ksvc_completion c[2];
	struct ksvc_dispatch_stats st;
	__s64 res;
	int bits = 0;

	if (ksvc_dispatch_submit(d, &e, 1, 0) == -EACCES &&
	    ksvc_dispatch_submit(d, &e, 1, KSVC_SUBMIT_WAIT) == -EACCES)
		bits |= TD_CHILD_SUBMIT;
	if (ksvc_dispatch_reap(d, c, 2) == -EACCES &&
	    ksvc_dispatch_wait(d, c, 2, 1, 100) == -EACCES &&
	    ksvc_dispatch_run(d) == -EACCES)
		bits |= TD_CHILD_REAP;
	if (ksvc_dispatch_call(d, SYS_getppid, NULL, &res, NULL) == -EACCES &&
	    ksvc_dispatch_cancel(d, 1) == -EACCES &&
	    ksvc_dispatch_create(&d2, k, NULL) == -EACCES)
		bits |= TD_CHILD_CALL;
	if (ksvc_dispatch_stats(d, &st) == -EACCES &&
	    ksvc_dispatch_mode(d) == mode &&
	    ksvc_dispatch_route(d, &e) == route)
		bits |= TD_CHILD_STATS;
	if (ksvc_dispatch_stop(d) == -EACCES)
		bits |= TD_CHILD_STOP;
	if (!td_mapped(k->sq.hdr) && !td_mapped(k->cq.hdr) &&
	    ksvc_sq_wake(k) == -EACCES)
		bits |= TD_CHILD_UNMAPPED;
	return bits;
}

/*
 * Threads of this process, not counting io_uring's own workers
 * ("iou-wrk-*", "iou-sqp-*"), which the kernel ends on its own schedule
 * after a ring is closed.
 */
static inline int td_count_threads(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		char path[300], comm[64] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		if (strncmp(comm, "iou-", 4) != 0)
			n++;
	}
	closedir(dir);
	return n;
}

#if defined(__SANITIZE_THREAD__)
static void *td_nothing(void *arg)
{
	return arg;
}
#endif

/*
 * The threads of this process while no test thread runs: the main
 * thread, and under ThreadSanitizer its background thread as well,
 * which it starts with the first other thread (one is started and
 * joined here, so that the count stays the same from now on).
 */
static inline int td_base_threads(void)
{
#if defined(__SANITIZE_THREAD__)
	pthread_t th;

	if (!pthread_create(&th, NULL, td_nothing, NULL))
		pthread_join(th, NULL);
	return 2;
#else
	return 1;
#endif
}

/*
 * A thread that was just joined can still be listed for a moment:
 * wait (at most 2 s) for the count to come down to @want.
 */
static inline int td_settle_threads(int want)
{
	uint64_t end = td_now_ms() + 2000;
	int n;

	while ((n = td_count_threads()) != want && td_now_ms() < end)
		usleep(10000);
	return n;
}

/*
 * An operation mix whose every result is known in advance, for the tests
 * that run many at once (test_dispatch_mt, test_dispatch_reapers):
 * operation @seq of submitter @id is, by td_mix_kind(), a pread64 of 8
 * bytes (Tier 1) at td_mix_off() from the file td_mix_file() makes, whose
 * every 8-byte word holds td_mix_word() of its own offset; getppid (Tier
 * 2 inline); or lseek(SEEK_SET) to td_mix_off() on a descriptor of the
 * submitter's own (Tier 2 pool: it returns that offset).
 */
#define TD_MIX_WORDS	8192		/* the file: 64 KiB */

enum { TD_MIX_PREAD, TD_MIX_PPID, TD_MIX_LSEEK };

static inline __u64 td_mix_word(__u64 off)
{
	return off * 0x9e3779b97f4a7c15ull;
}

/* Half are preads, a quarter each the other two, in no simple pattern. */
static inline int td_mix_kind(uint64_t seq)
{
	static const int kinds[4] = { TD_MIX_PREAD, TD_MIX_PREAD,
				      TD_MIX_PPID, TD_MIX_LSEEK };

	return kinds[(seq * 7 + (seq >> 3)) % 4];
}

static inline __u64 td_mix_off(int id, uint64_t seq)
{
	return ((seq * 131 + (uint64_t)id * 977) % TD_MIX_WORDS) * 8;
}

/* The file the preads read, as a descriptor; bails out on failure. */
static inline int td_mix_file(void)
{
	static __u64 w[TD_MIX_WORDS];
	unsigned int i;
	int fd = memfd_create("ksvc-mix", MFD_CLOEXEC);

	if (fd < 0)
		tap_bail("memfd_create: %s", strerror(errno));
	for (i = 0; i < TD_MIX_WORDS; i++)
		w[i] = td_mix_word((__u64)i * 8);
	if (write(fd, w, sizeof(w)) != (ssize_t)sizeof(w))
		tap_bail("write: %s", strerror(errno));
	return fd;
}

/*
 * The entry for operation @seq of @id, with @corr; @data_fd from
 * td_mix_file(), @word the pread's target, @fd the submitter's own
 * descriptor for lseek.
 */
static inline struct ksvc_entry td_mix_entry(__u64 corr, int id, uint64_t seq,
					     int data_fd, __u64 *word, int fd)
{
	switch (td_mix_kind(seq)) {
	case TD_MIX_PREAD:
		return td_entry(corr, SYS_pread64, (__u64)data_fd,
				(uintptr_t)word, 8, td_mix_off(id, seq));
	case TD_MIX_PPID:
		return td_entry(corr, SYS_getppid, 0, 0, 0, 0);
	default:
		return td_entry(corr, SYS_lseek, (__u64)fd, td_mix_off(id, seq),
				SEEK_SET, 0);
	}
}

/*
 * Whether @c answers operation @seq of @id rightly, in the right tier;
 * @word: what its pread read, @ppid: the process's parent.
 */
static inline int td_mix_ok(const struct ksvc_completion *c, int id,
			    uint64_t seq, __u64 word, pid_t ppid)
{
	switch (td_mix_kind(seq)) {
	case TD_MIX_PREAD:
		return c->result == 8 && c->flags == KSVC_COMP_TIER1 &&
		       word == td_mix_word(td_mix_off(id, seq));
	case TD_MIX_PPID:
		return c->result == ppid && c->flags == KSVC_COMP_TIER2;
	default:
		return c->result == (__s64)td_mix_off(id, seq) &&
		       c->flags == KSVC_COMP_TIER2;
	}
}

static const char *const td_mode_names[2] = { "thread", "driven" };
static const __u32 td_mode_flags[2] = { 0, KSVC_DISPATCH_CALLER_DRIVES };

#endif /* KSVC_TEST_DISPATCH_H */
