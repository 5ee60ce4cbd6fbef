// SPDX-License-Identifier: MIT
/*
 * setup.c - libksvc setup: create an instance and map it (ksvc_open),
 * tear it down (ksvc_close), and the small calls around it.
 *
 * Two back ends with one layout:
 *   kernel mode  /dev/ksvc: KSVC_IOC_CREATE, then mmap of the three
 *                regions with the sizes the kernel reported;
 *   anon mode    MAP_SHARED|MAP_ANONYMOUS memory laid out exactly like
 *                the kernel's (ring headers initialised the same way, a
 *                read-only shared page that is never fresh).
 *
 * Nothing that comes back from the kernel is trusted blindly: every ring
 * header and the shared page are checked before the handle is handed out,
 * and the process-local struct ksvc_ring keeps its own copy of the
 * geometry.  Every failure unwinds everything done so far.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include "ksvc.h"
#include "epoch.h"

#define KSVC_DEFAULT_SUBMIT	256u

#define KSVC_OPEN_FLAGS_ALL	(KSVC_OPEN_EVENTFD_NEW | \
				 KSVC_OPEN_EVENTFD_GIVEN | \
				 KSVC_OPEN_ANON_FALLBACK | \
				 KSVC_OPEN_ANON)

/* The resolved, validated request. */
struct open_req {
	__u32 sq_entries;
	__u32 cq_entries;
	__u32 flags;
	int eventfd;		/* given fd (or -1) when EVENTFD_GIVEN */
};

static int valid_entries(__u32 n)
{
	return n >= KSVC_MIN_ENTRIES && n <= KSVC_MAX_ENTRIES &&
	       (n & (n - 1)) == 0;
}

static int errno_neg(void)
{
	return errno ? -errno : -EIO;
}

/*
 * Is @fd an eventfd?  -EBADF if it is not an open descriptor, -EINVAL if
 * it is something else.  Where /proc is not mounted (a chroot, a small
 * container) the file system tells at least that it is an anonymous
 * inode (eventfd, timerfd, signalfd, epoll...: none of which takes the
 * library's 8-byte writes), so no file or pipe is ever written to; the
 * kernel checks again at KSVC_IOC_CREATE.
 */
static int check_eventfd(int fd)
{
	char path[64], link[64];
	struct statfs sfs;
	ssize_t n;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0) {
		if (fstatfs(fd, &sfs) < 0)
			return -EBADF;
		return sfs.f_type == ANON_INODE_FS_MAGIC ? 0 : -EINVAL;
	}
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

static int resolve_params(struct open_req *req,
			  const struct ksvc_open_params *p)
{
	__u32 flags = p ? p->flags : 0;

	memset(req, 0, sizeof(*req));
	req->eventfd = -1;
	if (flags & ~KSVC_OPEN_FLAGS_ALL)
		return -EINVAL;
	if ((flags & KSVC_OPEN_EVENTFD_NEW) && (flags & KSVC_OPEN_EVENTFD_GIVEN))
		return -EINVAL;
	req->flags = flags;

	req->sq_entries = p && p->submit_entries ? p->submit_entries
						 : KSVC_DEFAULT_SUBMIT;
	if (!valid_entries(req->sq_entries))
		return -EINVAL;
	if (p && p->complete_entries) {
		req->cq_entries = p->complete_entries;
	} else {
		/* Twice the submit ring, within the bounds. */
		req->cq_entries = req->sq_entries * 2;
		if (req->cq_entries > KSVC_MAX_ENTRIES)
			req->cq_entries = KSVC_MAX_ENTRIES;
	}
	if (!valid_entries(req->cq_entries))
		return -EINVAL;

	if (flags & KSVC_OPEN_EVENTFD_GIVEN) {
		/* -1 asks for no eventfd at all. */
		if (p->eventfd != -1) {
			int err = check_eventfd(p->eventfd);

			if (err)
				return err;
		}
		req->eventfd = p->eventfd;
	}
	return 0;
}

