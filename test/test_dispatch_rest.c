// SPDX-License-Identifier: MIT
/*
 * test_dispatch_rest - "and the rest the running kernel supports": the
 * system calls beyond the list that the dispatcher hands to
 * io_uring, each with its result, its effect and its tier; and the
 * argument checks that keep a call out of Tier 1 where io_uring would
 * not do exactly what the system call does.
 *
 * Tier 1 (when this kernel's io_uring probe has the opcode, which the
 * test reads itself): open, creat, openat2, accept, preadv, pwritev,
 * preadv2, pwritev2, sync_file_range, ftruncate, fadvise64, madvise,
 * mkdir, rmdir, rename, renameat, unlink, symlink, symlinkat, link,
 * linkat, setxattr, fsetxattr, getxattr, fgetxattr, bind, listen, tee,
 * and sendto to an address (as SENDMSG).
 *
 * Always Tier 2, with the system call's own result:
 *   - a read or write at an offset on a file without positions (a pipe,
 *     a socket, an eventfd, a character device): the system call fails
 *     with ESPIPE and the data stays where it was (io_uring would read
 *     or write the stream); KSVC_DISPATCH_POSITIONAL_FDS lets such calls
 *     into Tier 1 (checked with ksvc_dispatch_route() and /dev/zero);
 *   - splice and tee with flag bit 31 (EINVAL; io_uring would take a
 *     registered file) or a length of 0 (0 even with bad descriptors);
 *   - openat2 with a struct open_how over a page (E2BIG);
 *   - statx with a NULL path (the descriptor itself since 6.11);
 *   - ftruncate to a negative length (EINVAL, the file unchanged);
 *   - recvfrom with an address (the source address comes back);
 *   - close of an io_uring descriptor, or any without a file type
 *     (io_uring refuses to close those: EBADF, left open);
 *   - calls on a socket with a time-out (SO_RCVTIMEO for recvfrom,
 *     accept4, read and readv, SO_SNDTIMEO for sendto and write):
 *     EAGAIN, or what fit, when it expires (io_uring would wait on); not
 *     looked at under KSVC_DISPATCH_BLOCKING_FDS; a blocking eventfd's
 *     read stays in Tier 1;
 *   - preadv2 and pwritev2 at offset -1 on an O_NONBLOCK pipe: EAGAIN,
 *     as readv and writev (io_uring would wait);
 *   - read, write and pread64 of 0 bytes (EISDIR from a directory,
 *     EINVAL to an eventfd; io_uring would return 0), also on the route
 *     table's paths (BLOCKING_FDS, POSITIONAL_FDS);
 *   - preadv2 and pwritev2 with RWF_HIPRI (io_uring: EINVAL), pwritev2
 *     with RWF_NOWAIT (ext4 says EOPNOTSUPP, io_uring EAGAIN), both
 *     with RWF_ATOMIC or a flag nobody knows (for 0 bytes the system
 *     call returns 0 without looking at them), sendmsg
 *     and recvmsg with MSG_CMSG_COMPAT (EINVAL; io_uring would take it),
 *     statx with an unknown flag.
 *
 * In Tier 1 with the system call's answer: sendmsg and recvmsg with more
 * than IOV_MAX iovecs (EMSGSIZE, where io_uring said EINVAL before 6.18);
 * a write at the file position that the file size limit cuts short (the
 * position moves past the bytes written, as with the system call, so the
 * rest fails with EFBIG instead of overwriting them; O_APPEND, and
 * pwritev2's RWF_APPEND and RWF_NOAPPEND too).
 *
 * And writes and sends larger than what the pipe or socket holds: all of
 * it, as the blocking system call, where io_uring alone reports what fit
 * (write, sendto, writev, sendmsg, sendto to an address on TCP, pwritev2
 * at the file position; on sockets and, through ksvc_dispatch_call(),
 * pipes); sendmsg's control data (a descriptor) arrives once; what was
 * sent before the reader left or a stop came (sendto and sendmsg); with
 * MSG_DONTWAIT or RWF_NOWAIT only what fit.  Receives with MSG_WAITALL
 * (recvfrom, recvmsg): the whole length, or what came before the peer
 * closed.
 *
 * Both dispatcher modes; on the host (anonymous rings) and in the VM
 * (the module's rings), plain and sanitized.
 */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#include "test_calls.h"
#include "util.h"

/* The kernel's MSG_CMSG_COMPAT, which user space headers do not have */
#define KSVC_TEST_CMSG_COMPAT	0x80000000u
/* RWF_ATOMIC (Linux 6.11), newer than Debian 12's headers */
#define KSVC_TEST_RWF_ATOMIC	0x40
/* RWF_NOAPPEND (Linux 6.9), newer than Debian 12's headers */
#define KSVC_TEST_NOAPPEND	0x20

/* Opcodes newer than Debian 12's liburing headers (6.9, 6.11). */
#define OP_FTRUNCATE	55
#define OP_BIND		56
#define OP_LISTEN	57

static const struct call_op ops[] = {
	{ SYS_open, "open", IORING_OP_OPENAT },
	{ SYS_creat, "creat", IORING_OP_OPENAT },
	{ SYS_openat2, "openat2", IORING_OP_OPENAT2 },
	{ SYS_accept, "accept", IORING_OP_ACCEPT },
	{ SYS_preadv, "preadv", IORING_OP_READV },
	{ SYS_pwritev, "pwritev", IORING_OP_WRITEV },
	{ SYS_preadv2, "preadv2", IORING_OP_READV },
	{ SYS_pwritev2, "pwritev2", IORING_OP_WRITEV },
	{ SYS_sync_file_range, "sync_file_range",
	  IORING_OP_SYNC_FILE_RANGE },
	{ SYS_ftruncate, "ftruncate", OP_FTRUNCATE },
	{ SYS_fadvise64, "fadvise64", IORING_OP_FADVISE },
	{ SYS_madvise, "madvise", IORING_OP_MADVISE },
	{ SYS_mkdir, "mkdir", IORING_OP_MKDIRAT },
	{ SYS_rmdir, "rmdir", IORING_OP_UNLINKAT },
	{ SYS_rename, "rename", IORING_OP_RENAMEAT },
	{ SYS_renameat, "renameat", IORING_OP_RENAMEAT },
	{ SYS_unlink, "unlink", IORING_OP_UNLINKAT },
	{ SYS_symlink, "symlink", IORING_OP_SYMLINKAT },
	{ SYS_symlinkat, "symlinkat", IORING_OP_SYMLINKAT },
	{ SYS_link, "link", IORING_OP_LINKAT },
	{ SYS_linkat, "linkat", IORING_OP_LINKAT },
	{ SYS_setxattr, "setxattr", IORING_OP_SETXATTR },
	{ SYS_fsetxattr, "fsetxattr", IORING_OP_FSETXATTR },
	{ SYS_getxattr, "getxattr", IORING_OP_GETXATTR },
	{ SYS_fgetxattr, "fgetxattr", IORING_OP_FGETXATTR },
	{ SYS_bind, "bind", OP_BIND },
	{ SYS_listen, "listen", OP_LISTEN },
	{ SYS_tee, "tee", IORING_OP_TEE },
	/* in the list; here for their argument checks */
	{ SYS_pread64, "pread64", IORING_OP_READ },
	{ SYS_pwrite64, "pwrite64", IORING_OP_WRITE },
	{ SYS_write, "write", IORING_OP_WRITE },
	{ SYS_close, "close", IORING_OP_CLOSE },
	{ SYS_statx, "statx", IORING_OP_STATX },
	{ SYS_accept4, "accept4", IORING_OP_ACCEPT },
	{ SYS_splice, "splice", IORING_OP_SPLICE },
	{ SYS_sendto, "sendto", IORING_OP_SEND },
	{ SYS_recvfrom, "recvfrom", IORING_OP_RECV },
	{ SYS_writev, "writev", IORING_OP_WRITEV },
	{ SYS_sendmsg, "sendmsg", IORING_OP_SENDMSG },
	{ SYS_recvmsg, "recvmsg", IORING_OP_RECVMSG },
	{ SYS_read, "read", IORING_OP_READ },
	{ SYS_readv, "readv", IORING_OP_READV },
};

#define NOPS		(sizeof(ops) / sizeof(ops[0]))
#define NCASES		119	/* checks per mode, below */

/* The system call made directly: what the dispatcher must return. */
static __s64 direct(long nr, __u64 a0, __u64 a1, __u64 a2, __u64 a3,
		    __u64 a4, __u64 a5)
{
	long r = syscall(nr, a0, a1, a2, a3, a4, a5);

	return r < 0 ? -errno : r;
}

static int file_is(int fd, const char *want, size_t n)
{
	char buf[64];
	struct stat st;

	return n <= sizeof(buf) && fstat(fd, &st) == 0 &&
	       st.st_size == (off_t)n && pread(fd, buf, n, 0) == (ssize_t)n &&
	       memcmp(buf, want, n) == 0;
}

/* A read that never waits: -1 if nothing is there (a broken call took it). */
static ssize_t read_now(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return -1;
	return read(fd, buf, n);
}

static void reset_file(struct ctx *x)
{
	if (ftruncate(x->fd, 0) || pwrite(x->fd, "abcdef", 6, 0) != 6 ||
	    lseek(x->fd, 0, SEEK_SET) != 0)
		tap_bail("reset %s: %s", x->path, strerror(errno));
}

