// SPDX-License-Identifier: MIT
/*
 * test_dispatch_calls - every system call the dispatcher's issue names
 * for Tier 1 goes through the dispatcher and does what the system call
 * does: its result, its effect (the bytes read or written, the file or
 * directory made, renamed or removed, the connection made, the event
 * registered), and its tier.
 *
 * The tier is judged against this kernel, not against the library's own
 * answer: the test asks io_uring for its probe itself, maps each call to
 * its opcode with a table of its own, and expects KSVC_COMP_TIER1 exactly
 * when the opcode is there (and io_uring at all), KSVC_COMP_TIER2
 * otherwise.  One check first compares that table with
 * ksvc_dispatch_tier1_opcode().
 *
 * read, pread64, sendto, recvfrom, statx, openat and close also run in
 * test_dispatch; they are here again so that one program covers the
 * whole list.  Both dispatcher modes; on the host (anonymous rings) and
 * in the VM (the module's rings), plain and sanitized.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "test_calls.h"
#include "util.h"

/* The list, with the opcode each must become. */
static const struct call_op ops[] = {
	{ SYS_read, "read", IORING_OP_READ },
	{ SYS_write, "write", IORING_OP_WRITE },
	{ SYS_pread64, "pread64", IORING_OP_READ },
	{ SYS_pwrite64, "pwrite64", IORING_OP_WRITE },
	{ SYS_readv, "readv", IORING_OP_READV },
	{ SYS_writev, "writev", IORING_OP_WRITEV },
	{ SYS_fsync, "fsync", IORING_OP_FSYNC },
	{ SYS_fdatasync, "fdatasync", IORING_OP_FSYNC },
	{ SYS_openat, "openat", IORING_OP_OPENAT },
	{ SYS_close, "close", IORING_OP_CLOSE },
	{ SYS_statx, "statx", IORING_OP_STATX },
	{ SYS_accept4, "accept4", IORING_OP_ACCEPT },
	{ SYS_connect, "connect", IORING_OP_CONNECT },
	{ SYS_sendto, "sendto", IORING_OP_SEND },
	{ SYS_recvfrom, "recvfrom", IORING_OP_RECV },
	{ SYS_sendmsg, "sendmsg", IORING_OP_SENDMSG },
	{ SYS_recvmsg, "recvmsg", IORING_OP_RECVMSG },
	{ SYS_shutdown, "shutdown", IORING_OP_SHUTDOWN },
	{ SYS_fallocate, "fallocate", IORING_OP_FALLOCATE },
	{ SYS_splice, "splice", IORING_OP_SPLICE },
	{ SYS_renameat2, "renameat2", IORING_OP_RENAMEAT },
	{ SYS_unlinkat, "unlinkat", IORING_OP_UNLINKAT },
	{ SYS_mkdirat, "mkdirat", IORING_OP_MKDIRAT },
	{ SYS_epoll_ctl, "epoll_ctl", IORING_OP_EPOLL_CTL },
	{ SYS_socket, "socket", IORING_OP_SOCKET },
};

#define NOPS		(sizeof(ops) / sizeof(ops[0]))
#define NCASES		28	/* checks per mode, below */

static int file_is(int fd, off_t off, const char *want, size_t n)
{
	char buf[64];

	return n <= sizeof(buf) && pread(fd, buf, n, off) == (ssize_t)n &&
	       memcmp(buf, want, n) == 0;
}

