// SPDX-License-Identifier: MIT
/*
 * tier1.c - Tier 1: system calls as io_uring requests, through liburing.
 *
 * The ring is created by the thread that will drive it (the dispatcher
 * thread, or the creator with KSVC_DISPATCH_ONE_DRIVER), so that
 * IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN can be used
 * where the kernel has them; setup flags are tried from the best to none,
 * and whatever the kernel refuses is dropped.  The opcodes come from
 * IORING_REGISTER_PROBE, once.
 *
 * user_data is the struct kop pointer, or a small constant for the
 * dispatcher's own requests (futex waits on the submit ring's tail and on
 * the doorbell, cancellations).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#include "dispatch_int.h"

int ksvc__t1_has(const struct ksvc_dispatcher *d, int op)
{
	if (!d->t1 || op < 0 || op >= KSVC_IORING_OP_MAX)
		return 0;
	return (d->ops[op / 64] >> (op % 64)) & 1;
}

static int try_setup(struct ksvc_dispatcher *d, __u32 flags)
{
	struct io_uring_params p;
	unsigned int cq = 1;

	/* Room for every op in flight plus our own requests; io_uring
	 * also wants the completion queue at least as big as the
	 * submission queue. */
	while (cq < d->nops + 64 || cq < 2 * d->uring_entries)
		cq <<= 1;
	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	if (io_uring_queue_init_params(d->uring_entries, &d->ring, &p) < 0)
		return -1;
	d->uring_flags = flags;
	d->cur_pos = (p.features & IORING_FEAT_RW_CUR_POS) != 0;
	return 0;
}

int ksvc__t1_init(struct ksvc_dispatcher *d)
{
	static const __u32 one_thread[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN |
			IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	/*
	 * Several drivers: task work must be able to interrupt whichever
	 * thread submitted (TWA_SIGNAL), so no COOP_TASKRUN.
	 */
	static const __u32 many_threads[] = { 0 };
	const __u32 *try = one_thread;
	size_t ntry = sizeof(one_thread) / sizeof(one_thread[0]);
	struct io_uring_probe *probe;
	size_t i;
	int op;

	d->t1 = 0;
	if (d->flags & KSVC_DISPATCH_NO_TIER1)
		return 0;
	if (d->driven && !(d->flags & KSVC_DISPATCH_ONE_DRIVER)) {
		try = many_threads;
		ntry = 1;
	}
	for (i = 0; i < ntry; i++)
		if (try_setup(d, try[i]) == 0)
			break;
	if (i == ntry)
		return 0;		/* no io_uring here: all in Tier 2 */
	/*
	 * Before 5.11 (no IORING_FEAT_EXT_ARG) liburing times a wait with
	 * a timeout request of its own, whose completion (user_data
	 * LIBURING_UDATA_TIMEOUT) ksvc__t1_reap() would take for an op.
	 */
	if (!(d->ring.features & IORING_FEAT_EXT_ARG)) {
		io_uring_queue_exit(&d->ring);
		return 0;
	}

	probe = io_uring_get_probe_ring(&d->ring);
	if (!probe) {
		io_uring_queue_exit(&d->ring);
		return 0;
	}
	/*
	 * The tests' mask acts on the probe's answer, as a kernel without
	 * those opcodes would: what follows is what such a kernel runs.
	 */
	for (op = 0; op <= probe->last_op && op < KSVC_IORING_OP_MAX; op++)
		if ((d->mask_ops[op / 64] >> (op % 64)) & 1)
			probe->ops[op].flags &= ~IO_URING_OP_SUPPORTED;
	memset(d->ops, 0, sizeof(d->ops));
	for (op = 0; op <= probe->last_op && op < KSVC_IORING_OP_MAX; op++)
		if (io_uring_opcode_supported(probe, op))
			d->ops[op / 64] |= 1ull << (op % 64);
	io_uring_free_probe(probe);
	d->have_futex_op = (d->ops[KSVC_IORING_OP_FUTEX_WAIT / 64] >>
			    (KSVC_IORING_OP_FUTEX_WAIT % 64)) & 1;
	d->t1 = 1;
	return 0;
}

void ksvc__t1_exit(struct ksvc_dispatcher *d)
{
	if (d->t1)
		io_uring_queue_exit(&d->ring);
	d->t1 = 0;
}

/*
 * A free SQE, handing what is prepared to the kernel when the queue is
 * full.  NULL when the kernel refuses to take it (-EEXIST: a thread other
 * than the one io_uring belongs to, as ksvc_dispatch_destroy() on another
 * thread with ONE_DRIVER).
 */
static struct io_uring_sqe *get_sqe_or_null(struct ksvc_dispatcher *d)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	while (!sqe) {
		int ret = ksvc__t1_submit(d, 0, NULL);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN &&
		    ret != -EBUSY)
			return NULL;
		sqe = io_uring_get_sqe(&d->ring);
	}
	d->sqe_pending++;
	return sqe;
}

