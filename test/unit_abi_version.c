// SPDX-License-Identifier: MIT
/*
 * unit_abi_version - ksvc_open() takes only the ABI version it was built
 * for, on the host, against a stand-in for /dev/ksvc.
 *
 * KSVC_ABI_VERSION stays 1 through every compatible extension (those
 * come as feature bits and create flags): a module that answers another
 * abi_version is incompatible, and ksvc_open() fails with -EPROTO, with
 * or without KSVC_OPEN_ANON_FALLBACK (a device that answered is not a
 * missing one).
 *
 * The stand-in: this program defines open() and ioctl(), which the
 * library, linked in statically, calls.  open() of /dev/ksvc gives a
 * memfd laid out as the module lays out its regions (each at its mmap
 * offset); KSVC_IOC_CREATE on it answers the abi_version under test.
 * Every other call goes to the kernel.  The library's Tier 0 instance
 * makes raw system calls and is not reached here.
 */
#include <stdarg.h>

#include "util.h"

static int fake_fd = -1;	/* the memfd behind the stand-in */
static __u32 fake_abi;		/* abi_version KSVC_IOC_CREATE answers */
static int fake_creates;	/* CREATEs answered */

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (fake_fd >= 0 && strcmp(path, KSVC_DEVICE_PATH) == 0)
		return fcntl(fake_fd, F_DUPFD_CLOEXEC, 0);
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static int is_fake(int fd)
{
	struct stat a, b;

	return fake_fd >= 0 && fstat(fd, &a) == 0 &&
	       fstat(fake_fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int ioctl(int fd, unsigned long req, ...)
{
	struct ksvc_create_params *cp;
	void *arg;
	va_list ap;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req != KSVC_IOC_CREATE || !is_fake(fd))
		return (int)syscall(SYS_ioctl, fd, req, arg);
	cp = arg;
	cp->abi_version = fake_abi;
	cp->features = KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH | KSVC_FEAT_INFO;
	cp->submit_ring_size = ksvc_ring_pages(cp->submit_ring_entries,
					       sizeof(struct ksvc_entry)) *
			       KSVC_PAGE_SIZE;
	cp->complete_ring_size = ksvc_ring_pages(cp->complete_ring_entries,
						 sizeof(struct ksvc_completion)) *
				 KSVC_PAGE_SIZE;
	cp->shared_page_size = KSVC_PAGE_SIZE;
	fake_creates++;
	return 0;
}

/* The ring header the module writes, at @off of the memfd. */
static void put_ring(__u64 off, __u32 magic, __u32 entries, __u32 esize)
{
	struct ksvc_ring_hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = magic;
	h.entries = entries;
	h.mask = entries - 1;
	h.entry_size = esize;
	h.entries_offset = KSVC_RING_HDR_SIZE;
	h.ring_size = ksvc_ring_pages(entries, esize) * KSVC_PAGE_SIZE;
	if (pwrite(fake_fd, &h, sizeof(h), (off_t)off) != (ssize_t)sizeof(h))
		tap_bail("pwrite: %s", strerror(errno));
}

static void make_fake(__u32 sq, __u32 cq)
{
	struct ksvc_shared_page s;

	fake_fd = (int)syscall(SYS_memfd_create, "ksvc-fake", MFD_CLOEXEC);
	if (fake_fd < 0 ||
	    ftruncate(fake_fd, (off_t)(KSVC_OFF_SHARED_PAGE + KSVC_PAGE_SIZE)))
		tap_bail("memfd: %s", strerror(errno));
	put_ring(KSVC_OFF_SUBMIT_RING, KSVC_SUBMIT_RING_MAGIC, sq,
		 sizeof(struct ksvc_entry));
	put_ring(KSVC_OFF_COMPLETE_RING, KSVC_COMPLETE_RING_MAGIC, cq,
		 sizeof(struct ksvc_completion));
	memset(&s, 0, sizeof(s));
	s.magic = KSVC_SHARED_MAGIC;
	s.version = KSVC_SHARED_VERSION;
	if (pwrite(fake_fd, &s, sizeof(s), (off_t)KSVC_OFF_SHARED_PAGE) !=
	    (ssize_t)sizeof(s))
		tap_bail("pwrite: %s", strerror(errno));
}

static int open_with(__u32 abi, __u32 flags, struct ksvc **k)
{
	struct ksvc_open_params p;

	memset(&p, 0, sizeof(p));
	p.submit_entries = 16;
	p.complete_entries = 32;
	p.flags = flags;
	fake_abi = abi;
	return ksvc_open(k, &p);
}

int main(void)
{
	static const __u32 bad[] = { 0, KSVC_ABI_VERSION + 1, 0xffffffffu };
	struct ksvc *k = NULL;
	unsigned int i;
	int err, n;

	tap_plan(2 + 2 * (int)(sizeof(bad) / sizeof(bad[0])));
	make_fake(16, 32);

	err = open_with(KSVC_ABI_VERSION, 0, &k);
	tap_ok(err == 0 && fake_creates == 1 && k &&
	       k->mode == KSVC_MODE_KERNEL && k->sq.entries == 16 &&
	       k->cq.entries == 32,
	       "the stand-in works: abi_version %u opens in kernel mode (%s)",
	       KSVC_ABI_VERSION, err ? ksvc_strerror(err) : "0");
	if (!err)
		ksvc_close(k);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k = NULL;
		n = fake_creates;
		err = open_with(bad[i], 0, &k);
		tap_ok(err == -EPROTO && fake_creates == n + 1 && !k,
		       "abi_version %u: -EPROTO (got %d), nothing handed out",
		       bad[i], err);
		err = open_with(bad[i], KSVC_OPEN_ANON_FALLBACK, &k);
		tap_ok(err == -EPROTO && !k,
		       "abi_version %u with KSVC_OPEN_ANON_FALLBACK: -EPROTO "
		       "too, no fallback (got %d)", bad[i], err);
	}

	err = open_with(KSVC_ABI_VERSION, 0, &k);
	tap_ok(err == 0 && k && k->mode == KSVC_MODE_KERNEL,
	       "abi_version %u still opens after the refusals",
	       KSVC_ABI_VERSION);
	if (!err)
		ksvc_close(k);
	close(fake_fd);
	tap_done();
}