static void opens(struct ctx *x)
{
	char p2[128], one = 0;
	struct open_how how;
	char *big;
	__s64 r, want;
	__u32 fl;
	int fd;

	r = run(x, SYS_open, (uintptr_t)x->path, O_RDONLY | O_CLOEXEC, 0, 0,
		0, 0, &fl);
	fd = (int)r;
	check(x, SYS_open, IORING_OP_OPENAT, r, 0, 1, fl, r >= 0 &&
	      read(fd, &one, 1) == 1 && one == 'a' &&
	      (fcntl(fd, F_GETFD) & FD_CLOEXEC), "reads 'a', close-on-exec");
	if (r >= 0)
		close(fd);

	snprintf(p2, sizeof(p2), "%s/created", x->dir);
	r = run(x, SYS_creat, (uintptr_t)p2, 0640, 0, 0, 0, 0, &fl);
	fd = (int)r;
	check(x, SYS_creat, IORING_OP_OPENAT, r, 0, 1, fl, r >= 0 &&
	      (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY &&
	      access(p2, F_OK) == 0, "a new file, opened write-only");
	if (r >= 0)
		close(fd);
	unlink(p2);

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC;
	r = run(x, SYS_openat2, (__u64)AT_FDCWD, (uintptr_t)x->path,
		(uintptr_t)&how, sizeof(how), 0, 0, &fl);
	fd = (int)r;
	check(x, SYS_openat2, IORING_OP_OPENAT2, r, 0, 1, fl, r >= 0 &&
	      read(fd, &one, 1) == 1 && one == 'a', "reads 'a'");
	if (r >= 0)
		close(fd);

	/* A zeroed struct of two pages: E2BIG for the system call. */
	big = calloc(1, 8192);
	if (!big)
		tap_bail("calloc");
	memcpy(big, &how, sizeof(how));
	want = direct(SYS_openat2, (__u64)AT_FDCWD, (uintptr_t)x->path,
		      (uintptr_t)big, 8192, 0, 0);
	if (want >= 0)
		close((int)want);
	r = run(x, SYS_openat2, (__u64)AT_FDCWD, (uintptr_t)x->path,
		(uintptr_t)big, 8192, 0, 0, &fl);
	if (r >= 0)
		close((int)r);
	check(x, SYS_openat2, OP_NONE, r, want, 0, fl, want == -E2BIG,
	      "a struct open_how of 8 KiB: E2BIG, as the system call");
	free(big);
}

/* statx with a NULL path: what the system call says (6.11: the fd) */
static void statx_null(struct ctx *x)
{
	struct statx a, b;
	__s64 r, want;
	__u32 fl;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	want = direct(SYS_statx, (__u64)x->fd, 0, AT_EMPTY_PATH, STATX_SIZE,
		      (uintptr_t)&a, 0);
	r = run(x, SYS_statx, (__u64)x->fd, 0, AT_EMPTY_PATH, STATX_SIZE,
		(uintptr_t)&b, 0, &fl);
	check(x, SYS_statx, OP_NONE, r, want, 0, fl,
	      want || b.stx_size == a.stx_size,
	      want ? "NULL path: as the system call (no NULL paths here)"
		   : "NULL path with AT_EMPTY_PATH: the descriptor's size");
}

static void rw(struct ctx *x)
{
	char a[4] = { 0 }, b[4] = { 0 };
	struct iovec iov[2];
	__s64 r, want;
	__u32 fl;

	reset_file(x);
	iov[0].iov_base = a;
	iov[0].iov_len = 2;
	iov[1].iov_base = b;
	iov[1].iov_len = 3;
	r = run(x, SYS_preadv, (__u64)x->fd, (uintptr_t)iov, 2, 1, 0, 0, &fl);
	check(x, SYS_preadv, IORING_OP_READV, r, 5, 0, fl,
	      memcmp(a, "bc", 2) == 0 && memcmp(b, "def", 3) == 0 &&
	      lseek(x->fd, 0, SEEK_CUR) == 0,
	      "\"bc\" and \"def\" from offset 1, the position unmoved");

	iov[0].iov_base = (void *)"XY";
	iov[0].iov_len = 2;
	iov[1].iov_base = (void *)"Z";
	iov[1].iov_len = 1;
	r = run(x, SYS_pwritev, (__u64)x->fd, (uintptr_t)iov, 2, 2, 0, 0,
		&fl);
	check(x, SYS_pwritev, IORING_OP_WRITEV, r, 3, 0, fl,
	      file_is(x->fd, "abXYZf", 6), "the file reads \"abXYZf\"");

	memset(a, 0, sizeof(a));
	iov[0].iov_base = a;
	iov[0].iov_len = 2;
	r = run(x, SYS_preadv2, (__u64)x->fd, (uintptr_t)iov, 1, 3, 0, 0,
		&fl);
	check(x, SYS_preadv2, IORING_OP_READV, r, 2, 0, fl,
	      memcmp(a, "YZ", 2) == 0, "\"YZ\" from offset 3");
	lseek(x->fd, 4, SEEK_SET);
	r = run(x, SYS_preadv2, (__u64)x->fd, (uintptr_t)iov, 1, (__u64)-1,
		0, 0, &fl);
	check(x, SYS_preadv2, IORING_OP_READV, r, 2, 0, fl,
	      memcmp(a, "Zf", 2) == 0 && lseek(x->fd, 0, SEEK_CUR) == 6,
	      "offset -1: \"Zf\" at the file position, which moved to 6");

	/* RWF_APPEND: at the end whatever the offset (flags passed on) */
	iov[0].iov_base = (void *)"!";
	iov[0].iov_len = 1;
	r = run(x, SYS_pwritev2, (__u64)x->fd, (uintptr_t)iov, 1, 0, 0,
		RWF_APPEND, &fl);
	check(x, SYS_pwritev2, IORING_OP_WRITEV, r, 1, 0, fl,
	      file_is(x->fd, "abXYZf!", 7), "RWF_APPEND: \"!\" at the end");

	r = run(x, SYS_sync_file_range, (__u64)x->fd, 0, 4096,
		SYNC_FILE_RANGE_WRITE, 0, 0, &fl);
	check(x, SYS_sync_file_range, IORING_OP_SYNC_FILE_RANGE, r, 0, 0, fl,
	      1, "returned 0");
	want = direct(SYS_sync_file_range, (__u64)x->fd, 0, 4096, 0x100, 0,
		      0);
	r = run(x, SYS_sync_file_range, (__u64)x->fd, 0, 4096, 0x100, 0, 0,
		&fl);
	check(x, SYS_sync_file_range, IORING_OP_SYNC_FILE_RANGE, r, want, 0,
	      fl, want == -EINVAL, "an unknown flag: EINVAL, as the system "
	      "call");

	r = run(x, SYS_ftruncate, (__u64)x->fd, 3, 0, 0, 0, 0, &fl);
	check(x, SYS_ftruncate, OP_FTRUNCATE, r, 0, 0, fl,
	      file_is(x->fd, "abX", 3), "the file is \"abX\"");
	r = run(x, SYS_ftruncate, (__u64)x->fd, (__u64)-1, 0, 0, 0, 0, &fl);
	check(x, SYS_ftruncate, OP_NONE, r, -EINVAL, 0, fl,
	      file_is(x->fd, "abX", 3), "length -1: EINVAL, the file "
	      "unchanged");

	r = run(x, SYS_fadvise64, (__u64)x->fd, 0, 4096, POSIX_FADV_WILLNEED,
		0, 0, &fl);
	check(x, SYS_fadvise64, IORING_OP_FADVISE, r, 0, 0, fl, 1,
	      "POSIX_FADV_WILLNEED: 0");
	r = run(x, SYS_fadvise64, (__u64)x->fd, 0, 4096, 99, 0, 0, &fl);
	check(x, SYS_fadvise64, IORING_OP_FADVISE, r, -EINVAL, 0, fl, 1,
	      "advice 99: EINVAL");
}

static void names(struct ctx *x)
{
	char d[128], a[128], b[128], l[128], h[128], got[16];
	struct stat st;
	ssize_t n;
	__s64 r;
	__u32 fl;
	int fd;

	snprintf(d, sizeof(d), "%s/d", x->dir);
	r = run(x, SYS_mkdir, (uintptr_t)d, 0750, 0, 0, 0, 0, &fl);
	check(x, SYS_mkdir, IORING_OP_MKDIRAT, r, 0, 0, fl, stat(d, &st) == 0 &&
	      S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750,
	      "a directory, mode 0750");
	r = run(x, SYS_rmdir, (uintptr_t)d, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_rmdir, IORING_OP_UNLINKAT, r, 0, 0, fl,
	      access(d, F_OK) < 0 && errno == ENOENT, "the directory is gone");
	r = run(x, SYS_rmdir, (uintptr_t)x->path, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_rmdir, IORING_OP_UNLINKAT, r, -ENOTDIR, 0, fl,
	      access(x->path, F_OK) == 0, "a file: ENOTDIR, the file stays");

	snprintf(a, sizeof(a), "%s/a", x->dir);
	snprintf(b, sizeof(b), "%s/b", x->dir);
	fd = open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		tap_bail("create %s: %s", a, strerror(errno));
	close(fd);
	r = run(x, SYS_rename, (uintptr_t)a, (uintptr_t)b, 0, 0, 0, 0, &fl);
	check(x, SYS_rename, IORING_OP_RENAMEAT, r, 0, 0, fl,
	      access(a, F_OK) < 0 && access(b, F_OK) == 0, "a is now b");
	r = run(x, SYS_renameat, (__u64)AT_FDCWD, (uintptr_t)b,
		(__u64)x->dfd, (uintptr_t)"c", 0, 0, &fl);
	snprintf(a, sizeof(a), "%s/c", x->dir);
	check(x, SYS_renameat, IORING_OP_RENAMEAT, r, 0, 0, fl,
	      access(b, F_OK) < 0 && access(a, F_OK) == 0,
	      "b is now c (relative to a directory descriptor)");
	r = run(x, SYS_unlink, (uintptr_t)a, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_unlink, IORING_OP_UNLINKAT, r, 0, 0, fl,
	      access(a, F_OK) < 0 && errno == ENOENT, "c is gone");

	snprintf(l, sizeof(l), "%s/l", x->dir);
	r = run(x, SYS_symlink, (uintptr_t)"target", (uintptr_t)l, 0, 0, 0, 0,
		&fl);
	n = readlink(l, got, sizeof(got));
	check(x, SYS_symlink, IORING_OP_SYMLINKAT, r, 0, 0, fl,
	      n == 6 && memcmp(got, "target", 6) == 0, "l -> target");
	unlink(l);
	r = run(x, SYS_symlinkat, (uintptr_t)"t2", (__u64)x->dfd,
		(uintptr_t)"l2", 0, 0, 0, &fl);
	snprintf(l, sizeof(l), "%s/l2", x->dir);
	n = readlink(l, got, sizeof(got));
	check(x, SYS_symlinkat, IORING_OP_SYMLINKAT, r, 0, 0, fl,
	      n == 2 && memcmp(got, "t2", 2) == 0, "l2 -> t2 in the directory");
	unlink(l);

	snprintf(h, sizeof(h), "%s/h", x->dir);
	r = run(x, SYS_link, (uintptr_t)x->path, (uintptr_t)h, 0, 0, 0, 0,
		&fl);
	check(x, SYS_link, IORING_OP_LINKAT, r, 0, 0, fl, stat(x->path, &st) ==
	      0 && st.st_nlink == 2, "a second name for the file");
	unlink(h);
	r = run(x, SYS_linkat, (__u64)AT_FDCWD, (uintptr_t)x->path,
		(__u64)x->dfd, (uintptr_t)"h2", 0, 0, &fl);
	snprintf(h, sizeof(h), "%s/h2", x->dir);
	check(x, SYS_linkat, IORING_OP_LINKAT, r, 0, 0, fl,
	      stat(h, &st) == 0 && st.st_nlink == 2,
	      "h2 in the directory, two links");
	unlink(h);
	r = run(x, SYS_linkat, (__u64)AT_FDCWD, (uintptr_t)x->path,
		(__u64)x->dfd, (uintptr_t)"h3", 0x8000, 0, &fl);
	snprintf(h, sizeof(h), "%s/h3", x->dir);
	check(x, SYS_linkat, IORING_OP_LINKAT, r, -EINVAL, 0, fl,
	      access(h, F_OK) < 0, "an unknown flag: EINVAL, no link");
}

static void xattrs(struct ctx *x)
{
	char got[16] = { 0 };
	__s64 r, want;
	__u32 fl;
	int have;

	/* What this file system says to the system call itself. */
	want = fsetxattr(x->fd, "user.probe", "p", 1, 0) < 0 ? -errno : 0;
	have = want == 0;
	if (!have)
		tap_diag("%s: user xattrs here: %s", x->mode,
			 strerror((int)-want));
	fremovexattr(x->fd, "user.a");
	removexattr(x->path, "user.b");

	r = run(x, SYS_fsetxattr, (__u64)x->fd, (uintptr_t)"user.a",
		(uintptr_t)"v1", 2, 0, 0, &fl);
	check(x, SYS_fsetxattr, IORING_OP_FSETXATTR, r, want, 0, fl,
	      !have || (fgetxattr(x->fd, "user.a", got, sizeof(got)) == 2 &&
			memcmp(got, "v1", 2) == 0),
	      have ? "user.a = v1" : "as the system call here");
	r = run(x, SYS_setxattr, (uintptr_t)x->path, (uintptr_t)"user.b",
		(uintptr_t)"v2", 2, XATTR_CREATE, 0, &fl);
	check(x, SYS_setxattr, IORING_OP_SETXATTR, r, want, 0, fl,
	      !have || getxattr(x->path, "user.b", got, sizeof(got)) == 2,
	      have ? "user.b = v2" : "as the system call here");
	r = run(x, SYS_setxattr, (uintptr_t)x->path, (uintptr_t)"user.b",
		(uintptr_t)"v3", 2, XATTR_CREATE, 0, &fl);
	check(x, SYS_setxattr, IORING_OP_SETXATTR, r, have ? -EEXIST : want, 0,
	      fl, !have || (getxattr(x->path, "user.b", got, sizeof(got)) ==
			    2 && memcmp(got, "v2", 2) == 0),
	      have ? "XATTR_CREATE again: EEXIST, still v2"
		   : "as the system call here");
	memset(got, 0, sizeof(got));
	want = have ? 2 : direct(SYS_getxattr, (uintptr_t)x->path,
				 (uintptr_t)"user.b", (uintptr_t)got,
				 sizeof(got), 0, 0);
	r = run(x, SYS_getxattr, (uintptr_t)x->path, (uintptr_t)"user.b",
		(uintptr_t)got, sizeof(got), 0, 0, &fl);
	check(x, SYS_getxattr, IORING_OP_GETXATTR, r, want, 0, fl,
	      !have || memcmp(got, "v2", 2) == 0,
	      have ? "v2" : "as the system call here");
	memset(got, 0, sizeof(got));
	want = have ? 2 : direct(SYS_fgetxattr, (__u64)x->fd,
				 (uintptr_t)"user.a", (uintptr_t)got,
				 sizeof(got), 0, 0);
	r = run(x, SYS_fgetxattr, (__u64)x->fd, (uintptr_t)"user.a",
		(uintptr_t)got, sizeof(got), 0, 0, &fl);
	check(x, SYS_fgetxattr, IORING_OP_FGETXATTR, r, want, 0, fl,
	      !have || memcmp(got, "v1", 2) == 0,
	      have ? "v1" : "as the system call here");
	if (have) {
		fremovexattr(x->fd, "user.probe");
		fremovexattr(x->fd, "user.a");
		removexattr(x->path, "user.b");
	}
}

static void memory(struct ctx *x)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	__s64 r;
	__u32 fl;

	if (p == MAP_FAILED)
		tap_bail("mmap");
	memset(p, 'x', (size_t)ps);
	r = run(x, SYS_madvise, (uintptr_t)p, (__u64)ps, MADV_DONTNEED, 0, 0,
		0, &fl);
	check(x, SYS_madvise, IORING_OP_MADVISE, r, 0, 0, fl,
	      p[0] == 0 && p[ps - 1] == 0,
	      "MADV_DONTNEED: the page reads zeros again");
	munmap(p, (size_t)ps);
}