/* The same for the driver, whose submissions the kernel always takes. */
static struct io_uring_sqe *get_sqe(struct ksvc_dispatcher *d)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = get_sqe_or_null(d)))
		;
	return sqe;
}

/* Turn one entry into one SQE (the opcode decided by ksvc__t1_op()). */
int ksvc__t1_queue(struct ksvc_dispatcher *d, struct kop *op, int opcode)
{
	const __u64 *a = op->e.args;
	struct io_uring_sqe *sqe = get_sqe(d);
	void *p0 = (void *)(uintptr_t)a[0];
	void *p1 = (void *)(uintptr_t)a[1];
	void *p2 = (void *)(uintptr_t)a[2];
	void *p3 = (void *)(uintptr_t)a[3];

	d->sqe_calls++;
	switch (op->e.syscall_nr) {
	case SYS_read:
		io_uring_prep_read(sqe, (int)a[0], p1, (unsigned)a[2], -1ull);
		break;
	case SYS_write:
		io_uring_prep_write(sqe, (int)a[0], p1, (unsigned)a[2], -1ull);
		break;
	case SYS_pread64:
		io_uring_prep_read(sqe, (int)a[0], p1, (unsigned)a[2], a[3]);
		break;
	case SYS_pwrite64:
		io_uring_prep_write(sqe, (int)a[0], p1, (unsigned)a[2], a[3]);
		break;
	case SYS_readv:
		io_uring_prep_readv(sqe, (int)a[0], p1, (unsigned)a[2], -1ull);
		break;
	case SYS_writev:
		io_uring_prep_writev(sqe, (int)a[0], p1, (unsigned)a[2], -1ull);
		break;
	case SYS_preadv:
		io_uring_prep_readv(sqe, (int)a[0], p1, (unsigned)a[2], a[3]);
		break;
	case SYS_pwritev:
		io_uring_prep_writev(sqe, (int)a[0], p1, (unsigned)a[2], a[3]);
		break;
	case SYS_preadv2:	/* fd, iov, cnt, pos_l, pos_h, flags */
		io_uring_prep_readv2(sqe, (int)a[0], p1, (unsigned)a[2], a[3],
				     (int)a[5]);
		break;
	case SYS_pwritev2:
		io_uring_prep_writev2(sqe, (int)a[0], p1, (unsigned)a[2], a[3],
				      (int)a[5]);
		break;
	case SYS_fsync:
		io_uring_prep_fsync(sqe, (int)a[0], 0);
		break;
	case SYS_fdatasync:
		io_uring_prep_fsync(sqe, (int)a[0], IORING_FSYNC_DATASYNC);
		break;
	case SYS_sync_file_range:	/* fd, off, nbytes, flags */
		io_uring_prep_sync_file_range(sqe, (int)a[0], (unsigned)a[2],
					      a[1], (int)a[3]);
		break;
	case SYS_open:
		io_uring_prep_openat(sqe, AT_FDCWD, p0, (int)a[1], (mode_t)a[2]);
		break;
	case SYS_creat:
		io_uring_prep_openat(sqe, AT_FDCWD, p0,
				     O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1]);
		break;
	case SYS_openat:
		io_uring_prep_openat(sqe, (int)a[0], p1, (int)a[2],
				     (mode_t)a[3]);
		break;
	case SYS_openat2:	/* dfd, path, how, size */
		io_uring_prep_rw(IORING_OP_OPENAT2, sqe, (int)a[0], p1,
				 (unsigned)a[3], a[2]);
		break;
	case SYS_close:
		io_uring_prep_close(sqe, (int)a[0]);
		break;
	case SYS_statx:		/* dfd, path, flags, mask, buf */
		io_uring_prep_statx(sqe, (int)a[0], p1, (int)a[2],
				    (unsigned)a[3], (void *)(uintptr_t)a[4]);
		break;
	case SYS_accept:
		io_uring_prep_accept(sqe, (int)a[0], p1, p2, 0);
		break;
	case SYS_accept4:
		io_uring_prep_accept(sqe, (int)a[0], p1, p2, (int)a[3]);
		break;
	case SYS_connect:
		io_uring_prep_connect(sqe, (int)a[0], p1, (socklen_t)a[2]);
		break;
	case SYS_socket:
		io_uring_prep_socket(sqe, (int)a[0], (int)a[1], (int)a[2], 0);
		break;
	case SYS_sendto:	/* fd, buf, len, flags, addr, addrlen */
		if (opcode == IORING_OP_SENDMSG) {
			memset(&op->msg, 0, sizeof(op->msg));
			op->iov.iov_base = p1;
			op->iov.iov_len = a[2];
			op->msg.msg_name = (void *)(uintptr_t)a[4];
			op->msg.msg_namelen = (socklen_t)a[5];
			op->msg.msg_iov = &op->iov;
			op->msg.msg_iovlen = 1;
			io_uring_prep_sendmsg(sqe, (int)a[0], &op->msg,
					      (unsigned)a[3]);
		} else {
			io_uring_prep_send(sqe, (int)a[0], p1, a[2], (int)a[3]);
		}
		break;
	case SYS_recvfrom:
		io_uring_prep_recv(sqe, (int)a[0], p1, a[2], (int)a[3]);
		if (ksvc__poll_first(d, (unsigned int)a[3]))
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	case SYS_sendmsg:
		io_uring_prep_sendmsg(sqe, (int)a[0], p1, (unsigned)a[2]);
		break;
	case SYS_recvmsg:
		io_uring_prep_recvmsg(sqe, (int)a[0], p1, (unsigned)a[2]);
		if (ksvc__poll_first(d, (unsigned int)a[2]))
			sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	case SYS_shutdown:
		io_uring_prep_shutdown(sqe, (int)a[0], (int)a[1]);
		break;
	case SYS_fallocate:	/* fd, mode, off, len */
		io_uring_prep_fallocate(sqe, (int)a[0], (int)a[1],
					(off_t)a[2], (off_t)a[3]);
		break;
	case SYS_splice:	/* in, NULL, out, NULL, len, flags */
		io_uring_prep_splice(sqe, (int)a[0], -1, (int)a[2], -1,
				     (unsigned)a[4], (unsigned)a[5]);
		break;
	case SYS_tee:
		io_uring_prep_tee(sqe, (int)a[0], (int)a[1], (unsigned)a[2],
				  (unsigned)a[3]);
		break;
	case SYS_rename:
		io_uring_prep_renameat(sqe, AT_FDCWD, p0, AT_FDCWD, p1, 0);
		break;
	case SYS_renameat:
		io_uring_prep_renameat(sqe, (int)a[0], p1, (int)a[2], p3, 0);
		break;
	case SYS_renameat2:
		io_uring_prep_renameat(sqe, (int)a[0], p1, (int)a[2], p3,
				       (unsigned)a[4]);
		break;
	case SYS_unlink:
		io_uring_prep_unlinkat(sqe, AT_FDCWD, p0, 0);
		break;
	case SYS_rmdir:
		io_uring_prep_unlinkat(sqe, AT_FDCWD, p0, AT_REMOVEDIR);
		break;
	case SYS_unlinkat:
		io_uring_prep_unlinkat(sqe, (int)a[0], p1, (int)a[2]);
		break;
	case SYS_mkdir:
		io_uring_prep_mkdirat(sqe, AT_FDCWD, p0, (mode_t)a[1]);
		break;
	case SYS_mkdirat:
		io_uring_prep_mkdirat(sqe, (int)a[0], p1, (mode_t)a[2]);
		break;
	case SYS_symlink:
		io_uring_prep_symlinkat(sqe, p0, AT_FDCWD, p1);
		break;
	case SYS_symlinkat:	/* target, newdfd, linkpath */
		io_uring_prep_symlinkat(sqe, p0, (int)a[1], p2);
		break;
	case SYS_link:
		io_uring_prep_linkat(sqe, AT_FDCWD, p0, AT_FDCWD, p1, 0);
		break;
	case SYS_linkat:
		io_uring_prep_linkat(sqe, (int)a[0], p1, (int)a[2], p3,
				     (int)a[4]);
		break;
	case SYS_epoll_ctl:	/* epfd, op, fd, event */
		io_uring_prep_epoll_ctl(sqe, (int)a[0], (int)a[2], (int)a[1],
					p3);
		break;
	case SYS_madvise:
		io_uring_prep_madvise(sqe, p0, (off_t)a[1], (int)a[2]);
		break;
	case SYS_fadvise64:	/* fd, off, len, advice */
		io_uring_prep_fadvise(sqe, (int)a[0], a[1], (off_t)a[2],
				      (int)a[3]);
		break;
	case SYS_setxattr:	/* path, name, value, size, flags */
		io_uring_prep_setxattr(sqe, p1, p2, p0, (int)a[4],
				       (unsigned)a[3]);
		break;
	case SYS_fsetxattr:	/* fd, name, value, size, flags */
		io_uring_prep_fsetxattr(sqe, (int)a[0], p1, p2, (int)a[4],
					(unsigned)a[3]);
		break;
	case SYS_getxattr:	/* path, name, value, size */
		io_uring_prep_getxattr(sqe, p1, p2, p0, (unsigned)a[3]);
		break;
	case SYS_fgetxattr:	/* fd, name, value, size */
		io_uring_prep_fgetxattr(sqe, (int)a[0], p1, p2,
					(unsigned)a[3]);
		break;
	case SYS_ftruncate:	/* fd, length */
		io_uring_prep_rw(KSVC_IORING_OP_FTRUNCATE, sqe, (int)a[0],
				 NULL, 0, a[1]);
		break;
	case SYS_bind:		/* fd, addr, addrlen (in addr2 == off) */
		io_uring_prep_rw(KSVC_IORING_OP_BIND, sqe, (int)a[0], p1, 0,
				 a[2]);
		break;
	case SYS_listen:	/* fd, backlog (in len) */
		io_uring_prep_rw(KSVC_IORING_OP_LISTEN, sqe, (int)a[0], NULL,
				 (unsigned)a[1], 0);
		break;
	default:
		/* ksvc__t1_op() and this switch disagree: a bug. */
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, UD_NOP);
		d->t1_inflight++;
		return -ENOSYS;
	}
	(void)p3;
	io_uring_sqe_set_data(sqe, op);
	d->t1_inflight++;
	op->sent = 0;
	op->rest = NULL;
	op->more = (__u8)ksvc__t1_wants_more(op->e.syscall_nr,
					     ksvc__msg_flags(&op->e), a[3]);
	return 0;
}

