// SPDX-License-Identifier: MIT
/*
 * test_dispatch_nowait - a pread64 that Tier 1 does not take (here: its
 * io_uring opcode masked out) is tried first on the dispatcher with
 * preadv2(RWF_NOWAIT), and finishes there only when that reads the whole
 * length; everything else runs on the pool as a plain pread64:
 *
 *   - from the page cache: the right bytes, finished on the dispatcher
 *     (tier2_inline counts it), KSVC_COMP_TIER2, and
 *     ksvc_dispatch_route() says KSVC_ROUTE_TIER2; on a file system
 *     that refuses RWF_NOWAIT (tmpfs in 6.12: the guest's /tmp), on the
 *     pool; and /dev/zero, which takes it, on the dispatcher;
 *   - not in the page cache (evicted with POSIX_FADV_DONTNEED, where the
 *     file system does evict): the pool reads it, the bytes are right
 *     (over up to 8 pages: a fast device may finish the readahead that
 *     RWF_NOWAIT starts in time for the dispatcher);
 *   - a read that comes back short (it crosses the end of the file): the
 *     pool makes it again, and the result is the short count;
 *   - O_DIRECT (a direct read would wait for the device): the pool;
 *   - longer than 64 KiB (the copy would hold up the dispatcher): the
 *     pool, even from the page cache;
 *   - KSVC_DISPATCH_NO_INLINE: the pool;
 *   - offset -1 (preadv2() would read at the file position instead):
 *     -EINVAL like pread64, from the pool;
 *   - a pipe: -ESPIPE; a bad buffer: -EFAULT; a closed descriptor:
 *     -EBADF; each the system call's own.
 * Socket calls that cannot sleep (O_NONBLOCK descriptor, MSG_DONTWAIT)
 * run on the dispatcher too, with io_uring and without: recvfrom,
 * sendto, recvmsg and accept4 fail with EAGAIN or move their bytes there;
 * a blocking socket's recvfrom does not (Tier 1, or the pool without
 * io_uring); NO_INLINE, and BLOCKING_FDS without io_uring, send them to
 * the pool.
 * With the dispatcher thread and with the caller driving.  And in a
 * child whose seccomp filter makes preadv2() fail with ENOSYS (as a
 * container's profile may): the reads still come back right, from the
 * pool.
 */
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <liburing.h>

#include "test_dispatch.h"

#define FSIZE	(192 * 1024 + 1000)	/* the last page is partial */

static char path[] = "/tmp/ksvc-nowait-XXXXXX";
static unsigned char expect[FSIZE];
static int fs_nowait, zero_nowait, zero_fd;

/* Does a cached read of @fd with RWF_NOWAIT work here? */
static int nowait_works(int fd)
{
	unsigned char b[16];
	struct iovec iov = { b, sizeof(b) };

	if (pread(fd, b, sizeof(b), 0) < 0)
		return 0;
	return preadv2(fd, &iov, 1, 0, RWF_NOWAIT) == (ssize_t)sizeof(b);
}

static void make_file(void)
{
	int fd = mkstemp(path), i;

	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	for (i = 0; i < FSIZE; i++)
		expect[i] = (unsigned char)(i * 7 + (i >> 9));
	if (write(fd, expect, FSIZE) != FSIZE || fsync(fd))
		tap_bail("write: %s", strerror(errno));
	close(fd);
}

/* Is the page at @off of @fd in the page cache?  -1: cannot tell. */
static int resident(int fd, off_t off)
{
	unsigned char v = 0;
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, off);
	int r;

	if (p == MAP_FAILED)
		return -1;
	r = mincore(p, 4096, &v) ? -1 : (v & 1);
	munmap(p, 4096);
	return r;
}

struct run {
	struct ksvc_dispatcher *d;
	__s64 res;
	__u32 flags;
	__u64 inl, pool;	/* what this one call added */
};

/* Submit @e, wait for its completion; the counters it moved. */
static int one(struct run *r, struct ksvc_entry e)
{
	struct ksvc_dispatch_stats a, b;
	struct ksvc_completion c;

	ksvc_dispatch_stats(r->d, &a);
	if (ksvc_dispatch_submit(r->d, &e, 1, 0) != 1 ||
	    td_collect(r->d, &c, 1, 5000) != 1)
		return -1;
	ksvc_dispatch_stats(r->d, &b);
	r->res = c.result;
	r->flags = c.flags;
	r->inl = b.tier2_inline - a.tier2_inline;
	r->pool = (b.tier2.submitted - b.tier2_inline) -
		  (a.tier2.submitted - a.tier2_inline);
	return 0;
}