static void sockets(struct ctx *x)
{
	struct sockaddr_in la, pa, ua, ub, from;
	socklen_t len = sizeof(la);
	char buf[16];
	int s, c, acc, u1, u2;
	__s64 r;
	__u32 fl;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		tap_bail("socket: %s", strerror(errno));
	memset(&la, 0, sizeof(la));
	la.sin_family = AF_INET;
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = run(x, SYS_bind, (__u64)s, (uintptr_t)&la, sizeof(la), 0, 0, 0,
		&fl);
	len = sizeof(la);
	check(x, SYS_bind, OP_BIND, r, 0, 0, fl,
	      getsockname(s, (struct sockaddr *)&la, &len) == 0 &&
	      la.sin_port != 0 && la.sin_addr.s_addr ==
	      htonl(INADDR_LOOPBACK), "bound to 127.0.0.1, a port given");
	r = run(x, SYS_listen, (__u64)s, 4, 0, 0, 0, 0, &fl);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(x, SYS_listen, OP_LISTEN, r, 0, 0, fl, c >= 0 &&
	      connect(c, (struct sockaddr *)&la, sizeof(la)) == 0,
	      "a client can connect");
	r = run(x, SYS_accept, (__u64)s, 0, 0, 0, 0, 0, &fl);
	acc = (int)r;
	len = sizeof(pa);
	check(x, SYS_accept, IORING_OP_ACCEPT, r, 0, 1, fl, r >= 0 &&
	      getpeername(acc, (struct sockaddr *)&pa, &len) == 0 &&
	      (len = sizeof(ua),
	       getsockname(c, (struct sockaddr *)&ua, &len) == 0) &&
	      pa.sin_port == ua.sin_port &&
	      !(fcntl(acc, F_GETFD) & FD_CLOEXEC),
	      "the client's connection, no close-on-exec (accept, not "
	      "accept4)");
	if (acc >= 0)
		close(acc);
	close(c);
	close(s);

	/* Datagrams: sendto to an address, recvfrom with one */
	u1 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	u2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ua, 0, sizeof(ua));
	ua.sin_family = AF_INET;
	ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ub = ua;
	len = sizeof(ua);
	if (u1 < 0 || u2 < 0 || bind(u1, (struct sockaddr *)&ua, sizeof(ua)) ||
	    bind(u2, (struct sockaddr *)&ub, sizeof(ub)) ||
	    getsockname(u1, (struct sockaddr *)&ua, &len) ||
	    (len = sizeof(ub), getsockname(u2, (struct sockaddr *)&ub, &len)))
		tap_bail("udp sockets: %s", strerror(errno));
	r = run(x, SYS_sendto, (__u64)u1, (uintptr_t)"dgram", 5, 0,
		(uintptr_t)&ub, sizeof(ub), &fl);
	check(x, SYS_sendto, IORING_OP_SENDMSG, r, 5, 0, fl,
	      recv(u2, buf, sizeof(buf), 0) == 5 &&
	      memcmp(buf, "dgram", 5) == 0,
	      "to an address (SENDMSG): the datagram arrived");
	if (sendto(u2, "back", 4, 0, (struct sockaddr *)&ua, sizeof(ua)) != 4)
		tap_bail("sendto: %s", strerror(errno));
	memset(&from, 0, sizeof(from));
	len = sizeof(from);
	r = run(x, SYS_recvfrom, (__u64)u1, (uintptr_t)buf, sizeof(buf), 0,
		(uintptr_t)&from, (uintptr_t)&len, &fl);
	check(x, SYS_recvfrom, OP_NONE, r, 4, 0, fl,
	      memcmp(buf, "back", 4) == 0 && len == sizeof(from) &&
	      from.sin_port == ub.sin_port,
	      "with an address: the sender's address came back");
	close(u1);
	close(u2);
}

static void pipes(struct ctx *x)
{
	int p1[2], p2[2], bad;
	char buf[8] = { 0 };
	__s64 r;
	__u32 fl;

	if (pipe2(p1, O_CLOEXEC) || pipe2(p2, O_CLOEXEC))
		tap_bail("pipe2");
	if (write(p1[1], "12345", 5) != 5)
		tap_bail("write");
	r = run(x, SYS_tee, (__u64)p1[0], (__u64)p2[1], 5, 0, 0, 0, &fl);
	check(x, SYS_tee, IORING_OP_TEE, r, 5, 0, fl,
	      read_now(p2[0], buf, sizeof(buf)) == 5 &&
	      memcmp(buf, "12345", 5) == 0 &&
	      read_now(p1[0], buf, sizeof(buf)) == 5,
	      "the bytes in the second pipe, and still in the first");

	bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(bad);	/* a descriptor number that is not open */
	r = run(x, SYS_tee, (__u64)bad, (__u64)bad, 0, 0, 0, 0, &fl);
	check(x, SYS_tee, OP_NONE, r, 0, 0, fl, 1,
	      "length 0, closed descriptors: 0, as the system call");
	if (write(p1[1], "67", 2) != 2)
		tap_bail("write");
	r = run(x, SYS_tee, (__u64)p1[0], (__u64)p2[1], 2, 1u << 31, 0, 0,
		&fl);
	check(x, SYS_tee, OP_NONE, r, -EINVAL, 0, fl,
	      read_now(p1[0], buf, sizeof(buf)) == 2,
	      "flag bit 31: EINVAL, nothing moved");
	r = run(x, SYS_splice, (__u64)bad, 0, (__u64)bad, 0, 0, 0, &fl);
	check(x, SYS_splice, OP_NONE, r, 0, 0, fl, 1,
	      "length 0, closed descriptors: 0, as the system call");
	if (write(p1[1], "89", 2) != 2)
		tap_bail("write");
	r = run(x, SYS_splice, (__u64)p1[0], 0, (__u64)p2[1], 0, 2, 1u << 31,
		&fl);
	check(x, SYS_splice, OP_NONE, r, -EINVAL, 0, fl,
	      read_now(p1[0], buf, sizeof(buf)) == 2,
	      "flag bit 31: EINVAL, nothing moved");
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

/*
 * Reads and writes at an offset on files without positions: ESPIPE from
 * Tier 2, the data where it was.
 */
static void streams(struct ctx *x)
{
	struct ksvc_entry e;
	struct iovec iov;
	char buf[8] = { 0 };
	__u64 cnt = 0;
	int p[2], sv[2], efd, zfd, bad, avail = -1;
	__s64 r;
	__u32 fl;

	if (pipe2(p, O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		tap_bail("pipe2/socketpair");
	efd = eventfd(5, EFD_CLOEXEC);
	zfd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (efd < 0 || zfd < 0)
		tap_bail("eventfd, /dev/zero: %s", strerror(errno));

	if (write(p[1], "abc", 3) != 3)
		tap_bail("write");
	r = run(x, SYS_pread64, (__u64)p[0], (uintptr_t)buf, 3, 0, 0, 0, &fl);
	check(x, SYS_pread64, OP_NONE, r, -ESPIPE, 0, fl,
	      read_now(p[0], buf, sizeof(buf)) == 3 && memcmp(buf, "abc", 3) == 0,
	      "a pipe: ESPIPE, the bytes still in it");
	r = run(x, SYS_pwrite64, (__u64)p[1], (uintptr_t)"xyz", 3, 0, 0, 0,
		&fl);
	check(x, SYS_pwrite64, OP_NONE, r, -ESPIPE, 0, fl,
	      ioctl(p[0], FIONREAD, &avail) == 0 && avail == 0,
	      "a pipe: ESPIPE, nothing written");

	if (write(sv[1], "sock", 4) != 4)
		tap_bail("write");
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	r = run(x, SYS_preadv, (__u64)sv[0], (uintptr_t)&iov, 1, 0, 0, 0,
		&fl);
	check(x, SYS_preadv, OP_NONE, r, -ESPIPE, 0, fl,
	      recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT) == 4,
	      "a socket: ESPIPE, the bytes still in it");
	iov.iov_base = (void *)"w";
	iov.iov_len = 1;
	r = run(x, SYS_pwritev2, (__u64)sv[0], (uintptr_t)&iov, 1, 0, 0, 0,
		&fl);
	check(x, SYS_pwritev2, OP_NONE, r, -ESPIPE, 0, fl,
	      recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) < 0 &&
	      errno == EAGAIN, "a socket: ESPIPE, nothing sent");

	r = run(x, SYS_pread64, (__u64)efd, (uintptr_t)&cnt, 8, 0, 0, 0, &fl);
	check(x, SYS_pread64, OP_NONE, r, -ESPIPE, 0, fl,
	      read_now(efd, &cnt, 8) == 8 && cnt == 5,
	      "an eventfd: ESPIPE, its count still 5");

	/* preadv2 at the file position is readv: a pipe is fine there */
	if (write(p[1], "pos", 3) != 3)
		tap_bail("write");
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	r = run(x, SYS_preadv2, (__u64)p[0], (uintptr_t)&iov, 1, (__u64)-1, 0,
		0, &fl);
	check(x, SYS_preadv2, IORING_OP_READV, r, 3, 0, fl,
	      memcmp(buf, "pos", 3) == 0, "offset -1 on a pipe: read, as "
	      "readv");

	/* /dev/zero takes pread(2), but is no regular file: Tier 2 */
	buf[0] = 1;
	r = run(x, SYS_pread64, (__u64)zfd, (uintptr_t)buf, 1, 0, 0, 0, &fl);
	check(x, SYS_pread64, OP_NONE, r, 1, 0, fl, buf[0] == 0,
	      "/dev/zero: read in Tier 2");

	bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(bad);
	r = run(x, SYS_pread64, (__u64)bad, (uintptr_t)buf, 1, 0, 0, 0, &fl);
	check(x, SYS_pread64, IORING_OP_READ, r, -EBADF, 0, fl, 1,
	      "a closed descriptor: EBADF (no type to look at)");

	ksvc_prep_call(&e, 1, SYS_pread64, (__u64)p[0], (uintptr_t)buf, 1, 0,
		       0, 0);
	tap_ok(ksvc_dispatch_route(x->d, &e) == KSVC_ROUTE_TIER2 ||
	       ksvc_dispatch_route(x->d, &e) == KSVC_ROUTE_TIER2_INLINE,
	       "%s: ksvc_dispatch_route(): a pread64 on a pipe goes to Tier 2",
	       x->mode);

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(efd);
	close(zfd);
}

/*
 * Writes and sends that do not fit at once.  The blocking system call
 * waits until everything is written; io_uring writes what fits and
 * reports that: the dispatcher must go on (ksvc__t1_more()) and report
 * the whole count, or what was written before an error or a stop.
 */
#define BIG		(4u << 20)

struct drain {
	int fd;
	unsigned int delay_ms;
	size_t limit;		/* close after this many bytes (0: never) */
	size_t got;
	int in_order;
	int fds;		/* descriptors received (SCM_RIGHTS) */
};

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/*
 * A reader that moves what arrives on the pipe @fd to /dev/null with
 * splice() (no copy, no check: for counts in the gigabytes) until the
 * pipe is closed; the count in @got.
 */
struct sink {
	int fd;
	unsigned long long got;
};

static void *sink_main(void *arg)
{
	struct sink *sk = arg;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (null < 0)
		return NULL;
	while ((n = splice(sk->fd, NULL, null, NULL, 1 << 20, 0)) > 0)
		sk->got += (unsigned long long)n;
	close(null);
	return NULL;
}

/* Close the descriptors a message carried; how many. */
static int got_fds(struct msghdr *m)
{
	struct cmsghdr *c;
	int n = 0, fd;
	size_t i;

	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		     i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			close(fd);
			n++;
		}
	}
	return n;
}