/* The kernel's MAX_RW_COUNT with 4 KiB pages: INT_MAX & PAGE_MASK. */
#define KSVC_MAX_RW_COUNT	0x7ffff000ull

/*
 * The rest of a writev, sendmsg or pwritev2: the caller's iovecs, copied
 * once (orig), and the part not yet written (cur, rebuilt for each
 * request).  For sendmsg, the caller's msghdr without its control data,
 * which went with the first part, as with the system call.
 */
struct t1_rest {
	struct msghdr msg;
	__u64 total;			/* what the system call would write */
	unsigned int n;
	struct iovec iov[];		/* orig[n], then cur[n] */
};

/* What the system call writes of @n iovecs at @v (MAX_RW_COUNT at most) */
static __u64 iov_total(const struct iovec *v, size_t n)
{
	__u64 total = 0;
	size_t i;

	for (i = 0; i < n && total < KSVC_MAX_RW_COUNT; i++)
		total += v[i].iov_len < KSVC_MAX_RW_COUNT ?
			 v[i].iov_len : KSVC_MAX_RW_COUNT;
	return total < KSVC_MAX_RW_COUNT ? total : KSVC_MAX_RW_COUNT;
}

/*
 * A vectored call that wrote @done bytes: NULL if that is all of it (or
 * there is no memory to go on), else its rest, for op->rest.  What the
 * system call would write in *@total.
 * This reads the caller's iovec array (and msghdr): like every memory
 * argument, they stay valid until the entry's completion
 * (ksvc_dispatch_submit(3)), and the kernel has just read them for the
 * first part.
 */
