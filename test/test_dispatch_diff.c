// SPDX-License-Identifier: MIT
/*
 * test_dispatch_diff - a seeded random differential test: the dispatcher
 * against the direct system call.
 *
 * ksvc_dispatch.h promises that a call made through the dispatcher has
 * the result and the effect of the system call, but for a documented
 * list of differences.  The other dispatcher tests check the calls one
 * by one, by hand; this one looks for what nobody thought of.  For each
 * seed it draws a sequence of operations (read, write, pread64,
 * pwrite64, readv, writev, preadv, pwritev, preadv2, pwritev2, lseek,
 * fsync, fdatasync, fallocate, ftruncate, openat, close, statx,
 * renameat2, unlinkat, mkdirat, linkat, symlinkat, sendto, recvfrom,
 * sendmsg, recvmsg, shutdown, epoll_ctl, splice, tee, getsockopt,
 * fcntl(F_SETFL), socket, bind, listen, connect, accept4,
 * sync_file_range, fadvise64, madvise, fsetxattr, fgetxattr, setxattr,
 * getxattr, openat2, close_range, futex, waitid) with arguments valid or
 * not (bad pointers, a buffer that runs into a PROT_NONE page, zero and
 * huge counts, negative offsets, unknown flags, bad and closed
 * descriptors), on a small world: a directory with regular files of
 * random sizes (with extended attributes), a subdirectory and a symbolic
 * link, blocking and O_NONBLOCK pipes, stream, datagram and seqpacket
 * socket pairs, a connected TCP pair on 127.0.0.1, a listening and an
 * unconnected AF_UNIX stream socket, an eventfd, an epoll instance,
 * /dev/zero, /dev/null.
 *
 * Two worlds are built alike; world A gets each operation as a direct
 * system call, world B through ksvc_dispatch_call(), step by step, with
 * RLIMIT_FSIZE at 28 KiB (writes past it are cut short, then EFBIG; the
 * dispatcher mends the file position after a short write).  After
 * each step the two must agree on the result (or -errno), the bytes a
 * read returned (the whole read area is compared) and the state of the
 * world: file types, sizes, link counts, contents and extended
 * attributes, the directory tree, each descriptor's F_GETFL and F_GETFD
 * flags, lseek(fd, 0, SEEK_CUR), FIONREAD, poll(2) readiness, a socket's
 * type, domain, listening state and peer, and the epoll interest list.
 * The first step where they differ fails the seed (diag lines name it
 * and print the steps before it; --seed N --variant V --minimise reduces
 * that to a short reproducer; --first N --seeds M runs other seeds; --trace
 * prints each step with its two results).  A step that does not return
 * within 30 s ends the program with a bail-out that names it and the
 * world it was in.
 *
 * A call that could block forever is never made: the sequence is drawn
 * from the seed alone, and before each step both worlds are asked
 * whether it can block (a blocking read or accept needs poll(2) to say
 * readable; a blocking write needs room: little queued at the peer and
 * in the sender's buffer).  A step that could block in both worlds is
 * skipped; one that could block in one world only is a divergence.
 * Some are never drawn: listen's backlogs are too large for the steps
 * to fill (a connect would wait), futex never waits on a word that
 * holds its value without a time-out, and the test has no children for
 * waitid to wait for.
 *
 * Variants: the dispatcher thread, KSVC_DISPATCH_CALLER_DRIVES,
 * KSVC_DISPATCH_NO_TIER1 (everything in Tier 2), and one for each flag
 * whose promise the sequence can keep: KSVC_DISPATCH_RECV_POLL_FIRST
 * (same results, any descriptor), KSVC_DISPATCH_BLOCKING_FDS and
 * KSVC_DISPATCH_POSITIONAL_FDS (see promise_out(): the steps the flag
 * promises never come are left out there, from the world's state before
 * each step).  One check per seed and variant.
 *
 * The documented differences (top of ksvc_dispatch.h) are not findings;
 * each is kept out where the operations are drawn or compared, with a
 * comment naming the rule:
 *   - signals raised by a call (SIGPIPE, SIGXFSZ) are not delivered when
 *     a dispatcher thread or worker makes the call: ignored here, the
 *     call still fails with EPIPE;
 *   - a call with two faults may report the other error: tolerated when
 *     the step has two or more invalid arguments and both fail;
 *   - a read at the file position of a regular file cut short by a bad
 *     buffer may leave the position: such reads use a buffer that
 *     faults at its first byte;
 *   - vectored reads and writes whose iovecs add up to 0 bytes reach
 *     the file: only on regular files, directories and devices here,
 *     and preadv2/pwritev2 of 0 bytes with RWF_NOWAIT or RWF_NOAPPEND
 *     may fail where the system call returns 0;
 *   - a read of a character device may stop early: reads of devices of
 *     at most a page;
 *   - preadv2 and pwritev2 with RWF_DSYNC, RWF_SYNC, RWF_APPEND or
 *     RWF_NOAPPEND on a file without read_iter and write_iter do not
 *     fail with EOPNOTSUPP: tolerated on directories, which say EISDIR;
 *   - a read or write of a descriptor that cannot be read but can be
 *     polled (epoll) waits: not drawn;
 *   - FIFO and terminal opens and reads: not in the world; failed
 *     connects: no connect of an AF_INET socket to 127.0.0.1 (the
 *     others here go to AF_UNIX names, or fail on their arguments);
 *   - refused calls complete with KSVC_COMP_REFUSED: the test makes the
 *     call itself, as the header says.
 * And two left out that are not the dispatcher's: MSG_OOB sends (poll(2)
 * says readable while a read waits behind the urgent byte) and TCP
 * sends from a buffer that faults part way (how much is copied first
 * depends on the sending thread's page fragment).
 */
#include <poll.h>
#include <signal.h>
#include <arpa/inet.h>
#include <linux/fs.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/close_range.h>
#include <linux/futex.h>
#include <linux/openat2.h>

#include "test_dispatch.h"

#define NSEEDS		14	/* per variant, divided by the scale */
#define NSTEPS		120	/* operations per sequence */
#define PAGE		4096
#define RBUF		(40 * 1024)	/* a world's read area */
#define RIO		(32 * 1024)	/* ... of which iovecs use this */
#define WBUF		(16 * 1024)	/* the shared write data */
#define HALFGOOD	100		/* bytes before the guard page */
#define NIOV_MAX	1100		/* room for IOV_MAX + 1 */
#define CLOSED_FD	1000		/* a number nothing has open */
#define PEND_MAX	(16 * 1024)	/* queued bytes a blocking write allows */
#define OUTQ_MAX	(32 * 1024)
#define FSIZE_MAX	(28 * 1024)	/* RLIMIT_FSIZE */
#define HANG_S		30		/* a step that takes longer hangs */

/* Descriptor slots of a world. */
enum {
	S_F0, S_F1, S_F2, S_F3,	/* "a" O_RDWR, "a" O_WRONLY|O_APPEND,
				 * "b" O_RDONLY, "c" O_RDWR|O_NONBLOCK */
	S_DIR,			/* the world's directory */
	S_P1R, S_P1W,		/* a pipe */
	S_P2R, S_P2W,		/* an O_NONBLOCK pipe */
	S_UA, S_UB,		/* AF_UNIX stream pair, UB O_NONBLOCK */
	S_DA, S_DB,		/* AF_UNIX datagram pair */
	S_QA, S_QB,		/* AF_UNIX seqpacket pair */
	S_TA, S_TB,		/* TCP on 127.0.0.1 */
	S_EV,			/* eventfd */
	S_EP,			/* epoll */
	S_ZERO, S_NULL,
	S_LSN,			/* AF_UNIX stream, listening at "sock" */
	S_USK,			/* AF_UNIX stream, not connected */
	S_BAD,			/* -1 */
	S_CLOSED,		/* CLOSED_FD */
	S_DYN0, S_DYN1, S_DYN2, S_DYN3,	/* what the opens, socket and */
	S_DYN4, S_DYN5,			/* accept4 make */
	NSLOT
};

static const char *const slot_names[NSLOT] = {
	"a:rw", "a:wo|append", "b:ro", "c:rw|nonblock", "dir",
	"pipe.r", "pipe.w", "nbpipe.r", "nbpipe.w", "ustream.a",
	"ustream.b(nb)", "udgram.a", "udgram.b", "useqpkt.a", "useqpkt.b",
	"tcp.a", "tcp.b", "eventfd", "epoll", "/dev/zero", "/dev/null",
	"ulisten", "usock", "-1", "closed", "dyn0", "dyn1", "dyn2", "dyn3",
	"dyn4", "dyn5",
};

/* What a slot holds: decides which calls can block. */
enum { K_NONE, K_FILE, K_DIR, K_PIPE, K_SOCK, K_EVENT, K_EPOLL, K_DEV };

/* The other end of a pipe or socket pair, or -1. */
static int peer_of(int s)
{
	switch (s) {
	case S_P1R: return S_P1W;
	case S_P1W: return S_P1R;
	case S_P2R: return S_P2W;
	case S_P2W: return S_P2R;
	case S_UA: case S_DA: case S_QA: case S_TA: return s + 1;
	case S_UB: case S_DB: case S_QB: case S_TB: return s - 1;
	}
	return -1;
}

/* Buffer kinds. */
enum {
	B_GOOD,		/* the area, followed by a PROT_NONE page */
	B_HALF,		/* HALFGOOD bytes before that page */
	B_NULL,
	B_ONE,		/* (void *)1 */
	B_NONE,		/* a PROT_NONE page */
};

static const char *const buf_names[] = { "good", "half", "NULL", "1",
					 "prot_none" };

enum {
	OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE, OP_READV, OP_WRITEV,
	OP_PREADV, OP_PWRITEV, OP_PREADV2, OP_PWRITEV2, OP_LSEEK, OP_FSYNC,
	OP_FDATASYNC, OP_FALLOCATE, OP_FTRUNCATE, OP_OPENAT, OP_CLOSE,
	OP_STATX, OP_RENAME, OP_UNLINK, OP_MKDIR, OP_LINK, OP_SYMLINK,
	OP_SENDTO, OP_RECVFROM, OP_SENDMSG, OP_RECVMSG, OP_SHUTDOWN,
	OP_EPOLL_CTL, OP_SPLICE, OP_TEE, OP_GETSOCKOPT, OP_SETFL,
	OP_SOCKET, OP_BIND, OP_LISTEN, OP_CONNECT, OP_ACCEPT4,
	OP_SYNC_RANGE, OP_FADVISE, OP_MADVISE, OP_FSETXATTR, OP_FGETXATTR,
	OP_SETXATTR, OP_GETXATTR, OP_OPENAT2, OP_CLOSE_RANGE, OP_FUTEX,
	OP_WAITID,
	NOPS
};

static const char *const op_names[NOPS] = {
	"read", "write", "pread64", "pwrite64", "readv", "writev", "preadv",
	"pwritev", "preadv2", "pwritev2", "lseek", "fsync", "fdatasync",
	"fallocate", "ftruncate", "openat", "close", "statx", "renameat2",
	"unlinkat", "mkdirat", "linkat", "symlinkat", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "shutdown", "epoll_ctl", "splice", "tee",
	"getsockopt", "fcntl(F_SETFL)", "socket", "bind", "listen",
	"connect", "accept4", "sync_file_range", "fadvise64", "madvise",
	"fsetxattr", "fgetxattr", "setxattr", "getxattr", "openat2",
	"close_range", "futex", "waitid",
};

/* How often each is drawn. */
static const unsigned char op_weight[NOPS] = {
	8, 8, 5, 5, 5, 5, 3, 3, 6, 6, 3, 1, 1, 3, 3, 6, 3,
	4, 3, 3, 2, 2, 2, 6, 6, 4, 4, 2, 3, 3, 2, 2, 3,
	6, 3, 2, 4, 3, 2, 2, 2, 3, 3, 2, 2, 3, 2, 1, 1,
};

/* Paths, relative to the world's directory.  P_NULL and on are bad. */
enum { P_NULL = 8, P_ONE, P_LONG, NPATH };
static const char *const paths[8] = {
	"a", "b", "c", "d", "sub", "sub/e", "l", "",
};
static char long_name[300];

/* Extended attribute names; X_BAD and on are bad. */
enum { X_BAD = 4, NXNAME = 8 };
static const char *const xnames[X_BAD + 2] = {
	"user.a", "user.b", "user.a", "trusted.t", "bogus.x", "",
};
static char long_xname[300];

/* One step, drawn from the seed alone. */
struct iovspec {
	int buf;
	__u32 len;
};

struct op {
	int op;
	int s0, s1;		/* descriptor slots */
	int p0, p1;		/* paths */
	int buf;		/* B_* */
	int iovp;		/* B_* of the iovec array (or msghdr) */
	int niov;		/* may be invalid */
	int faults;		/* arguments drawn invalid */
	__u64 len;
	__s64 off;
	__u64 flags;		/* flags, mode, whence, how */
	__u64 x;		/* open mode, statx mask, address kind ... */
	struct iovspec iov[4];
};

struct world {
	const char *name;
	char dir[64];
	int fd[NSLOT];
	int kind[NSLOT];
	unsigned char *rbuf;	/* RBUF bytes, then a PROT_NONE page */
	struct iovec *iov;	/* NIOV_MAX */
	struct msghdr msg;
	struct epoll_event ev;
	struct sockaddr_un sun[4];	/* "sock", "s", "sub/s", "a" */
	char path[160];		/* an absolute path, for (get|set)xattr */
	__u32 futex;		/* a futex word, always 0 */
	struct timespec ts;	/* a futex time-out */
	struct ksvc_dispatcher *d;	/* NULL: direct system calls */
};

