// SPDX-License-Identifier: MIT
/*
 * test_notify - KSVC_IOC_NOTIFY signals the eventfd given at CREATE; the
 * instance holds its own reference to that eventfd (the file, not the
 * descriptor number); without an eventfd NOTIFY fails with ENOENT.
 */
#include <poll.h>
#include <sys/eventfd.h>

#include "util.h"

static int efd_read(int efd, __u64 *v)
{
	return read(efd, v, sizeof(*v)) == (ssize_t)sizeof(*v) ? 0 : -errno;
}

int main(void)
{
	struct ku_counts base;
	int fd, efd, efd2, other, r, i, ok;
	__u64 v;

	ku_require_module();
	tap_plan(12);
	base = ku_counts();

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = ku_open_create(16, 16, efd);
	if (fd < 0)
		tap_bail("CREATE with an eventfd: %s", strerror(-fd));

	r = ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	v = 0;
	tap_ok(r == 0 && efd_read(efd, &v) == 0 && v == 1,
	       "one NOTIFY adds 1 to the eventfd (ioctl %d, read %llu)", r,
	       (unsigned long long)v);

	ok = 1;
	for (i = 0; i < 5; i++)
		ok &= ku_ioctl0(fd, KSVC_IOC_NOTIFY) == 0;
	v = 0;
	tap_ok(ok && efd_read(efd, &v) == 0 && v == 5,
	       "five NOTIFYs read back as 5 (got %llu)", (unsigned long long)v);
	tap_ok(efd_read(efd, &v) == -EAGAIN, "and nothing more is pending");

	/* No argument: 0 only, so that a later ABI can give it a meaning. */
	{
		static const unsigned long args[] = { 1, 0x80000000ul, ~0ul };
		int einval = 1;

		for (i = 0; i < 3; i++) {
			einval &= ioctl(fd, KSVC_IOC_NOTIFY, args[i]) < 0 &&
				  errno == EINVAL;
			einval &= ioctl(fd, KSVC_IOC_REFRESH, args[i]) < 0 &&
				  errno == EINVAL;
		}
		tap_ok(einval && efd_read(efd, &v) == -EAGAIN,
		       "NOTIFY and REFRESH with a non-zero argument: EINVAL, "
		       "the eventfd not signalled");
	}

	{
		struct pollfd pfd = { efd, POLLIN, 0 };

		ku_ioctl0(fd, KSVC_IOC_NOTIFY);
		tap_ok(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN),
		       "NOTIFY makes the eventfd readable for poll()");
		efd_read(efd, &v);
	}

	/* A saturated counter: eventfd_signal clamps; no warning. */
	v = 0xfffffffffffffffeULL;
	if (write(efd, &v, sizeof(v)) != sizeof(v))
		tap_bail("write eventfd: %s", strerror(errno));
	r = ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	r |= ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	v = 0;
	tap_ok(r == 0 && efd_read(efd, &v) == 0 && v >= 0xfffffffffffffffeULL,
	       "NOTIFY on an eventfd near its maximum neither fails nor wraps "
	       "(read %#llx)", (unsigned long long)v);

	/*
	 * The instance keeps the eventfd file, not the number: keep a second
	 * descriptor, close the one given at CREATE, put a different eventfd
	 * at that same number, then NOTIFY.
	 */
	efd2 = dup(efd);
	close(efd);
	other = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (other != efd)
		tap_diag("new eventfd got number %d, not %d", other, efd);
	r = ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	v = 0;
	tap_ok(r == 0 && efd_read(efd2, &v) == 0 && v == 1,
	       "after the eventfd's number is closed, NOTIFY still signals the "
	       "same eventfd file");
	tap_ok(efd_read(other, &v) == -EAGAIN,
	       "and not the file that now has that descriptor number");
	close(other);

	/* Drop every user reference: the instance's own keeps it alive. */
	close(efd2);
	ok = 1;
	for (i = 0; i < 100; i++)
		ok &= ku_ioctl0(fd, KSVC_IOC_NOTIFY) == 0;
	tap_ok(ok, "with every user descriptor of the eventfd closed, NOTIFY "
	       "still succeeds (the instance holds its own reference)");

	close(fd);
	tap_ok(ku_counts_wait(base), "after close the counters are back");

	/* Without an eventfd. */
	fd = ku_open_create(16, 16, -1);
	if (fd < 0)
		tap_bail("CREATE without an eventfd: %s", strerror(-fd));
	tap_ok(ku_ioctl0(fd, KSVC_IOC_NOTIFY) == -ENOENT,
	       "NOTIFY on an instance created with eventfd -1: ENOENT");
	close(fd);

	/* The eventfd outlives the instance for the user. */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = ku_open_create(16, 16, efd);
	ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	close(fd);
	ku_counts_wait(base);
	v = 0;
	tap_ok(efd_read(efd, &v) == 0 && v == 1 && write(efd, &v, sizeof(v)) == 8,
	       "the user's eventfd keeps working after the instance is gone");
	close(efd);
	tap_done();
}
