/* SPDX-License-Identifier: MIT */
/*
 * util.h - helpers shared by the kernel-facing test programs.
 *
 *   ku_require_module()   skip the whole program without /dev/ksvc or
 *                         root; make sure debugfs is there
 *   ku_dbg_read()         /sys/kernel/debug/ksvc/{instances,pages}
 *   ku_dbg_wait()         poll one of them until it reaches a value
 *                         (instances are freed after an RCU grace period)
 *   ku_open(), ku_create(), ku_map(), ...
 *                         thin wrappers around the raw ABI that return
 *                         -errno, so that tests can check errnos exactly
 *   ku_module_unload(), ku_module_load(), ku_wait_dev()
 *                         rmmod and insmod of $KSVC_KO, for the tests
 *                         that load the module again
 *   ku_write_file(), ku_read_file()
 *                         sysctls, id maps, cgroup files: 0 or -errno
 *   ku_fi_swap_in(), ku_delay_disarm(), ku_fi_swap_out()
 *                         the fault-injection build's delay runs
 *
 * Everything is static: each test program includes this once.
 */
#ifndef KSVC_TEST_UTIL_H
#define KSVC_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <pthread.h>
#include <sched.h>

#include "ksvc.h"
#include "tap.h"

#define KU_DEBUGFS	"/sys/kernel/debug"
#define KU_DBG_DIR	KU_DEBUGFS "/ksvc"
#define KU_INSTANCES	"instances"
#define KU_PAGES	"pages"
#define KU_WAIT_MS	10000

/* ------------------------------------------------------------------ */
/* Time                                                                */
/* ------------------------------------------------------------------ */

static inline uint64_t ku_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void ku_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Files (sysctls, /proc/<pid>/uid_map, cgroup and module parameters)  */
/* ------------------------------------------------------------------ */

/* Write @text to @path in one write(); 0 or -errno (-EIO if short). */
static inline int ku_write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close(fd);
	return ret;
}

/* Read @path into @buf as a string (at most @len - 1 bytes, one read()). */
static inline int ku_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		ret = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* debugfs counters                                                    */
/* ------------------------------------------------------------------ */

/* The value of /sys/kernel/debug/ksvc/@name, or -1 (errno set). */
static inline long ku_dbg_read(const char *name)
{
	char path[256], buf[64];
	ssize_t n;
	char *end;
	long v;
	int fd;

	snprintf(path, sizeof(path), KU_DBG_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = n == 0 ? EIO : errno;
		return -1;
	}
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v < 0) {
		errno = EPROTO;
		return -1;
	}
	return v;
}

/*
 * Poll /sys/kernel/debug/ksvc/@name until it reads @want, for up to
 * @ms milliseconds.  Returns the last value read.
 */
static inline long ku_dbg_wait(const char *name, long want, unsigned int ms)
{
	uint64_t end = ku_now_ms() + ms;
	long v;

	for (;;) {
		v = ku_dbg_read(name);
		if (v == want || ku_now_ms() >= end)
			return v;
		ku_sleep_ms(10);
	}
}

/* Both counters at once. */
struct ku_counts {
	long instances;
	long pages;
};

static inline struct ku_counts ku_counts(void)
{
	struct ku_counts c = { ku_dbg_read(KU_INSTANCES), ku_dbg_read(KU_PAGES) };

	return c;
}

/* Wait until both counters equal @want (up to KU_WAIT_MS); 1 if they do. */
static inline int ku_counts_wait(struct ku_counts want)
{
	long i = ku_dbg_wait(KU_INSTANCES, want.instances, KU_WAIT_MS);
	long p = ku_dbg_wait(KU_PAGES, want.pages, KU_WAIT_MS);

	if (i != want.instances || p != want.pages)
		tap_diag("counters: instances %ld pages %ld, want %ld %ld",
			 i, p, want.instances, want.pages);
	return i == want.instances && p == want.pages;
}

static inline int ku_counts_eq(struct ku_counts a, struct ku_counts b)
{
	return a.instances == b.instances && a.pages == b.pages;
}

/* ------------------------------------------------------------------ */
/* Preconditions                                                       */
/* ------------------------------------------------------------------ */

/*
 * Skip the whole program where it cannot run (no /dev/ksvc, not root);
 * mount debugfs if it is not mounted.  A module without its debugfs
 * counters is a failure, not a reason to skip.
 */
/*
 * Unload the module; 0 or an errno.  Instances closed just before are
 * freed after an RCU grace period: while delete_module says busy, ask
 * again for up to 10 s.
 */