/* Results of a step. */
struct res {
	long ret;
	socklen_t namelen;
	size_t controllen;
	int msg_flags;
	int opt_len;
};

static unsigned char *wbuf;	/* WBUF bytes, then a PROT_NONE page */
static int trace;		/* --trace: each step and its results */
static const char *volatile in_world;	/* the world of the step running */
static char hang_msg[640];	/* what the watchdog says, if it fires */
static volatile size_t hang_len;
static unsigned char *none_page;
static unsigned long refused_calls;
static __u32 promises;		/* the variant's BLOCKING_FDS, POSITIONAL_FDS */
static struct sockaddr_in addr_in;

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static long call6(struct world *w, long nr, __u64 a0, __u64 a1, __u64 a2,
		  __u64 a3, __u64 a4, __u64 a5)
{
	__u64 a[6] = { a0, a1, a2, a3, a4, a5 };
	__u32 cflags = 0;
	__s64 res;
	long r;
	int err;

	if (w->d) {
		err = ksvc_dispatch_call(w->d, nr, a, &res, &cflags);
		if (err)
			tap_bail("ksvc_dispatch_call(%ld): %s", nr,
				 strerror(-err));
		/* A refused call is the caller's to make (the header). */
		if (!(cflags & KSVC_COMP_REFUSED))
			return (long)res;
		refused_calls++;
	}
	r = syscall(nr, a0, a1, a2, a3, a4, a5);
	return r == -1 ? -errno : r;
}

#define U(x)	((__u64)(uintptr_t)(x))
#define I(x)	((__u64)(__s64)(x))

/* ------------------------------------------------------------------ */
/* Drawing a sequence                                                  */
/* ------------------------------------------------------------------ */

static unsigned int rn(uint64_t *r, unsigned int n)
{
	return (unsigned int)(td_rnd(r) % n);
}

/* Usually a slot of the kinds @good lists, sometimes any slot. */
static int pick_slot(uint64_t *r, const int *good, int n, int *faults)
{
	if (rn(r, 10) < 8)
		return good[rn(r, (unsigned)n)];
	(*faults)++;	/* may not fit the call */
	return (int)rn(r, NSLOT);
}

static const int io_slots[] = {
	S_F0, S_F1, S_F2, S_F3, S_DIR, S_P1R, S_P1W, S_P2R, S_P2W, S_UA,
	S_UB, S_DA, S_DB, S_QA, S_QB, S_TA, S_TB, S_EV, S_ZERO, S_NULL,
	S_DYN0, S_DYN1, S_DYN5,
};
static const int file_slots[] = {
	S_F0, S_F1, S_F2, S_F3, S_DYN0, S_DYN1, S_DYN2, S_DYN3, S_ZERO,
};
static const int sock_slots[] = {
	S_UA, S_UB, S_DA, S_DB, S_QA, S_QB, S_TA, S_TB, S_DYN4, S_DYN5,
};
static const int pipe_slots[] = { S_P1R, S_P1W, S_P2R, S_P2W };
/* for bind, listen, connect, accept4: where socket() and accept4() put
 * theirs, the listener, and connected ones (EINVAL, EISCONN) */
static const int bsock_slots[] = {
	S_LSN, S_USK, S_USK, S_USK, S_DYN5, S_DYN5, S_DYN5, S_DYN4, S_DYN4,
	S_DYN3, S_DYN0, S_UA, S_DA, S_QB, S_TA,
};
static const int xattr_slots[] = {
	S_F0, S_F1, S_F2, S_F3, S_DIR, S_DYN0, S_DYN1, S_DYN2, S_P1R, S_UA,
	S_ZERO,
};
static const int splice_slots[] = {
	S_P1R, S_P1W, S_P2R, S_P2W, S_F0, S_F1, S_F2, S_UA, S_UB, S_TA,
	S_TB, S_ZERO, S_NULL,
};
#define PICK(r, set, f)	\
	pick_slot(r, set, (int)(sizeof(set) / sizeof(set[0])), f)

static int pick_buf(uint64_t *r, int *faults)
{
	int b = (int)rn(r, 16);

	if (b < 11)
		return B_GOOD;
	if (b < 13)
		return B_HALF;
	(*faults)++;
	return B_NULL + (b - 13);
}

/* A count for a buffer of @cap bytes: 0, small, up to @cap, or huge. */
static __u64 pick_len(uint64_t *r, __u64 cap)
{
	static const __u64 huge[] = {
		0x7fffffffull, 0x80000000ull, 0x7ffff001ull, 1ull << 40,
		~0ull >> 1, ~0ull,
	};

	switch (rn(r, 10)) {
	case 0:
		return 0;
	case 1: case 2: case 3:
		return 1 + rn(r, 64);
	case 4: case 5: case 6:
		return 1 + rn(r, (unsigned)cap);
	case 7:
		return cap;
	case 8:
		return PAGE;
	}
	return huge[rn(r, 6)];
}

static __s64 pick_off(uint64_t *r, int *faults)
{
	switch (rn(r, 12)) {
	case 0:
		(*faults)++;
		return -1 - (__s64)rn(r, 2);	/* -1 means "position" only
						 * to the *v2 calls */
	case 1:
		return 1ll << 62;
	case 2:
		(*faults)++;	/* offset + count overflows */
		return INT64_MAX;
	case 3:
		return 0;
	}
	return rn(r, 20000);
}

static void pick_iov(uint64_t *r, struct op *o, __u32 seg)
{
	int i;

	o->niov = (int)rn(r, 5);
	switch (rn(r, 20)) {
	case 0:
		o->niov = 1025;		/* IOV_MAX + 1 */
		o->faults++;
		break;
	case 1:
		o->niov = -1;
		o->faults++;
		break;
	}
	o->iovp = rn(r, 12) ? B_GOOD : B_NULL + (int)rn(r, 3);
	if (o->iovp != B_GOOD)
		o->faults++;
	for (i = 0; i < 4; i++) {
		o->iov[i].buf = pick_buf(r, &o->faults);
		o->iov[i].len = rn(r, 4) ? 1 + rn(r, seg) : rn(r, 3) ? 0 :
				0x80000000u;
	}
}

static __u64 pick_rwf(uint64_t *r, int *faults)
{
	static const __u64 rwf[] = {
		0, 0, 0, RWF_NOWAIT, RWF_APPEND, RWF_DSYNC, RWF_SYNC,
		RWF_HIPRI, 0x20 /* RWF_NOAPPEND */, 0x40 /* RWF_ATOMIC */,
		0x80 /* RWF_DONTCACHE */, RWF_NOWAIT | RWF_APPEND,
	};

	if (rn(r, 16) == 0) {
		(*faults)++;
		return rn(r, 2) ? 0x1000 : 0x80000000ull;
	}
	return rwf[rn(r, sizeof(rwf) / sizeof(rwf[0]))];
}

static int pick_path(uint64_t *r, int *faults)
{
	int p = (int)rn(r, 24);

	if (p < 7)
		return p;
	if (p < 14)
		return p - 7;
	if (p < 20)
		return (int)rn(r, 7);
	if (p == 20) {
		(*faults)++;	/* ENOENT without AT_EMPTY_PATH */
		return 7;	/* "" */
	}
	(*faults)++;
	return P_NULL + (int)rn(r, 3);
}

static __u64 pick_msg_flags(uint64_t *r, int recv, int *faults)
{
	static const __u64 rf[] = {
		0, 0, 0, MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC, MSG_WAITALL,
		MSG_PEEK | MSG_DONTWAIT, MSG_TRUNC | MSG_DONTWAIT,
		MSG_WAITALL | MSG_PEEK, MSG_CMSG_CLOEXEC, MSG_ERRQUEUE,
		MSG_OOB, MSG_DONTWAIT | MSG_WAITALL,
	};
	static const __u64 sf[] = {
		0, 0, 0, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_EOR,
		MSG_DONTWAIT | MSG_NOSIGNAL, MSG_CONFIRM, MSG_DONTROUTE,
		MSG_TRUNC, MSG_PEEK,
	};	/* not MSG_OOB: poll(2) then says readable while a read
		 * waits behind the urgent byte, which would hang the test */

	if (rn(r, 20) == 0) {
		(*faults)++;
		return rn(r, 2) ? 0x80000000ull : 0x00800000ull;
	}
	if (recv)
		return rf[rn(r, sizeof(rf) / sizeof(rf[0]))];
	return sf[rn(r, sizeof(sf) / sizeof(sf[0]))];
}