static struct ksvc_dispatcher *create(struct ksvc *k, int mode, __u32 more)
{
	struct ksvc_dispatch_params p;

	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode] | more;
	p.workers = 2;
	td_mask_op(&p, IORING_OP_READ);
	return td_create_p(k, &p);
}

static struct ksvc_entry pread_e(int fd, void *buf, size_t len, __s64 off)
{
	return td_entry(1, SYS_pread64, (__u64)fd, (uintptr_t)buf, len,
			(__u64)off);
}

/*
 * A 4 KiB read at @off of @fd that must go to the pool, and come back
 * right; skipped with @skip when this machine cannot set it up.
 */
static void pool_read(struct run *r, const char *m, const char *what,
		      int fd, off_t off, const char *skip)
{
	static unsigned char buf[4096] __attribute__((aligned(4096)));
	int ok;

	if (skip) {
		tap_skip(skip, "%s: %s pread64 goes to the pool", m, what);
		return;
	}
	memset(buf, 0, sizeof(buf));
	ok = one(r, pread_e(fd, buf, 4096, off)) == 0 && r->res == 4096 &&
	     r->inl == 0 && r->pool == 1 &&
	     memcmp(buf, expect + off, 4096) == 0;
	tap_ok(ok, "%s: %s pread64: the pool reads it (%lld, inline +%llu, "
	       "pool +%llu)", m, what, (long long)r->res,
	       (unsigned long long)r->inl, (unsigned long long)r->pool);
}

/*
 * Not cached: the pool.  RWF_NOWAIT still starts the readahead of the
 * missing page (filemap_get_pages()), and a fast enough device can
 * finish it before the read looks again; the read then succeeds on the
 * dispatcher, rightly.  So try up to UNCACHED_TRIES pages: every read
 * must come back right, and at least one must have gone to the pool.  A
 * dispatcher that read without RWF_NOWAIT, or returned its -EAGAIN,
 * fails this.
 */
#define UNCACHED_TRIES	8

static void uncached_read(struct run *r, const char *m, int fd)
{
	static unsigned char buf[4096] __attribute__((aligned(4096)));
	int i, right = 1, inl = 0, pool = 0;
	off_t off = 0;

	for (i = 0; i < UNCACHED_TRIES && !pool && right; i++) {
		off = 32768 + (off_t)i * 16384;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (resident(fd, off) != 0) {
			tap_skip("the file system keeps the page after "
				 "POSIX_FADV_DONTNEED (tmpfs does)",
				 "%s: uncached pread64 goes to the pool", m);
			return;
		}
		memset(buf, 0, sizeof(buf));
		right = one(r, pread_e(fd, buf, 4096, off)) == 0 &&
			r->res == 4096 && r->inl + r->pool == 1 &&
			memcmp(buf, expect + off, 4096) == 0;
		inl += r->inl == 1;
		pool += r->pool == 1;
	}
	tap_ok(right && pool == 1, "%s: uncached pread64: the pool reads it "
	       "(%lld, %s; %d read(s) finished on the dispatcher first: "
	       "their readahead came in time)", m, (long long)r->res,
	       right ? "right" : "WRONG", inl);
}