static void files(struct ctx *x)
{
	char a[128], b[160], sub[128], got[8] = { 0 }, one = 0;
	struct iovec iov[2];
	struct statx stx;
	struct stat st;
	__s64 r, want;
	__u32 fl;
	int fd, bad;

	/* read, pread64, write, pwrite64 */
	lseek(x->fd, 0, SEEK_SET);
	r = run(x, SYS_read, (__u64)x->fd, (uintptr_t)got, 3, 0, 0, 0, &fl);
	check(x, SYS_read, OP_TABLE, r, 3, 0, fl, memcmp(got, "abc", 3) == 0 &&
	      lseek(x->fd, 0, SEEK_CUR) == 3,
	      "got \"abc\", the file position moved to 3");
	r = run(x, SYS_pread64, (__u64)x->fd, (uintptr_t)got, 2, 4, 0, 0, &fl);
	check(x, SYS_pread64, OP_TABLE, r, 2, 0, fl, memcmp(got, "ef", 2) == 0,
	      "got \"ef\" from offset 4");
	lseek(x->fd, 6, SEEK_SET);
	r = run(x, SYS_write, (__u64)x->fd, (uintptr_t)"gh", 2, 0, 0, 0, &fl);
	check(x, SYS_write, OP_TABLE, r, 2, 0, fl, file_is(x->fd, 0, "abcdefgh", 8),
	      "the file reads \"abcdefgh\"");
	r = run(x, SYS_pwrite64, (__u64)x->fd, (uintptr_t)"CD", 2, 2, 0, 0, &fl);
	check(x, SYS_pwrite64, OP_TABLE, r, 2, 0, fl, file_is(x->fd, 0, "abCDefgh", 8),
	      "the file reads \"abCDefgh\"");

	/* readv, writev at the file position */
	lseek(x->fd, 0, SEEK_SET);
	memset(got, 0, sizeof(got));
	iov[0].iov_base = got;
	iov[0].iov_len = 2;
	iov[1].iov_base = got + 4;
	iov[1].iov_len = 3;
	r = run(x, SYS_readv, (__u64)x->fd, (uintptr_t)iov, 2, 0, 0, 0, &fl);
	check(x, SYS_readv, OP_TABLE, r, 5, 0, fl, memcmp(got, "ab", 2) == 0 &&
	      memcmp(got + 4, "CDe", 3) == 0,
	      "\"ab\" and \"CDe\" in the two buffers");
	iov[0].iov_base = (void *)"XY";
	iov[0].iov_len = 2;
	iov[1].iov_base = (void *)"Z";
	iov[1].iov_len = 1;
	r = run(x, SYS_writev, (__u64)x->fd, (uintptr_t)iov, 2, 0, 0, 0, &fl);
	check(x, SYS_writev, OP_TABLE, r, 3, 0, fl, file_is(x->fd, 0, "abCDeXYZ", 8),
	      "the file reads \"abCDeXYZ\"");
	bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(bad);	/* a descriptor number that is not open */
	r = run(x, SYS_readv, (__u64)bad, (uintptr_t)iov, 2, 0, 0, 0, &fl);
	check(x, SYS_readv, OP_TABLE, r, -EBADF, 0, fl, 1, "a closed descriptor: EBADF");

	/* fsync, fdatasync, fallocate */
	r = run(x, SYS_fsync, (__u64)x->fd, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_fsync, OP_TABLE, r, 0, 0, fl, 1, "returned 0");
	r = run(x, SYS_fdatasync, (__u64)x->fd, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_fdatasync, OP_TABLE, r, 0, 0, fl, 1, "returned 0");
	/* What the file system says to the system call itself. */
	want = fallocate(x->fd, 0, 0, 4096) < 0 ? -errno : 0;
	r = run(x, SYS_fallocate, (__u64)x->fd, 0, 0, 65536, 0, 0, &fl);
	check(x, SYS_fallocate, OP_TABLE, r, want, 0, fl,
	      want || (fstat(x->fd, &st) == 0 && st.st_size == 65536),
	      want ? "as the system call here" : "the file is 64 KiB long");

	/* openat, statx, close */
	r = run(x, SYS_openat, (__u64)AT_FDCWD, (uintptr_t)x->path,
		O_RDONLY | O_CLOEXEC, 0, 0, 0, &fl);
	fd = (int)r;
	check(x, SYS_openat, OP_TABLE, r, 0, 1, fl, r >= 0 && read(fd, &one, 1) == 1 &&
	      one == 'a', "a descriptor that reads 'a'");
	memset(&stx, 0, sizeof(stx));
	r = run(x, SYS_statx, (__u64)AT_FDCWD, (uintptr_t)x->path, 0,
		STATX_SIZE, (uintptr_t)&stx, 0, &fl);
	check(x, SYS_statx, OP_TABLE, r, 0, 0, fl, fstat(x->fd, &st) == 0 &&
	      (stx.stx_mask & STATX_SIZE) &&
	      stx.stx_size == (__u64)st.st_size, "the file's size");
	r = run(x, SYS_close, (__u64)fd, 0, 0, 0, 0, 0, &fl);
	check(x, SYS_close, OP_TABLE, r, 0, 0, fl, fd >= 0 && fcntl(fd, F_GETFD) < 0 &&
	      errno == EBADF, "the descriptor is closed");

	/* mkdirat, renameat2, unlinkat */
	snprintf(sub, sizeof(sub), "%s/sub", x->dir);
	r = run(x, SYS_mkdirat, (__u64)AT_FDCWD, (uintptr_t)sub, 0700, 0, 0, 0,
		&fl);
	check(x, SYS_mkdirat, OP_TABLE, r, 0, 0, fl, stat(sub, &st) == 0 &&
	      S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	      "a directory, mode 0700");
	snprintf(a, sizeof(a), "%s/a", x->dir);
	snprintf(b, sizeof(b), "%s/b", sub);
	fd = open(a, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		tap_bail("create %s: %s", a, strerror(errno));
	close(fd);
	r = run(x, SYS_renameat2, (__u64)AT_FDCWD, (uintptr_t)a,
		(__u64)AT_FDCWD, (uintptr_t)b, 0, 0, &fl);
	check(x, SYS_renameat2, OP_TABLE, r, 0, 0, fl, access(a, F_OK) < 0 &&
	      access(b, F_OK) == 0, "the file moved");
	r = run(x, SYS_renameat2, (__u64)AT_FDCWD, (uintptr_t)a,
		(__u64)AT_FDCWD, (uintptr_t)b, 0, 0, &fl);
	check(x, SYS_renameat2, OP_TABLE, r, -ENOENT, 0, fl, access(b, F_OK) == 0,
	      "again: ENOENT, nothing changed");
	r = run(x, SYS_unlinkat, (__u64)AT_FDCWD, (uintptr_t)b, 0, 0, 0, 0, &fl);
	check(x, SYS_unlinkat, OP_TABLE, r, 0, 0, fl, access(b, F_OK) < 0 &&
	      errno == ENOENT, "the file is gone");
	r = run(x, SYS_unlinkat, (__u64)AT_FDCWD, (uintptr_t)sub, AT_REMOVEDIR,
		0, 0, 0, &fl);
	check(x, SYS_unlinkat, OP_TABLE, r, 0, 0, fl, access(sub, F_OK) < 0,
	      "AT_REMOVEDIR: the directory is gone");
}

/* The connection's other end received exactly @want. */
static int peer_got(int fd, const char *want)
{
	char buf[16];
	size_t n = strlen(want);

	return recv(fd, buf, sizeof(buf), 0) == (ssize_t)n &&
	       memcmp(buf, want, n) == 0;
}

/* The other end sends @what; clear @buf, where it will be received. */
static void peer_send(int fd, const char *what, char *buf, size_t size)
{
	size_t n = strlen(what);

	if (send(fd, what, n, 0) != (ssize_t)n)
		tap_bail("send: %s", strerror(errno));
	memset(buf, 0, size);
}

static void sockets(struct ctx *x)
{
	struct sockaddr_in la, pa, ca;
	socklen_t len = sizeof(la);
	struct msghdr mh;
	struct iovec iov;
	char buf[16];
	int lfd, s, acc, type = 0, one = 1;
	__s64 r;
	__u32 fl;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&la, 0, sizeof(la));
	la.sin_family = AF_INET;
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) ||
	    listen(lfd, 4) ||
	    getsockname(lfd, (struct sockaddr *)&la, &len))
		tap_bail("listening socket: %s", strerror(errno));

	r = run(x, SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0, 0,
		&fl);
	s = (int)r;
	len = sizeof(type);
	check(x, SYS_socket, OP_TABLE, r, 0, 1, fl, r >= 0 &&
	      getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	      type == SOCK_STREAM, "a TCP socket");
	if (r < 0)
		tap_bail("no socket to go on with");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	r = run(x, SYS_connect, (__u64)s, (uintptr_t)&la, sizeof(la), 0, 0, 0,
		&fl);
	len = sizeof(pa);
	check(x, SYS_connect, OP_TABLE, r, 0, 0, fl,
	      getpeername(s, (struct sockaddr *)&pa, &len) == 0 &&
	      pa.sin_port == la.sin_port, "connected to the listener");

	r = run(x, SYS_accept4, (__u64)lfd, 0, 0, SOCK_CLOEXEC, 0, 0, &fl);
	acc = (int)r;
	len = sizeof(pa);
	check(x, SYS_accept4, OP_TABLE, r, 0, 1, fl, r >= 0 &&
	      getpeername(acc, (struct sockaddr *)&pa, &len) == 0 &&
	      (len = sizeof(ca),
	       getsockname(s, (struct sockaddr *)&ca, &len) == 0) &&
	      pa.sin_port == ca.sin_port &&
	      (fcntl(acc, F_GETFD) & FD_CLOEXEC),
	      "the peer is our socket, close-on-exec set");
	if (r < 0)
		tap_bail("no connection to go on with");

	r = run(x, SYS_sendto, (__u64)s, (uintptr_t)"ping", 4, 0, 0, 0, &fl);
	check(x, SYS_sendto, OP_TABLE, r, 4, 0, fl, peer_got(acc, "ping"),
	      "the peer received \"ping\"");
	peer_send(acc, "pong", buf, sizeof(buf));
	r = run(x, SYS_recvfrom, (__u64)s, (uintptr_t)buf, sizeof(buf), 0, 0, 0,
		&fl);
	check(x, SYS_recvfrom, OP_TABLE, r, 4, 0, fl, memcmp(buf, "pong", 4) == 0,
	      "received \"pong\"");

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)"hello";
	iov.iov_len = 5;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	r = run(x, SYS_sendmsg, (__u64)s, (uintptr_t)&mh, 0, 0, 0, 0, &fl);
	check(x, SYS_sendmsg, OP_TABLE, r, 5, 0, fl, peer_got(acc, "hello"),
	      "the peer received \"hello\"");
	peer_send(acc, "world", buf, sizeof(buf));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	r = run(x, SYS_recvmsg, (__u64)s, (uintptr_t)&mh, 0, 0, 0, 0, &fl);
	check(x, SYS_recvmsg, OP_TABLE, r, 5, 0, fl, memcmp(buf, "world", 5) == 0,
	      "received \"world\"");

	r = run(x, SYS_shutdown, (__u64)s, SHUT_WR, 0, 0, 0, 0, &fl);
	check(x, SYS_shutdown, OP_TABLE, r, 0, 0, fl, recv(acc, buf, sizeof(buf), 0) == 0,
	      "the peer reads end of file");
	close(acc);
	close(s);
	close(lfd);
}