static void draw(uint64_t *r, struct op *o)
{
	unsigned int total = 0, w, i;
	int f = 0;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < NOPS; i++)
		total += op_weight[i];
	w = rn(r, total);
	for (i = 0; w >= op_weight[i]; i++)
		w -= op_weight[i];
	o->op = (int)i;
	o->s0 = o->s1 = S_BAD;
	switch (o->op) {
	case OP_READ:
	case OP_WRITE:
		o->s0 = PICK(r, io_slots, &f);
		o->buf = pick_buf(r, &f);
		o->len = pick_len(r, o->op == OP_READ ? RIO : WBUF);
		break;
	case OP_PREAD:
	case OP_PWRITE:
		o->s0 = PICK(r, file_slots, &f);
		o->buf = pick_buf(r, &f);
		o->len = pick_len(r, o->op == OP_PREAD ? RIO : WBUF);
		o->off = pick_off(r, &f);
		break;
	case OP_READV:
	case OP_WRITEV:
		o->s0 = PICK(r, io_slots, &f);
		pick_iov(r, o, o->op == OP_READV ? 8192 : 4096);
		break;
	case OP_PREADV:
	case OP_PWRITEV:
		o->s0 = PICK(r, file_slots, &f);
		pick_iov(r, o, o->op == OP_PREADV ? 8192 : 4096);
		o->off = pick_off(r, &f);
		break;
	case OP_PREADV2:
	case OP_PWRITEV2:
		o->s0 = rn(r, 2) ? PICK(r, io_slots, &f) :
				   PICK(r, file_slots, &f);
		pick_iov(r, o, o->op == OP_PREADV2 ? 8192 : 4096);
		o->off = rn(r, 2) ? -1 : pick_off(r, &f);
		o->flags = pick_rwf(r, &f);
		break;
	case OP_LSEEK:
		o->s0 = PICK(r, file_slots, &f);
		o->off = rn(r, 3) ? (__s64)rn(r, 30000) - 5000 : pick_off(r, &f);
		o->flags = rn(r, 8);	/* SET, CUR, END, DATA, HOLE, bad */
		f += o->flags > SEEK_HOLE;
		break;
	case OP_FSYNC:
	case OP_FDATASYNC:
		o->s0 = PICK(r, file_slots, &f);
		break;
	case OP_FALLOCATE: {
		static const __u64 modes[] = {
			0, 0, FALLOC_FL_KEEP_SIZE,
			FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE,
			FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE,
			0x100, 0x80000000ull,
		};
		o->s0 = PICK(r, file_slots, &f);
		o->flags = modes[rn(r, 10)];
		o->off = rn(r, 6) ? (__s64)rn(r, 20000) : pick_off(r, &f);
		o->len = rn(r, 8) ? rn(r, 16384) : rn(r, 2) ? ~0ull >> 1 :
			 ~0ull;
		if (o->flags >= 0x100 || o->flags & (FALLOC_FL_COLLAPSE_RANGE |
						     FALLOC_FL_INSERT_RANGE |
						     FALLOC_FL_PUNCH_HOLE))
			f++;
		break;
	}
	case OP_FTRUNCATE:
		o->s0 = PICK(r, file_slots, &f);
		o->off = rn(r, 6) ? (__s64)rn(r, 36000) : -(__s64)rn(r, 5) - 1;
		break;
	case OP_OPENAT: {
		static const __u64 fl[] = {
			O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY,
			O_NONBLOCK, O_NOFOLLOW, O_PATH, O_CLOEXEC, O_NOATIME,
			O_SYNC, __O_TMPFILE,
		};
		o->s0 = rn(r, 10) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->flags = rn(r, 8) == 0 ? 3 : rn(r, 3);	/* access mode */
		for (i = 0; i < 3; i++)
			if (rn(r, 2))
				o->flags |= fl[rn(r, 12)];
		if (rn(r, 20) == 0)
			o->flags |= 0x40000000ull;	/* unknown: ignored */
		o->x = rn(r, 4) ? 0644 : rn(r, 2) ? 0 : 07777;
		/* combinations that may be refused as such */
		f += (o->flags & O_ACCMODE) == 3 ||
		     (o->flags & (__O_TMPFILE | O_PATH)) ||
		     (o->flags & (O_CREAT | O_DIRECTORY)) ==
		     (O_CREAT | O_DIRECTORY);
		break;
	}
	case OP_CLOSE:
		o->s0 = rn(r, 3) ? S_DYN0 + (int)rn(r, 4) : (int)rn(r, NSLOT);
		break;
	case OP_STATX: {
		static const __u64 fl[] = {
			0, 0, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH,
			AT_STATX_FORCE_SYNC, AT_STATX_DONT_SYNC,
			AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
			AT_NO_AUTOMOUNT, 0x80000000ull, 0x10000,
		};
		static const __u64 masks[] = {
			STATX_BASIC_STATS, STATX_ALL, 0, STATX_TYPE | STATX_SIZE,
			0x80000000u /* STATX__RESERVED */, ~0u,
		};
		o->s0 = rn(r, 4) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->flags = fl[rn(r, 10)];
		o->x = masks[rn(r, 6)];
		o->buf = rn(r, 8) ? B_GOOD : B_NULL + (int)rn(r, 3);
		f += o->buf != B_GOOD;
		f += (o->flags & (0x80000000ull | 0x10000)) ||
		     (o->flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
		     (o->x & 0x80000000u);
		break;
	}
	case OP_RENAME: {
		static const __u64 fl[] = {
			0, 0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE,
			RENAME_NOREPLACE | RENAME_EXCHANGE, RENAME_WHITEOUT,
			0x100,
		};
		o->s0 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->s1 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->p1 = pick_path(r, &f);
		o->flags = fl[rn(r, 8)];
		f += o->flags == 3 || o->flags == 0x100 ||
		     o->flags == RENAME_WHITEOUT;
		break;
	}
	case OP_UNLINK:
		o->s0 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->flags = rn(r, 6) ? (rn(r, 3) ? 0 : AT_REMOVEDIR) :
			   rn(r, 2) ? 0x1 : 0x200 | AT_REMOVEDIR;
		f += (o->flags & ~(__u64)AT_REMOVEDIR) != 0;
		break;
	case OP_MKDIR:
		o->s0 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->x = rn(r, 3) ? 0755 : rn(r, 2) ? 0 : 07777;
		break;
	case OP_LINK:
		o->s0 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->s1 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->p1 = pick_path(r, &f);
		o->flags = rn(r, 4) ? 0 : rn(r, 3) ? AT_SYMLINK_FOLLOW :
			   rn(r, 2) ? AT_EMPTY_PATH : 0x8;
		f += o->flags == 0x8 || o->flags == AT_EMPTY_PATH;
		break;
	case OP_SYMLINK:
		o->p0 = pick_path(r, &f);	/* the target */
		o->s0 = rn(r, 8) ? S_DIR : (int)rn(r, NSLOT);
		o->p1 = pick_path(r, &f);
		break;
	case OP_SENDTO:
	case OP_RECVFROM:
		o->s0 = PICK(r, sock_slots, &f);
		o->buf = pick_buf(r, &f);
		o->len = pick_len(r, o->op == OP_RECVFROM ? RIO : WBUF);
		o->flags = pick_msg_flags(r, o->op == OP_RECVFROM, &f);
		/* an address: none, 127.0.0.1 with a length of 16, 0, 2,
		 * or over sockaddr_storage; for recvfrom, where it goes */
		o->x = rn(r, 4) ? 0 : 1 + rn(r, 4);
		break;
	case OP_SENDMSG:
	case OP_RECVMSG:
		o->s0 = PICK(r, sock_slots, &f);
		pick_iov(r, o, o->op == OP_RECVMSG ? 8192 : 4096);
		o->flags = pick_msg_flags(r, o->op == OP_RECVMSG, &f);
		o->x = rn(r, 3) ? 0 : 1 + rn(r, 4);	/* as above */
		o->p0 = (int)rn(r, 8);	/* control: 0 none, 1 bad, 2 small */
		break;
	case OP_SHUTDOWN:
		o->s0 = PICK(r, sock_slots, &f);
		o->flags = rn(r, 8) ? rn(r, 3) : rn(r, 2) ? 3 : ~0ull;
		f += o->flags > 2;
		break;
	case OP_EPOLL_CTL:
		o->s0 = rn(r, 10) ? S_EP : (int)rn(r, NSLOT);
		o->s1 = (int)rn(r, NSLOT);
		o->flags = rn(r, 10) ? 1 + rn(r, 3) : rn(r, 2) ? 0 : 9;
		o->x = (rn(r, 2) ? EPOLLIN : 0) | (rn(r, 2) ? EPOLLOUT : 0) |
		       (rn(r, 4) ? 0 : EPOLLET) |
		       (rn(r, 8) ? 0 : EPOLLEXCLUSIVE) |
		       (rn(r, 8) ? 0 : EPOLLONESHOT);
		o->buf = rn(r, 10) ? B_GOOD : B_NULL + (int)rn(r, 3);
		f += o->buf != B_GOOD;
		f += o->flags == 0 || o->flags == 9 ||
		     (o->x & (EPOLLEXCLUSIVE | EPOLLONESHOT));
		break;
	case OP_SPLICE:
		o->s0 = PICK(r, splice_slots, &f);
		o->s1 = PICK(r, splice_slots, &f);
		o->len = rn(r, 8) ? rn(r, 16384) : rn(r, 2) ? 0 : 1ull << 33;
		o->flags = rn(r, 8) ? rn(r, 16) & (SPLICE_F_NONBLOCK |
						   SPLICE_F_MOVE) :
			   rn(r, 2) ? 0x80000000ull : 0x100;
		f += o->flags >= 0x100;
		break;
	case OP_TEE:
		o->s0 = PICK(r, pipe_slots, &f);
		o->s1 = PICK(r, pipe_slots, &f);
		o->len = rn(r, 8) ? rn(r, 16384) : rn(r, 2) ? 0 : 1ull << 33;
		o->flags = rn(r, 8) ? (rn(r, 2) ? SPLICE_F_NONBLOCK : 0) :
			   0x80000000ull;
		f += o->flags >= 0x100;
		break;
	case OP_GETSOCKOPT: {
		static const int opts[][2] = {
			{ SOL_SOCKET, SO_TYPE }, { SOL_SOCKET, SO_ERROR },
			{ SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_ACCEPTCONN },
			{ SOL_SOCKET, SO_DOMAIN }, { SOL_SOCKET, 9999 },
			{ IPPROTO_TCP, TCP_NODELAY }, { 12345, 1 },
		};
		i = rn(r, 8);
		o->s0 = PICK(r, sock_slots, &f);
		o->flags = (__u64)opts[i][0];
		o->x = (__u64)opts[i][1];
		o->len = rn(r, 4) ? 4 : rn(r, 2) ? 0 : 100;
		o->buf = rn(r, 10) ? B_GOOD : B_NULL + (int)rn(r, 3);
		f += o->buf != B_GOOD || i >= 5 || o->len != 4;
		break;
	}
	case OP_SETFL:
		o->s0 = PICK(r, io_slots, &f);
		o->flags = (rn(r, 2) ? O_NONBLOCK : 0) |
			   (rn(r, 4) ? 0 : O_APPEND) |
			   (rn(r, 8) ? 0 : O_NOATIME);
		break;
	case OP_SOCKET: {
		static const __u64 dom[] = {
			AF_UNIX, AF_UNIX, AF_UNIX, AF_INET, 12345,
		};
		static const __u64 type[] = {
			SOCK_STREAM, SOCK_STREAM, SOCK_STREAM, SOCK_DGRAM,
			SOCK_SEQPACKET, 99,
		};
		static const __u64 tfl[] = {
			0, 0, 0, SOCK_NONBLOCK, SOCK_CLOEXEC, 0x1000,
		};
		i = rn(r, 5);
		o->flags = dom[i];
		f += i == 4;
		i = rn(r, 6);
		o->x = type[i];
		f += i == 5;
		i = rn(r, 6);
		o->x |= tfl[i];
		f += i == 5;
		o->len = rn(r, 12) ? 0 : 99;	/* protocol */
		f += o->len != 0;
		break;
	}
	case OP_BIND:
	case OP_CONNECT:
		o->s0 = PICK(r, bsock_slots, &f);
		/* addresses: the world's "sock" (the listener), "s",
		 * "sub/s", "a"; an autobind (the family alone); a length of
		 * 0, of 200; NULL; 127.0.0.1 port 0.  Mostly the listener
		 * for connect, the free names for bind. */
		if (rn(r, 4) == 0)
			o->x = 4 + rn(r, 5);
		else if (o->op == OP_CONNECT && rn(r, 2))
			o->x = 0;
		else
			o->x = o->op == OP_BIND && rn(r, 3) ? 1 + rn(r, 2) :
			       rn(r, 4);
		f += o->x >= 5 && o->x != 8;
		break;
	case OP_LISTEN: {
		/* never a backlog a connect could fill (it would wait) */
		static const __u64 bl[] = { 128, 1000, -1ull };

		o->s0 = PICK(r, bsock_slots, &f);
		o->flags = bl[rn(r, 3)];
		break;
	}
	case OP_ACCEPT4: {
		static const __u64 afl[] = {
			0, 0, SOCK_NONBLOCK, SOCK_CLOEXEC, 1,
		};
		o->s0 = rn(r, 3) ? S_LSN : PICK(r, bsock_slots, &f);
		/* none; 128 bytes; length 0; a bad address; a bad length */
		o->x = rn(r, 3) ? rn(r, 3) : rn(r, 5);
		f += o->x >= 3;
		i = rn(r, 5);
		o->flags = afl[i];
		f += i == 4;
		break;
	}
	case OP_SYNC_RANGE:
	case OP_FADVISE:
		o->s0 = PICK(r, file_slots, &f);
		o->off = rn(r, 6) ? (__s64)rn(r, 20000) : pick_off(r, &f);
		o->len = rn(r, 6) ? rn(r, 16384) : rn(r, 2) ? 1ull << 40 :
			 ~0ull;
		if (o->op == OP_SYNC_RANGE) {
			o->flags = rn(r, 10) ? rn(r, 8) : 8;
			f += o->len == ~0ull || o->flags == 8;
		} else {
			o->flags = rn(r, 10) ? rn(r, 6) : rn(r, 2) ? 6 : 99;
			f += o->len == ~0ull || o->flags > 5;
		}
		break;
	case OP_MADVISE: {
		static const __u64 adv[] = {
			MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL,
			MADV_WILLNEED, MADV_DONTNEED, MADV_COLD, MADV_PAGEOUT,
			MADV_REMOVE, 12345,
		};
		/* at the world's read area, 1 past it, its guard page,
		 * NULL, the last page of the address space; never a length
		 * that reaches past the area's own mapping */
		static const __u64 lens[] = { 0, PAGE, RBUF, RBUF + 1, ~0ull };

		o->x = rn(r, 4) ? 0 : 1 + rn(r, 4);
		o->len = o->x == 0 ? lens[rn(r, 5)] :
			 rn(r, 3) ? PAGE : rn(r, 2) ? 0 : ~0ull;
		i = rn(r, 9);
		o->flags = adv[i];
		f += o->x != 0 && o->x != 2;
		f += o->len == ~0ull || i >= 7;
		break;
	}
	case OP_FSETXATTR:
	case OP_FGETXATTR:
	case OP_SETXATTR:
	case OP_GETXATTR:
		if (o->op == OP_FSETXATTR || o->op == OP_FGETXATTR)
			o->s0 = PICK(r, xattr_slots, &f);
		else
			o->p0 = pick_path(r, &f);
		o->p1 = rn(r, 6) ? (int)rn(r, 4) : (int)rn(r, NXNAME);
		f += o->p1 >= X_BAD;
		if (o->op == OP_FSETXATTR || o->op == OP_SETXATTR) {
			static const __u64 xfl[] = {
				0, 0, XATTR_CREATE, XATTR_REPLACE, 3, 4,
			};
			o->buf = pick_buf(r, &f);
			o->len = rn(r, 8) ? 1 + rn(r, 200) : rn(r, 3) ? 0 :
				 rn(r, 2) ? 65537 : 1ull << 33;
			f += o->len > 65536;
			i = rn(r, 6);
			o->flags = xfl[i];
			f += i >= 4;
		} else {
			o->buf = rn(r, 8) ? B_GOOD : pick_buf(r, &f);
			o->len = rn(r, 4) ? 64 : rn(r, 3) ? rn(r, 3) :
				 rn(r, 2) ? 4096 : 1ull << 33;
		}
		break;
	case OP_OPENAT2: {
		static const __u64 fl[] = {
			O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY,
			O_NONBLOCK, O_NOFOLLOW, O_PATH, O_CLOEXEC, O_NOATIME,
			O_SYNC, __O_TMPFILE,
		};
		static const __u64 res[] = {
			0, 0, 0, RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS,
			RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV,
			0x40,
		};
		static const __u64 sz[] = { 24, 24, 24, 24, 32, 33, 8, 5000 };

		o->s0 = rn(r, 10) ? S_DIR : (int)rn(r, NSLOT);
		o->p0 = pick_path(r, &f);
		o->flags = rn(r, 8) == 0 ? 3 : rn(r, 3);
		for (i = 0; i < 3; i++)
			if (rn(r, 2))
				o->flags |= fl[rn(r, 12)];
		if (rn(r, 20) == 0)
			o->flags |= 0x40000000ull;	/* EINVAL here */
		/* a mode without O_CREAT or O_TMPFILE: EINVAL here */
		o->x = o->flags & (O_CREAT | __O_TMPFILE) || !rn(r, 8) ?
		       (rn(r, 4) ? 0644 : rn(r, 2) ? 0 : 07777) : 0;
		o->off = (__s64)res[rn(r, 9)];
		/* 32: a zero tail; 33: a tail that is not (E2BIG) */
		o->len = sz[rn(r, 8)];
		o->buf = rn(r, 12) ? B_GOOD : B_NULL + (int)rn(r, 3);
		f += (o->flags & O_ACCMODE) == 3 ||
		     (o->flags & (__O_TMPFILE | O_PATH | 0x40000000ull)) ||
		     (o->flags & (O_CREAT | O_DIRECTORY)) ==
		     (O_CREAT | O_DIRECTORY) ||
		     (o->x && !(o->flags & O_CREAT)) ||
		     o->off == 0x40 || o->len == 33 || o->len < 24 ||
		     o->len > 32 || o->buf != B_GOOD;
		break;
	}
	case OP_CLOSE_RANGE:
		o->s0 = rn(r, 3) ? S_DYN0 + (int)rn(r, 6) : (int)rn(r, NSLOT);
		o->x = rn(r, 8) ? 0 : 1;	/* 1: last = first - 1 */
		o->flags = rn(r, 4) ? 0 : rn(r, 3) ? CLOSE_RANGE_CLOEXEC : 8;
		f += o->x || o->flags == 8;
		break;
	case OP_FUTEX:
		/* never a wait that could wait: the word stays 0 */
		o->x = rn(r, 10);
		f += o->x >= 4;
		break;
	case OP_WAITID: {
		static const __u64 opt[] = {
			WEXITED | WNOHANG, WEXITED, WEXITED | WSTOPPED |
			WCONTINUED | WNOHANG, __WALL | WEXITED, 0, 0x1000,
		};
		/* there are no children: ECHILD, or EINVAL first */
		/* P_ALL, P_PID, P_PGID; 99, P_PIDFD */
		o->x = rn(r, 6) ? rn(r, 3) : 3 + rn(r, 2);
		o->s0 = o->x == 4 ? (int)rn(r, NSLOT) : S_BAD;
		i = rn(r, 6);
		o->flags = opt[i];
		f += i >= 4 || o->x == 3;
		o->buf = rn(r, 8) ? B_GOOD : B_NULL + (int)rn(r, 3);
		break;
	}
	}
	o->faults += f;
}