static inline int ku_module_unload(void)
{
	uint64_t end = ku_now_ms() + 10000;
	int r;

	for (;;) {
		r = syscall(SYS_delete_module, "ksvc", O_NONBLOCK) < 0 ? errno : 0;
		if (!r || (r != EWOULDBLOCK && r != EBUSY && r != EAGAIN) ||
		    ku_now_ms() >= end)
			return r;
		ku_sleep_ms(20);
	}
}

/* Load the module from @ko with @params ("" for none); 0 or an errno. */
static inline int ku_module_load(const char *ko, const char *params)
{
	int kfd = open(ko, O_RDONLY | O_CLOEXEC), r;

	if (kfd < 0)
		return errno;
	r = syscall(SYS_finit_module, kfd, params, 0) < 0 ? errno : 0;
	close(kfd);
	return r;
}

/*
 * After finit_module, /dev/ksvc appears once udev (or devtmpfs) has made
 * the node: wait for it up to 5 s; 1 if it is there.
 */
static inline int ku_wait_dev(void)
{
	uint64_t end = ku_now_ms() + 5000;

	while (access(KSVC_DEVICE_PATH, F_OK) && ku_now_ms() < end)
		ku_sleep_ms(10);
	return access(KSVC_DEVICE_PATH, F_OK) == 0;
}

static inline void ku_require_module(void)
{
	if (access(KSVC_DEVICE_PATH, F_OK) != 0)
		tap_skip_all("no " KSVC_DEVICE_PATH " (module not loaded; "
			     "these tests run in the VM: vm/run.sh)");
	if (geteuid() != 0)
		tap_skip_all("needs root (debugfs counters)");
	if (access(KU_DBG_DIR "/" KU_INSTANCES, R_OK) != 0)
		mount("debugfs", KU_DEBUGFS, "debugfs", 0, NULL);
	if (ku_dbg_read(KU_INSTANCES) < 0 || ku_dbg_read(KU_PAGES) < 0)
		tap_bail("cannot read " KU_DBG_DIR "/{instances,pages}: %s",
			 strerror(errno));
	/*
	 * In the VM the programs run one at a time: instances of the one
	 * before may still be waiting for their RCU grace period.  Let them
	 * go so that this program's base is stable (not a check: if some
	 * stay, the base simply includes them).
	 */
	ku_dbg_wait(KU_INSTANCES, 0, 2000);
	ku_dbg_wait(KU_PAGES, 0, 2000);
}

/* ------------------------------------------------------------------ */
/* Raw ABI wrappers: 0 / fd / pointer, or -errno                       */
/* ------------------------------------------------------------------ */

enum ku_region { KU_SQ, KU_CQ, KU_SHARED, KU_NREGIONS };

static const char *const ku_region_name[KU_NREGIONS] = {
	"submit ring", "completion ring", "shared page"
};

static inline __u64 ku_region_off(enum ku_region r)
{
	return r == KU_SQ ? KSVC_OFF_SUBMIT_RING :
	       r == KU_CQ ? KSVC_OFF_COMPLETE_RING : KSVC_OFF_SHARED_PAGE;
}

/* Bytes of a region for an instance of @sq / @cq entries. */
static inline size_t ku_region_size(enum ku_region r, __u32 sq, __u32 cq)
{
	switch (r) {
	case KU_SQ:
		return (size_t)ring_pages(sq, sizeof(struct ksvc_entry)) * PAGE_SIZE;
	case KU_CQ:
		return (size_t)ring_pages(cq, sizeof(struct ksvc_completion)) *
		       PAGE_SIZE;
	default:
		return PAGE_SIZE;
	}
}

/* Pages the module should account for one instance. */
static inline long ku_instance_pages(__u32 sq, __u32 cq)
{
	return (long)ring_pages(sq, sizeof(struct ksvc_entry)) +
	       ring_pages(cq, sizeof(struct ksvc_completion)) + 1;
}

static inline int ku_open_flags(int flags)
{
	int fd = open(KSVC_DEVICE_PATH, flags);

	return fd < 0 ? -errno : fd;
}

static inline int ku_open(void)
{
	return ku_open_flags(O_RDWR | O_CLOEXEC);
}

static inline int ku_create_p(int fd, struct ksvc_create_params *p)
{
	return ioctl(fd, KSVC_IOC_CREATE, p) < 0 ? -errno : 0;
}

static inline int ku_create(int fd, __u32 sq, __u32 cq, int efd)
{
	struct ksvc_create_params p;

	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = sq;
	p.complete_ring_entries = cq;
	p.eventfd = efd;
	return ku_create_p(fd, &p);
}