static void *drain_main(void *arg)
{
	struct drain *dr = arg;
	static __thread unsigned char b[65536];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct iovec iov = { b, sizeof(b) };
	struct msghdr m;
	ssize_t n, i;

	dr->in_order = 1;
	usleep(dr->delay_ms * 1000);
	for (;;) {
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cm.b;
		m.msg_controllen = sizeof(cm.b);
		/* recvmsg() where it works (sockets), read() on pipes */
		n = recvmsg(dr->fd, &m, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == ENOTSOCK)
			n = read(dr->fd, b, sizeof(b));
		else if (n > 0)
			dr->fds += got_fds(&m);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (b[i] != pattern(dr->got + (size_t)i))
				dr->in_order = 0;
		dr->got += (size_t)n;
		if (dr->limit && dr->got >= dr->limit)
			break;
	}
	if (dr->limit)
		close(dr->fd);
	return NULL;
}

static int socket_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
}

/* socket_pair() with 50 ms SO_RCVTIMEO and SO_SNDTIMEO on sv[0] */
static void timed_pair(int sv[2])
{
	struct timeval tv = { 0, 50000 };

	if (socket_pair(sv) ||
	    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		tap_bail("socket with time-outs: %s", strerror(errno));
}

/* Start a drain of @fd in @th, 50 ms late. */
static void drain_start(struct drain *dr, pthread_t *th, int fd)
{
	memset(dr, 0, sizeof(*dr));
	dr->fd = fd;
	dr->delay_ms = 50;
	if (pthread_create(th, NULL, drain_main, dr))
		tap_bail("pthread_create");
}

/*
 * @nr on the writing end @w (its first argument) while a drain reads the
 * other end @rd; both closed after.  The call's result; the drain's
 * findings in @dr.
 */
static __s64 drained(struct ctx *x, struct drain *dr, int w, int rd, long nr,
		     __u64 a1, __u64 a2, __u64 a3, __u64 a4, __u64 a5,
		     __u32 *fl)
{
	pthread_t th;
	__s64 r;

	drain_start(dr, &th, rd);
	r = run(x, nr, (__u64)w, a1, a2, a3, a4, a5, fl);
	close(w);
	pthread_join(th, NULL);
	close(rd);
	return r;
}

/* A connected pair of TCP sockets over the loopback, small buffers. */
static void tcp_pair(int sv[2], struct sockaddr_in *peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), sz = 65536;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || sv[0] < 0 || bind(l, (struct sockaddr *)&a, len) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len) ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) ||
	    connect(sv[0], (struct sockaddr *)&a, len))
		tap_bail("TCP pair: %s", strerror(errno));
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (sv[1] < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)))
		tap_bail("accept4: %s", strerror(errno));
	close(l);
	*peer = a;
}

/*
 * The vectored writes and the sends with a message: their rest is
 * stepped through a copy of the caller's iovecs.
 */
static void vectored(struct ctx *x, const unsigned char *big)
{
	static struct iovec iov[64], big_iov[512];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct sockaddr_in peer;
	struct msghdr m;
	struct drain dr;
	pthread_t th;
	__s64 r;
	__u32 fl;
	int sv[2], p[2], i, nfd, avail = 0;
	__s64 want;

	/* writev, 3 uneven pieces, a blocking socket */
	if (socket_pair(sv))
		tap_bail("socketpair");
	iov[0] = (struct iovec){ (void *)big, 1 };
	iov[1] = (struct iovec){ (void *)(big + 1), BIG - 2 };
	iov[2] = (struct iovec){ (void *)(big + BIG - 1), 1 };
	r = drained(x, &dr, sv[0], sv[1], SYS_writev, (uintptr_t)iov, 3, 0, 0,
		    0, &fl);
	check(x, SYS_writev, OP_TABLE, r, BIG, 0, fl,
	      dr.got == BIG && dr.in_order, "4 MiB in 3 pieces on a blocking "
	      "socket: all of it, in order");

	/* writev, 64 pieces of 16 KiB, a pipe, ksvc_dispatch_call() */
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	for (i = 0; i < 64; i++)
		iov[i] = (struct iovec){ (void *)(big + i * 16384), 16384 };
	drain_start(&dr, &th, p[0]);
	{
		__u64 a[6] = { (__u64)p[1], (uintptr_t)iov, 64, 0, 0, 0 };

		if (ksvc_dispatch_call(x->d, SYS_writev, a, &r, &fl))
			tap_bail("ksvc_dispatch_call");
	}
	close(p[1]);
	pthread_join(th, NULL);
	close(p[0]);
	check(x, SYS_writev, OP_TABLE, r, 1 << 20, 0, fl,
	      dr.got == 1 << 20 && dr.in_order,
	      "1 MiB in 64 pieces into a pipe: all of it, in order");

	/*
	 * writev of 2 GiB (512 pieces of 4 MiB) into a pipe: the system call
	 * writes MAX_RW_COUNT and returns it.  io_uring caps each part of
	 * the dispatcher's continuation on its own, so the parts together
	 * must stop there too (they once went on to 2 GiB, a count that
	 * does not fit the result, and the call never completed).
	 */
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);	/* fewer rounds; best effort */
	for (i = 0; i < 512; i++)
		big_iov[i] = (struct iovec){ (void *)big, BIG };
	{
		__u64 a[6] = { (__u64)p[1], (uintptr_t)big_iov, 512, 0, 0, 0 };
		struct sink sk = { p[0], 0 };

		if (pthread_create(&th, NULL, sink_main, &sk))
			tap_bail("pthread_create");
		if (ksvc_dispatch_call(x->d, SYS_writev, a, &r, &fl))
			tap_bail("ksvc_dispatch_call");
		close(p[1]);
		pthread_join(th, NULL);
		close(p[0]);
		if (sk.got != 0x7ffff000)
			tap_diag("the reader got %llu bytes", sk.got);
		check(x, SYS_writev, OP_TABLE, r, 0x7ffff000, 0, fl,
		      sk.got == 0x7ffff000,
		      "2 GiB in 512 pieces into a pipe: MAX_RW_COUNT written "
		      "and returned, as the system call");
	}

	/* sendmsg with a descriptor: all the bytes, the descriptor once */
	if (socket_pair(sv))
		tap_bail("socketpair");
	iov[0] = (struct iovec){ (void *)big, BIG / 2 + 3 };
	iov[1] = (struct iovec){ (void *)(big + BIG / 2 + 3), BIG / 2 - 3 };
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = 2;
	m.msg_control = cm.b;
	m.msg_controllen = sizeof(cm.b);
	memset(&cm, 0, sizeof(cm));
	cm.h.cmsg_level = SOL_SOCKET;
	cm.h.cmsg_type = SCM_RIGHTS;
	cm.h.cmsg_len = CMSG_LEN(sizeof(int));
	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	memcpy(CMSG_DATA(&cm.h), &nfd, sizeof(nfd));
	r = drained(x, &dr, sv[0], sv[1], SYS_sendmsg, (uintptr_t)&m, 0, 0, 0,
		    0, &fl);
	close(nfd);
	check(x, SYS_sendmsg, OP_TABLE, r, BIG, 0, fl,
	      dr.got == BIG && dr.in_order && dr.fds == 1,
	      "4 MiB and a descriptor on a blocking socket: all of it, in "
	      "order, the descriptor once");

	/* sendto with an address (SENDMSG) on TCP */
	tcp_pair(sv, &peer);
	r = drained(x, &dr, sv[0], sv[1], SYS_sendto, (uintptr_t)big, BIG, 0,
		    (uintptr_t)&peer, sizeof(peer), &fl);
	check(x, SYS_sendto, IORING_OP_SENDMSG, r, BIG, 0, fl,
	      dr.got == BIG && dr.in_order, "4 MiB to an address on a TCP "
	      "connection with 64 KiB buffers: all of it, in order");

	/* pwritev2 at the file position: all; with RWF_NOWAIT, what fits */
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	iov[0] = (struct iovec){ (void *)big, 1 << 20 };
	r = drained(x, &dr, p[1], p[0], SYS_pwritev2, (uintptr_t)iov, 1,
		    (__u64)-1, 0, 0, &fl);
	check(x, SYS_pwritev2, OP_TABLE, r, 1 << 20, 0, fl,
	      dr.got == 1 << 20 && dr.in_order,
	      "1 MiB at offset -1 into a pipe: all of it, in order");
	/* what the system call does here (pipes refuse RWF_NOWAIT in 6.1) */
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	want = direct(SYS_pwritev2, (__u64)p[1], (uintptr_t)iov, 1, (__u64)-1,
		      0, RWF_NOWAIT);
	close(p[0]);
	close(p[1]);
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	r = run(x, SYS_pwritev2, (__u64)p[1], (uintptr_t)iov, 1, (__u64)-1,
		0, RWF_NOWAIT, &fl);
	ioctl(p[0], FIONREAD, &avail);
	close(p[0]);
	close(p[1]);
	check(x, SYS_pwritev2, OP_NONE, r, want, 0, fl,
	      want < 0 ? avail == 0 : r < 1 << 20 && r == avail,
	      "RWF_NOWAIT: as the system call (what fits at once, or its "
	      "error)");
}

/* Write @len bytes of @big to @fd in 16 KiB pieces, pausing, then close. */
struct feed {
	int fd;
	size_t len;
	const unsigned char *big;
};

static void *feed_main(void *arg)
{
	struct feed *f = arg;
	size_t off = 0, n;

	while (off < f->len) {
		n = f->len - off < 16384 ? f->len - off : 16384;
		if (write(f->fd, f->big + off, n) != (ssize_t)n)
			break;
		off += n;
		if ((off / 16384) % 16 == 0)
			usleep(2000);
	}
	close(f->fd);
	return NULL;
}

/* @f->len bytes after 200 ms, then close. */
static void *late_feed(void *arg)
{
	struct feed *f = arg;

	usleep(200000);
	if (write(f->fd, f->big, f->len) != (ssize_t)f->len)
		f->len = 0;
	close(f->fd);
	return NULL;
}

/*
 * MSG_WAITALL: the system call waits for the whole length (or the end
 * of the stream); io_uring takes the flag and retries short receives
 * itself.  Each must come back as the system call would.
 */