/* ------------------------------------------------------------------ */
/* Worlds                                                              */
/* ------------------------------------------------------------------ */

static void *map_guarded(size_t size)
{
	unsigned char *p = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	if (mprotect(p + size, PAGE, PROT_NONE))
		tap_bail("mprotect: %s", strerror(errno));
	return p;
}

static void put_file(const char *dir, const char *name, uint64_t *r)
{
	char path[128];
	size_t n = rn(r, 12000), i;
	unsigned char *b = malloc(n + 1);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (i = 0; i < n; i++)
		b[i] = (unsigned char)td_rnd(r);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n)
		tap_bail("%s: %s", path, strerror(errno));
	close(fd);
	free(b);
}

static int open_at(struct world *w, const char *name, int flags)
{
	int fd = openat(w->fd[S_DIR], name, flags);

	if (fd < 0)
		tap_bail("open %s: %s", name, strerror(errno));
	return fd;
}

static void tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (void *)&a, &len))
		tap_bail("tcp listener: %s", strerror(errno));
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0 || connect(sv[0], (void *)&a, sizeof(a)))
		tap_bail("tcp connect: %s", strerror(errno));
	sv[1] = accept(l, NULL, NULL);
	if (sv[1] < 0)
		tap_bail("tcp accept: %s", strerror(errno));
	close(l);
}

static void world_make(struct world *w, uint64_t seed)
{
	uint64_t r = seed * 0x9e3779b97f4a7c15ull + 1;
	char path[128];
	int p[2], i;

	strcpy(w->dir, "/tmp/ksvc-diff.XXXXXX");
	if (!mkdtemp(w->dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	put_file(w->dir, "a", &r);
	put_file(w->dir, "b", &r);
	put_file(w->dir, "c", &r);
	snprintf(path, sizeof(path), "%s/sub", w->dir);
	if (mkdir(path, 0755))
		tap_bail("mkdir: %s", strerror(errno));
	put_file(w->dir, "sub/e", &r);
	/* attributes to read and replace (where the file system takes
	 * them: if not, in neither world) */
	snprintf(path, sizeof(path), "%s/a", w->dir);
	setxattr(path, "user.a", "alpha", 5, 0);
	snprintf(path, sizeof(path), "%s/sub", w->dir);
	setxattr(path, "user.b", "beta", 4, 0);
	snprintf(path, sizeof(path), "%s/l", w->dir);
	if (symlink("a", path))
		tap_bail("symlink: %s", strerror(errno));
	for (i = 0; i < NSLOT; i++) {
		w->fd[i] = CLOSED_FD;
		w->kind[i] = K_NONE;
	}
	w->fd[S_DIR] = open(w->dir, O_RDONLY | O_DIRECTORY);
	if (w->fd[S_DIR] < 0)
		tap_bail("open %s: %s", w->dir, strerror(errno));
	w->kind[S_DIR] = K_DIR;
	w->fd[S_F0] = open_at(w, "a", O_RDWR);
	w->fd[S_F1] = open_at(w, "a", O_WRONLY | O_APPEND);
	w->fd[S_F2] = open_at(w, "b", O_RDONLY);
	w->fd[S_F3] = open_at(w, "c", O_RDWR | O_NONBLOCK);
	for (i = S_F0; i <= S_F3; i++)
		w->kind[i] = K_FILE;
	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
	w->fd[S_P1R] = p[0];
	w->fd[S_P1W] = p[1];
	if (pipe2(p, O_NONBLOCK))
		tap_bail("pipe2: %s", strerror(errno));
	w->fd[S_P2R] = p[0];
	w->fd[S_P2W] = p[1];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, p))
		tap_bail("socketpair: %s", strerror(errno));
	w->fd[S_UA] = p[0];
	w->fd[S_UB] = p[1];
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, p))
		tap_bail("socketpair: %s", strerror(errno));
	w->fd[S_DA] = p[0];
	w->fd[S_DB] = p[1];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, p))
		tap_bail("socketpair: %s", strerror(errno));
	w->fd[S_QA] = p[0];
	w->fd[S_QB] = p[1];
	tcp_pair(p);
	w->fd[S_TA] = p[0];
	w->fd[S_TB] = p[1];
	for (i = S_P1R; i <= S_P2W; i++)
		w->kind[i] = K_PIPE;
	for (i = S_UA; i <= S_TB; i++)
		w->kind[i] = K_SOCK;
	w->fd[S_EV] = eventfd(0, 0);
	w->kind[S_EV] = K_EVENT;
	w->fd[S_EP] = epoll_create1(0);
	w->kind[S_EP] = K_EPOLL;
	w->fd[S_ZERO] = open("/dev/zero", O_RDWR);
	w->fd[S_NULL] = open("/dev/null", O_RDWR);
	w->kind[S_ZERO] = w->kind[S_NULL] = K_DEV;
	for (i = 0; i < 4; i++) {
		static const char *const sn[4] = { "sock", "s", "sub/s", "a" };

		w->sun[i].sun_family = AF_UNIX;
		snprintf(w->sun[i].sun_path, sizeof(w->sun[i].sun_path),
			 "%s/%s", w->dir, sn[i]);
	}
	w->fd[S_LSN] = socket(AF_UNIX, SOCK_STREAM, 0);
	if (w->fd[S_LSN] < 0 ||
	    bind(w->fd[S_LSN], (void *)&w->sun[0], sizeof(w->sun[0])) ||
	    listen(w->fd[S_LSN], 128))
		tap_bail("unix listener: %s", strerror(errno));
	w->kind[S_LSN] = K_SOCK;
	w->fd[S_USK] = socket(AF_UNIX, SOCK_STREAM, 0);
	w->kind[S_USK] = K_SOCK;
	w->fd[S_BAD] = -1;
	for (i = 0; i < NSLOT; i++)
		if (w->fd[i] < 0 && i != S_BAD)
			tap_bail("world %s: slot %s: %s", w->name,
				 slot_names[i], strerror(errno));
}

static void rm_tree(const char *path)
{
	struct dirent *de;
	char sub[512];
	DIR *dir = opendir(path);

	if (dir) {
		while ((de = readdir(dir))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (de->d_type == DT_DIR)
				rm_tree(sub);
			else
				unlink(sub);
		}
		closedir(dir);
	}
	rmdir(path);
}

static void world_free(struct world *w)
{
	int i;

	for (i = 0; i < NSLOT; i++)
		if (w->fd[i] >= 0 && w->fd[i] != CLOSED_FD)
			close(w->fd[i]);
	rm_tree(w->dir);
}

/* ------------------------------------------------------------------ */
/* Can a step block?                                                   */
/* ------------------------------------------------------------------ */

static int w_fl(struct world *w, int s)
{
	return fcntl(w->fd[s], F_GETFL);
}

static int w_poll(struct world *w, int s, short ev)
{
	struct pollfd p = { .fd = w->fd[s], .events = ev };

	if (w->fd[s] < 0 || w->fd[s] == CLOSED_FD)
		return POLLNVAL;
	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static int w_ioctl(struct world *w, int s, unsigned long req)
{
	int n = 0;

	if (s < 0 || w->fd[s] < 0 || w->fd[s] == CLOSED_FD ||
	    ioctl(w->fd[s], req, &n))
		return 0;
	return n;
}

/* A socket option of slot @s, or -1. */
static int sock_opt(struct world *w, int s, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (w->fd[s] < 0 || w->fd[s] == CLOSED_FD ||
	    getsockopt(w->fd[s], SOL_SOCKET, opt, &v, &len))
		return -1;
	return v;
}

/* Streams that may make a reader or a writer wait. */
static int may_wait(struct world *w, int s)
{
	int k = w->kind[s];

	return k == K_PIPE || k == K_SOCK || k == K_EVENT;
}

/* A read of @len bytes from slot @s cannot block. */
static int read_safe(struct world *w, int s, int nowait, __u64 len,
		     int waitall)
{
	int fl;

	if (w->fd[s] < 0 || w->fd[s] == CLOSED_FD || !may_wait(w, s))
		return 1;
	fl = w_fl(w, s);
	if (nowait || (fl >= 0 && (fl & O_NONBLOCK)) ||
	    (fl >= 0 && (fl & O_ACCMODE) == O_WRONLY))
		return 1;
	if (!w_poll(w, s, POLLIN))
		return 0;
	/* A write that faults can leave an empty buffer in a pipe (seen
	 * on 6.12): poll(2) says readable, and a read waits.  Ask for
	 * bytes, or for the writers to be gone. */
	if (w->kind[s] == K_PIPE && w_ioctl(w, s, FIONREAD) <= 0 &&
	    !(w_poll(w, s, POLLIN) & POLLHUP))
		return 0;
	/* MSG_WAITALL waits for the whole count on a stream socket */
	if (waitall && w->kind[s] == K_SOCK &&
	    sock_opt(w, s, SO_TYPE) == SOCK_STREAM &&
	    (__u64)w_ioctl(w, s, FIONREAD) < len &&
	    !(w_poll(w, s, POLLRDHUP) & (POLLRDHUP | POLLHUP | POLLERR)))
		return 0;
	return 1;
}

/* A write of @len bytes to slot @s cannot block. */
static int write_safe(struct world *w, int s, int nowait, __u64 len,
		      int vectored)
{
	int fl, peer = peer_of(s);

	if (w->fd[s] < 0 || w->fd[s] == CLOSED_FD || !may_wait(w, s))
		return 1;
	fl = w_fl(w, s);
	if (nowait || (fl >= 0 && (fl & O_NONBLOCK)) ||
	    (fl >= 0 && (fl & O_ACCMODE) == O_RDONLY))
		return 1;
	if (w->kind[s] == K_EVENT)
		/* only the small counts the write area starts with */
		return !vectored && w_poll(w, s, POLLOUT);
	if (!w_poll(w, s, POLLOUT))
		return 0;
	if (w->kind[s] == K_PIPE && len > PAGE)
		return 0;	/* one free pipe buffer takes one page */
	if (len > 8192 ||
	    (peer >= 0 && w_ioctl(w, peer, FIONREAD) > PEND_MAX))
		return 0;
	if (w->kind[s] == K_SOCK && w_ioctl(w, s, SIOCOUTQ) > OUTQ_MAX)
		return 0;
	return 1;
}

static __u64 iov_sum(const struct op *o)
{
	__u64 n = 0;
	int i;

	for (i = 0; i < o->niov && i < 4; i++)
		n += o->iov[i].len;
	return n;
}

/* The step @o cannot block in world @w. */
static int step_safe(struct world *w, const struct op *o)
{
	int nowait_rwf = (o->flags & RWF_NOWAIT) != 0;
	int dontwait = (o->flags & MSG_DONTWAIT) != 0;
	__u64 len = o->len;

	switch (o->op) {
	case OP_READ:
		return read_safe(w, o->s0, 0, len, 0);
	case OP_READV:
		return read_safe(w, o->s0, 0, iov_sum(o), 0);
	case OP_PREADV2:
		return read_safe(w, o->s0, nowait_rwf, iov_sum(o), 0);
	case OP_RECVFROM:
		return read_safe(w, o->s0, dontwait, len,
				 (o->flags & MSG_WAITALL) != 0);
	case OP_RECVMSG:
		return read_safe(w, o->s0, dontwait, iov_sum(o),
				 (o->flags & MSG_WAITALL) != 0);
	case OP_ACCEPT4:
		/* only a listener waits: until it is readable, which says
		 * that a connection is queued */
		if (w->kind[o->s0] != K_SOCK ||
		    sock_opt(w, o->s0, SO_ACCEPTCONN) != 1)
			return 1;
		return read_safe(w, o->s0, 0, 0, 0);
	case OP_WRITE:
		return write_safe(w, o->s0, 0, len, 0);
	case OP_WRITEV:
		return write_safe(w, o->s0, 0, iov_sum(o), 1);
	case OP_PWRITEV2:
		return write_safe(w, o->s0, nowait_rwf, iov_sum(o), 1);
	case OP_SENDTO:
		return write_safe(w, o->s0, dontwait, len, 0);
	case OP_SENDMSG:
		return write_safe(w, o->s0, dontwait, iov_sum(o), 1);
	case OP_SPLICE:
	case OP_TEE:
		/* SPLICE_F_NONBLOCK makes only the pipe side wait-free:
		 * ask both ends regardless */
		return read_safe(w, o->s0, 0, 0, 0) &&
		       write_safe(w, o->s1, 0, len > 8192 ? 8192 : len, 1) &&
		       (!may_wait(w, o->s1) || w->kind[o->s1] != K_PIPE ||
			w_poll(w, o->s1, POLLOUT));
	}
	return 1;
}

/*
 * TCP over loopback hands data over in softirq context, mostly before
 * send returns, but a loaded machine can leave it to ksoftirqd: wait
 * (at most 200 ms) until each end has its data acknowledged, so that
 * both worlds look at delivered data.
 */
static void settle_tcp(struct world *w)
{
	uint64_t end = td_now_ms() + 200;
	int s;

	for (s = S_TA; s <= S_TB; s++)
		while (w->fd[s] >= 0 && w->fd[s] != CLOSED_FD &&
		       !(w_poll(w, s, 0) & (POLLHUP | POLLERR)) &&
		       w_ioctl(w, s, SIOCOUTQ) > 0 && td_now_ms() < end)
			usleep(100);
}

/* ------------------------------------------------------------------ */
/* Running a step                                                      */
/* ------------------------------------------------------------------ */

static const void *path_of(int p)
{
	if (p < P_NULL)
		return paths[p];
	if (p == P_NULL)
		return NULL;
	if (p == P_ONE)
		return (void *)1;
	return long_name;
}

/* A buffer of @kind: a world's read area, or the shared write data. */
static void *buf_of(struct world *w, int kind, int rd, size_t at)
{
	unsigned char *base = rd ? w->rbuf : wbuf;
	size_t size = rd ? RBUF : WBUF;

	switch (kind) {
	case B_GOOD:
		return base + at;
	case B_HALF:
		return base + size - HALFGOOD;
	case B_NULL:
		return NULL;
	case B_ONE:
		return (void *)1;
	}
	return none_page;
}

/*
 * The documented rule: "A read at the file position of a regular file
 * that a bad buffer ... cuts short returns the bytes read but, on some
 * kernels (6.1, 6.18), leaves the position where it was".  Such a read
 * gets a buffer that faults at its first byte instead (see
 * fix_pos_read()).
 */
static int pos_read_of_file(struct world *w, const struct op *o)
{
	int s = o->s0;

	if (o->op != OP_READ && o->op != OP_READV &&
	    !(o->op == OP_PREADV2 && o->off == -1))
		return 0;
	return w->kind[s] == K_FILE;
}

/* Does a buffer of @kind and @len, at @at of an area of @size, fault? */
static int overruns(int kind, __u64 at, __u64 len, __u64 size)
{
	if (!len)
		return 0;
	if (kind == B_GOOD)
		return at + len > size;
	return kind != B_HALF || len > HALFGOOD;
}

/* Could the read run off its buffer into unmapped memory? */
static int cut_short(const struct op *o)
{
	int i;

	if (o->op == OP_READ)
		return overruns(o->buf, 0, o->len, RBUF);
	for (i = 0; i < o->niov && i < 4; i++)
		if (overruns(o->iov[i].buf, (__u64)i * 8192, o->iov[i].len,
			     RBUF))
			return 1;
	return 0;
}

static struct iovec *fill_iov(struct world *w, const struct op *o, int rd)
{
	int i;

	if (o->iovp != B_GOOD)
		return buf_of(w, o->iovp, rd, 0);
	for (i = 0; i < 4; i++) {
		w->iov[i].iov_base = buf_of(w, o->iov[i].buf, rd,
					    (size_t)i * (rd ? 8192 : 4096));
		w->iov[i].iov_len = o->iov[i].len;
	}
	/* past the first four (IOV_MAX + 1): single bytes of the area */
	for (i = 4; i < NIOV_MAX; i++) {
		w->iov[i].iov_base = rd ? w->rbuf : wbuf;
		w->iov[i].iov_len = 1;
	}
	return w->iov;
}

static const void *addr_of(__u64 x, socklen_t *len)
{
	static const socklen_t lens[] = { 16, 0, 2, 200 };

	if (!x) {
		*len = 0;
		return NULL;
	}
	*len = lens[(x - 1) % 4];
	return &addr_in;
}

/* Address @x of bind and connect (see draw()). */
static const void *sun_of(struct world *w, __u64 x, socklen_t *len)
{
	static struct sockaddr_in any;

	if (x < 4) {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				   strlen(w->sun[x].sun_path) + 1);
		return &w->sun[x];
	}
	*len = x == 4 ? sizeof(sa_family_t) : x == 5 ? 0 : x == 6 ? 200 :
	       x == 7 ? sizeof(struct sockaddr_un) : sizeof(any);
	if (x == 7)
		return NULL;
	if (x == 8) {
		any.sin_family = AF_INET;
		any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return &any;
	}
	return &w->sun[0];
}

