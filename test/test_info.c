// SPDX-License-Identifier: MIT
/*
 * test_info - KSVC_IOC_INFO names the instance behind a descriptor.
 *
 * The id is never 0, differs between instances (also one made after
 * another was closed), and is the same through dup() and in a forked
 * child; KSVC_INFO_OWNER is set for every thread of the owner and clear
 * in the child; the reserved words are written as zero.  Before CREATE
 * the call fails with EINVAL, and with a bad pointer with EFAULT, both
 * writing nothing; a size other than struct ksvc_info's is ENOTTY.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "util.h"

/* KSVC_IOC_INFO with another argument size: not our command. */
#define INFO_SHORT	_IOR(KSVC_IOC_MAGIC, 0x83, __u64)

static int info(int fd, struct ksvc_info *in)
{
	memset(in, 0xa5, sizeof(*in));
	return ioctl(fd, KSVC_IOC_INFO, in) < 0 ? -errno : 0;
}

static int reserved_zero(const struct ksvc_info *in)
{
	unsigned int i;

	for (i = 0; i < sizeof(in->reserved) / sizeof(in->reserved[0]); i++)
		if (in->reserved[i])
			return 0;
	return 1;
}

/* Every byte still 0xa5? */
static int untouched(const struct ksvc_info *in)
{
	const unsigned char *b = (const unsigned char *)in;
	size_t i;

	for (i = 0; i < sizeof(*in); i++)
		if (b[i] != 0xa5)
			return 0;
	return 1;
}

struct thread_arg {
	int fd;
	int r;
	struct ksvc_info in;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	a->r = info(a->fd, &a->in);
	return NULL;
}

int main(void)
{
	struct ksvc_create_params p;
	struct ksvc_info a, b, c;
	struct thread_arg ta;
	struct ku_counts base;
	pthread_t t;
	__u64 last;
	void *ro;
	int fd, fd2, dfd, r, i, ok, st;
	pid_t pid;

	ku_require_module();
	tap_plan(12);
	base = ku_counts();

	/* Before CREATE: EINVAL, nothing written. */
	fd = ku_open();
	if (fd < 0)
		tap_bail("open: %s", strerror(-fd));
	r = info(fd, &a);
	tap_ok(r == -EINVAL && untouched(&a),
	       "INFO before CREATE: EINVAL, nothing written (%d)", r);

	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = 16;
	p.complete_ring_entries = 16;
	p.eventfd = -1;
	if (ku_create_p(fd, &p))
		tap_bail("CREATE: %s", strerror(errno));
	tap_ok(p.features & KSVC_FEAT_INFO, "CREATE reports KSVC_FEAT_INFO "
	       "(features %#x)", p.features);

	r = info(fd, &a);
	tap_ok(r == 0 && a.id != 0 && a.flags == KSVC_INFO_OWNER &&
	       reserved_zero(&a),
	       "owner: id %llu (not 0), flags exactly KSVC_INFO_OWNER (%#x), "
	       "reserved zero (%d)", (unsigned long long)a.id, a.flags, r);

	ta.fd = fd;
	pthread_create(&t, NULL, thread_main, &ta);
	pthread_join(t, NULL);
	tap_ok(ta.r == 0 && ta.in.id == a.id && ta.in.flags == KSVC_INFO_OWNER,
	       "another thread of the owner: same id, owner");

	dfd = dup(fd);
	r = info(dfd, &b);
	tap_ok(r == 0 && b.id == a.id && b.flags == a.flags,
	       "a dup()ed descriptor: the same id");
	close(dfd);

	fd2 = ku_open_create(16, 16, -1);
	if (fd2 < 0)
		tap_bail("second instance: %s", strerror(-fd2));
	r = info(fd2, &b);
	tap_ok(r == 0 && b.id != 0 && b.id != a.id,
	       "another instance of the same process: another id (%llu, %llu)",
	       (unsigned long long)a.id, (unsigned long long)b.id);

	/* Ids are not reused: each new instance gets one not seen before. */
	ok = 1;
	last = a.id > b.id ? a.id : b.id;
	close(fd2);
	for (i = 0; i < 20; i++) {
		int f = ku_open_create(16, 16, -1);

		if (f < 0 || info(f, &c) != 0 || c.id <= last ||
		    c.id == a.id) {
			ok = 0;
			close(f);
			break;
		}
		last = c.id;
		close(f);
	}
	tap_ok(ok, "20 instances made and closed one after another: each "
	       "id new");

	/* A forked child: same file, same id, not the owner. */
	pid = fork();
	if (pid == 0) {
		struct ksvc_info in;

		if (info(fd, &in) != 0)
			_exit(1);
		if (in.id != a.id)
			_exit(2);
		if (in.flags != 0 || !reserved_zero(&in))
			_exit(3);
		_exit(0);
	}
	st = -1;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		st = WEXITSTATUS(st);
	tap_ok(st == 0, "a forked child: same id, flags 0 (status %d)", st);

	/* Bad pointers: EFAULT; the instance is unchanged. */
	r = ioctl(fd, KSVC_IOC_INFO, NULL) < 0 ? -errno : 0;
	tap_ok(r == -EFAULT, "INFO to NULL: EFAULT (%d)", r);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = ro == MAP_FAILED ? -ENOMEM :
	    (ioctl(fd, KSVC_IOC_INFO, ro) < 0 ? -errno : 0);
	tap_ok(r == -EFAULT, "INFO to a read-only page: EFAULT (%d)", r);
	if (ro != MAP_FAILED)
		munmap(ro, 4096);

	r = ioctl(fd, INFO_SHORT, &last) < 0 ? -errno : 0;
	tap_ok(r == -ENOTTY, "the INFO number with an 8-byte size: ENOTTY "
	       "(%d)", r);

	r = info(fd, &b);
	close(fd);
	tap_ok(r == 0 && b.id == a.id && ku_counts_wait(base),
	       "still the same id after the refused calls; every instance "
	       "freed");
	tap_done();
}