static void pipes(struct ctx *x)
{
	struct epoll_event ev, got;
	int p1[2], p2[2], ep;
	char buf[8] = { 0 };
	__s64 r;
	__u32 fl;

	if (pipe2(p1, O_CLOEXEC) || pipe2(p2, O_CLOEXEC))
		tap_bail("pipe2");
	if (write(p1[1], "12345", 5) != 5)
		tap_bail("write");
	r = run(x, SYS_splice, (__u64)p1[0], 0, (__u64)p2[1], 0, 5, 0, &fl);
	check(x, SYS_splice, OP_TABLE, r, 5, 0, fl, read(p2[0], buf, sizeof(buf)) == 5 &&
	      memcmp(buf, "12345", 5) == 0, "the bytes came out of the other "
	      "pipe");

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		tap_bail("epoll_create1");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 42;
	r = run(x, SYS_epoll_ctl, (__u64)ep, EPOLL_CTL_ADD, (__u64)p2[0],
		(uintptr_t)&ev, 0, 0, &fl);
	memset(&got, 0, sizeof(got));
	check(x, SYS_epoll_ctl, OP_TABLE, r, 0, 0, fl, write(p2[1], "!", 1) == 1 &&
	      epoll_wait(ep, &got, 1, 1000) == 1 && got.data.u64 == 42 &&
	      (got.events & EPOLLIN), "epoll_wait then reports the pipe");
	close(ep);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
}

static void one_mode(int mode)
{
	struct ctx x;
	struct ksvc *k = ctx_init(&x, mode, "/tmp/ksvc-calls.XXXXXX");

	files(&x);
	sockets(&x);
	pipes(&x);
	ctx_fini(&x, k);
}

int main(int argc, char **argv)
{
	tc_main(argc, argv, ops, NOPS, NCASES, 0, one_mode);
}