/*
 * An AF_UNIX name that a call wrote at @sa (128 bytes) holds the world's
 * directory (bind to "s"), or an autobind's random abstract name: put
 * the same bytes there in both worlds.
 */
static void mask_name(struct world *w, unsigned char *sa)
{
	struct sockaddr_un *un = (void *)sa;
	size_t n = strlen(w->dir);

	if (un->sun_family != AF_UNIX)
		return;
	if (un->sun_path[0] == 0)
		memset(un->sun_path + 1, 'A', 5);
	else if (!strncmp(un->sun_path, w->dir, n))
		memset(un->sun_path, 'D', n);
}

/* Path @p as an absolute path in world @w (getxattr, setxattr). */
static const char *abs_path(struct world *w, int p)
{
	if (p >= P_NULL)
		return path_of(p);
	snprintf(w->path, sizeof(w->path), "%s/%s", w->dir, paths[p]);
	return w->path;
}

static const char *xname_of(int x)
{
	if (x < X_BAD + 2)
		return xnames[x];
	return x == X_BAD + 2 ? long_xname : NULL;
}

static void run_step(struct world *w, const struct op *o, struct res *res)
{
	int fd0 = w->fd[o->s0], fd1 = w->fd[o->s1];
	int rd = o->op == OP_READ || o->op == OP_PREAD ||
		 o->op == OP_READV || o->op == OP_PREADV ||
		 o->op == OP_PREADV2 || o->op == OP_RECVFROM ||
		 o->op == OP_RECVMSG;
	int bad_pos_read = pos_read_of_file(w, o) && cut_short(o);
	void *buf = buf_of(w, bad_pos_read ? B_NONE : o->buf, rd, 0);
	struct iovec *iov;
	socklen_t alen;
	const void *addr;
	long r = -ENOSYS;

	memset(res, 0, sizeof(*res));
	switch (o->op) {
	case OP_READ:
		r = call6(w, SYS_read, I(fd0), U(buf), o->len, 0, 0, 0);
		break;
	case OP_WRITE:
		r = call6(w, SYS_write, I(fd0), U(buf), o->len, 0, 0, 0);
		break;
	case OP_PREAD:
		r = call6(w, SYS_pread64, I(fd0), U(buf), o->len, I(o->off),
			  0, 0);
		break;
	case OP_PWRITE:
		r = call6(w, SYS_pwrite64, I(fd0), U(buf), o->len, I(o->off),
			  0, 0);
		break;
	case OP_READV:
	case OP_WRITEV:
	case OP_PREADV:
	case OP_PWRITEV:
	case OP_PREADV2:
	case OP_PWRITEV2: {
		static const long nrs[] = {
			SYS_readv, SYS_writev, SYS_preadv, SYS_pwritev,
			SYS_preadv2, SYS_pwritev2,
		};
		iov = fill_iov(w, o, rd);
		if (bad_pos_read)
			iov = (void *)none_page;
		r = call6(w, nrs[o->op - OP_READV], I(fd0), U(iov),
			  I(o->niov), I(o->off), 0, o->flags);
		break;
	}
	case OP_LSEEK:
		r = call6(w, SYS_lseek, I(fd0), I(o->off), o->flags, 0, 0, 0);
		break;
	case OP_FSYNC:
		r = call6(w, SYS_fsync, I(fd0), 0, 0, 0, 0, 0);
		break;
	case OP_FDATASYNC:
		r = call6(w, SYS_fdatasync, I(fd0), 0, 0, 0, 0, 0);
		break;
	case OP_FALLOCATE:
		r = call6(w, SYS_fallocate, I(fd0), o->flags, I(o->off),
			  o->len, 0, 0);
		break;
	case OP_FTRUNCATE:
		r = call6(w, SYS_ftruncate, I(fd0), I(o->off), 0, 0, 0, 0);
		break;
	case OP_OPENAT:
		r = call6(w, SYS_openat, I(fd0), U(path_of(o->p0)), o->flags,
			  o->x, 0, 0);
		break;
	case OP_CLOSE:
		r = call6(w, SYS_close, I(fd0), 0, 0, 0, 0, 0);
		break;
	case OP_STATX:
		r = call6(w, SYS_statx, I(fd0), U(path_of(o->p0)), o->flags,
			  o->x, U(buf_of(w, o->buf, 1, RIO)), 0);
		if (r == 0 && o->buf == B_GOOD) {
			struct statx *st = (void *)(w->rbuf + RIO);

			/* what differs between two worlds made alike */
			st->stx_ino = 0;
			memset(&st->stx_atime, 0, sizeof(st->stx_atime));
			memset(&st->stx_btime, 0, sizeof(st->stx_btime));
			memset(&st->stx_ctime, 0, sizeof(st->stx_ctime));
			memset(&st->stx_mtime, 0, sizeof(st->stx_mtime));
		}
		break;
	case OP_RENAME:
		r = call6(w, SYS_renameat2, I(fd0), U(path_of(o->p0)), I(fd1),
			  U(path_of(o->p1)), o->flags, 0);
		break;
	case OP_UNLINK:
		r = call6(w, SYS_unlinkat, I(fd0), U(path_of(o->p0)), o->flags,
			  0, 0, 0);
		break;
	case OP_MKDIR:
		r = call6(w, SYS_mkdirat, I(fd0), U(path_of(o->p0)), o->x, 0,
			  0, 0);
		break;
	case OP_LINK:
		r = call6(w, SYS_linkat, I(fd0), U(path_of(o->p0)), I(fd1),
			  U(path_of(o->p1)), o->flags, 0);
		break;
	case OP_SYMLINK:
		r = call6(w, SYS_symlinkat, U(path_of(o->p0)), I(fd0),
			  U(path_of(o->p1)), 0, 0, 0);
		break;
	case OP_SENDTO:
		addr = addr_of(o->x, &alen);
		r = call6(w, SYS_sendto, I(fd0), U(buf), o->len, o->flags,
			  U(addr), alen);
		break;
	case OP_RECVFROM: {
		socklen_t *lenp = (void *)(w->rbuf + RIO + 1024);

		*lenp = (socklen_t)(o->x == 2 ? 0 : 128);
		r = call6(w, SYS_recvfrom, I(fd0), U(buf), o->len, o->flags,
			  o->x ? U(w->rbuf + RIO + 512) : 0,
			  o->x ? U(lenp) : 0);
		mask_name(w, w->rbuf + RIO + 512);
		break;
	}
	case OP_SENDMSG:
	case OP_RECVMSG: {
		struct msghdr *m = &w->msg;

		memset(m, 0, sizeof(*m));
		m->msg_iov = fill_iov(w, o, rd);
		m->msg_iovlen = (size_t)(__s64)o->niov;
		if (rd) {
			m->msg_name = o->x ? w->rbuf + RIO + 512 : NULL;
			m->msg_namelen = o->x == 2 ? 0 : o->x ? 128 : 0;
		} else {
			m->msg_name = (void *)addr_of(o->x, &alen);
			m->msg_namelen = alen;
		}
		if (o->p0 == 1) {
			m->msg_control = (void *)1;
			m->msg_controllen = 64;
		} else if (o->p0 == 2 && rd) {
			m->msg_control = w->rbuf + RIO + 2048;
			m->msg_controllen = 8;	/* too small for a header */
		}
		r = call6(w, rd ? SYS_recvmsg : SYS_sendmsg, I(fd0),
			  o->iovp == B_GOOD ? U(m) :
			  U(buf_of(w, o->iovp, 1, 0)), o->flags, 0, 0, 0);
		if (rd)
			mask_name(w, w->rbuf + RIO + 512);
		res->namelen = m->msg_namelen;
		res->controllen = m->msg_controllen;
		res->msg_flags = m->msg_flags;
		break;
	}
	case OP_SHUTDOWN:
		r = call6(w, SYS_shutdown, I(fd0), o->flags, 0, 0, 0, 0);
		break;
	case OP_EPOLL_CTL:
		w->ev.events = (__u32)o->x;
		w->ev.data.u64 = (__u64)o->s1;
		r = call6(w, SYS_epoll_ctl, I(fd0), o->flags, I(fd1),
			  o->buf == B_GOOD ? U(&w->ev) :
			  U(buf_of(w, o->buf, 1, 0)), 0, 0);
		break;
	case OP_SPLICE:
		r = call6(w, SYS_splice, I(fd0), 0, I(fd1), 0, o->len,
			  o->flags);
		break;
	case OP_TEE:
		r = call6(w, SYS_tee, I(fd0), I(fd1), o->len, o->flags, 0, 0);
		break;
	case OP_GETSOCKOPT: {
		socklen_t *lenp = (void *)(w->rbuf + RIO + 1024);

		*lenp = (socklen_t)o->len;
		r = call6(w, SYS_getsockopt, I(fd0), o->flags, o->x,
			  U(buf_of(w, o->buf, 1, RIO)), U(lenp), 0);
		break;
	}
	case OP_SETFL:
		r = call6(w, SYS_fcntl, I(fd0), F_SETFL, o->flags, 0, 0, 0);
		break;
	case OP_SOCKET:
		r = call6(w, SYS_socket, o->flags, o->x, o->len, 0, 0, 0);
		break;
	case OP_BIND:
	case OP_CONNECT:
		addr = sun_of(w, o->x, &alen);
		r = call6(w, o->op == OP_BIND ? SYS_bind : SYS_connect, I(fd0),
			  U(addr), alen, 0, 0, 0);
		break;
	case OP_LISTEN:
		r = call6(w, SYS_listen, I(fd0), o->flags, 0, 0, 0, 0);
		break;
	case OP_ACCEPT4: {
		unsigned char *sa = w->rbuf + RIO + 512;
		socklen_t *lenp = (void *)(w->rbuf + RIO + 1024);

		*lenp = o->x == 2 ? 0 : 128;
		r = call6(w, SYS_accept4, I(fd0),
			  o->x == 0 ? 0 : o->x == 3 ? 1 : U(sa),
			  o->x == 0 ? 0 : o->x == 4 ? 1 : U(lenp), o->flags,
			  0, 0);
		mask_name(w, sa);
		break;
	}
	case OP_SYNC_RANGE:
		r = call6(w, SYS_sync_file_range, I(fd0), I(o->off), o->len,
			  o->flags, 0, 0);
		break;
	case OP_FADVISE:
		r = call6(w, SYS_fadvise64, I(fd0), I(o->off), o->len, o->flags,
			  0, 0);
		break;
	case OP_MADVISE: {
		unsigned char *at[] = {
			w->rbuf, w->rbuf + 1, w->rbuf + RBUF, NULL,
			(void *)-(uintptr_t)PAGE,
		};
		r = call6(w, SYS_madvise, U(at[o->x]), o->len, o->flags, 0, 0,
			  0);
		break;
	}
	case OP_FSETXATTR:
	case OP_SETXATTR:
		r = call6(w, o->op == OP_SETXATTR ? SYS_setxattr :
			  SYS_fsetxattr, o->op == OP_SETXATTR ?
			  U(abs_path(w, o->p0)) : I(fd0), U(xname_of(o->p1)),
			  U(buf_of(w, o->buf, 0, 0)), o->len, o->flags, 0);
		break;
	case OP_FGETXATTR:
	case OP_GETXATTR:
		r = call6(w, o->op == OP_GETXATTR ? SYS_getxattr :
			  SYS_fgetxattr, o->op == OP_GETXATTR ?
			  U(abs_path(w, o->p0)) : I(fd0), U(xname_of(o->p1)),
			  U(buf_of(w, o->buf, 1, 0)), o->len, 0, 0);
		break;
	case OP_OPENAT2: {
		struct open_how *how = (void *)(w->rbuf + RIO + 3072);

		memset(how, 0, 40);
		how->flags = o->flags;
		how->mode = o->x;
		how->resolve = (__u64)o->off;
		if (o->len == 33)
			((unsigned char *)how)[32] = 1;
		r = call6(w, SYS_openat2, I(fd0), U(path_of(o->p0)),
			  o->buf == B_GOOD ? U(how) :
			  U(buf_of(w, o->buf, 1, 0)), o->len, 0, 0);
		break;
	}
	case OP_CLOSE_RANGE:
		r = call6(w, SYS_close_range, I(fd0), I(fd0 - (int)o->x),
			  o->flags, 0, 0, 0);
		break;
	case OP_FUTEX: {
		static const struct {
			int op;
			__u32 val;
			int ts;		/* 0 none, 1 {0, 0}, 2 bad, 3 {-1, 0} */
			int addr;	/* 0 the word, 1 word + 1, 2 NULL */
		} fx[10] = {
			{ FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0, 0 },
			{ FUTEX_WAKE, 0x7fffffff, 0, 0 },
			{ FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1, 0, 0 },
			{ FUTEX_WAIT, 0, 1, 0 },
			{ FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, 2, 0 },
			{ FUTEX_WAIT, 0, 3, 0 },
			{ 99, 0, 0, 0 },
			{ FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, 0, 1 },
			{ FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 0, 1, 2 },
			{ FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, 1, 0 },
		};
		const unsigned char *word = (void *)&w->futex;

		w->futex = 0;
		w->ts.tv_sec = fx[o->x].ts == 3 ? -1 : 0;
		w->ts.tv_nsec = 0;
		/* FUTEX_WAIT_BITSET takes an absolute time: 0 is past;
		 * its bitset (the 6th argument) is 0: EINVAL */
		r = call6(w, SYS_futex, fx[o->x].addr == 0 ? U(word) :
			  fx[o->x].addr == 1 ? U(word + 1) : 0,
			  (__u64)fx[o->x].op, fx[o->x].val,
			  fx[o->x].ts == 0 ? 0 : fx[o->x].ts == 2 ? 1 :
			  U(&w->ts), 0, 0);
		break;
	}
	case OP_WAITID: {
		static const int idt[] = { P_ALL, P_PID, P_PGID, 99, P_PIDFD };

		r = call6(w, SYS_waitid, (__u64)idt[o->x],
			  o->x == 4 ? I(fd0) : o->x == 1 ? 1 : 0,
			  U(buf_of(w, o->buf, 1, RIO)), o->flags, 0, 0);
		break;
	}
	}
	res->ret = r;
}