static void waitall(struct ctx *x, const unsigned char *big)
{
	static unsigned char b[1 << 20];
	struct iovec iov[2] = {
		{ b, 1000 }, { b + 1000, sizeof(b) - 1000 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	struct feed f;
	pthread_t th;
	__s64 r;
	__u32 fl;
	int sv[2], k;

	for (k = 0; k < 3; k++) {
		if (socket_pair(sv))
			tap_bail("socketpair");
		f.fd = sv[1];
		f.big = big;
		f.len = k == 2 ? 100000 : sizeof(b);
		memset(b, 0, sizeof(b));
		if (pthread_create(&th, NULL, feed_main, &f))
			tap_bail("pthread_create");
		if (k == 1)
			r = run(x, SYS_recvmsg, (__u64)sv[0], (uintptr_t)&m,
				MSG_WAITALL, 0, 0, 0, &fl);
		else
			r = run(x, SYS_recvfrom, (__u64)sv[0], (uintptr_t)b,
				sizeof(b), MSG_WAITALL, 0, 0, &fl);
		pthread_join(th, NULL);
		close(sv[0]);
		check(x, k == 1 ? SYS_recvmsg : SYS_recvfrom, OP_NONE, r,
		      (__s64)f.len, 0, fl, memcmp(b, big, f.len) == 0,
		      k == 0 ? "MSG_WAITALL, 1 MiB sent in pieces: all of it, "
			       "in order, in one call" :
		      k == 1 ? "MSG_WAITALL into 2 iovecs: all of it, in order" :
			       "MSG_WAITALL, the peer closes after 100000 "
			       "bytes: those, as the system call");
	}
}

static void shorts(struct ctx *x, const unsigned char *big)
{
	struct drain dr;
	pthread_t th;
	__s64 r;
	__u32 fl;
	int sv[2], p[2], avail = 0;

	/* send: everything, in order, after the reader wakes */
	if (socket_pair(sv))
		tap_bail("socketpair");
	r = drained(x, &dr, sv[0], sv[1], SYS_sendto, (uintptr_t)big, BIG, 0,
		    0, 0, &fl);
	check(x, SYS_sendto, OP_TABLE, r, BIG, 0, fl,
	      dr.got == BIG && dr.in_order, "4 MiB on a blocking socket that "
	      "holds far less: all of it, in order, as the system call");

	/* write to a pipe, through ksvc_dispatch_call() (the long path) */
	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	memset(&dr, 0, sizeof(dr));
	dr.fd = p[0];
	dr.delay_ms = 50;
	pthread_create(&th, NULL, drain_main, &dr);
	{
		__u64 a[6] = { (__u64)p[1], (uintptr_t)big, BIG / 4, 0, 0, 0 };

		if (ksvc_dispatch_call(x->d, SYS_write, a, &r, &fl))
			tap_bail("ksvc_dispatch_call");
	}
	close(p[1]);
	pthread_join(th, NULL);
	close(p[0]);
	check(x, SYS_write, IORING_OP_WRITE, r, BIG / 4, 0, fl,
	      dr.got == BIG / 4 && dr.in_order,
	      "1 MiB into a pipe (ksvc_dispatch_call()): all of it, in order");

	/* the reader leaves after 256 KiB: what was sent, not an error */
	if (socket_pair(sv))
		tap_bail("socketpair");
	memset(&dr, 0, sizeof(dr));
	dr.fd = sv[1];
	dr.delay_ms = 20;
	dr.limit = 256 << 10;
	pthread_create(&th, NULL, drain_main, &dr);
	r = run(x, SYS_sendto, (__u64)sv[0], (uintptr_t)big, BIG,
		MSG_NOSIGNAL, 0, 0, &fl);
	close(sv[0]);		/* before the join: a reader still waiting ends */
	pthread_join(th, NULL);
	check(x, SYS_sendto, OP_TABLE, r, 0, 1, fl,
	      r >= (__s64)dr.got && r < BIG && dr.in_order,
	      "the reader closes after 256 KiB: the count sent before, as "
	      "the system call (no EPIPE)");

	vectored(x, big);
	waitall(x, big);

	/* MSG_DONTWAIT: what fits, at once */
	if (socket_pair(sv))
		tap_bail("socketpair");
	r = run(x, SYS_sendto, (__u64)sv[0], (uintptr_t)big, BIG,
		MSG_DONTWAIT, 0, 0, &fl);
	ioctl(sv[1], FIONREAD, &avail);
	close(sv[0]);
	close(sv[1]);
	check(x, SYS_sendto, OP_TABLE, r, 0, 1, fl,
	      r > 0 && r < BIG && r == avail,
	      "MSG_DONTWAIT: only what fits, at once, as the system call");
}

/*
 * IORING_OP_CLOSE refuses io_uring descriptors (EBADF, left open): a
 * close of an anonymous inode runs in Tier 2, where close(2) closes it.
 */
static void closes(struct ctx *x)
{
	struct io_uring ring;
	int efd = eventfd(0, EFD_CLOEXEC), bad, fd;
	__s64 r;
	__u32 fl;

	if (io_uring_queue_init(4, &ring, 0) == 0) {
		fd = ring.ring_fd;
		r = run(x, SYS_close, (__u64)fd, 0, 0, 0, 0, 0, &fl);
		check(x, SYS_close, OP_NONE, r, 0, 0, fl,
		      fcntl(fd, F_GETFD) < 0 && errno == EBADF,
		      "an io_uring descriptor: closed, as close(2) does");
		ring.ring_fd = -1;	/* closed: liburing must not again */
		io_uring_queue_exit(&ring);
	} else {
		tap_skip("no io_uring here", "%s: close of an io_uring "
			 "descriptor", x->mode);
	}
	r = run(x, SYS_close, (__u64)efd, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_close, OP_NONE, r, 0, 0, fl,
	      fcntl(efd, F_GETFD) < 0 && errno == EBADF,
	      "an eventfd (no file type either): closed in Tier 2");
	bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(bad);
	r = run(x, SYS_close, (__u64)bad, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_close, OP_TABLE, r, -EBADF, 0, fl, 1,
	      "a closed descriptor: EBADF (no type to look at)");
}

/*
 * Sockets with a time-out: the system call gives up when it expires,
 * io_uring would wait on.  So these run in Tier 2.
 */
/*
 * One entry that must not wait: completed within 3 s, else the test ends
 * the wait (a write of a byte to @unblock for a read; for a write, @rd,
 * reads of @unblock until it completes) and the check fails.  The
 * result, or -9999.
 */
static __s64 no_wait(struct ctx *x, long nr, __u64 a0, __u64 a1, __u64 a2,
		     __u64 a3, __u64 a4, __u64 a5, int unblock, int rd,
		     __u32 *fl)
{
	static char junk[1 << 16];
	struct ksvc_completion c;
	struct ksvc_entry e;
	ssize_t n;
	int i;

	ksvc_prep_call(&e, ++x->corr, nr, a0, a1, a2, a3, a4, a5);
	if (ksvc_dispatch_submit(x->d, &e, 1, KSVC_SUBMIT_WAIT) != 1)
		tap_bail("submit");
	if (td_collect(x->d, &c, 1, 3000) == 1) {
		*fl = c.flags;
		return c.result;
	}
	if (!rd && write(unblock, "x", 1) != 1)
		tap_bail("cannot end the waiting call");
	for (i = 0; i < 200; i++) {
		if (td_collect(x->d, &c, 1, 50) == 1) {
			*fl = c.flags;
			return -9999;
		}
		if (!rd)
			continue;
		n = recv(unblock, junk, sizeof(junk), MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = read(unblock, junk, sizeof(junk));	/* O_NONBLOCK */
	}
	tap_bail("the waiting call never completed");
}

/* An eventfd's count, read (and so cleared) without blocking; 0 if none. */
static __u64 efd_count(int efd)
{
	struct pollfd p = { efd, POLLIN, 0 };
	__u64 c = 0;

	if (poll(&p, 1, 0) == 1 && read(efd, &c, sizeof(c)) != sizeof(c))
		c = ~0ull;
	return c;
}

/*
 * The calls at the file position that mean what read and write mean:
 * preadv2 and pwritev2 at offset -1 on a non-blocking pipe fail with
 * EAGAIN, as readv and writev do (io_uring would wait); read, readv,
 * write and writev on a socket with a time-out give up when it expires;
 * a short write to an eventfd is its answer, not continued.
 */
static void positions(struct ctx *x, const unsigned char *big)
{
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };
	struct iovec wv = { (void *)big, 1 << 20 };
	__s64 r;
	__u32 fl;
	int p[2], sv[2], efd, avail = -1;
	__u64 one = 7;
	__s64 want;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC))
		tap_bail("pipe2");
	r = no_wait(x, SYS_preadv2, (__u64)p[0], (uintptr_t)&iov, 1,
		    (__u64)-1, 0, 0, p[1], 0, &fl);
	check(x, SYS_preadv2, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "offset -1 on an empty O_NONBLOCK pipe: EAGAIN, as readv");
	r = direct(SYS_write, (__u64)p[1], (uintptr_t)big, 1 << 20, 0, 0, 0);
	if (r <= 0)
		tap_bail("filling the pipe");
	r = no_wait(x, SYS_pwritev2, (__u64)p[1], (uintptr_t)&wv, 1,
		    (__u64)-1, 0, 0, p[0], 1, &fl);
	check(x, SYS_pwritev2, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "offset -1 on a full O_NONBLOCK pipe: EAGAIN, as writev");
	close(p[0]);
	close(p[1]);

	timed_pair(sv);
	r = no_wait(x, SYS_read, (__u64)sv[0], (uintptr_t)buf, sizeof(buf), 0,
		    0, 0, sv[1], 0, &fl);
	check(x, SYS_read, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "read on a socket with SO_RCVTIMEO 50 ms, nothing sent: EAGAIN "
	      "when it expires");
	r = no_wait(x, SYS_readv, (__u64)sv[0], (uintptr_t)&iov, 1, 0, 0, 0,
		    sv[1], 0, &fl);
	check(x, SYS_readv, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "readv on that socket: EAGAIN when it expires");
	r = no_wait(x, SYS_write, (__u64)sv[0], (uintptr_t)big, BIG, 0, 0, 0,
		    sv[1], 1, &fl);
	ioctl(sv[1], FIONREAD, &avail);
	check(x, SYS_write, OP_NONE, r, 0, 1, fl, r > 0 && r == avail,
	      "write of 4 MiB on SO_SNDTIMEO 50 ms, nobody reads: what fit, "
	      "when it expires");
	close(sv[0]);
	close(sv[1]);

	/*
	 * 0 bytes: the system call asks the file (EISDIR, EINVAL), io_uring
	 * would return 0 without asking: Tier 2.
	 */
	efd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	want = direct(SYS_read, (__u64)efd, (uintptr_t)buf, 0, 0, 0, 0);
	r = run(x, SYS_read, (__u64)efd, (uintptr_t)buf, 0, 0, 0, 0, &fl);
	check(x, SYS_read, OP_NONE, r, want, 0, fl, want == -EISDIR,
	      "0 bytes from a directory: EISDIR, as the system call");
	close(efd);
	efd = eventfd(0, EFD_CLOEXEC);
	want = direct(SYS_write, (__u64)efd, (uintptr_t)buf, 0, 0, 0, 0);
	r = run(x, SYS_write, (__u64)efd, (uintptr_t)buf, 0, 0, 0, 0, &fl);
	check(x, SYS_write, OP_NONE, r, want, 0, fl, want == -EINVAL,
	      "0 bytes to an eventfd: EINVAL, as the system call");
	close(efd);

	/* an eventfd is no socket: its read stays in Tier 1 */
	efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0 || write(efd, &one, sizeof(one)) != sizeof(one))
		tap_bail("eventfd");
	one = 0;
	r = run(x, SYS_read, (__u64)efd, (uintptr_t)&one, sizeof(one), 0, 0,
		0, &fl);
	check(x, SYS_read, OP_TABLE, r, 8, 0, fl, one == 7,
	      "read of a blocking eventfd (no socket: no time-out to keep)");
	close(efd);

	/*
	 * A write of three counts to an eventfd: before Linux 6.8 or so it
	 * adds the first and returns 8, a short count that is the file's
	 * answer, not a pipe's or a socket's room running out, so the rest
	 * must not be written after it; later kernels refuse it (EINVAL).
	 */
	{
		__u64 v[3] = { 5, 7, 9 };

		efd = eventfd(0, EFD_CLOEXEC);
		if (efd < 0)
			tap_bail("eventfd");
		want = direct(SYS_write, (__u64)efd, (uintptr_t)v, sizeof(v),
			      0, 0, 0);
		if (efd_count(efd) != (want == 8 ? 5 : 0))
			tap_bail("eventfd: a write of 24 bytes gave %lld",
				 (long long)want);
		r = run(x, SYS_write, (__u64)efd, (uintptr_t)v, sizeof(v), 0, 0,
			0, &fl);
		check(x, SYS_write, OP_TABLE, r, want, 0, fl,
		      efd_count(efd) == (want == 8 ? 5u : 0u),
		      "24 bytes to a blocking eventfd: as the system call, and "
		      "at most the first count added");
		close(efd);
	}
}