static struct t1_rest *rest_get(struct kop *op, __u64 done, __u64 *total)
{
	const __u64 *a = op->e.args;
	const struct msghdr *um = NULL;
	const struct iovec *uv;
	struct t1_rest *r;
	size_t n;

	if (op->e.syscall_nr == SYS_sendmsg) {
		um = (const struct msghdr *)(uintptr_t)a[1];
		uv = um->msg_iov;
		n = um->msg_iovlen;
	} else {
		uv = (const struct iovec *)(uintptr_t)a[1];
		n = (size_t)a[2];
	}
	*total = 0;
	if (n > IOV_MAX)	/* the kernel would have refused it */
		return NULL;
	*total = iov_total(uv, n);
	if (done >= *total)
		return NULL;
	r = malloc(sizeof(*r) + 2 * n * sizeof(struct iovec));
	if (!r)
		return NULL;
	memset(&r->msg, 0, sizeof(r->msg));
	if (um) {
		r->msg.msg_name = um->msg_name;
		r->msg.msg_namelen = um->msg_namelen;
	}
	r->total = *total;
	r->n = (unsigned int)n;
	memcpy(r->iov, uv, n * sizeof(struct iovec));
	r->msg.msg_iov = r->iov + n;
	return r;
}

/*
 * cur: orig without its first @skip bytes (@skip < r->total), and
 * without what lies past r->total: the system call writes MAX_RW_COUNT
 * at most, and so must the parts together (io_uring caps each part on
 * its own).  The number of iovecs.
 */