static int kind_of_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return K_NONE;
	if (S_ISREG(st.st_mode))
		return K_FILE;
	if (S_ISDIR(st.st_mode))
		return K_DIR;
	return K_DEV;	/* O_PATH of a link, a whiteout: nothing waits */
}

/* The step returns a new descriptor. */
static int opens_fd(const struct op *o)
{
	return o->op == OP_OPENAT || o->op == OP_OPENAT2 ||
	       o->op == OP_SOCKET || o->op == OP_ACCEPT4;
}

/* After a step that both worlds ran alike: descriptors opened, closed. */
static void book(struct world *w, const struct op *o, long ret)
{
	int i, sock;

	if (opens_fd(o) && ret >= 0) {
		/* sockets from the last slot down, files from the first */
		sock = o->op == OP_SOCKET || o->op == OP_ACCEPT4;
		for (i = sock ? NSLOT - 1 : S_DYN0; i >= S_DYN0 && i < NSLOT;
		     i += sock ? -1 : 1)
			if (w->fd[i] == CLOSED_FD)
				break;
		if (i < S_DYN0 || i == NSLOT) {
			close((int)ret);	/* no room: not kept */
			return;
		}
		w->fd[i] = (int)ret;
		w->kind[i] = sock ? K_SOCK : kind_of_fd((int)ret);
	}
	if ((o->op == OP_CLOSE && ret == 0) ||
	    (o->op == OP_CLOSE_RANGE && ret == 0 && !o->flags &&
	     w->fd[o->s0] >= 0)) {
		w->fd[o->s0] = CLOSED_FD;
		w->kind[o->s0] = K_NONE;
	}
}

/* ------------------------------------------------------------------ */
/* The state of a world, as text                                       */
/* ------------------------------------------------------------------ */

struct text {
	char *p;
	size_t len, cap;
};

static void say(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (size_t)n + 64;
		t->p = realloc(t->p, t->cap);
		if (!t->p)
			tap_bail("out of memory");
	}
	t->len += (size_t)n;
}

static uint64_t fnv(int fd, off_t *size)
{
	unsigned char b[8192];
	uint64_t h = 0xcbf29ce484222325ull;
	ssize_t n, i;

	*size = 0;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (i = 0; i < n; i++)
			h = (h ^ b[i]) * 0x100000001b3ull;
		*size += n;
		if (*size > (1 << 24))
			break;	/* enough to tell */
	}
	return h;
}

/* The extended attributes of @path (not followed), hashed. */
static void say_xattrs(struct text *t, const char *path, const char *rel)
{
	char names[1024], val[512];
	ssize_t n, i, k, j;
	uint64_t h;

	n = llistxattr(path, names, sizeof(names));
	if (n < 0 && errno != ENOTSUP)
		say(t, "%s: llistxattr %d\n", rel, errno);
	for (i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
		k = lgetxattr(path, names + i, val, sizeof(val));
		h = 0xcbf29ce484222325ull;
		for (j = 0; j < k; j++)
			h = (h ^ (unsigned char)val[j]) * 0x100000001b3ull;
		say(t, "%s: xattr %s len %zd hash %016llx\n", rel, names + i,
		    k < 0 ? -(ssize_t)errno : k, (unsigned long long)h);
	}
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void say_tree(struct text *t, const char *top, const char *rel,
		     int depth)
{
	struct dirent **de;
	char path[1024], sub[512], link[256];
	struct stat st;
	int n, i, fd;

	snprintf(path, sizeof(path), "%s%s%s", top, *rel ? "/" : "", rel);
	n = scandir(path, &de, NULL, by_name);
	if (n < 0) {
		say(t, "%s: scandir %d\n", rel, errno);
		return;
	}
	for (i = 0; i < n; i++) {
		const char *nm = de[i]->d_name;

		if (!strcmp(nm, ".") || !strcmp(nm, "..")) {
			free(de[i]);
			continue;
		}
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", nm);
		snprintf(path, sizeof(path), "%s/%s", top, sub);
		if (lstat(path, &st)) {
			say(t, "%s: lstat %d\n", sub, errno);
		} else if (S_ISREG(st.st_mode)) {
			off_t got;
			uint64_t h = 0;

			fd = open(path, O_RDONLY | O_NOATIME);
			if (fd >= 0) {
				h = fnv(fd, &got);
				close(fd);
			}
			say(t, "%s: file %o nlink %lu size %lld hash %016llx\n",
			    sub, st.st_mode & 07777, (unsigned long)st.st_nlink,
			    (long long)st.st_size, (unsigned long long)h);
			say_xattrs(t, path, sub);
		} else if (S_ISDIR(st.st_mode)) {
			say(t, "%s: dir %o nlink %lu\n", sub,
			    st.st_mode & 07777, (unsigned long)st.st_nlink);
			say_xattrs(t, path, sub);
			if (depth < 4)
				say_tree(t, top, sub, depth + 1);
		} else if (S_ISLNK(st.st_mode)) {
			ssize_t k = readlink(path, link, sizeof(link) - 1);

			link[k > 0 ? k : 0] = 0;
			say(t, "%s: symlink -> %s\n", sub, link);
		} else {
			say(t, "%s: mode %o rdev %lx\n", sub, st.st_mode,
			    (unsigned long)st.st_rdev);
		}
		free(de[i]);
	}
	free(de);
}

/* The epoll interest list, by slot (data) and events. */
static void say_epoll(struct text *t, struct world *w)
{
	char path[64], line[256];
	unsigned long long data[64];
	unsigned int ev[64], n = 0, i, j, e;
	unsigned long long dt;
	FILE *f;

	if (w->fd[S_EP] < 0 || w->fd[S_EP] == CLOSED_FD)
		return;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", w->fd[S_EP]);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n < 64)
		if (sscanf(line, "tfd: %*d events: %x data: %llx", &e, &dt) == 2) {
			ev[n] = e;
			data[n++] = dt;
		}
	fclose(f);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (data[j] < data[i]) {
				dt = data[i]; data[i] = data[j]; data[j] = dt;
				e = ev[i]; ev[i] = ev[j]; ev[j] = e;
			}
	for (i = 0; i < n; i++)
		say(t, "epoll: %s events %x\n",
		    data[i] < NSLOT ? slot_names[data[i]] : "?", ev[i]);
}

static void snapshot(struct world *w, struct text *t)
{
	int s;

	t->len = 0;
	say(t, "%s", "");
	for (s = 0; s < NSLOT; s++) {
		int fd = w->fd[s], fl, in;
		off_t pos;

		if (fd < 0 || fd == CLOSED_FD) {
			say(t, "%s: %s\n", slot_names[s],
			    fd < 0 ? "-1" : "closed");
			continue;
		}
		fl = fcntl(fd, F_GETFL);
		pos = lseek(fd, 0, SEEK_CUR);
		if (pos < 0)
			pos = -errno;
		in = 0;
		if (ioctl(fd, FIONREAD, &in))
			in = -errno;
		say(t, "%s: kind %d flags %#x fd flags %#x pos %lld inq %d "
		    "poll %#x\n", slot_names[s], w->kind[s], fl,
		    fcntl(fd, F_GETFD), (long long)pos, in,
		    w_poll(w, s, POLLIN | POLLOUT | POLLPRI | POLLRDHUP));
		/* the pairs' type, domain and peer are fixed */
		if (w->kind[s] == K_SOCK && s >= S_LSN) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int peer = getpeername(fd, (void *)&ss, &len) ?
				   -errno : (int)len;

			say(t, "%s: type %d domain %d listening %d peer %d\n",
			    slot_names[s], sock_opt(w, s, SO_TYPE),
			    sock_opt(w, s, SO_DOMAIN),
			    sock_opt(w, s, SO_ACCEPTCONN), peer);
		}
	}
	say_epoll(t, w);
	say_xattrs(t, w->dir, ".");
	say_tree(t, w->dir, "", 0);
}

/* The first line where @a and @b differ, in @out. */
static void first_diff(const char *a, const char *b, char *out, size_t n)
{
	const char *ea, *eb;

	while (*a && *b) {
		ea = strchrnul(a, '\n');
		eb = strchrnul(b, '\n');
		if (ea - a != eb - b || memcmp(a, b, (size_t)(ea - a)))
			break;
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
	}
	snprintf(out, n, "direct \"%.*s\", dispatcher \"%.*s\"",
		 (int)(strchrnul(a, '\n') - a), a,
		 (int)(strchrnul(b, '\n') - b), b);
}

/* ------------------------------------------------------------------ */
/* A sequence                                                          */
/* ------------------------------------------------------------------ */