/* open + CREATE; the fd or -errno. */
static inline int ku_open_create(__u32 sq, __u32 cq, int efd)
{
	int fd = ku_open();
	int err;

	if (fd < 0)
		return fd;
	err = ku_create(fd, sq, cq, efd);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static inline int ku_ioctl0(int fd, unsigned long cmd)
{
	return ioctl(fd, cmd, 0) < 0 ? -errno : 0;
}

/*
 * mmap @len bytes at @off; returns the address, or NULL with *err set to
 * -errno (err may be NULL).
 */
static inline void *ku_mmap(int fd, size_t len, int prot, int flags,
			    __u64 off, int *err)
{
	void *p = mmap(NULL, len, prot, flags, fd, (off_t)off);

	if (p == MAP_FAILED) {
		if (err)
			*err = -errno;
		return NULL;
	}
	if (err)
		*err = 0;
	return p;
}

/* Map a whole region the normal way (rings RW, shared page RO). */
static inline void *ku_map(int fd, enum ku_region r, __u32 sq, __u32 cq,
			   int *err)
{
	int prot = r == KU_SHARED ? PROT_READ : PROT_READ | PROT_WRITE;

	return ku_mmap(fd, ku_region_size(r, sq, cq), prot, MAP_SHARED,
		       ku_region_off(r), err);
}

/* An instance mapped the raw way. */
struct ku_inst {
	int fd;
	__u32 sq_entries, cq_entries;
	void *map[KU_NREGIONS];
	size_t len[KU_NREGIONS];
};

/* Open, CREATE and map all three regions; 0 or -errno (nothing left). */
static inline int ku_inst_open(struct ku_inst *in, __u32 sq, __u32 cq, int efd)
{
	int err, r;

	memset(in, 0, sizeof(*in));
	in->sq_entries = sq;
	in->cq_entries = cq;
	in->fd = ku_open_create(sq, cq, efd);
	if (in->fd < 0)
		return in->fd;
	for (r = 0; r < KU_NREGIONS; r++) {
		in->len[r] = ku_region_size((enum ku_region)r, sq, cq);
		in->map[r] = ku_map(in->fd, (enum ku_region)r, sq, cq, &err);
		if (!in->map[r]) {
			while (--r >= 0)
				munmap(in->map[r], in->len[r]);
			close(in->fd);
			in->fd = -1;
			return err;
		}
	}
	return 0;
}

static inline void ku_inst_close(struct ku_inst *in)
{
	int r;

	for (r = 0; r < KU_NREGIONS; r++)
		if (in->map[r])
			munmap(in->map[r], in->len[r]);
	if (in->fd >= 0)
		close(in->fd);
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

/* A process-local view of a raw-mapped ring (for the ksvc.h helpers). */
#define KU_RING_VIEW(ring, base, n, esize) do {				\
	(ring)->hdr = (struct ksvc_ring_hdr *)(base);			\
	(ring)->slots = (unsigned char *)(base) + KSVC_RING_HDR_SIZE;	\
	(ring)->entries = (n);						\
	(ring)->mask = (n) - 1;						\
	(ring)->entry_size = (esize);					\
	(ring)->map_size = ring_pages((n), (esize)) * PAGE_SIZE;		\
} while (0)

/* ------------------------------------------------------------------ */
/* Descriptors                                                         */
/* ------------------------------------------------------------------ */

/*
 * Open descriptors of this process (not the one used to look), or only
 * those that are links to @target when it is not NULL; -1 if
 * /proc/self/fd cannot be read.
 */
static inline int ku_count_fds(const char *target)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		char link[64];
		ssize_t len;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(dir))
			continue;
		if (!target) {
			n++;
			continue;
		}
		len = readlinkat(dirfd(dir), de->d_name, link,
				 sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strcmp(link, target))
			n++;
	}
	closedir(dir);
	return n;
}

/* ------------------------------------------------------------------ */
/* Memory probing                                                      */
/* ------------------------------------------------------------------ */

/* Is any page of [addr, addr+len) mapped?  (mincore fails with ENOMEM
 * on an unmapped range.)  1 mapped, 0 unmapped, -errno otherwise. */
static inline int ku_is_mapped(const void *addr, size_t len)
{
	size_t pages = (len + PAGE_SIZE - 1) / PAGE_SIZE;
	unsigned char vec[64];
	size_t off;

	/* mincore() fails with ENOMEM if any part is unmapped: probe each
	 * page so that "any page" is what we answer. */
	for (off = 0; off < pages; off++) {
		if (mincore((char *)addr + off * PAGE_SIZE, PAGE_SIZE, vec) == 0)
			return 1;
		if (errno != ENOMEM)
			return -errno;
	}
	return 0;
}