static void run_mode(int mode)
{
	const char *m = td_mode_names[mode];
	struct ksvc *k = td_open(64, 128);
	static unsigned char buf[160 * 1024] __attribute__((aligned(4096)));
	struct ksvc_entry e;
	struct run r = { 0 };
	int fd = open(path, O_RDONLY), dfd, pfd[2], ok;

	if (fd < 0)
		tap_bail("open: %s", strerror(errno));
	r.d = create(k, mode, 0);

	/*
	 * From the page cache: on the dispatcher, where the file system
	 * takes RWF_NOWAIT (not tmpfs in 6.12: there, on the pool).
	 */
	if (pread(fd, buf, 4096, 4096) != 4096)	/* cached now */
		tap_bail("pread: %s", strerror(errno));
	memset(buf, 0, sizeof(buf));
	e = pread_e(fd, buf, 4096, 4096);
	ok = ksvc_dispatch_route(r.d, &e) == KSVC_ROUTE_TIER2;
	ok = one(&r, e) == 0 && ok && r.res == 4096 &&
	     r.flags == KSVC_COMP_TIER2 && r.inl == (__u64)fs_nowait &&
	     r.pool == (__u64)!fs_nowait &&
	     memcmp(buf, expect + 4096, 4096) == 0;
	tap_ok(ok, "%s: cached pread64 in Tier 2: %lld bytes, right, %s "
	       "(inline +%llu, pool +%llu), route TIER2", m, (long long)r.res,
	       fs_nowait ? "on the dispatcher" :
	       "on the pool (this file system refuses RWF_NOWAIT)",
	       (unsigned long long)r.inl, (unsigned long long)r.pool);

	/* /dev/zero takes RWF_NOWAIT (FMODE_NOWAIT): on the dispatcher. */
	memset(buf, 1, 4096);
	ok = one(&r, pread_e(zero_fd, buf, 4096, 0)) == 0 && r.res == 4096 &&
	     r.inl == (__u64)zero_nowait && r.pool == (__u64)!zero_nowait &&
	     buf[0] == 0 && buf[4095] == 0;
	tap_ok(ok, "%s: pread64 of /dev/zero in Tier 2: %lld, zeros, %s "
	       "(inline +%llu, pool +%llu)", m, (long long)r.res,
	       zero_nowait ? "on the dispatcher" :
	       "on the pool (this kernel's /dev/zero refuses RWF_NOWAIT)",
	       (unsigned long long)r.inl, (unsigned long long)r.pool);

	uncached_read(&r, m, fd);

	/* Short: across the end of the file. */
	if (pread(fd, buf, 8192, FSIZE - 1000) != 1000)
		tap_bail("pread at the end");
	memset(buf, 0, sizeof(buf));
	ok = one(&r, pread_e(fd, buf, 4096, FSIZE - 1000)) == 0 &&
	     r.res == 1000 && r.inl == 0 && r.pool == 1 &&
	     memcmp(buf, expect + FSIZE - 1000, 1000) == 0;
	tap_ok(ok, "%s: a short read (end of file) is made again on the pool: "
	       "%lld (inline +%llu, pool +%llu)", m, (long long)r.res,
	       (unsigned long long)r.inl, (unsigned long long)r.pool);

	/* O_DIRECT: the pool. */
	dfd = open(path, O_RDONLY | O_DIRECT);
	pool_read(&r, m, "O_DIRECT", dfd, 8192,
		  dfd < 0 ? "O_DIRECT not supported here" : NULL);
	if (dfd >= 0)
		close(dfd);

	/* Over 64 KiB: the pool, cached or not; exactly 64 KiB: inline. */
	if (pread(fd, buf, 160 * 1024, 0) != 160 * 1024)
		tap_bail("pread 160 KiB");
	memset(buf, 0, sizeof(buf));
	ok = one(&r, pread_e(fd, buf, 64 * 1024 + 4096, 0)) == 0 &&
	     r.res == 64 * 1024 + 4096 && r.inl == 0 && r.pool == 1 &&
	     memcmp(buf, expect, 64 * 1024 + 4096) == 0;
	memset(buf, 0, sizeof(buf));
	ok = one(&r, pread_e(fd, buf, 64 * 1024, 4096)) == 0 && ok &&
	     r.res == 64 * 1024 && r.inl == (__u64)fs_nowait &&
	     r.pool == (__u64)!fs_nowait &&
	     memcmp(buf, expect + 4096, 64 * 1024) == 0;
	tap_ok(ok, "%s: a cached read of 68 KiB goes to the pool, one of "
	       "64 KiB %s", m, fs_nowait ? "is read on the dispatcher" :
	       "too (this file system refuses RWF_NOWAIT)");

	/*
	 * Offset -1: pread64's EINVAL, not a read at the file position (0,
	 * cached first, so that a read there would succeed).
	 */
	if (pread(fd, buf, 16, 0) != 16)
		tap_bail("pread at 0");
	ok = one(&r, pread_e(fd, buf, 16, -1)) == 0 && r.res == -EINVAL &&
	     r.inl == 0;
	tap_ok(ok, "%s: offset -1: %lld (-EINVAL), not run inline", m,
	       (long long)r.res);

	/* The system call's own errors. */
	if (pipe(pfd))
		tap_bail("pipe");
	ok = one(&r, pread_e(pfd[0], buf, 16, 0)) == 0 && r.res == -ESPIPE;
	tap_ok(ok, "%s: a pipe: %lld (-ESPIPE)", m, (long long)r.res);
	close(pfd[0]);
	close(pfd[1]);
	ok = one(&r, td_entry(1, SYS_pread64, (__u64)fd, 8, 16, 0)) == 0 &&
	     r.res == -EFAULT;
	tap_ok(ok, "%s: a bad buffer: %lld (-EFAULT)", m, (long long)r.res);
	ok = one(&r, pread_e(9999, buf, 16, 0)) == 0 && r.res == -EBADF;
	tap_ok(ok, "%s: a closed descriptor: %lld (-EBADF)", m,
	       (long long)r.res);
	ksvc_dispatch_destroy(r.d);

	/* NO_INLINE: the pool even from the page cache. */
	r.d = create(k, mode, KSVC_DISPATCH_NO_INLINE);
	memset(buf, 0, sizeof(buf));
	ok = one(&r, pread_e(fd, buf, 4096, 4096)) == 0 && r.res == 4096 &&
	     r.inl == 0 && r.pool == 1 &&
	     memcmp(buf, expect + 4096, 4096) == 0;
	tap_ok(ok, "%s: KSVC_DISPATCH_NO_INLINE: the pool (inline +%llu, "
	       "pool +%llu)", m, (unsigned long long)r.inl,
	       (unsigned long long)r.pool);
	ksvc_dispatch_destroy(r.d);
	ksvc_close(k);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Socket calls that cannot sleep                                       */
/* ------------------------------------------------------------------ */

/* Did @r run on the dispatcher (1) or on the pool (0), nothing else? */
static int where_ok(const struct run *r, int on_driver)
{
	return r->flags == KSVC_COMP_TIER2 &&
	       r->inl == (__u64)on_driver && r->pool == (__u64)!on_driver;
}

static const char *where(const struct run *r)
{
	return r->flags != KSVC_COMP_TIER2 ? "not Tier 2" :
	       r->inl ? "on the dispatcher" : r->pool ? "on the pool" : "?";
}

/*
 * Socket calls on a non-blocking descriptor, or with MSG_DONTWAIT, fail
 * with EAGAIN rather than wait: they run on the dispatcher.  @more:
 * creation flags (KSVC_DISPATCH_NO_TIER1: as without io_uring).
 */
static void run_sockets(int mode, __u32 more, const char *cfg)
{
	const char *m = td_mode_names[mode];
	struct ksvc *k = td_open(64, 128);
	struct run r = { 0 };
	struct sockaddr_un sa;
	struct msghdr mh;
	struct iovec iov;
	char buf[16];
	int sv[2], lfd, ok, no_t1 = !!(more & KSVC_DISPATCH_NO_TIER1);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		tap_bail("socketpair: %s", strerror(errno));
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	r.d = create(k, mode, more);

	ok = one(&r, td_entry(1, SYS_recvfrom, (__u64)sv[0],
			      (uintptr_t)buf, sizeof(buf), 0)) == 0 &&
	     r.res == -EAGAIN && where_ok(&r, 1);
	tap_ok(ok, "%s, %s: recvfrom on an empty O_NONBLOCK socket: %lld "
	       "(-EAGAIN), %s", m, cfg, (long long)r.res, where(&r));
	if (write(sv[1], "hello", 5) != 5)
		tap_bail("write");
	memset(buf, 0, sizeof(buf));
	ok = one(&r, td_entry(1, SYS_recvfrom, (__u64)sv[0],
			      (uintptr_t)buf, sizeof(buf), 0)) == 0 &&
	     r.res == 5 && !memcmp(buf, "hello", 5) && where_ok(&r, 1);
	ok = one(&r, td_entry(1, SYS_sendto, (__u64)sv[0], (uintptr_t)"abc",
			      3, 0)) == 0 && ok && r.res == 3 &&
	     where_ok(&r, 1) && read(sv[1], buf, sizeof(buf)) == 3 &&
	     !memcmp(buf, "abc", 3);
	tap_ok(ok, "%s, %s: recvfrom and sendto on it with data and room: "
	       "the bytes, on the dispatcher", m, cfg);

	/* MSG_DONTWAIT on the blocking end (Tier 1 takes it with io_uring). */
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	ok = one(&r, td_entry(1, SYS_recvmsg, (__u64)sv[1], (uintptr_t)&mh,
			      MSG_DONTWAIT, 0)) == 0 && r.res == -EAGAIN &&
	     (no_t1 ? where_ok(&r, 1) : r.flags == KSVC_COMP_TIER1);
	tap_ok(ok, "%s, %s: recvmsg(MSG_DONTWAIT) on a blocking socket: %lld "
	       "(-EAGAIN), %s", m, cfg, (long long)r.res,
	       no_t1 ? where(&r) : r.flags == KSVC_COMP_TIER1 ?
	       "in Tier 1" : "not Tier 1");

	/* accept4 on a non-blocking listening socket with nobody waiting. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "ksvc-nw-%d-%d",
		 getpid(), mode);	/* abstract */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 4))
		tap_bail("listen: %s", strerror(errno));
	ok = one(&r, td_entry(1, SYS_accept4, (__u64)lfd, 0, 0,
			      SOCK_CLOEXEC)) == 0 && r.res == -EAGAIN &&
	     where_ok(&r, 1);
	tap_ok(ok, "%s, %s: accept4 on an O_NONBLOCK listener, nobody "
	       "waiting: %lld (-EAGAIN), %s", m, cfg, (long long)r.res,
	       where(&r));
	close(lfd);

	/* A blocking socket without MSG_DONTWAIT can wait: not inline. */
	if (write(sv[0], "xy", 2) != 2)
		tap_bail("write");
	ok = one(&r, td_entry(1, SYS_recvfrom, (__u64)sv[1], (uintptr_t)buf,
			      sizeof(buf), 0)) == 0 && r.res == 2 &&
	     (no_t1 ? where_ok(&r, 0) : r.flags == KSVC_COMP_TIER1);
	tap_ok(ok, "%s, %s: recvfrom on a blocking socket: %lld, %s", m, cfg,
	       (long long)r.res, no_t1 ? where(&r) :
	       r.flags == KSVC_COMP_TIER1 ? "in Tier 1" : "not Tier 1");
	ksvc_dispatch_destroy(r.d);

	/* NO_INLINE, and (without io_uring) BLOCKING_FDS: the pool. */
	r.d = create(k, mode, more | KSVC_DISPATCH_NO_INLINE);
	ok = one(&r, td_entry(1, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf,
			      sizeof(buf), 0)) == 0 && r.res == -EAGAIN &&
	     where_ok(&r, 0);
	ksvc_dispatch_destroy(r.d);
	if (no_t1) {
		r.d = create(k, mode, more | KSVC_DISPATCH_BLOCKING_FDS);
		ok = one(&r, td_entry(1, SYS_recvfrom, (__u64)sv[0],
				      (uintptr_t)buf, sizeof(buf), 0)) == 0 &&
		     ok && r.res == -EAGAIN && where_ok(&r, 0);
		ksvc_dispatch_destroy(r.d);
	}
	tap_ok(ok, "%s, %s: with KSVC_DISPATCH_NO_INLINE%s the same recvfrom "
	       "runs on the pool", m, cfg, no_t1 ?
	       ", and with KSVC_DISPATCH_BLOCKING_FDS," : "");
	ksvc_close(k);
	close(sv[0]);
	close(sv[1]);
}