/* Check a mapped ring header against what was asked for. */
static int check_ring(struct ksvc_ring *r, void *base, __u32 map_size,
		      __u32 magic, __u32 entries, __u32 entry_size)
{
	const struct ksvc_ring_hdr *h = base;
	size_t need = KSVC_RING_HDR_SIZE + (size_t)entries * entry_size;

	if (map_size < need ||
	    map_size != ksvc_ring_pages(entries, entry_size) * KSVC_PAGE_SIZE)
		return -EPROTO;
	if (h->magic != magic || h->entries != entries ||
	    h->mask != entries - 1 || h->entry_size != entry_size ||
	    h->entries_offset != KSVC_RING_HDR_SIZE ||
	    h->ring_size != map_size)
		return -EPROTO;

	r->hdr = base;
	r->slots = (unsigned char *)base + KSVC_RING_HDR_SIZE;
	r->entries = entries;
	r->mask = entries - 1;
	r->entry_size = entry_size;
	r->map_size = map_size;
	return 0;
}

static int check_shared(const struct ksvc_shared_page *s, __u32 size)
{
	if (size != KSVC_PAGE_SIZE)
		return -EPROTO;
	if (s->magic != KSVC_SHARED_MAGIC || s->version < KSVC_SHARED_VERSION)
		return -EPROTO;
	return 0;
}

static void unmap_all(struct ksvc *k)
{
	if (k->sq.hdr)
		munmap(k->sq.hdr, k->sq.map_size);
	if (k->cq.hdr)
		munmap(k->cq.hdr, k->cq.map_size);
	if (k->shared)
		munmap((void *)k->shared, KSVC_PAGE_SIZE);
	k->sq.hdr = NULL;
	k->cq.hdr = NULL;
	k->shared = NULL;
}

/* ---- the process epoch (epoch.h) ---------------------------------- */

static pthread_once_t epoch_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t epoch_lock = PTHREAD_MUTEX_INITIALIZER;
static __u64 epoch_fallback;
static __u64 epoch_counter;
__u64 *ksvc__epoch_word = &epoch_fallback;

static void epoch_child(void)
{
	__atomic_store_n(ksvc__epoch_word, 0, __ATOMIC_RELAXED);
	/* A parent's thread may have held it: the child is single. */
	pthread_mutex_init(&epoch_lock, NULL);
}

static void epoch_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED) {
		if (madvise(p, 4096, MADV_WIPEONFORK) == 0)
			ksvc__epoch_word = p;
		else
			munmap(p, 4096);
	}
	pthread_atfork(NULL, NULL, epoch_child);
}