static void timeouts(struct ctx *x, const unsigned char *big)
{
	struct timeval tv = { 0, 50000 };
	struct sockaddr_in la;
	socklen_t len = sizeof(la);
	char buf[8];
	__s64 r;
	__u32 fl;
	__u64 t0;
	int sv[2], lfd, avail = -1;

	timed_pair(sv);
	t0 = td_now_ms();
	r = run(x, SYS_recvfrom, (__u64)sv[0], (uintptr_t)buf, sizeof(buf), 0,
		0, 0, &fl);
	check(x, SYS_recvfrom, OP_NONE, r, -EAGAIN, 0, fl,
	      td_now_ms() - t0 < 5000, "SO_RCVTIMEO 50 ms, nothing sent: "
	      "EAGAIN when it expires, as the system call");
	r = run(x, SYS_sendto, (__u64)sv[0], (uintptr_t)big, BIG, 0, 0, 0,
		&fl);
	ioctl(sv[1], FIONREAD, &avail);
	check(x, SYS_sendto, OP_NONE, r, 0, 1, fl, r > 0 && r == avail,
	      "SO_SNDTIMEO 50 ms, nobody reads 4 MiB: what fit, when it "
	      "expires");
	close(sv[0]);
	close(sv[1]);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&la, 0, sizeof(la));
	la.sin_family = AF_INET;
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, len) ||
	    listen(lfd, 1) ||
	    setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		tap_bail("listener: %s", strerror(errno));
	r = run(x, SYS_accept4, (__u64)lfd, 0, 0, SOCK_CLOEXEC, 0, 0, &fl);
	check(x, SYS_accept4, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "SO_RCVTIMEO on a listener, nobody connects: EAGAIN");
	close(lfd);

	/* SO_RCVLOWAT 6, 3 bytes there, 3 more 200 ms later: all 6. */
	{
		static const unsigned char six[] = "abcdef";
		struct feed f;
		pthread_t th;
		int lowat = 6;
		char b6[16] = "";

		if (socket_pair(sv) ||
		    setsockopt(sv[0], SOL_SOCKET, SO_RCVLOWAT, &lowat,
			       sizeof(lowat)) ||
		    write(sv[1], six, 3) != 3)
			tap_bail("SO_RCVLOWAT: %s", strerror(errno));
		f.fd = sv[1];
		f.len = 3;
		f.big = six + 3;
		if (pthread_create(&th, NULL, late_feed, &f))
			tap_bail("pthread_create");
		r = run(x, SYS_recvfrom, (__u64)sv[0], (uintptr_t)b6,
			sizeof(b6), 0, 0, 0, &fl);
		pthread_join(th, NULL);
		check(x, SYS_recvfrom, OP_NONE, r, 6, 0, fl,
		      memcmp(b6, six, 6) == 0,
		      "SO_RCVLOWAT 6, 3 bytes queued and 3 more later: waits "
		      "for the 6, as the system call");
		close(sv[0]);
	}
}

/* The same send on the route table's short path (BLOCKING_FDS). */
static void short_fast(struct ksvc *k, int mode, const unsigned char *big)
{
	struct ctx x;
	struct drain dr;
	__s64 r;
	__u32 fl;
	int sv[2];

	memset(&x, 0, sizeof(x));
	x.mode = mode ? "driven, BLOCKING_FDS" : "thread, BLOCKING_FDS";
	x.d = td_create(k, td_mode_flags[mode] | KSVC_DISPATCH_BLOCKING_FDS, 2);
	{
		struct ksvc_dispatch_stats st;

		ksvc_dispatch_stats(x.d, &st);
		x.t1 = st.tier1_available;
		if (!x.t1 && td_uring_here())
			tap_bail("io_uring works here, but the dispatcher "
				 "has none");
	}
	if (socket_pair(sv))
		tap_bail("socketpair");
	r = drained(&x, &dr, sv[0], sv[1], SYS_sendto, (uintptr_t)big, BIG, 0,
		    0, 0, &fl);
	check(&x, SYS_sendto, OP_TABLE, r, BIG, 0, fl,
	      dr.got == BIG && dr.in_order, "4 MiB: all of it, in order");

	/* 0 bytes from a directory: not the route table's Tier 1 */
	{
		int dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char b[1];

		r = run(&x, SYS_read, (__u64)dfd, (uintptr_t)b, 0, 0, 0, 0,
			&fl);
		check(&x, SYS_read, OP_NONE, r, -EISDIR, 0, fl, 1,
		      "0 bytes from a directory: EISDIR");
		close(dfd);
	}

	/* the promise covers socket time-outs: no look, Tier 1 */
	{
		struct timeval tv = { 0, 50000 };
		struct ksvc_entry e;
		struct msghdr mh;
		char b[4];
		int ok;

		memset(&mh, 0, sizeof(mh));

		if (socket_pair(sv) || setsockopt(sv[0], SOL_SOCKET,
						  SO_RCVTIMEO, &tv, sizeof(tv)))
			tap_bail("socketpair");
		/* recvfrom has the route table's answer; recvmsg asks */
		ksvc_prep_call(&e, 1, SYS_recvfrom, (__u64)sv[0],
			       (uintptr_t)b, sizeof(b), 0, 0, 0);
		ok = ksvc_dispatch_route(x.d, &e) == KSVC_ROUTE_TIER1;
		ksvc_prep_call(&e, 2, SYS_recvmsg, (__u64)sv[0],
			       (uintptr_t)&mh, 0, 0, 0, 0);
		ok = ok && ksvc_dispatch_route(x.d, &e) == KSVC_ROUTE_TIER1;
		tap_ok(!x.t1 || ok, "%s: recvfrom and recvmsg on a socket "
		       "with SO_RCVTIMEO are routed to Tier 1 (not looked at)",
		       x.mode);
		close(sv[0]);
		close(sv[1]);
	}
	ksvc_dispatch_destroy(x.d);
}

/*
 * A stop while the rest of a send waits for room: the completion says
 * how much was sent, which is what the peer can read.
 */