static sigjmp_buf ku__jmp;
static volatile sig_atomic_t ku__fault_sig;

static inline void ku__on_fault(int sig)
{
	ku__fault_sig = sig;
	siglongjmp(ku__jmp, 1);
}

/*
 * Touch one byte at @addr (read, or write @val when @write).  Returns 0,
 * or the signal number (SIGSEGV, SIGBUS) the access raised.
 */
static inline int ku_touch(volatile unsigned char *addr, int write,
			   unsigned char val)
{
	struct sigaction sa, old_segv, old_bus;
	int ret = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ku__on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	ku__fault_sig = 0;
	if (sigsetjmp(ku__jmp, 1) == 0) {
		if (write)
			*addr = val;
		else
			(void)*addr;
	} else {
		ret = ku__fault_sig;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return ret;
}

/* Is every byte of [p, p+len) zero? */
static inline int ku_all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i])
			return 0;
	return 1;
}

/* Fill [p, p+len) with a pattern derived from @seed; check it back. */
static inline void ku_fill(void *p, size_t len, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		c[i] = (unsigned char)((i * 131u + seed * 7u + (i >> 12)) ^ 0x5a);
}

static inline int ku_check_fill(const void *p, size_t len, unsigned int seed)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != (unsigned char)((i * 131u + seed * 7u + (i >> 12)) ^ 0x5a))
			return 0;
	return 1;
}

/* A cheap deterministic PRNG (xorshift64*) for tests. */
static inline uint64_t ku_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A number from the environment, or @def if unset or not in [1, max]. */
static inline unsigned long ku_env_uint(const char *name, unsigned long def,
					unsigned long max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoul(s, &end, 10);
	return *end || errno || v == 0 || v > max ? def : v;
}

/* ------------------------------------------------------------------ */
/* Two-thread round trip through a pair of rings                       */
/* ------------------------------------------------------------------ */
/*
 * Thread A (the caller) produces @count sequence-numbered entries on @sq
 * in random batches and consumes completions from @cq; thread B consumes
 * @sq and answers every entry on @cq with a checksum of the payload it
 * read.  Both sides check that every sequence number arrives exactly
 * once, in order, with an intact payload.
 */
struct ku_rt {
	struct ksvc_ring *sq, *cq;
	uint64_t count;
	uint64_t seed;
	/* results */
	uint64_t b_seen, a_seen;
	uint64_t b_errors, a_errors;
	char b_why[160], a_why[160];
};

static inline __u64 ku_rt_arg(uint64_t seq, int i)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ULL + (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL;

	x ^= x >> 31;
	return x * 0x94D049BB133111EBULL;
}

static inline __u32 ku_rt_nr(uint64_t seq)
{
	return (__u32)(seq * 2654435761u);
}

static inline __s64 ku_rt_sum(const struct ksvc_entry *e)
{
	uint64_t h = e->corr_id ^ ((uint64_t)e->syscall_nr << 17) ^ e->flags;
	int i;

	for (i = 0; i < 6; i++)
		h = (h ^ e->args[i]) * 0x100000001B3ULL;
	return (__s64)(h >> 1);
}

static inline void *ku_rt_b(void *arg)
{
	struct ku_rt *rt = arg;
	uint64_t seq = 0;

	while (seq < rt->count) {
		__u32 n = ksvc_ring_ready(rt->sq), space = ksvc_ring_space(rt->cq);
		__u32 i;

		if (n > space)
			n = space;
		if (n == 0) {
			sched_yield();
			continue;
		}
		for (i = 0; i < n; i++, seq++) {
			struct ksvc_entry e =
				*(const struct ksvc_entry *)ksvc_ring_cons_slot(rt->sq, i);
			struct ksvc_completion *c = ksvc_ring_prod_slot(rt->cq, i);
			int j, bad = e.corr_id != seq || e.syscall_nr != ku_rt_nr(seq) ||
				     e.flags != 0;

			for (j = 0; j < 6; j++)
				bad |= e.args[j] != ku_rt_arg(seq, j);
			if (bad && rt->b_errors++ == 0)
				snprintf(rt->b_why, sizeof(rt->b_why),
					 "entry %llu: corr_id %llu nr %u arg0 %llx",
					 (unsigned long long)seq,
					 (unsigned long long)e.corr_id, e.syscall_nr,
					 (unsigned long long)e.args[0]);
			c->corr_id = e.corr_id;
			c->result = ku_rt_sum(&e);
			c->flags = 0;
			c->reserved0 = 0;
			c->reserved1 = 0;
		}
		ksvc_ring_consume(rt->sq, n);
		ksvc_ring_produce(rt->cq, n);
	}
	rt->b_seen = seq;
	return NULL;
}