static unsigned int rest_skip(struct t1_rest *r, __u64 skip)
{
	struct iovec *cur = r->iov + r->n;
	__u64 left = r->total - skip;
	unsigned int i, k = 0;

	for (i = 0; i < r->n && left; i++) {
		struct iovec v = r->iov[i];

		if (skip >= v.iov_len) {
			skip -= v.iov_len;
			continue;
		}
		v.iov_base = (char *)v.iov_base + skip;
		v.iov_len -= skip;
		skip = 0;
		if (v.iov_len > left)
			v.iov_len = left;
		left -= v.iov_len;
		cur[k++] = v;
	}
	r->msg.msg_iovlen = k;
	return k;
}

/* The op's final result: the bytes written, or @res if none. */
static int more_end(struct kop *op, __u64 done, int res)
{
	free(op->rest);
	op->rest = NULL;
	return done ? (int)done : res;
}

/*
 * An EINVAL from io_uring's sendmsg or recvmsg (the first part: nothing
 * sent yet).  io_uring imports the iovecs before it looks at the rest of
 * the msghdr, and until 6.18 it says EINVAL for more than IOV_MAX of
 * them; the system call checks the name length first (EINVAL), then the
 * count (EMSGSIZE).  Every EINVAL comes after io_uring read the msghdr,
 * so it is there to read (it stays valid until the completion,
 * ksvc_dispatch_submit(3)).
 */
static int msg_einval(const struct kop *op)
{
	const struct msghdr *m;

	m = (const struct msghdr *)(uintptr_t)op->e.args[1];

	if (m->msg_name && (int)m->msg_namelen < 0)
		return -EINVAL;
	return m->msg_iovlen > IOV_MAX ? -EMSGSIZE : -EINVAL;
}

/*
 * The file position after a short write to a regular file or block
 * device at the position.  io_uring finishes such a write in its worker
 * (need_complete_io()); when the rest fails there (no space, the file
 * size limit, a bad buffer) it completes with the bytes written but
 * leaves the file position where it was: kiocb_done() stores it only for
 * a result >= 0 (Debian's 6.1 and 6.12 and 6.18 alike).  write(2) moves
 * it past those bytes, and a program's next write goes there: left
 * alone, it would overwrite them, and a loop that writes the rest would
 * not see the error.  So the driver moves the position itself (to the
 * end for an appending write, where write(2) leaves it).  Whether this
 * kernel needs it is probed the first time it matters, not assumed: a
 * 2-byte write at the position of a memfd whose second byte is not
 * mapped.
 */
enum { POS_UNKNOWN, POS_LAGS, POS_MOVES };
static int pos_probed;		/* POS_*, for the process (atomic) */

/*
 * POS_UNKNOWN when the probe could not run (no descriptor, memory or
 * io_uring for it, as under EMFILE or ENOMEM): that is no answer, and
 * pos_mend() asks again the next time.  Remembered as one, it would
 * leave the position behind after every later short write on a kernel
 * that lags (found by test_fault_lib).  The write during which the probe
 * failed is not mended.
 */
static int pos_probe(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int fd, ret, ans = POS_UNKNOWN;
	struct rlimit fsz;
	char *m;

	/* The probe's 2-byte write must not raise SIGXFSZ. */
	if (getrlimit(RLIMIT_FSIZE, &fsz) || fsz.rlim_cur < 2)
		return POS_UNKNOWN;
	fd = memfd_create("ksvc-pos-probe", MFD_CLOEXEC);
	if (fd < 0)
		return POS_UNKNOWN;
	m = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		goto out;
	m[pg - 1] = 'p';
	if (mprotect(m + pg, (size_t)pg, PROT_NONE) == 0 &&
	    io_uring_queue_init(2, &ring, 0) == 0) {
		/* one byte written, the second faults in the worker */
		io_uring_prep_write(io_uring_get_sqe(&ring), fd, m + pg - 1,
				    2, -1ull);
		ret = io_uring_submit(&ring) == 1 ? -EINTR : -1;
		while (ret == -EINTR)
			ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret == 0)
			ans = cqe->res == 1 && lseek(fd, 0, SEEK_CUR) == 0 ?
			      POS_LAGS : POS_MOVES;
		io_uring_queue_exit(&ring);
	}
	munmap(m, (size_t)pg * 2);