static void describe(const struct op *o, char *out, size_t n)
{
	char iov[160] = "";
	int i, k = 0;

	if (o->op == OP_READV || o->op == OP_WRITEV ||
	    (o->op >= OP_PREADV && o->op <= OP_PWRITEV2) ||
	    o->op == OP_SENDMSG || o->op == OP_RECVMSG) {
		k = snprintf(iov, sizeof(iov), " iov %s n %d {", buf_names[o->iovp],
			     o->niov);
		for (i = 0; i < 4 && i < o->niov && k < (int)sizeof(iov); i++)
			k += snprintf(iov + k, sizeof(iov) - (size_t)k,
				      "%s%s:%u", i ? "," : "",
				      buf_names[o->iov[i].buf], o->iov[i].len);
		if (k < (int)sizeof(iov))
			snprintf(iov + k, sizeof(iov) - (size_t)k, "}");
	}
	snprintf(out, n, "%s(%s, %s, buf %s, len %#llx, off %lld, "
		 "flags %#llx, x %#llx, paths %d %d%s) faults %d",
		 op_names[o->op], slot_names[o->s0], slot_names[o->s1],
		 buf_names[o->buf], (unsigned long long)o->len,
		 (long long)o->off, (unsigned long long)o->flags,
		 (unsigned long long)o->x, o->p0, o->p1, iov, o->faults);
}

/* A vectored read or write whose iovecs add up to 0 bytes. */
static int zero_total(const struct op *o)
{
	return o->op >= OP_READV && o->op <= OP_PWRITEV2 &&
	       o->op != OP_LSEEK &&
	       (o->niov == 0 || (o->iovp == B_GOOD && o->niov > 0 &&
				 o->niov <= 4 && iov_sum(o) == 0));
}

/* Path @p from slot @s leads to something, with and without following
 * a last symbolic link. */
static int resolves(struct world *w, int s, int p)
{
	struct stat st;

	return p < P_NULL && w->fd[s] >= 0 && w->fd[s] != CLOSED_FD &&
	       !fstatat(w->fd[s], paths[p], &st, AT_SYMLINK_NOFOLLOW) &&
	       !fstatat(w->fd[s], paths[p], &st, 0);
}

/* The step takes a second descriptor (@s1 is S_BAD for the others). */
static int uses_s1(const struct op *o)
{
	return o->op == OP_RENAME || o->op == OP_LINK ||
	       o->op == OP_EPOLL_CTL || o->op == OP_SPLICE ||
	       o->op == OP_TEE;
}

/*
 * Faults that depend on the world, counted in world @w before the step:
 * a descriptor open for the other direction, or of a kind the call does
 * not take; a buffer that runs into unmapped memory.
 */
static int world_faults(struct world *w, const struct op *o)
{
	int rd = o->op == OP_READ || o->op == OP_PREAD ||
		 o->op == OP_READV || o->op == OP_PREADV ||
		 o->op == OP_PREADV2 || o->op == OP_RECVFROM ||
		 o->op == OP_RECVMSG;
	int wr = o->op == OP_WRITE || o->op == OP_PWRITE ||
		 o->op == OP_WRITEV || o->op == OP_PWRITEV ||
		 o->op == OP_PWRITEV2 || o->op == OP_SENDTO ||
		 o->op == OP_SENDMSG;
	int fd = w->fd[o->s0], fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
	int k = w->kind[o->s0], n = 0, i;
	__u64 area = rd ? RBUF : WBUF, seg = rd ? 8192 : 4096;

	/* no descriptor (-1, closed): all that use @s0 or @s1 */
	n += fd < 0 || fd == CLOSED_FD;
	n += uses_s1(o) && o->s1 != o->s0 &&
	     (w->fd[o->s1] < 0 || w->fd[o->s1] == CLOSED_FD);

	if (fl >= 0 && (rd || wr || o->op == OP_SPLICE || o->op == OP_TEE)) {
		/* access mode 3: neither read nor write (ioctl only) */
		if ((fl & O_PATH) || (fl & O_ACCMODE) == 3 ||
		    (rd && (fl & O_ACCMODE) == O_WRONLY) ||
		    (wr && (fl & O_ACCMODE) == O_RDONLY))
			n++;
		if (k == K_DIR || k == K_EPOLL)
			n++;
	}
	if ((o->op == OP_SENDTO || o->op == OP_RECVFROM ||
	     o->op == OP_SENDMSG || o->op == OP_RECVMSG ||
	     o->op == OP_SHUTDOWN || o->op == OP_GETSOCKOPT ||
	     o->op == OP_BIND || o->op == OP_LISTEN ||
	     o->op == OP_CONNECT || o->op == OP_ACCEPT4) && k != K_SOCK)
		n++;
	/* user.* attributes: regular files and directories only, and
	 * not through O_PATH (EBADF) */
	if ((o->op == OP_FSETXATTR || o->op == OP_FGETXATTR) &&
	    ((k != K_FILE && k != K_DIR) || (fl >= 0 && (fl & O_PATH))))
		n++;
	if ((o->op == OP_SYNC_RANGE || o->op == OP_FADVISE) &&
	    ((k != K_FILE && k != K_DEV) || (fl >= 0 && (fl & O_PATH))))
		n++;
	if ((o->op == OP_PREAD || o->op == OP_PWRITE ||
	     o->op == OP_PREADV || o->op == OP_PWRITEV ||
	     ((o->op == OP_PREADV2 || o->op == OP_PWRITEV2) && o->off != -1))
	    && k != K_FILE && k != K_DEV)
		n++;
	if (o->op == OP_READ || o->op == OP_WRITE || o->op == OP_PREAD ||
	    o->op == OP_PWRITE || o->op == OP_SENDTO || o->op == OP_RECVFROM)
		n += overruns(o->buf, 0, o->len, area);
	/* a buffer that faults at once, for the rule on reads at the file
	 * position (pos_read_of_file()) */
	n += pos_read_of_file(w, o) && cut_short(o);
	/* a name that does not lead anywhere, or one to be made that is */
	switch (o->op) {
	case OP_LINK:
	case OP_RENAME:
		n += !resolves(w, o->s0, o->p0);
		n += resolves(w, o->s1, o->p1);
		break;
	case OP_SYMLINK:
	case OP_MKDIR:
		n += resolves(w, o->s0, o->op == OP_MKDIR ? o->p0 : o->p1);
		break;
	case OP_OPENAT:
	case OP_OPENAT2:
	case OP_STATX:
	case OP_UNLINK:
		n += !resolves(w, o->s0, o->p0);
		break;
	case OP_SETXATTR:
	case OP_GETXATTR:
		n += !resolves(w, S_DIR, o->p0);
		break;
	}
	/* a directory descriptor that is not one */
	if (o->op == OP_OPENAT || o->op == OP_OPENAT2 ||
	    o->op == OP_STATX || o->op == OP_RENAME ||
	    o->op == OP_UNLINK || o->op == OP_MKDIR || o->op == OP_LINK ||
	    o->op == OP_SYMLINK)
		n += (k != K_DIR) + ((o->op == OP_RENAME ||
				      o->op == OP_LINK) &&
				     w->kind[o->s1] != K_DIR);
	if ((o->op >= OP_READV && o->op <= OP_PWRITEV2 &&
	     o->op != OP_LSEEK) || o->op == OP_SENDMSG ||
	    o->op == OP_RECVMSG)
		for (i = 0; i < o->niov && i < 4; i++) {
			n += overruns(o->iov[i].buf, (__u64)i * seg,
				      o->iov[i].len, area);
			n += o->iov[i].len >= 0x80000000u;
		}
	return n;
}

static int same_res(const struct op *o, const struct res *a,
		    const struct res *b, int faults, int k0)
{
	long ra = a->ret, rb = b->ret;

	if (opens_fd(o)) {
		/* different descriptor numbers for the same file */
		ra = ra >= 0 ? 0 : ra;
		rb = rb >= 0 ? 0 : rb;
	}
	if (ra == rb)
		return a->namelen == b->namelen &&
		       a->controllen == b->controllen &&
		       a->msg_flags == b->msg_flags;
	/* The documented rule: "A call with two faults at once ... may
	 * report the other one than the system call would". */
	if (faults >= 2 && ra < 0 && rb < 0)
		return 1;
	/* The documented rule: iovecs that add up to 0 bytes "ask the
	 * file", and "preadv2 and pwritev2 of 0 bytes check RWF_NOWAIT
	 * and RWF_NOAPPEND against the file" */
	if (zero_total(o) && ra == 0 && rb < 0 &&
	    (o->flags & (RWF_NOWAIT | 0x20)))
		return 1;
	/* The documented rule: "preadv2 and pwritev2 with RWF_DSYNC,
	 * RWF_SYNC, RWF_APPEND or RWF_NOAPPEND on a file whose driver has
	 * only the plain read and write methods ... (a directory says
	 * EISDIR ...)": the world's directories are such files. */
	if ((o->op == OP_PREADV2 || o->op == OP_PWRITEV2) && k0 == K_DIR &&
	    (o->flags & (RWF_DSYNC | RWF_SYNC | RWF_APPEND | 0x20)) &&
	    ra == -EOPNOTSUPP && rb == -EISDIR)
		return 1;
	return 0;
}

/*
 * Steps left out here, each for a documented difference (ksvc_dispatch.h):
 *  - "A read or write on a descriptor that cannot be read or written but
 *    can be polled (epoll, ...) waits for it to become ready";
 *  - "readv, preadv and preadv2 whose iovecs add up to 0 bytes ask the
 *    file (an eventfd says EINVAL) where the system call returns 0; so
 *    do writev, pwritev and pwritev2 (a datagram or seqpacket socket
 *    sends an empty datagram...)": on a socket that takes or sends a
 *    datagram.  Kept on regular files, directories and devices, whose
 *    answer is 0 or an error either way (see same_res()).
 *  - "A read of a character device that stops early when the thread
 *    must give up the CPU or has a signal or task work pending
 *    (/dev/zero past its first page) may return fewer bytes": reads of
 *    devices of at most a page here.
 */
static int documented_out(struct world *w, const struct op *o)
{
	int rw = o->op <= OP_PWRITEV2 || o->op == OP_SPLICE ||
		 o->op == OP_SENDTO || o->op == OP_RECVFROM ||
		 o->op == OP_SENDMSG || o->op == OP_RECVMSG;

	if (rw && (w->kind[o->s0] == K_EPOLL ||
		   (o->op == OP_SPLICE && w->kind[o->s1] == K_EPOLL)))
		return 1;
	if (zero_total(o) && w->kind[o->s0] != K_FILE &&
	    w->kind[o->s0] != K_DIR && w->kind[o->s0] != K_DEV)
		return 1;
	/* Not the dispatcher's: how much a TCP send copies before a bad
	 * buffer faults depends on the sending thread's page fragment
	 * (current->task_frag), which differs between the test's thread
	 * and a worker's, even for two direct calls. */
	if ((o->s0 == S_TA || o->s0 == S_TB || o->s1 == S_TA ||
	     o->s1 == S_TB) && world_faults(w, o) && (o->op == OP_WRITE ||
	    o->op == OP_WRITEV || o->op == OP_PWRITEV2 ||
	    o->op == OP_SENDTO || o->op == OP_SENDMSG))
		return 1;
	/* "a connect that fails (ECONNREFUSED) leaves the socket in the
	 * connecting state": no connects to 127.0.0.1 (port 0) from an
	 * AF_INET socket, the only ones here that could fail so */
	if (o->op == OP_CONNECT && o->x == 8 && w->kind[o->s0] == K_SOCK &&
	    sock_opt(w, o->s0, SO_DOMAIN) == AF_INET)
		return 1;
	if (w->kind[o->s0] == K_DEV &&
	    (((o->op == OP_READ || o->op == OP_PREAD) && o->len > PAGE) ||
	     ((o->op == OP_READV || o->op == OP_PREADV ||
	       o->op == OP_PREADV2) && iov_sum(o) > PAGE)))
		return 1;
	return 0;
}

/* The descriptor in slot @s has O_NONBLOCK. */
static int nonblock_slot(struct world *w, int s)
{
	int fl;

	if (w->fd[s] < 0 || w->fd[s] == CLOSED_FD)
		return 0;
	fl = w_fl(w, s);
	return fl >= 0 && (fl & O_NONBLOCK);
}

/*
 * Steps that the variant's flag promises never to make (ksvc_dispatch.h),
 * told from the world's state before the step (the two worlds' states
 * are compared after each step, so asking one is enough):
 *  - KSVC_DISPATCH_BLOCKING_FDS: "the descriptors it passes to read,
 *    write, readv, writev, preadv2 and pwritev2 at offset -1, recvfrom,
 *    sendto, recvmsg, sendmsg, accept, accept4, connect, splice and tee
 *    entries do not have O_NONBLOCK set", nor SO_RCVTIMEO, SO_SNDTIMEO
 *    or SO_RCVLOWAT above 1 (no step sets those): such calls on a
 *    descriptor with O_NONBLOCK (the world starts with some; F_SETFL
 *    and the opens make more);
 *  - KSVC_DISPATCH_POSITIONAL_FDS: "the descriptors it passes to
 *    pread64, pwrite64, preadv, pwritev, preadv2 and pwritev2 entries at
 *    an offset (not -1) have positions": such calls on pipes, sockets,
 *    the eventfd and the epoll instance.  Kept: regular files,
 *    directories, devices, and -1 and closed descriptors, which are no
 *    descriptors at all (EBADF either way).
 */