/* Runs the round trip; 0 if it completed (check the error fields). */
static inline int ku_roundtrip(struct ku_rt *rt)
{
	uint64_t sent = 0, got = 0, rng = rt->seed | 1;
	pthread_t b;

	if (pthread_create(&b, NULL, ku_rt_b, rt))
		return -1;
	while (got < rt->count) {
		__u32 space = ksvc_ring_space(rt->sq), n, i;
		int progress = 0;

		if (sent < rt->count && space) {
			n = (__u32)(ku_rand(&rng) % rt->sq->entries) + 1;
			if (n > space)
				n = space;
			if (n > rt->count - sent)
				n = (__u32)(rt->count - sent);
			for (i = 0; i < n; i++) {
				struct ksvc_entry *e = ksvc_ring_prod_slot(rt->sq, i);
				uint64_t seq = sent + i;
				int j;

				e->corr_id = seq;
				e->syscall_nr = ku_rt_nr(seq);
				e->flags = 0;
				for (j = 0; j < 6; j++)
					e->args[j] = ku_rt_arg(seq, j);
			}
			ksvc_ring_produce(rt->sq, n);
			sent += n;
			progress = 1;
		}
		n = ksvc_ring_ready(rt->cq);
		for (i = 0; i < n; i++, got++) {
			const struct ksvc_completion *c = ksvc_ring_cons_slot(rt->cq, i);
			struct ksvc_entry want;
			int j;

			want.corr_id = got;
			want.syscall_nr = ku_rt_nr(got);
			want.flags = 0;
			for (j = 0; j < 6; j++)
				want.args[j] = ku_rt_arg(got, j);
			if ((c->corr_id != got || c->result != ku_rt_sum(&want) ||
			     c->flags || c->reserved0 || c->reserved1) &&
			    rt->a_errors++ == 0)
				snprintf(rt->a_why, sizeof(rt->a_why),
					 "completion %llu: corr_id %llu result %lld",
					 (unsigned long long)got,
					 (unsigned long long)c->corr_id,
					 (long long)c->result);
		}
		if (n) {
			ksvc_ring_consume(rt->cq, n);
			progress = 1;
		}
		if (!progress)
			sched_yield();
	}
	rt->a_seen = got;
	pthread_join(b, NULL);
	return 0;
}

/*
 * The delay runs (test_tier0_pidns, test_tier0_idmap).  ku_fi_swap_in():
 * once the counters are back at @base, the fault-injection build
 * ($KSVC_FI_KO) replaces the installed module ($KSVC_KO); returns the
 * build's path, or NULL with nothing done when either variable is unset
 * (the caller skips).  ku_delay_disarm(): delay_pid and delay_ms to 0.
 * ku_fi_swap_out(): once the counters are back at @base, the installed
 * module replaces the test build again; one TAP check.  Each bails out
 * of the program when a step fails.
 */
static inline const char *ku_fi_swap_in(struct ku_counts base)
{
	const char *ko = getenv("KSVC_KO"), *fi_ko = getenv("KSVC_FI_KO");
	int r;

	if (!ko || !*ko || !fi_ko || !*fi_ko)
		return NULL;
	if (!ku_counts_wait(base))
		tap_bail("instances left before the delay run");
	r = ku_module_unload();
	if (r)
		tap_bail("rmmod: %s", strerror(r));
	r = ku_module_load(fi_ko, "");
	if (r || !ku_wait_dev())
		tap_bail("cannot load %s: %s", fi_ko, strerror(r));
	return fi_ko;
}

static inline void ku_delay_disarm(void)
{
	int r = ku_write_file(KU_DBG_DIR "/delay_pid", "0\n");

	if (!r)
		r = ku_write_file(KU_DBG_DIR "/delay_ms", "0\n");
	if (r)
		tap_bail("cannot disarm the delay: %s", strerror(-r));
}

static inline void ku_fi_swap_out(struct ku_counts base)
{
	const char *ko = getenv("KSVC_KO");
	int r;

	if (!ku_counts_wait(base))
		tap_bail("instances left after the delay run");
	r = ku_module_unload();
	if (r)
		tap_bail("rmmod of the fault-injection build: %s", strerror(r));
	r = ku_module_load(ko, "");
	tap_ok(!r && ku_wait_dev(), "the installed module %s is loaded back "
	       "(%s)", ko, r ? strerror(r) : "ok");
}

#endif /* KSVC_TEST_UTIL_H */