out:
	close(fd);
	return ans;
}

/*
 * After a short write of @done bytes at the position of a regular file:
 * @op's write, writev or pwritev2 (whose RWF_APPEND or RWF_NOAPPEND
 * overrides the descriptor's O_APPEND).
 */
static void pos_mend(const struct kop *op, __u64 done)
{
	const __u64 *a = op->e.args;
	int p = A_LOADR(&pos_probed), fd = (int)a[0], append;

	if (p == POS_UNKNOWN) {
		p = pos_probe();
		A_STORE(&pos_probed, p);	/* UNKNOWN: ask again */
	}
	if (p != POS_LAGS)
		return;
	if (op->e.syscall_nr == SYS_pwritev2 && (a[5] & RWF_APPEND))
		append = 1;
	else if (op->e.syscall_nr == SYS_pwritev2 &&
		 (a[5] & KSVC_RWF_NOAPPEND))
		append = 0;
	else
		append = !!(fcntl(fd, F_GETFL) & O_APPEND);
	if (append)
		lseek(fd, 0, SEEK_END);
	else
		lseek(fd, (off_t)done, SEEK_CUR);
}

/*
 * A write or send that io_uring finished short.  The blocking system
 * call waits until it has written everything (on a pipe, a socket, a
 * terminal): io_uring tries once without waiting and reports what fit.
 * So the driver sends the rest as a new request (a send waits for room
 * first, IORING_RECVSEND_POLL_FIRST) and reports the whole count, or,
 * when a later part fails, the bytes written before (as the system call
 * does; a stop's -ECANCELED too).  Not for regular files and block
 * devices, where io_uring already writes all it can: a short count
 * there is the system call's own (no space, a file size limit), but the
 * file position needs mending (pos_mend()); nor for other files that
 * are not pipes, sockets or terminals (an eventfd, a device), whose
 * blocking write returns a short count too.  write
 * and sendto step through their one buffer; writev, pwritev2 and
 * sendmsg copy the caller's iovecs at the first short count (rest_get()).
 * Also the EINVAL of a sendmsg or recvmsg (KSVC_T1_MSGHDR, msg_einval()).
 *
 * Returns the result to complete the op with, or KSVC_T1_MORE when the
 * rest was queued (the op stays in flight).
 */
int ksvc__t1_more(struct ksvc_dispatcher *d, struct kop *op, int res)
{
	const __u64 *a = op->e.args;
	__u32 nr = op->e.syscall_nr;
	__u64 done = op->sent + (__u64)(res > 0 ? res : 0);
	int vec = nr == SYS_writev || nr == SYS_pwritev2 || nr == SYS_sendmsg;
	struct io_uring_sqe *sqe;
	__u64 total;

	if (res == -EINVAL && (op->more & KSVC_T1_MSGHDR) && !op->sent)
		res = msg_einval(op);
	if (!(op->more & KSVC_T1_REST))
		return res;
	if (res <= 0)
		return more_end(op, op->sent, res);
	if (!vec)	/* the system call writes MAX_RW_COUNT at most */
		total = a[2] < KSVC_MAX_RW_COUNT ? a[2] : KSVC_MAX_RW_COUNT;
	else if (op->rest)
		total = op->rest->total;
	else	/* the first part: all of it, or the rest to make */
		op->rest = rest_get(op, done, &total);
	if (done >= total)
		return more_end(op, done, res);
	if (nr != SYS_sendto && nr != SYS_sendmsg && !op->sent) {
		int type = ksvc__fd_type((int)a[0]);

		if (type == S_IFREG || type == S_IFBLK) {
			pos_mend(op, done);
			return more_end(op, done, res);
		}
		/*
		 * Only pipes, sockets and terminals go on writing until all
		 * is written.  Any other file's short count is its answer:
		 * an eventfd takes 8 bytes of a longer write, and the rest
		 * would be another value added.
		 */
		if (type != S_IFIFO && type != S_IFSOCK &&
		    !(type == S_IFCHR && isatty((int)a[0])))
			return more_end(op, done, res);
	}
	/* Nothing new once a stop or a cancel is asked for (what was
	 * written counts), or without memory for the rest. */
	if (A_LOADR(&d->stop_req) || A_LOADR(&op->cancel) ||
	    (vec && !op->rest))
		return more_end(op, done, res);
	sqe = get_sqe_or_null(d);
	if (!sqe)
		return more_end(op, done, res);
	d->sqe_calls++;
	op->sent = done;
	switch (nr) {
	case SYS_write:
		io_uring_prep_write(sqe, (int)a[0],
				    (const void *)(uintptr_t)(a[1] + done),
				    (unsigned int)(total - done), -1ull);
		break;
	case SYS_writev:
	case SYS_pwritev2:
		io_uring_prep_writev2(sqe, (int)a[0], op->rest->msg.msg_iov,
				      rest_skip(op->rest, done), -1ull,
				      nr == SYS_writev ? 0 : (int)a[5]);
		break;
	case SYS_sendmsg:
		rest_skip(op->rest, done);
		io_uring_prep_sendmsg(sqe, (int)a[0], &op->rest->msg,
				      (unsigned int)a[2]);
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	default:	/* sendto: SEND, or SENDMSG with an address */
		if (op->opcode == IORING_OP_SENDMSG) {
			op->iov.iov_base = (void *)(uintptr_t)(a[1] + done);
			op->iov.iov_len = total - done;
			io_uring_prep_sendmsg(sqe, (int)a[0], &op->msg,
				(unsigned int)a[3]);
		} else {
			io_uring_prep_send(sqe, (int)a[0],
				(const void *)(uintptr_t)(a[1] + done),
				total - done, (int)a[3]);
		}
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
		break;
	}
	io_uring_sqe_set_data(sqe, op);
	d->t1_inflight++;
	return KSVC_T1_MORE;
}