static int promise_out(struct world *w, const struct op *o)
{
	int at_pos = (o->op == OP_PREADV2 || o->op == OP_PWRITEV2) &&
		     o->off == -1;
	int k = w->kind[o->s0];

	if (promises & KSVC_DISPATCH_BLOCKING_FDS) {
		switch (o->op) {
		case OP_SPLICE:
		case OP_TEE:
			if (nonblock_slot(w, o->s1))
				return 1;
			/* fall through */
		case OP_READ:
		case OP_WRITE:
		case OP_READV:
		case OP_WRITEV:
		case OP_RECVFROM:
		case OP_SENDTO:
		case OP_RECVMSG:
		case OP_SENDMSG:
		case OP_ACCEPT4:
		case OP_CONNECT:
			if (nonblock_slot(w, o->s0))
				return 1;
			break;
		case OP_PREADV2:
		case OP_PWRITEV2:
			if (at_pos && nonblock_slot(w, o->s0))
				return 1;
			break;
		}
	}
	if (promises & KSVC_DISPATCH_POSITIONAL_FDS) {
		switch (o->op) {
		case OP_PREADV2:
		case OP_PWRITEV2:
			if (at_pos)
				break;
			/* fall through */
		case OP_PREAD:
		case OP_PWRITE:
		case OP_PREADV:
		case OP_PWRITEV:
			if (k == K_PIPE || k == K_SOCK || k == K_EVENT ||
			    k == K_EPOLL)
				return 1;
			break;
		}
	}
	return 0;
}

static void fsize_limit(rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_FSIZE, &rl))
		tap_bail("getrlimit: %s", strerror(errno));
	if (rl.rlim_max != RLIM_INFINITY && n > rl.rlim_max)
		n = rl.rlim_max;
	rl.rlim_cur = n;
	if (setrlimit(RLIMIT_FSIZE, &rl))
		tap_bail("setrlimit: %s", strerror(errno));
}

/*
 * A step that blocks is a bug of the test's own (or a finding): rather
 * than hang until the harness's time limit, say which step it was.
 */
static void on_alarm(int sig)
{
	ssize_t n;

	static const struct rlimit no_limit = { RLIM_INFINITY, RLIM_INFINITY };

	(void)sig;
	setrlimit(RLIMIT_FSIZE, &no_limit);	/* for a TAP file past it */
	n = write(STDOUT_FILENO, hang_msg, hang_len);
	n = write(STDOUT_FILENO, "# in the world: ", 16);
	if (in_world)
		n = write(STDOUT_FILENO, in_world, strlen(in_world));
	n = write(STDOUT_FILENO, "\n", 1);
	(void)n;
	_exit(2);
}

static void watch(const struct op *o, uint64_t seed, int step)
{
	char desc[512];
	int n;

	describe(o, desc, sizeof(desc));
	n = snprintf(hang_msg, sizeof(hang_msg), "Bail out! seed %llu step "
		     "%d did not return in %d s: %s\n",
		     (unsigned long long)seed, step, HANG_S, desc);
	hang_len = n < (int)sizeof(hang_msg) ? (size_t)n : sizeof(hang_msg);
	alarm(HANG_S);
}

/*
 * Run @ops[0..n) (those with keep[i] set, or all for a NULL @keep) in two
 * fresh worlds; returns the index of the first step that differs, or -1.
 * @why gets the difference.
 */
static int run_seq(const struct op *ops, int n, const char *keep,
		   uint64_t seed, struct ksvc_dispatcher *d, char *why,
		   size_t whylen, int *ran)
{
	struct world wa, wb;
	struct text ta = { 0 }, tb = { 0 };
	struct res ra, rb;
	int i, bad = -1, sa, sb, faults, k0;

	memset(&wa, 0, sizeof(wa));
	memset(&wb, 0, sizeof(wb));
	wa.name = "direct";
	wb.name = "dispatcher";
	wb.d = d;
	wa.rbuf = map_guarded(RBUF);
	wb.rbuf = map_guarded(RBUF);
	wa.iov = calloc(NIOV_MAX, sizeof(struct iovec));
	wb.iov = calloc(NIOV_MAX, sizeof(struct iovec));
	world_make(&wa, seed);
	world_make(&wb, seed);
	/* Writes that cross the file size limit: cut short, then EFBIG.
	 * Only while the steps run: the limit also holds for the TAP
	 * output, when it goes to a file. */
	fsize_limit(FSIZE_MAX);
	*ran = 0;
	for (i = 0; i < n && bad < 0; i++) {
		const struct op *o = &ops[i];

		if (keep && !keep[i])
			continue;
		if (documented_out(&wa, o) || promise_out(&wa, o))
			continue;
		sa = step_safe(&wa, o);
		sb = step_safe(&wb, o);
		if (sa != sb) {
			snprintf(why, whylen, "could block in the %s world only",
				 sa ? "dispatcher" : "direct");
			bad = i;
			break;
		}
		if (!sa)
			continue;
		watch(o, seed, i);
		memset(wa.rbuf, 0x5a, RBUF);
		memset(wb.rbuf, 0x5a, RBUF);
		faults = o->faults + world_faults(&wa, o);
		k0 = wa.kind[o->s0];
		in_world = wa.name;
		run_step(&wa, o, &ra);
		in_world = wb.name;
		run_step(&wb, o, &rb);
		in_world = NULL;
		(*ran)++;
		if (trace) {
			char desc[512];

			describe(o, desc, sizeof(desc));
			tap_diag("step %d: %s: %ld, %ld", i, desc, ra.ret,
				 rb.ret);
		}
		if (!same_res(o, &ra, &rb, faults, k0)) {
			snprintf(why, whylen, "result: direct %ld (%s) "
				 "namelen %u controllen %zu msg_flags %#x, "
				 "dispatcher %ld (%s) namelen %u controllen "
				 "%zu msg_flags %#x", ra.ret,
				 ra.ret < 0 ? strerror((int)-ra.ret) : "-",
				 ra.namelen, ra.controllen, ra.msg_flags,
				 rb.ret, rb.ret < 0 ? strerror((int)-rb.ret) :
				 "-", rb.namelen, rb.controllen, rb.msg_flags);
			bad = i;
		} else if (memcmp(wa.rbuf, wb.rbuf, RBUF)) {
			size_t k = 0;

			while (wa.rbuf[k] == wb.rbuf[k])
				k++;
			snprintf(why, whylen, "read area differs at byte %zu "
				 "(%#x, %#x), result %ld", k, wa.rbuf[k],
				 wb.rbuf[k], ra.ret);
			bad = i;
		}
		book(&wa, o, ra.ret);
		book(&wb, o, rb.ret);
		if (bad >= 0)
			break;
		if (o->s0 == S_TA || o->s0 == S_TB || o->s1 == S_TA ||
		    o->s1 == S_TB) {
			settle_tcp(&wa);
			settle_tcp(&wb);
		}
		snapshot(&wa, &ta);
		snapshot(&wb, &tb);
		if (strcmp(ta.p, tb.p)) {
			/* once more, in case something was still on its way */
			usleep(2000);
			snapshot(&wa, &ta);
			snapshot(&wb, &tb);
		}
		if (strcmp(ta.p, tb.p)) {
			first_diff(ta.p, tb.p, why, whylen);
			bad = i;
		}
	}
	alarm(0);
	fsize_limit(RLIM_INFINITY);
	world_free(&wa);
	world_free(&wb);
	munmap(wa.rbuf, RBUF + PAGE);
	munmap(wb.rbuf, RBUF + PAGE);
	free(wa.iov);
	free(wb.iov);
	free(ta.p);
	free(tb.p);
	return bad;
}

static void draw_seq(uint64_t seed, struct op *ops, int n)
{
	uint64_t r = seed * 0xd1342543de82ef95ull + 0x1234567;
	int i;

	for (i = 0; i < 4; i++)
		td_rnd(&r);
	for (i = 0; i < n; i++)
		draw(&r, &ops[i]);
}

/*
 * Leave out steps one at a time, from the last before the divergence
 * back to the first, keeping each removal after which the sequence
 * still diverges; print what is left.
 */
static void minimise(const struct op *ops, int bad, uint64_t seed,
		     struct ksvc_dispatcher *d)
{
	char *keep = calloc((size_t)bad + 1, 1);
	char why[512], desc[512];
	int i, ran, b;

	memset(keep, 1, (size_t)bad + 1);
	for (i = bad - 1; i >= 0; i--) {
		keep[i] = 0;
		b = run_seq(ops, bad + 1, keep, seed, d, why, sizeof(why),
			    &ran);
		if (b < 0)
			keep[i] = 1;
	}
	b = run_seq(ops, bad + 1, keep, seed, d, why, sizeof(why), &ran);
	tap_diag("minimised (seed %llu): %s", (unsigned long long)seed,
		 b >= 0 ? why : "(no longer diverges)");
	for (i = 0; i <= bad; i++)
		if (keep[i]) {
			describe(&ops[i], desc, sizeof(desc));
			tap_diag("  step %d: %s", i, desc);
		}
	free(keep);
}

/* ------------------------------------------------------------------ */

#define NVAR	6
static const char *const var_names[NVAR] = {
	"thread", "driven", "no-tier1", "poll-first", "blocking-fds",
	"positional-fds",
};
static const __u32 var_flags[NVAR] = {
	0, KSVC_DISPATCH_CALLER_DRIVES, KSVC_DISPATCH_NO_TIER1,
	KSVC_DISPATCH_RECV_POLL_FIRST, KSVC_DISPATCH_BLOCKING_FDS,
	KSVC_DISPATCH_POSITIONAL_FDS,
};

static void setup_shared(void)
{
	uint64_t r = 42;
	size_t i;

	/* The documented rule: "Signals raised by a call (SIGPIPE,
	 * SIGXFSZ) are not delivered to the caller when the dispatcher
	 * thread or a pool worker makes the call ... the call still fails
	 * with EPIPE or EFBIG": ignored, both worlds see the error only. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGALRM, on_alarm);

	wbuf = map_guarded(WBUF);
	for (i = 0; i < WBUF; i++)
		wbuf[i] = (unsigned char)td_rnd(&r);
	/* an eventfd takes the first 8 bytes as a count: keep them small
	 * where writes start, so that a blocking one never waits */
	for (i = 0; i < WBUF; i += PAGE)
		memcpy(wbuf + i, &(__u64){ 3 }, 8);
	memcpy(wbuf + WBUF - HALFGOOD, &(__u64){ 3 }, 8);
	none_page = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	if (none_page == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	memset(long_name, 'n', sizeof(long_name) - 1);
	memcpy(long_xname, "user.", 5);
	memset(long_xname + 5, 'x', sizeof(long_xname) - 6);
	addr_in.sin_family = AF_INET;
	addr_in.sin_port = htons(9);
	addr_in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	close(CLOSED_FD);
	if (fcntl(CLOSED_FD, F_GETFD) != -1)
		tap_bail("descriptor %d is open", CLOSED_FD);
}

int main(int argc, char **argv)
{
	unsigned int nseeds, v, i, v_only = ~0u;
	long long seed_only = -1;
	unsigned int seeds_opt = 0, first = 1000;
	int minimise_it = 0, a;
	struct op *ops = calloc(NSTEPS, sizeof(*ops));
	uint64_t t0;

	td_args(argc, argv);
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--seed") && a + 1 < argc)
			seed_only = atoll(argv[++a]);
		else if (!strcmp(argv[a], "--variant") && a + 1 < argc)
			v_only = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--minimise"))
			minimise_it = 1;
		else if (!strcmp(argv[a], "--trace"))
			trace = 1;
		else if (!strcmp(argv[a], "--seeds") && a + 1 < argc)
			seeds_opt = (unsigned)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--first") && a + 1 < argc)
			first = (unsigned)atoi(argv[++a]);
	}
	nseeds = seed_only >= 0 ? 1 : seeds_opt ? seeds_opt :
		 (unsigned)td_count(NSEEDS, 2);
	tap_plan((int)(nseeds * (v_only < NVAR ? 1 : NVAR)));
	td_say_where();
	tap_diag("%u seeds of %d steps per variant", nseeds, NSTEPS);
	setup_shared();
	for (v = 0; v < NVAR; v++) {
		struct ksvc *k;
		struct ksvc_dispatcher *d;
		unsigned long steps = 0;

		if (v_only < NVAR && v != v_only)
			continue;
		k = td_open(64, 128);
		d = td_create(k, var_flags[v], 2);
		promises = var_flags[v] & (KSVC_DISPATCH_BLOCKING_FDS |
					   KSVC_DISPATCH_POSITIONAL_FDS);
		t0 = td_now_ms();
		for (i = 0; i < nseeds; i++) {
			uint64_t seed = seed_only >= 0 ? (uint64_t)seed_only :
					first + i;
			char why[512], desc[512];
			int bad, ran, j;

			draw_seq(seed, ops, NSTEPS);
			bad = run_seq(ops, NSTEPS, NULL, seed, d, why,
				      sizeof(why), &ran);
			steps += (unsigned long)ran;
			if (!tap_ok(bad < 0, "%s: seed %llu: %d steps alike",
				    var_names[v], (unsigned long long)seed,
				    bad < 0 ? ran : bad)) {
				describe(&ops[bad], desc, sizeof(desc));
				tap_diag("step %d: %s", bad, desc);
				tap_diag("  %s", why);
				for (j = bad - 1; j >= 0 && j >= bad - 5; j--) {
					describe(&ops[j], desc, sizeof(desc));
					tap_diag("  before: step %d: %s", j,
						 desc);
				}
				if (minimise_it)
					minimise(ops, bad, seed, d);
			}
		}
		tap_diag("%s: %lu steps run in %llu ms", var_names[v], steps,
			 (unsigned long long)(td_now_ms() - t0));
		ksvc_dispatch_destroy(d);
		ksvc_close(k);
	}
	if (refused_calls)
		tap_diag("%lu refused calls made by the test", refused_calls);
	free(ops);
	tap_done();
}
