// SPDX-License-Identifier: MIT
/*
 * test_compat32 - the device from a 32-bit (ia32) process.
 *
 * ksvc(4): the module does not look at the caller's ABI and creates
 * instances for 32-bit processes too.  Their ioctls reach it through
 * its compat_ioctl; their mmap offsets through mmap2.  This program is
 * built -m32 -static (test/test.mk), without libksvc, which is 64-bit
 * only; where the toolchain cannot build it, a stub that skips stands in
 * for it.
 *
 * Checks: open, CREATE (out fields), INFO, the three mappings, REFRESH
 * (the shared page's pid), NOTIFY (the eventfd), a non-zero argument
 * (EINVAL) and an unknown request (ENOTTY).
 */
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "ksvc_uapi.h"
#include "tap.h"

#define SQN	16u
#define CQN	32u

static int xioctl(int fd, unsigned long cmd, unsigned long arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static void *map(int fd, size_t len, int prot, __u64 off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	size_t sq_len = (size_t)ksvc_ring_pages(SQN, sizeof(struct ksvc_entry)) *
			KSVC_PAGE_SIZE;
	size_t cq_len = (size_t)ksvc_ring_pages(CQN,
						sizeof(struct ksvc_completion)) *
			KSVC_PAGE_SIZE;
	struct ksvc_create_params p;
	struct ksvc_info info;
	const struct ksvc_ring_hdr *sq, *cq;
	const struct ksvc_shared_page *sp;
	unsigned long long v = 0;
	int fd, efd, r;

	if (access(KSVC_DEVICE_PATH, F_OK) != 0)
		tap_skip_all("no " KSVC_DEVICE_PATH);
	tap_plan(8);

	fd = open(KSVC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0 || efd < 0)
		tap_bail("open: %s", strerror(errno));

	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = SQN;
	p.complete_ring_entries = CQN;
	p.eventfd = efd;
	r = xioctl(fd, KSVC_IOC_CREATE, (unsigned long)&p);
	tap_ok(r == 0 && p.abi_version == KSVC_ABI_VERSION &&
	       p.submit_ring_size == sq_len && p.complete_ring_size == cq_len &&
	       p.shared_page_size == KSVC_PAGE_SIZE,
	       "32-bit CREATE: %d, abi_version %u, sizes %u/%u/%u", r,
	       p.abi_version, p.submit_ring_size, p.complete_ring_size,
	       p.shared_page_size);
	if (r)
		tap_bail("no instance");

	memset(&info, 0xa5, sizeof(info));
	r = xioctl(fd, KSVC_IOC_INFO, (unsigned long)&info);
	tap_ok(r == 0 && info.id != 0 && info.flags == KSVC_INFO_OWNER,
	       "32-bit INFO: %d, id %llu, flags %#x", r,
	       (unsigned long long)info.id, info.flags);

	sq = map(fd, sq_len, PROT_READ | PROT_WRITE, KSVC_OFF_SUBMIT_RING);
	cq = map(fd, cq_len, PROT_READ | PROT_WRITE, KSVC_OFF_COMPLETE_RING);
	sp = map(fd, KSVC_PAGE_SIZE, PROT_READ, KSVC_OFF_SHARED_PAGE);
	tap_ok(sq && cq && sp && sq->magic == KSVC_SUBMIT_RING_MAGIC &&
	       sq->entries == SQN && cq->magic == KSVC_COMPLETE_RING_MAGIC &&
	       cq->entries == CQN && sp->magic == KSVC_SHARED_MAGIC,
	       "32-bit mmap of the three regions; the headers are right");

	r = xioctl(fd, KSVC_IOC_REFRESH, 0);
	tap_ok(r == 0 && sp && sp->pid == getpid(),
	       "32-bit REFRESH: %d; the shared page has our pid", r);

	r = xioctl(fd, KSVC_IOC_NOTIFY, 0);
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	tap_ok(r == 0 && v == 1, "32-bit NOTIFY: %d; the eventfd reads %llu",
	       r, v);

	r = xioctl(fd, KSVC_IOC_NOTIFY, 1);
	tap_ok(r == -EINVAL, "32-bit NOTIFY with argument 1: EINVAL (%d)", r);
	r = xioctl(fd, _IO(KSVC_IOC_MAGIC, 0x84), 0);
	tap_ok(r == -ENOTTY, "32-bit unknown request: ENOTTY (%d)", r);

	if (sq)
		munmap((void *)sq, sq_len);
	if (cq)
		munmap((void *)cq, cq_len);
	if (sp)
		munmap((void *)sp, KSVC_PAGE_SIZE);
	tap_ok(close(fd) == 0, "close");
	close(efd);
	tap_done();
}