static void short_stop(struct ksvc *k, const unsigned char *big, long nr)
{
	struct ksvc_dispatcher *d = td_create(k, 0, 2);
	struct ksvc_completion c;
	struct ksvc_entry e;
	struct iovec iov[2] = {
		{ (void *)big, BIG / 2 }, { (void *)(big + BIG / 2), BIG / 2 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t got = 0;
	ssize_t n;
	int sv[2], avail = 0;
	char b[65536];
	__u64 t0;

	if (socket_pair(sv))
		tap_bail("socketpair");
	if (nr == SYS_sendto)
		ksvc_prep_call(&e, 7, SYS_sendto, (__u64)sv[0],
			       (uintptr_t)big, BIG, 0, 0, 0);
	else
		ksvc_prep_call(&e, 7, SYS_sendmsg, (__u64)sv[0],
			       (uintptr_t)&m, 0, 0, 0, 0);
	if (ksvc_dispatch_submit(d, &e, 1, KSVC_SUBMIT_WAIT) != 1)
		tap_bail("submit");
	/* until the send has started (a slow guest may take a while) */
	t0 = td_now_ms();
	while ((ioctl(sv[1], FIONREAD, &avail) || avail <= 0) &&
	       td_now_ms() - t0 < 10000)
		usleep(1000);
	usleep(20000);		/* the rest now waits for room */
	ksvc_dispatch_stop(d);
	memset(&c, 0, sizeof(c));
	if (ksvc_dispatch_reap(d, &c, 1) != 1)
		c.result = -9999;
	while ((n = recv(sv[1], b, sizeof(b), MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	tap_ok(c.corr_id == 7 && c.result > 0 && (size_t)c.result == got,
	       "thread: a stop while a 4 MiB %s waits for room: %lld, the "
	       "%zu bytes the peer can read", nr == SYS_sendto ? "sendto" :
	       "sendmsg", (long long)c.result, got);
	close(sv[0]);
	close(sv[1]);
	ksvc_dispatch_destroy(d);
}

/*
 * KSVC_DISPATCH_POSITIONAL_FDS: no look at the descriptor.  pread64 is
 * routed through the route table, preadv the long way: both must see it.
 */
static void promise(struct ksvc *k, int mode)
{
	static const long nrs[2] = { SYS_pread64, SYS_preadv };
	struct ksvc_dispatch_stats st;
	struct ksvc_dispatcher *d;
	struct ksvc_entry e;
	struct iovec iov;
	char buf[2];
	int zfd = open("/dev/zero", O_RDONLY | O_CLOEXEC), t1, i;
	enum ksvc_route rt;

	if (zfd < 0)
		tap_bail("/dev/zero: %s", strerror(errno));
	d = td_create(k, td_mode_flags[mode] | KSVC_DISPATCH_POSITIONAL_FDS,
		      2);
	ksvc_dispatch_stats(d, &st);
	for (i = 0; i < 2; i++) {
		__s64 res = -1;
		__u32 cf = 0;

		t1 = st.tier1_available && probe &&
		     io_uring_opcode_supported(probe, i ? IORING_OP_READV
							: IORING_OP_READ);
		buf[0] = buf[1] = 1;
		iov.iov_base = buf;
		iov.iov_len = 2;
		if (i)
			ksvc_prep_call(&e, 1, SYS_preadv, (__u64)zfd,
				       (uintptr_t)&iov, 1, 0, 0, 0);
		else
			ksvc_prep_call(&e, 1, SYS_pread64, (__u64)zfd,
				       (uintptr_t)buf, 2, 0, 0, 0);
		rt = ksvc_dispatch_route(d, &e);
		if (ksvc_dispatch_call(d, nrs[i], e.args, &res, &cf))
			tap_bail("ksvc_dispatch_call");
		tap_ok(res == 2 && buf[0] == 0 && buf[1] == 0 &&
		       (t1 ? rt == KSVC_ROUTE_TIER1 && cf == KSVC_COMP_TIER1
			   : cf == KSVC_COMP_TIER2),
		       "%s: POSITIONAL_FDS: %s on /dev/zero -> %lld in Tier %d "
		       "(%s)", td_mode_names[mode], i ? "preadv" : "pread64",
		       (long long)res, cf & KSVC_COMP_TIER1 ? 1 : 2,
		       t1 ? "Tier 1 expected" : "no io_uring opcode here");
	}
	{
		int dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		__s64 res = 1;
		__u32 cf = 0;
		__u64 a[6] = { (__u64)dfd, (uintptr_t)buf, 0, 0, 0, 0 };

		if (ksvc_dispatch_call(d, SYS_pread64, a, &res, &cf))
			tap_bail("ksvc_dispatch_call");
		tap_ok(res == -EISDIR && cf == KSVC_COMP_TIER2,
		       "%s: POSITIONAL_FDS: pread64 of 0 bytes from a "
		       "directory -> %lld (EISDIR) in Tier %d",
		       td_mode_names[mode], (long long)res,
		       cf & KSVC_COMP_TIER1 ? 1 : 2);
		close(dfd);
	}
	ksvc_dispatch_destroy(d);
	close(zfd);
}

/*
 * Arguments io_uring takes otherwise than the system call: RWF_HIPRI
 * (EINVAL without IOPOLL), RWF_ATOMIC and unknown preadv2/pwritev2
 * flags with iovecs of 0 bytes (0 from the system call, EOPNOTSUPP from
 * io_uring), MSG_CMSG_COMPAT (the kernel's own bit, which
 * the system call refuses), more than IOV_MAX iovecs in a msghdr
 * (EMSGSIZE; io_uring said EINVAL before 6.18) and a statx flag nobody
 * knows: each gets the system call's answer, and nothing moves.
 */
static void odd_args(struct ctx *x)
{
	static struct iovec many[IOV_MAX + 1];
	struct sockaddr_un nobody = { .sun_family = AF_UNIX };
	char a[4] = { 0 };
	struct iovec iov = { a, 3 };
	struct msghdr m;
	struct statx st;
	__s64 r, want;
	int sv[2], n = -1;
	size_t i;
	__u32 fl;

	reset_file(x);
	want = direct(SYS_preadv2, (__u64)x->fd, (uintptr_t)&iov, 1, 0, 0,
		      RWF_HIPRI);
	memset(a, 0, sizeof(a));
	r = run(x, SYS_preadv2, (__u64)x->fd, (uintptr_t)&iov, 1, 0, 0,
		RWF_HIPRI, &fl);
	check(x, SYS_preadv2, OP_NONE, r, want, 0, fl,
	      want == 3 && memcmp(a, "abc", 3) == 0,
	      "RWF_HIPRI on a buffered file: \"abc\", as the system call");
	iov.iov_base = (void *)"Q";
	iov.iov_len = 1;
	r = run(x, SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, 1, 0,
		RWF_HIPRI, &fl);
	check(x, SYS_pwritev2, OP_NONE, r, 1, 0, fl,
	      file_is(x->fd, "aQcdef", 6), "RWF_HIPRI: \"Q\" at offset 1");
	/* ext4 refuses buffered RWF_NOWAIT writes (EOPNOTSUPP, where
	 * io_uring says EAGAIN); tmpfs takes them */
	want = direct(SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, 2, 0,
		      RWF_NOWAIT);
	reset_file(x);
	r = run(x, SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, 2, 0,
		RWF_NOWAIT, &fl);
	check(x, SYS_pwritev2, OP_NONE, r, want, 0, fl,
	      file_is(x->fd, want == 1 ? "abQdef" : "abcdef", 6),
	      "RWF_NOWAIT to a file: as the system call");
	/* iovecs of 0 bytes: the system call returns 0 before it looks at
	 * the flags, io_uring refuses those it or the file does not take
	 * (EOPNOTSUPP): RWF_ATOMIC on a read, a bit nobody knows */
	iov.iov_len = 0;
	r = run(x, SYS_preadv2, (__u64)x->fd, (uintptr_t)&iov, 1, 0, 0,
		KSVC_TEST_RWF_ATOMIC, &fl);
	check(x, SYS_preadv2, OP_NONE, r,
	      direct(SYS_preadv2, (__u64)x->fd, (uintptr_t)&iov, 1, 0, 0,
		     KSVC_TEST_RWF_ATOMIC), 0, fl, r == 0,
	      "0 bytes with RWF_ATOMIC: 0, as the system call");
	r = run(x, SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, -1, 0,
		0x1000, &fl);
	check(x, SYS_pwritev2, OP_NONE, r,
	      direct(SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, -1, 0,
		     0x1000), 0, fl, r == 0 && file_is(x->fd, want == 1 ?
						      "abQdef" : "abcdef", 6),
	      "0 bytes with an unknown flag: 0, as the system call");

	if (socket_pair(sv))
		tap_bail("socketpair: %s", strerror(errno));
	iov.iov_base = (void *)"abc";
	iov.iov_len = 3;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	r = run(x, SYS_sendmsg, (__u64)sv[0], (uintptr_t)&m,
		MSG_NOSIGNAL | KSVC_TEST_CMSG_COMPAT, 0, 0, 0, &fl);
	check(x, SYS_sendmsg, OP_NONE, r, -EINVAL, 0, fl,
	      ioctl(sv[1], FIONREAD, &n) == 0 && n == 0,
	      "MSG_CMSG_COMPAT: EINVAL, nothing sent");
	if (write(sv[1], "xyz", 3) != 3)
		tap_bail("write: %s", strerror(errno));
	iov.iov_base = a;
	r = run(x, SYS_recvmsg, (__u64)sv[0], (uintptr_t)&m,
		KSVC_TEST_CMSG_COMPAT, 0, 0, 0, &fl);
	check(x, SYS_recvmsg, OP_NONE, r, -EINVAL, 0, fl,
	      ioctl(sv[0], FIONREAD, &n) == 0 && n == 3,
	      "MSG_CMSG_COMPAT: EINVAL, the 3 bytes still there");

	for (i = 0; i < IOV_MAX + 1; i++) {
		many[i].iov_base = a;
		many[i].iov_len = 1;
	}
	m.msg_iov = many;
	m.msg_iovlen = IOV_MAX + 1;
	r = run(x, SYS_recvmsg, (__u64)sv[0], (uintptr_t)&m, 0, 0, 0, 0,
		&fl);
	check(x, SYS_recvmsg, OP_TABLE, r, -EMSGSIZE, 0, fl,
	      ioctl(sv[0], FIONREAD, &n) == 0 && n == 3,
	      "IOV_MAX + 1 iovecs: EMSGSIZE, the bytes still there");
	r = run(x, SYS_sendmsg, (__u64)sv[0], (uintptr_t)&m, MSG_NOSIGNAL,
		0, 0, 0, &fl);
	check(x, SYS_sendmsg, OP_TABLE, r, -EMSGSIZE, 0, fl,
	      ioctl(sv[1], FIONREAD, &n) == 0 && n == 0,
	      "IOV_MAX + 1 iovecs: EMSGSIZE, nothing sent");
	/* the name length is looked at first */
	m.msg_name = &nobody;
	m.msg_namelen = (socklen_t)-1;
	want = direct(SYS_sendmsg, (__u64)sv[0], (uintptr_t)&m, MSG_NOSIGNAL,
		      0, 0, 0);
	r = run(x, SYS_sendmsg, (__u64)sv[0], (uintptr_t)&m, MSG_NOSIGNAL,
		0, 0, 0, &fl);
	check(x, SYS_sendmsg, OP_TABLE, r, want, 0, fl, want == -EINVAL,
	      "and a name length of -1: EINVAL, as the system call");
	close(sv[0]);
	close(sv[1]);

	memset(&st, 0, sizeof(st));
	want = direct(SYS_statx, (__u64)x->fd, (uintptr_t)"",
		      AT_EMPTY_PATH | 0x80000000u, STATX_SIZE, (uintptr_t)&st,
		      0);
	r = run(x, SYS_statx, (__u64)x->fd, (uintptr_t)"",
		AT_EMPTY_PATH | 0x80000000u, STATX_SIZE, (uintptr_t)&st, 0,
		&fl);
	check(x, SYS_statx, OP_NONE, r, want, 0, fl, 1,
	      "an unknown flag: as the system call");
}

/*
 * More arguments io_uring takes otherwise than the system call:
 * - MSG_WAITALL receives (Tier 2): io_uring retries a short one on any
 *   stream or seqpacket socket, merging the records of a seqpacket
 *   socket the system call returns one at a time;
 * - a write longer than MAX_RW_COUNT: the system call writes that much
 *   and returns it; the dispatcher must not continue the "short" write
 *   (to /dev/null, which reads nothing of the buffer);
 * - sendto with an address length of 0 or over sizeof(struct
 *   sockaddr_storage): EINVAL (Tier 2), where a msghdr's is cut or the
 *   address dropped.
 */
static void odd_args2(struct ctx *x)
{
	static char sbuf[256];
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(9),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char b[100];
	struct iovec iov = { b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	__s64 r;
	__u32 fl;
	int sv[2], nfd, ufd, n = -1;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		tap_bail("socketpair: %s", strerror(errno));
	if (write(sv[1], "abc", 3) != 3 || write(sv[1], "defg", 4) != 4 ||
	    write(sv[1], "hij", 3) != 3)
		tap_bail("write: %s", strerror(errno));
	memset(b, 0, sizeof(b));
	r = run(x, SYS_recvfrom, (__u64)sv[0], (uintptr_t)b, sizeof(b),
		MSG_WAITALL, 0, 0, &fl);
	check(x, SYS_recvfrom, OP_NONE, r, 3, 0, fl, memcmp(b, "abc", 4) == 0,
	      "MSG_WAITALL on a seqpacket socket: one record, \"abc\"");
	memset(b, 0, sizeof(b));
	r = run(x, SYS_recvmsg, (__u64)sv[0], (uintptr_t)&m, MSG_WAITALL, 0,
		0, 0, &fl);
	check(x, SYS_recvmsg, OP_NONE, r, 4, 0, fl,
	      memcmp(b, "defg", 5) == 0 &&
	      ioctl(sv[0], FIONREAD, &n) == 0 && n == 3,
	      "MSG_WAITALL on a seqpacket socket: the next record, \"defg\", "
	      "the third still there");
	close(sv[0]);
	close(sv[1]);

	nfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nfd < 0)
		tap_bail("/dev/null: %s", strerror(errno));
	r = run(x, SYS_write, (__u64)nfd, (uintptr_t)sbuf, 0x7fffffffu, 0, 0,
		0, &fl);
	check(x, SYS_write, OP_TABLE, r,
	      direct(SYS_write, (__u64)nfd, (uintptr_t)sbuf, 0x7fffffffu, 0,
		     0, 0), 0, fl, r == 0x7ffff000,
	      "INT_MAX bytes to /dev/null: MAX_RW_COUNT, as the system "
	      "call, not continued");
	close(nfd);

	ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ufd < 0)
		tap_bail("socket: %s", strerror(errno));
	memcpy(sbuf, &to, sizeof(to));
	r = run(x, SYS_sendto, (__u64)ufd, (uintptr_t)"abc", 3, 0,
		(uintptr_t)sbuf, 0, &fl);
	check(x, SYS_sendto, OP_NONE, r,
	      direct(SYS_sendto, (__u64)ufd, (uintptr_t)"abc", 3, 0,
		     (uintptr_t)sbuf, 0), 0, fl, r == -EINVAL,
	      "an address of length 0: EINVAL, as the system call");
	r = run(x, SYS_sendto, (__u64)ufd, (uintptr_t)"abc", 3, 0,
		(uintptr_t)sbuf, sizeof(sbuf), &fl);
	check(x, SYS_sendto, OP_NONE, r,
	      direct(SYS_sendto, (__u64)ufd, (uintptr_t)"abc", 3, 0,
		     (uintptr_t)sbuf, sizeof(sbuf)), 0, fl, r == -EINVAL,
	      "an address of length 256: EINVAL, as the system call");
	close(ufd);
}

/*
 * A listening socket of @family (AF_INET on 127.0.0.1, or AF_UNIX in the
 * abstract namespace), blocking; its address in *@sin if not NULL.
 */
static int listener(int family, struct sockaddr_in *sin)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_un u = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(a);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		tap_bail("socket: %s", strerror(errno));
	if (family == AF_UNIX) {
		snprintf(u.sun_path + 1, sizeof(u.sun_path) - 1,
			 "ksvc-rest-%d", (int)getpid());
		r = bind(fd, (struct sockaddr *)&u,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				     1 + strlen(u.sun_path + 1)));
	} else {
		r = bind(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (r || listen(fd, 8) ||
	    (sin && getsockname(fd, (struct sockaddr *)sin, &len)))
		tap_bail("bind/listen: %s", strerror(errno));
	return fd;
}

/*
 * recvfrom and recvmsg on @fd through @d, which the system call fails at
 * once with @want: they must too, within 2 s (else they are cancelled).
 */
static void fails_at_once(struct ksvc_dispatcher *d, int mode, int fd,
			  int want, const char *where)
{
	char b[4];
	struct iovec iov = { b, 2 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct ksvc_entry e[2];
	struct ksvc_completion c[2];
	int n;

	ksvc_prep_call(&e[0], 1, SYS_recvfrom, (__u64)fd, (uintptr_t)b, 2,
		       0, 0, 0);
	ksvc_prep_call(&e[1], 2, SYS_recvmsg, (__u64)fd, (uintptr_t)&m, 0,
		       0, 0, 0);
	if (ksvc_dispatch_submit(d, e, 2, KSVC_SUBMIT_WAIT) != 2)
		tap_bail("ksvc_dispatch_submit");
	n = ksvc_dispatch_wait(d, c, 2, 2, 2000);
	if (n < 0) {
		/* waiting: stop them, so that the rest can go on */
		ksvc_dispatch_cancel(d, 1);
		ksvc_dispatch_cancel(d, 2);
		if (ksvc_dispatch_wait(d, c, 2, 2, -1) != 2)
			tap_bail("ksvc_dispatch_wait");
	}
	tap_ok(n == 2 && c[0].result == want && c[1].result == want,
	       "%s: RECV_POLL_FIRST %s: recvfrom and recvmsg fail with %s at "
	       "once, as the system call (%d in 2 s; %lld, %lld)",
	       td_mode_names[mode], where, strerror(-want), n,
	       (long long)c[0].result, (long long)c[1].result);
}

/*
 * KSVC_DISPATCH_RECV_POLL_FIRST and MSG_DONTWAIT: io_uring does not try
 * a poll-first receive before it polls, and fails one with MSG_DONTWAIT
 * with EAGAIN even when data is queued (not every time: it depends on
 * what the socket's wait queue saw); the dispatcher leaves poll-first
 * off for those.  20 rounds on a blocking socket: 6 bytes queued, a
 * direct recv of 2, then recvfrom and recvmsg with MSG_DONTWAIT must
 * read 2 bytes each.  And io_uring polls a poll-first receive before it
 * looks at the file: on a pipe's write end, which never becomes
 * readable, recvfrom and recvmsg must fail with ENOTSOCK at once, as
 * the system call (the dispatcher asks getsockopt() first), not wait;
 * on a listening socket, which becomes readable only when a connection
 * comes, with ENOTCONN (TCP) or EINVAL (AF_UNIX).
 */
static void poll_first(struct ksvc *k, int mode)
{
	struct ksvc_dispatcher *d;
	char b[4] = "";
	struct iovec iov = { b, 2 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	__u64 a[6];
	__s64 r1 = 0, r2 = 0;
	__u32 c1 = 0, c2 = 0;
	int sv[2], i, bad = 0;

	d = td_create(k, td_mode_flags[mode] | KSVC_DISPATCH_RECV_POLL_FIRST,
		      2);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		tap_bail("socketpair: %s", strerror(errno));
	for (i = 0; i < 20; i++) {
		if (write(sv[1], "uvwxyz", 6) != 6 ||
		    recv(sv[0], b, 2, 0) != 2)
			tap_bail("write/recv: %s", strerror(errno));
		a[0] = (__u64)sv[0];
		a[1] = (uintptr_t)b;
		a[2] = 2;
		a[3] = MSG_DONTWAIT;
		a[4] = a[5] = 0;
		if (ksvc_dispatch_call(d, SYS_recvfrom, a, &r1, &c1))
			tap_bail("ksvc_dispatch_call");
		bad += r1 != 2 || memcmp(b, "wx", 2) != 0;
		a[1] = (uintptr_t)&m;
		a[2] = MSG_DONTWAIT;
		a[3] = 0;
		if (ksvc_dispatch_call(d, SYS_recvmsg, a, &r2, &c2))
			tap_bail("ksvc_dispatch_call");
		bad += r2 != 2 || memcmp(b, "yz", 2) != 0;
	}
	tap_ok(!bad, "%s: RECV_POLL_FIRST, MSG_DONTWAIT with data queued, 20 "
	       "rounds: recvfrom and recvmsg read it as the system call (%d "
	       "wrong; last %lld, %lld in Tier %d, %d)", td_mode_names[mode],
	       bad, (long long)r1, (long long)r2, c1 & KSVC_COMP_TIER1 ? 1 : 2,
	       c2 & KSVC_COMP_TIER1 ? 1 : 2);
	close(sv[0]);
	close(sv[1]);
	if (pipe2(sv, O_CLOEXEC))
		tap_bail("pipe2: %s", strerror(errno));
	fails_at_once(d, mode, sv[1], -ENOTSOCK, "on a pipe's write end");
	close(sv[0]);
	close(sv[1]);
	i = listener(AF_INET, NULL);
	fails_at_once(d, mode, i, -ENOTCONN, "on a listening TCP socket");
	close(i);
	i = listener(AF_UNIX, NULL);
	fails_at_once(d, mode, i, -EINVAL, "on a listening AF_UNIX socket");
	close(i);
	ksvc_dispatch_destroy(d);
}

/*
 * The file size limit is the process's: it cuts this program's own output
 * short too when that is a file (a runner's log).  So it is set around
 * each call that needs it and lifted before anything is printed.
 */
static void fsize_limit(const struct rlimit *l)
{
	if (setrlimit(RLIMIT_FSIZE, l))
		tap_bail("setrlimit: %s", strerror(errno));
}

/*
 * short_pos(): RWF_NOAPPEND (6.9) at -1 on an O_APPEND descriptor writes
 * at the position, which a limit of 10 bytes cuts short in a 20-byte
 * file: the position must end at 10, not at the end.  Made directly,
 * then through the dispatcher, on the same file each time (kernels
 * without the flag fail both with EOPNOTSUPP).
 */
static void noappend(struct ctx *x, const struct rlimit *lim,
		     const struct rlimit *old)
{
	struct iovec iov = { (void *)"0123456789AB", 12 };
	char got[2][20];
	off_t pos[2];
	__s64 r = 0, want = 0;
	__u32 fl = 0;
	int pass, fd;

	for (pass = 0; pass < 2; pass++) {
		if (setrlimit(RLIMIT_FSIZE, old) || ftruncate(x->fd, 0) ||
		    pwrite(x->fd, "abcdefghijklmnopqrst", 20, 0) != 20 ||
		    setrlimit(RLIMIT_FSIZE, lim))
			tap_bail("noappend: %s", strerror(errno));
		fd = open(x->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0 || lseek(fd, 2, SEEK_SET) != 2)
			tap_bail("open %s: %s", x->path, strerror(errno));
		if (pass == 0)
			want = direct(SYS_pwritev2, (__u64)fd, (uintptr_t)&iov,
				      1, (__u64)-1, 0, KSVC_TEST_NOAPPEND);
		else
			r = run(x, SYS_pwritev2, (__u64)fd, (uintptr_t)&iov, 1,
				(__u64)-1, 0, KSVC_TEST_NOAPPEND, &fl);
		fsize_limit(old);
		pos[pass] = lseek(fd, 0, SEEK_CUR);
		if (pread(x->fd, got[pass], 20, 0) != 20)
			tap_bail("pread: %s", strerror(errno));
		close(fd);
	}
	check(x, SYS_pwritev2, OP_TABLE, r, want, 0, fl,
	      pos[1] == pos[0] && memcmp(got[0], got[1], 20) == 0 &&
	      (want < 0 || pos[0] == 10),
	      "at -1 with RWF_NOAPPEND on O_APPEND: the system call's count "
	      "and position");
}

/*
 * A write at the file position that the file size limit cuts short:
 * io_uring leaves the position where it was, the system call moves it
 * past the bytes written (the driver mends it); the rest then fails with
 * EFBIG instead of overwriting them.  With O_APPEND the position ends at
 * the end of the file.  SIGXFSZ, which the rest raises, is ignored here.
 */
static void short_pos(struct ctx *x)
{
	struct rlimit old, lim = { 3, 3 };
	struct sigaction ign = { .sa_handler = SIG_IGN }, prev;
	struct iovec iov = { (void *)"01234567", 8 };
	__s64 r;
	__u32 fl;
	int fd;

	if (getrlimit(RLIMIT_FSIZE, &old))
		tap_bail("getrlimit: %s", strerror(errno));
	lim.rlim_max = old.rlim_max;	/* a limit of 3 bytes, then of 10 */
	reset_file(x);
	lseek(x->fd, 2, SEEK_SET);
	sigaction(SIGXFSZ, &ign, &prev);
	fsize_limit(&lim);
	r = run(x, SYS_write, (__u64)x->fd, (uintptr_t)"0123456789ABCDEF",
		16, 0, 0, 0, &fl);
	fsize_limit(&old);
	check(x, SYS_write, OP_TABLE, r, 1, 0, fl,
	      lseek(x->fd, 0, SEEK_CUR) == 3 &&
	      file_is(x->fd, "ab0def", 6),
	      "16 bytes at 2 with a 3-byte limit: 1, the position at 3");
	fsize_limit(&lim);
	r = run(x, SYS_write, (__u64)x->fd, (uintptr_t)"123456789ABCDEF",
		15, 0, 0, 0, &fl);
	fsize_limit(&old);
	check(x, SYS_write, OP_TABLE, r, -EFBIG, 0, fl,
	      file_is(x->fd, "ab0def", 6),
	      "the rest: EFBIG, nothing overwritten");

	lim.rlim_cur = 10;
	reset_file(x);
	fd = open(x->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		tap_bail("open %s: %s", x->path, strerror(errno));
	fsize_limit(&lim);
	r = run(x, SYS_writev, (__u64)fd, (uintptr_t)&iov, 1, 0, 0, 0, &fl);
	fsize_limit(&old);
	check(x, SYS_writev, OP_TABLE, r, 4, 0, fl,
	      lseek(fd, 0, SEEK_CUR) == 10 &&
	      file_is(x->fd, "abcdef0123", 10),
	      "O_APPEND, 8 bytes to a 6-byte file: 4, the position at the end");
	close(fd);

	reset_file(x);
	fsize_limit(&lim);
	r = run(x, SYS_pwritev2, (__u64)x->fd, (uintptr_t)&iov, 1, (__u64)-1,
		0, RWF_APPEND, &fl);
	fsize_limit(&old);
	check(x, SYS_pwritev2, OP_TABLE, r, 4, 0, fl,
	      lseek(x->fd, 0, SEEK_CUR) == 10 &&
	      file_is(x->fd, "abcdef0123", 10),
	      "at -1 with RWF_APPEND, no O_APPEND: 4, the position at the end");
	noappend(x, &lim, &old);
	sigaction(SIGXFSZ, &prev, NULL);
}

/*
 * Flags with which io_uring does not do what the system call does, so
 * Tier 2: receives with MSG_ERRQUEUE (an empty error queue) and MSG_OOB
 * (no urgent data) fail at once on blocking sockets, where io_uring
 * would wait for data; a blocking send with MSG_FASTOPEN connects and
 * sends, where io_uring's non-blocking try fails with EINPROGRESS.
 */
static void flag_routes(struct ctx *x)
{
	static char data[100];
	struct sockaddr_in sin;
	char b[64];
	struct iovec iov = { b, sizeof(b) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	__s64 r;
	__u32 fl;
	int u, c, srv, l, i, got, sv[2];

	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u < 0)
		tap_bail("socket: %s", strerror(errno));
	r = run(x, SYS_recvfrom, (__u64)u, (uintptr_t)b, sizeof(b),
		MSG_ERRQUEUE, 0, 0, &fl);
	check(x, SYS_recvfrom, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "MSG_ERRQUEUE, nothing queued, a blocking socket: EAGAIN at "
	      "once, as the system call");
	r = run(x, SYS_recvmsg, (__u64)u, (uintptr_t)&m, MSG_ERRQUEUE, 0, 0,
		0, &fl);
	check(x, SYS_recvmsg, OP_NONE, r, -EAGAIN, 0, fl, 1,
	      "MSG_ERRQUEUE, nothing queued, a blocking socket: EAGAIN at "
	      "once, as the system call");
	close(u);

	tcp_pair(sv, &sin);
	c = sv[0];
	srv = sv[1];
	r = run(x, SYS_recvfrom, (__u64)srv, (uintptr_t)b, sizeof(b), MSG_OOB,
		0, 0, &fl);
	check(x, SYS_recvfrom, OP_NONE, r, -EINVAL, 0, fl, 1,
	      "MSG_OOB, no urgent data, a blocking TCP socket: EINVAL at "
	      "once, as the system call");
	r = run(x, SYS_recvmsg, (__u64)srv, (uintptr_t)&m, MSG_OOB, 0, 0, 0,
		&fl);
	check(x, SYS_recvmsg, OP_NONE, r, -EINVAL, 0, fl, 1,
	      "MSG_OOB, no urgent data, a blocking TCP socket: EINVAL at "
	      "once, as the system call");
	close(c);
	close(srv);

	for (i = 0; i < 2; i++) {
		l = listener(AF_INET, &sin);
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			tap_bail("socket: %s", strerror(errno));
		if (i == 0) {
			r = run(x, SYS_sendto, (__u64)c, (uintptr_t)data,
				sizeof(data), MSG_FASTOPEN, (uintptr_t)&sin,
				sizeof(sin), &fl);
		} else {
			struct iovec v = { data, sizeof(data) };
			struct msghdr sm = { .msg_name = &sin,
					     .msg_namelen = sizeof(sin),
					     .msg_iov = &v, .msg_iovlen = 1 };

			r = run(x, SYS_sendmsg, (__u64)c, (uintptr_t)&sm,
				MSG_FASTOPEN, 0, 0, 0, &fl);
		}
		srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		got = 0;
		if (srv >= 0) {
			struct timeval tv = { 5, 0 };
			ssize_t n;

			setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
			while (got < (int)sizeof(data) &&
			       (n = read(srv, b, sizeof(b))) > 0)
				got += (int)n;
			close(srv);
		}
		check(x, i ? SYS_sendmsg : SYS_sendto, OP_NONE, r,
		      sizeof(data), 0, fl, got == (int)sizeof(data),
		      "MSG_FASTOPEN to a listener, a blocking socket not yet "
		      "connected: connects and sends all 100 bytes, as the "
		      "system call");
		close(c);
		close(l);
	}
}

static void one_mode(int mode)
{
	struct ctx x;
	struct ksvc *k = ctx_init(&x, mode, "/tmp/ksvc-rest.XXXXXX");
	unsigned char *big = malloc(BIG);
	size_t i;

	if (!big)
		tap_bail("malloc");
	for (i = 0; i < BIG; i++)
		big[i] = pattern(i);

	opens(&x);
	statx_null(&x);
	rw(&x);
	odd_args(&x);
	odd_args2(&x);
	flag_routes(&x);
	short_pos(&x);
	names(&x);
	xattrs(&x);
	memory(&x);
	sockets(&x);
	pipes(&x);
	streams(&x);
	closes(&x);
	timeouts(&x, big);
	positions(&x, big);
	shorts(&x, big);
	ksvc_dispatch_destroy(x.d);
	x.d = NULL;
	promise(k, mode);
	poll_first(k, mode);
	short_fast(k, mode, big);
	if (mode == 0) {
		short_stop(k, big, SYS_sendto);
		short_stop(k, big, SYS_sendmsg);
	}
	free(big);
	ctx_fini(&x, k);
}

int main(int argc, char **argv)
{
	tc_main(argc, argv, ops, NOPS, NCASES, 2, one_mode);
}