__u64 ksvc__epoch(void)
{
	__u64 e;

	pthread_once(&epoch_once, epoch_init);
	pthread_mutex_lock(&epoch_lock);
	e = __atomic_load_n(ksvc__epoch_word, __ATOMIC_RELAXED);
	if (!e) {
		e = ++epoch_counter;
		__atomic_store_n(ksvc__epoch_word, e, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&epoch_lock);
	return e;
}

int ksvc__owned_here(const struct ksvc *k)
{
	/* The pid first: a vfork child shares the epoch's page. */
	return getpid() == k->owner && k->epoch == ksvc__epoch();
}

/* Release everything a (possibly half-built) handle holds. */
static void teardown(struct ksvc *k)
{
	int saved = errno;

	/*
	 * Kernel mappings are not inherited over fork(), and anonymous ones
	 * are made not to be either (MADV_DONTFORK): in any process but the
	 * owner those addresses may belong to something else by now.
	 */
	if (ksvc__owned_here(k))
		unmap_all(k);
	if (k->fd >= 0)
		close(k->fd);
	if (k->eventfd >= 0)
		close(k->eventfd);	/* ours, made or duplicated */
	free(k);
	errno = saved;
}

static void *map_region(int fd, __u32 size, int prot, __u64 off)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

static int open_kernel(struct ksvc *k, const struct open_req *req)
{
	struct ksvc_create_params cp;
	void *sq, *cq, *sh;
	int err;

	k->fd = open(KSVC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return errno_neg();

	memset(&cp, 0, sizeof(cp));
	cp.submit_ring_entries = req->sq_entries;
	cp.complete_ring_entries = req->cq_entries;
	cp.flags = 0;
	cp.eventfd = k->eventfd;
	if (ioctl(k->fd, KSVC_IOC_CREATE, &cp) < 0)
		return errno_neg();
	if (cp.abi_version != KSVC_ABI_VERSION ||
	    cp.submit_ring_size != ksvc_ring_pages(req->sq_entries,
			sizeof(struct ksvc_entry)) * KSVC_PAGE_SIZE ||
	    cp.complete_ring_size != ksvc_ring_pages(req->cq_entries,
			sizeof(struct ksvc_completion)) * KSVC_PAGE_SIZE ||
	    cp.shared_page_size != KSVC_PAGE_SIZE)
		return -EPROTO;
	k->features = cp.features;

	sq = map_region(k->fd, cp.submit_ring_size, PROT_READ | PROT_WRITE,
			KSVC_OFF_SUBMIT_RING);
	if (!sq)
		return errno_neg();
	k->sq.hdr = sq;			/* so that teardown unmaps it */
	k->sq.map_size = cp.submit_ring_size;
	err = check_ring(&k->sq, sq, cp.submit_ring_size,
			 KSVC_SUBMIT_RING_MAGIC, req->sq_entries,
			 sizeof(struct ksvc_entry));
	if (err)
		return err;

	cq = map_region(k->fd, cp.complete_ring_size, PROT_READ | PROT_WRITE,
			KSVC_OFF_COMPLETE_RING);
	if (!cq)
		return errno_neg();
	k->cq.hdr = cq;
	k->cq.map_size = cp.complete_ring_size;
	err = check_ring(&k->cq, cq, cp.complete_ring_size,
			 KSVC_COMPLETE_RING_MAGIC, req->cq_entries,
			 sizeof(struct ksvc_completion));
	if (err)
		return err;

	sh = map_region(k->fd, cp.shared_page_size, PROT_READ,
			KSVC_OFF_SHARED_PAGE);
	if (!sh)
		return errno_neg();
	k->shared = sh;
	return check_shared(k->shared, cp.shared_page_size);
}

/* An anonymous ring, its header written the way the kernel writes it. */
static void *anon_ring(struct ksvc_ring *r, __u32 magic, __u32 entries,
		       __u32 entry_size)
{
	__u32 size = ksvc_ring_pages(entries, entry_size) * KSVC_PAGE_SIZE;
	struct ksvc_ring_hdr *h;

	h = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED)
		return NULL;
	/* Like the kernel's mappings: not inherited by a forked child. */
	madvise(h, size, MADV_DONTFORK);
	h->magic = magic;
	h->entries = entries;
	h->mask = entries - 1;
	h->entry_size = entry_size;
	h->entries_offset = KSVC_RING_HDR_SIZE;
	h->ring_size = size;
	r->hdr = h;
	r->map_size = size;
	return h;
}

static int open_anon(struct ksvc *k, const struct open_req *req)
{
	struct ksvc_shared_page *s;
	int err;

	k->fd = -1;
	k->features = 0;
	if (!anon_ring(&k->sq, KSVC_SUBMIT_RING_MAGIC, req->sq_entries,
		       sizeof(struct ksvc_entry)))
		return errno_neg();
	err = check_ring(&k->sq, k->sq.hdr, k->sq.map_size,
			 KSVC_SUBMIT_RING_MAGIC, req->sq_entries,
			 sizeof(struct ksvc_entry));
	if (err)
		return err;
	if (!anon_ring(&k->cq, KSVC_COMPLETE_RING_MAGIC, req->cq_entries,
		       sizeof(struct ksvc_completion)))
		return errno_neg();
	err = check_ring(&k->cq, k->cq.hdr, k->cq.map_size,
			 KSVC_COMPLETE_RING_MAGIC, req->cq_entries,
			 sizeof(struct ksvc_completion));
	if (err)
		return err;

	s = mmap(NULL, KSVC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		return errno_neg();
	k->shared = s;
	madvise(s, KSVC_PAGE_SIZE, MADV_DONTFORK);
	s->magic = KSVC_SHARED_MAGIC;
	s->version = KSVC_SHARED_VERSION;
	/* seq 0, fresh 0: nothing is ever promised in anonymous mode. */
	if (mprotect(s, KSVC_PAGE_SIZE, PROT_READ) < 0)
		return errno_neg();
	return 0;
}

static int no_device(int err)
{
	/* No node, or a node without a driver behind it. */
	return err == -ENOENT || err == -ENODEV || err == -ENXIO;
}

static int do_open(struct ksvc **out, const struct ksvc_open_params *params)
{
	struct open_req req;
	struct ksvc *k;
	int err;

	if (!out)
		return -EINVAL;
	err = resolve_params(&req, params);
	if (err)
		return err;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = -1;
	k->eventfd = -1;
	k->owner = getpid();
	k->epoch = ksvc__epoch();

	if (req.flags & KSVC_OPEN_EVENTFD_GIVEN) {
		/*
		 * Our own descriptor for it: the program may close its
		 * number, and the next open() may take it, while we go on
		 * writing and polling ours.
		 */
		if (req.eventfd >= 0) {
			k->eventfd = fcntl(req.eventfd, F_DUPFD_CLOEXEC, 0);
			if (k->eventfd < 0) {
				err = errno_neg();
				goto fail;
			}
		}
	} else {
		k->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->eventfd < 0) {
			err = errno_neg();
			goto fail;
		}
		k->owns_eventfd = 1;
	}

	if (req.flags & KSVC_OPEN_ANON) {
		k->mode = KSVC_MODE_ANON;
		err = open_anon(k, &req);
	} else {
		k->mode = KSVC_MODE_KERNEL;
		err = open_kernel(k, &req);
		if (err && no_device(err) && k->fd < 0 &&
		    (req.flags & KSVC_OPEN_ANON_FALLBACK)) {
			k->mode = KSVC_MODE_ANON;
			err = open_anon(k, &req);
		}
	}
	if (err)
		goto fail;
	*out = k;
	return 0;

fail:
	teardown(k);
	return err;
}

/*
 * The functions below return an error, never set errno (ksvc_open(3)):
 * the system calls they make leave it as it was.
 */
int ksvc_open(struct ksvc **out, const struct ksvc_open_params *params)
{
	int saved = errno;
	int err = do_open(out, params);

	errno = saved;
	return err;
}

void ksvc_close(struct ksvc *k)
{
	int saved = errno;

	if (k)
		teardown(k);
	errno = saved;
}

static int do_notify(struct ksvc *k)
{
	__u64 one = 1;

	if (!k)
		return -EINVAL;
	if (k->mode == KSVC_MODE_KERNEL)
		return ioctl(k->fd, KSVC_IOC_NOTIFY, 0) < 0 ? errno_neg() : 0;
	if (k->eventfd < 0)
		return -ENOENT;
	for (;;) {
		ssize_t n = write(k->eventfd, &one, sizeof(one));

		if (n == (ssize_t)sizeof(one))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? errno_neg() : -EIO;
	}
}

int ksvc_notify(struct ksvc *k)
{
	int saved = errno;
	int err = do_notify(k);

	errno = saved;
	return err;
}

int ksvc_refresh(struct ksvc *k)
{
	int saved = errno;
	int err;

	if (!k)
		return -EINVAL;
	if (k->mode != KSVC_MODE_KERNEL)
		return -EOPNOTSUPP;
	err = ioctl(k->fd, KSVC_IOC_REFRESH, 0) < 0 ? errno_neg() : 0;
	errno = saved;
	return err;
}

/*
 * ksvc_strerror: what went wrong, in the context of this library, and
 * what to do about it.  Static strings only: thread-safe and usable from
 * a signal handler.
 */
static const struct {
	int err;
	const char *msg;
} ksvc_errors[] = {
	{ 0, "Success." },
	{ ENOENT, "/dev/ksvc not found: load the module (sudo insmod ksvc.ko), "
		  "or open with KSVC_OPEN_ANON_FALLBACK to run without it. "
		  "From ksvc_notify: the instance has no eventfd. From "
		  "ksvc_dispatch_cancel: no call with that id is in flight." },
	{ ENODEV, "/dev/ksvc exists but no driver is behind it: load the module "
		  "(sudo insmod ksvc.ko)." },
	{ ENXIO, "/dev/ksvc exists but no driver is behind it: load the module "
		 "(sudo insmod ksvc.ko)." },
	{ ENOTTY, "Not a KSVC device, or a ksvc.ko whose ABI does not match "
		  "this library: rebuild and reload the module from the same "
		  "source tree as libksvc." },
	{ EPROTO, "The module answered with a layout this library does not "
		  "understand (ABI mismatch): rebuild and reload ksvc.ko from "
		  "the same source tree as libksvc." },
	{ EACCES, "Permission denied: /dev/ksvc could not be opened (check its "
		  "mode, it should be 0666), or this instance belongs to another "
		  "process (it was inherited over fork(), passed over a socket, "
		  "or the process has called execve since): open a new one." },
	{ EPERM, "Operation not permitted: the shared page is read-only and no "
		 "region may be executable; from the dispatcher: with "
		 "KSVC_DISPATCH_ONE_DRIVER only the thread that drives it may "
		 "make this call." },
	{ EBUSY, "This file already has an instance, or the module is in use: "
		 "open /dev/ksvc again for a second instance; close every "
		 "instance and mapping before unloading the module. From the "
		 "dispatcher: another dispatcher serves this instance, another "
		 "thread is driving it, or the program has its own handler for "
		 "the cancel signal (choose another cancel_signal)." },
	{ EINVAL, "Invalid argument: ring sizes must be powers of two between "
		  "16 and 32768, unknown flags must be zero, and the device must "
		  "be opened O_RDWR with an instance created before mmap. From "
		  "the dispatcher: a field of struct ksvc_dispatch_params out of "
		  "range (workers, spin_us, uring_entries, cancel_signal), "
		  "unknown flags or non-zero reserved words, ONE_DRIVER without "
		  "CALLER_DRIVES, a NULL argument, or min greater than max." },
	{ EBADF, "Bad file descriptor: the eventfd given is not an open file "
		 "descriptor (pass -1 for none)." },
	{ EFAULT, "Bad address passed to the module." },
	{ ENOMEM, "Out of memory for the rings (they are charged to your memory "
		  "cgroup): use smaller rings or raise the limit." },
	{ EMFILE, "Too many open files in this process: raise RLIMIT_NOFILE "
		  "(ulimit -n) or close some; or this user (or the user who "
		  "made its user namespace) has as many KSVC instances as the "
		  "module allows (max_user_instances in "
		  "/sys/module/ksvc/parameters)." },
	{ ENFILE, "Too many open files in the system: raise fs.file-max or "
		  "close some." },
	{ EAGAIN, "The ring is full (submit: reap completions or pass "
		  "KSVC_SUBMIT_WAIT) or empty (reap): try again later. From "
		  "ksvc_dispatch_call: all its call slots are in use. From "
		  "ksvc_dispatch_create: a thread could not be created "
		  "(RLIMIT_NPROC or the system's thread limits)." },
	{ EOPNOTSUPP, "Not supported by this instance: it runs in anonymous "
		      "mode, without the kernel module (load ksvc.ko for it). "
		      "As the result of a call with KSVC_COMP_REFUSED: the "
		      "dispatcher does not run it; make the call yourself." },
	{ ECANCELED, "The operation was cancelled because the dispatcher "
		     "stopped." },
	{ EIO, "Unexpected short read or write on a KSVC descriptor." },
	{ ESHUTDOWN, "The dispatcher was stopped (ksvc_dispatch_stop): it "
		     "takes no more calls; reap what is left, destroy it and "
		     "create another." },
	{ ETIMEDOUT, "Fewer completions than asked for arrived before the "
		     "timeout; none was taken: wait again, or ask for fewer." },
	{ EINTR, "A signal interrupted the wait before enough completions "
		 "arrived; none was taken: wait again." },
};

const char *ksvc_strerror(int err)
{
	size_t i;
	const char *s;

	if (err == INT_MIN)
		return "Unknown error.";
	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(ksvc_errors) / sizeof(ksvc_errors[0]); i++)
		if (ksvc_errors[i].err == err)
			return ksvc_errors[i].msg;
	s = strerrordesc_np(err);
	return s ? s : "Unknown error.";
}