/* In a child: preadv2() is ENOSYS; exit 0 if two reads still work. */
static void no_preadv2_child(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_preadv2, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	static unsigned char buf[4096];
	struct ksvc *k;
	struct run r = { 0 };
	int fd = open(path, O_RDONLY), i, bad = 0;

	if (fd < 0 || pread(fd, buf, 4096, 0) != 4096 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		_exit(2);
	k = td_open(64, 128);
	r.d = create(k, 0, 0);
	for (i = 0; i < 2; i++) {
		memset(buf, 0, sizeof(buf));
		if (one(&r, pread_e(fd, buf, 4096, 0)) || r.res != 4096 ||
		    r.inl != 0 || memcmp(buf, expect, 4096))
			bad = 1;
	}
	ksvc_dispatch_destroy(r.d);
	ksvc_close(k);
	close(fd);
	exit(bad);
}

int main(int argc, char **argv)
{
	int mode, st = -1, fd;
	pid_t pid;

	td_args(argc, argv);
	tap_plan(2 * 11 + 1 + 2 * 2 * 6);
	td_say_where();
	make_file();
	fd = open(path, O_RDONLY);
	zero_fd = open("/dev/zero", O_RDONLY);
	if (fd < 0 || zero_fd < 0)
		tap_bail("open: %s", strerror(errno));
	fs_nowait = nowait_works(fd);
	zero_nowait = nowait_works(zero_fd);
	close(fd);
	tap_diag("RWF_NOWAIT reads: %s for %s, %s for /dev/zero",
		 fs_nowait ? "yes" : "no", path, zero_nowait ? "yes" : "no");
	fflush(stdout);
	pid = fork();	/* first, while this process has one thread */
	if (pid == 0)
		no_preadv2_child();
	if (pid > 0)
		waitpid(pid, &st, 0);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "preadv2() ENOSYS (seccomp): the cached reads come back right "
	       "from the pool (child status %#x)", st);
	for (mode = 0; mode < 2; mode++)
		run_mode(mode);
	for (mode = 0; mode < 2; mode++) {
		run_sockets(mode, 0, "io_uring");
		run_sockets(mode, KSVC_DISPATCH_NO_TIER1, "no io_uring");
	}
	unlink(path);
	close(zero_fd);
	tap_done();
}