/*
 * Arm a futex wait (IORING_OP_FUTEX_WAIT, 32-bit, private) on @addr while
 * it holds @val.  Completes when woken, or at once with -EAGAIN if the
 * word already differs.
 */
int ksvc__t1_arm(struct ksvc_dispatcher *d, __u32 *addr, __u32 val, __u64 ud)
{
	struct io_uring_sqe *sqe = get_sqe(d);

	io_uring_prep_rw(KSVC_IORING_OP_FUTEX_WAIT, sqe,
			 KSVC_FUTEX2_SIZE_U32 | KSVC_FUTEX2_PRIVATE, addr, 0,
			 val);
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
	io_uring_sqe_set_data64(sqe, ud);
	d->t1_inflight++;
	return 0;
}

/* Does the kernel hold completions that need io_uring_enter() to show? */
int ksvc__t1_need_enter(struct ksvc_dispatcher *d)
{
	unsigned int f = IO_URING_READ_ONCE(*d->ring.sq.kflags);

	return (f & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

/*
 * Submit what is prepared; with @wait_nr, wait for that many completions
 * (at most until @ts).  Returns the io_uring result (>= 0, -ETIME, -EINTR,
 * ...).
 */
int ksvc__t1_submit(struct ksvc_dispatcher *d, int wait_nr,
		    const struct __kernel_timespec *ts)
{
	unsigned int calls = d->sqe_calls;
	struct io_uring_cqe *cqe;
	int ret;


	if (wait_nr && ts)
		ret = io_uring_submit_and_wait_timeout(&d->ring, &cqe,
					(unsigned)wait_nr,
					(struct __kernel_timespec *)ts, NULL);
	else if (wait_nr)
		ret = io_uring_submit_and_wait(&d->ring, (unsigned)wait_nr);
	else if (d->uring_flags & IORING_SETUP_DEFER_TASKRUN)
		ret = io_uring_submit_and_get_events(&d->ring);
	else
		ret = io_uring_submit(&d->ring);
	/* Everything prepared is now with the kernel (liburing retries). */
	if (io_uring_sq_ready(&d->ring) == 0) {
		d->sqe_pending = 0;
		d->sqe_calls = 0;
		/* Our own futex waits and cancels are no batch of calls. */
		if (calls)
			A_INC(&d->c1.batches);
	}
	return ret;
}

/*
 * Ask io_uring to cancel @op's request (KSVC_ENTRY_CANCEL).  A request
 * that io_uring can no longer stop (a read in progress in a worker)
 * completes with its own result; a rest not yet queued is never queued
 * (ksvc__t1_more() looks at op->cancel).
 */
void ksvc__t1_cancel_op(struct ksvc_dispatcher *d, struct kop *op)
{
	struct io_uring_sqe *sqe = get_sqe_or_null(d);

	if (!sqe)
		return;		/* the ring is gone: nothing runs any more */
	io_uring_prep_cancel64(sqe, (__u64)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, (__u64)(uintptr_t)op | UD_OP_CANCEL);
	d->t1_inflight++;
	d->cancel_inflight++;
}

/*
 * io_uring answered the cancel of @op with @res.  -ENOENT while the op
 * is still ours to finish means the request was between two of
 * io_uring's homes: 6.1 moves a write it cannot do without waiting from
 * the submission to task work, then to a worker, and a cancel that comes
 * in between finds it nowhere.  Ask again (up to 254 times; the op's own
 * completion, if it came first, was reaped before this answer).
 */
static void cancel_again(struct ksvc_dispatcher *d, struct kop *op, int res)
{
	if (res != -ENOENT || !op->live || op->route != R_T1 ||
	    !op->cancel || op->cancel == 255)
		return;
	op->cancel++;
	ksvc__t1_cancel_op(d, op);
}

/*
 * Collect every completion the ring holds.  Returns how many.
 *
 * Like io_uring_for_each_cqe(), but with one acquire load of the tail
 * per round instead of one per CQE: the CQEs up to that tail are all
 * written (the kernel publishes the tail after them), and we are the
 * only consumer, so the head is ours.  A round repeats while finishing
 * ops (chains starting their successors, a full SQ submitted on the way)
 * made the kernel post more.
 */
int ksvc__t1_reap(struct ksvc_dispatcher *d)
{
	struct io_uring *ring = &d->ring;
	unsigned int n = 0, fast = 0;

	for (;;) {
		unsigned int head = *ring->cq.khead;
		unsigned int tail = io_uring_smp_load_acquire(ring->cq.ktail);
		unsigned int mask = ring->cq.ring_mask, got = tail - head;

		if (!got)
			break;
		for (; head != tail; head++) {
			/* Never IORING_SETUP_CQE32: one slot per CQE. */
			struct io_uring_cqe *cqe = &ring->cq.cqes[head & mask];
			__u64 ud = cqe->user_data;
			int res = cqe->res;
			struct kop *op;

			d->t1_inflight--;
			if (ud < UD_INTERNAL_MAX) {
				if (ud == UD_TAIL)
					d->armed_tail = 0;
				else if (ud == UD_DB)
					d->armed_db = 0;
				else if (ud == UD_CANCEL)
					d->cancel_inflight--;
				continue;
			}
			if (ud & UD_OP_CANCEL) {
				d->cancel_inflight--;
				cancel_again(d, (struct kop *)(uintptr_t)
						(ud & ~UD_OP_CANCEL), res);
				continue;
			}
			op = (struct kop *)(uintptr_t)ud;
			if (op->more) {
				res = ksvc__t1_more(d, op, res);
				if (res == KSVC_T1_MORE)
					continue;
			}
			if (ksvc__t1_done_fast(d, op, res) == 0)
				fast++;
			else
				ksvc__finish(d, op, res, KSVC_COMP_TIER1);
		}
		io_uring_cq_advance(ring, got);
		n += got;
	}
	if (fast)
		CTR_ADD(&d->c1.completed, fast);
	return (int)n;
}

/*
 * Ask io_uring to cancel every request of ours still in flight: the
 * dispatcher's futex waits and each Tier 1 operation, by user_data
 * (which works on every kernel, unlike IORING_ASYNC_CANCEL_ANY).
 * Returns the number of cancellations queued.
 */
int ksvc__t1_cancel_all(struct ksvc_dispatcher *d)
{
	struct io_uring_sqe *sqe;
	unsigned int i, n = 0;

	if (d->armed_tail) {
		sqe = get_sqe_or_null(d);
		if (!sqe)
			return (int)n;
		io_uring_prep_cancel64(sqe, UD_TAIL, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		d->t1_inflight++;
		d->cancel_inflight++;
		n++;
	}
	if (d->armed_db) {
		sqe = get_sqe_or_null(d);
		if (!sqe)
			return (int)n;
		io_uring_prep_cancel64(sqe, UD_DB, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		d->t1_inflight++;
		d->cancel_inflight++;
		n++;
	}
	for (i = 0; i < d->nops; i++) {
		struct kop *op = &d->opmem[i];

		if (op->route != R_T1 || !op->live)
			continue;
		sqe = get_sqe_or_null(d);
		if (!sqe)
			return (int)n;
		io_uring_prep_cancel64(sqe, (__u64)(uintptr_t)op, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
		d->t1_inflight++;
		d->cancel_inflight++;
		n++;
	}
	return (int)n;
}
