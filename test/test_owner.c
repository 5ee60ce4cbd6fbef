// SPDX-License-Identifier: MIT
/*
 * test_owner - an instance belongs to the process that created it.
 *
 * Refused with EACCES (mmap of any region, NOTIFY, REFRESH):
 *   - a forked child using the inherited descriptor;
 *   - another process that received the descriptor over a unix socket;
 *   - the owner itself after execve (a new program, a new mm).
 *   - a CLONE_VM child (vfork, posix_spawn style): it shares the owner's
 *     address space but is another process.
 * Allowed: every thread of the owner, also when the creating thread has
 * exited.
 */
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "util.h"

#define SQN	16
#define CQN	16

/* What a non-owner saw: -errno (or 0) of each attempt. */
struct verdict {
	int map[KU_NREGIONS];
	int notify;
	int refresh;
};

static struct verdict try_all(int fd)
{
	struct verdict v;
	int r;

	for (r = 0; r < KU_NREGIONS; r++) {
		void *p = ku_map(fd, (enum ku_region)r, SQN, CQN, &v.map[r]);

		if (p)
			munmap(p, ku_region_size((enum ku_region)r, SQN, CQN));
	}
	v.notify = ku_ioctl0(fd, KSVC_IOC_NOTIFY);
	v.refresh = ku_ioctl0(fd, KSVC_IOC_REFRESH);
	return v;
}

static void report(const char *who, const struct verdict *v)
{
	int ok = 1, r;

	for (r = 0; r < KU_NREGIONS; r++)
		if (v->map[r] != -EACCES) {
			tap_diag("%s: mmap %s: %d", who, ku_region_name[r], v->map[r]);
			ok = 0;
		}
	tap_ok(ok, "%s: mmap of each region: EACCES", who);
	tap_ok(v->notify == -EACCES, "%s: NOTIFY: EACCES (got %d)", who, v->notify);
	tap_ok(v->refresh == -EACCES, "%s: REFRESH: EACCES (got %d)", who,
	       v->refresh);
}

static int write_all(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int read_all(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Helper programs (this binary, re-executed)                          */
/* ------------------------------------------------------------------ */

/* --recv SOCK: receive a descriptor over SOCK, try it, answer. */
static int helper_recv(int sock)
{
	char data;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &data, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	struct verdict v;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return 10;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return 11;
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	v = try_all(fd);
	return write_all(sock, &v, sizeof(v)) ? 12 : 0;
}

/* --after-exec FD OUT: the owner after execve tries its own instance. */
static int helper_after_exec(int fd, int out)
{
	struct verdict v = try_all(fd);

	return write_all(out, &v, sizeof(v)) ? 12 : 0;
}

static void self_exec(const char *mode, int a, int b)
{
	char sa[16], sb[16];
	char *argv[] = { "test_owner", (char *)mode, sa, sb, NULL };

	snprintf(sa, sizeof(sa), "%d", a);
	snprintf(sb, sizeof(sb), "%d", b);
	execv("/proc/self/exe", argv);
	_exit(13);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

struct thr {
	int fd;
	int maps_ok;
	int notify, refresh;
};

static void *thread_use(void *arg)
{
	struct thr *t = arg;
	int r, err;

	t->maps_ok = 1;
	for (r = 0; r < KU_NREGIONS; r++) {
		void *p = ku_map(t->fd, (enum ku_region)r, SQN, CQN, &err);

		if (!p) {
			tap_diag("thread: mmap %s: %d", ku_region_name[r], err);
			t->maps_ok = 0;
			continue;
		}
		munmap(p, ku_region_size((enum ku_region)r, SQN, CQN));
	}
	t->notify = ku_ioctl0(t->fd, KSVC_IOC_NOTIFY);
	t->refresh = ku_ioctl0(t->fd, KSVC_IOC_REFRESH);
	return NULL;
}

static void *thread_create(void *arg)
{
	struct thr *t = arg;

	t->fd = ku_open_create(SQN, CQN, -1);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* CLONE_VM children: raw system calls only (they run on the parent's   */
/* TLS, so no errno, no sanitizer runtime)                              */
/* ------------------------------------------------------------------ */

struct vm_result {
	long map;
	long notify;
	long refresh;
};

static volatile struct vm_result vm_res;
static int vm_fd;

__attribute__((no_sanitize("address", "undefined")))
static long raw6(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
#else
	return syscall(nr, a, b, c, d, e, f);
#endif
}

__attribute__((no_sanitize("address", "undefined")))
static int vm_child(void *arg)
{
	long len = (long)ku_region_size(KU_SQ, SQN, CQN);
	long p;

	(void)arg;
	p = raw6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, vm_fd,
		 (long)KSVC_OFF_SUBMIT_RING);
	vm_res.map = p < 0 && p > -4096 ? p : 0;
	if (!vm_res.map)
		raw6(SYS_munmap, p, len, 0, 0, 0, 0);
	vm_res.notify = raw6(SYS_ioctl, vm_fd, KSVC_IOC_NOTIFY, 0, 0, 0, 0);
	vm_res.refresh = raw6(SYS_ioctl, vm_fd, KSVC_IOC_REFRESH, 0, 0, 0, 0);
	return 0;
}

static int run_vm_child(int fd, int flags)
{
	size_t stack_len = 256 * 1024;
	char *stack = mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	int status = -1;
	pid_t pid;

	if (stack == MAP_FAILED)
		tap_bail("mmap stack: %s", strerror(errno));
	vm_fd = fd;
	vm_res.map = vm_res.notify = vm_res.refresh = 1;
	pid = clone(vm_child, stack + stack_len, flags | SIGCHLD, NULL);
	if (pid < 0)
		tap_bail("clone: %s", strerror(errno));
	waitpid(pid, &status, 0);
	munmap(stack, stack_len);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct ku_counts base;
	struct verdict v;
	struct thr t;
	pthread_t th;
	int fd, efd, err, r, ok, sv[2], pfd[2], status;
	pid_t pid;

	if (argc == 4 && strcmp(argv[1], "--recv") == 0)
		return helper_recv(atoi(argv[2]));
	if (argc == 4 && strcmp(argv[1], "--after-exec") == 0)
		return helper_after_exec(atoi(argv[2]), atoi(argv[3]));
	if (argc > 1)
		return 64;	/* never run the test body from a helper */

	ku_require_module();
	tap_plan(19);
	base = ku_counts();

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fd = ku_open_create(SQN, CQN, efd);
	if (fd < 0)
		tap_bail("CREATE: %s", strerror(-fd));

	/* The owner and its threads. */
	ok = 1;
	for (r = 0; r < KU_NREGIONS; r++) {
		void *p = ku_map(fd, (enum ku_region)r, SQN, CQN, &err);

		ok &= p != NULL;
		if (p)
			munmap(p, ku_region_size((enum ku_region)r, SQN, CQN));
	}
	tap_ok(ok, "the creating thread maps every region");
	memset(&t, 0, sizeof(t));
	t.fd = fd;
	pthread_create(&th, NULL, thread_use, &t);
	pthread_join(th, NULL);
	tap_ok(t.maps_ok, "another thread of the owner maps every region");
	tap_ok(t.notify == 0 && t.refresh == 0, "another thread of the owner: "
	       "NOTIFY and REFRESH succeed (%d, %d)", t.notify, t.refresh);

	memset(&t, 0, sizeof(t));
	pthread_create(&th, NULL, thread_create, &t);
	pthread_join(th, NULL);
	if (t.fd < 0)
		tap_bail("CREATE on a thread: %s", strerror(-t.fd));
	{
		int cfd = t.fd;

		thread_use(&t);
		tap_ok(t.maps_ok && t.notify == -ENOENT && t.refresh == 0,
		       "an instance created on a thread that has exited belongs "
		       "to the process: the main thread maps it and its ioctls "
		       "work (NOTIFY %d: no eventfd, REFRESH %d)", t.notify,
		       t.refresh);
		close(cfd);
	}

	/* A forked child with the inherited descriptor. */
	{
		__u64 cnt;

		while (read(efd, &cnt, sizeof(cnt)) == 8)
			;	/* drain the threads' NOTIFYs */
	}
	if (pipe2(pfd, O_CLOEXEC))
		tap_bail("pipe");
	pid = fork();
	if (pid == 0) {
		struct verdict cv = try_all(fd);
		int own = ku_open_create(SQN, CQN, -1), mine = 1;

		/* The child can have an instance of its own. */
		if (own < 0) {
			mine = 0;
		} else {
			for (r = 0; r < KU_NREGIONS; r++) {
				void *p = ku_map(own, (enum ku_region)r, SQN, CQN, &err);

				mine &= p != NULL;
			}
		}
		write_all(pfd[1], &cv, sizeof(cv));
		write_all(pfd[1], &mine, sizeof(mine));
		_exit(0);
	}
	close(pfd[1]);
	{
		int mine = 0;

		ok = read_all(pfd[0], &v, sizeof(v)) == 0 &&
		     read_all(pfd[0], &mine, sizeof(mine)) == 0;
		close(pfd[0]);
		waitpid(pid, &status, 0);
		if (!ok)
			tap_bail("forked child did not report");
		report("forked child, inherited fd", &v);
		tap_ok(mine, "the forked child can create and map an instance of "
		       "its own");
	}
	{
		__u64 cnt = 0;

		/* The child's refused NOTIFY must not have signalled. */
		ok = read(efd, &cnt, sizeof(cnt)) < 0 && errno == EAGAIN;
		ok &= ku_ioctl0(fd, KSVC_IOC_NOTIFY) == 0 &&
		      read(efd, &cnt, sizeof(cnt)) == 8 && cnt == 1;
		tap_ok(ok, "the refused NOTIFY signalled nothing; the owner's "
		       "NOTIFY still works");
	}

	/* An unrelated program that receives the descriptor. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		tap_bail("socketpair");
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		self_exec("--recv", sv[1], 0);
	}
	close(sv[1]);
	{
		char data = 'x';
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &data, 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		memset(cbuf, 0, sizeof(cbuf));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
		if (sendmsg(sv[0], &msg, 0) != 1)
			tap_bail("sendmsg: %s", strerror(errno));
		ok = read_all(sv[0], &v, sizeof(v)) == 0;
		waitpid(pid, &status, 0);
		close(sv[0]);
		if (!ok)
			tap_bail("receiver did not report (status %#x)", status);
		report("another program, fd received over SCM_RIGHTS", &v);
	}

	/* The owner itself after execve. */
	if (pipe(pfd))
		tap_bail("pipe");
	pid = fork();
	if (pid == 0) {
		int xfd = ku_open_flags(O_RDWR), good = 1;

		close(pfd[0]);
		if (xfd < 0 || ku_create(xfd, SQN, CQN, -1))
			_exit(20);
		for (r = 0; r < KU_NREGIONS; r++)
			good &= ku_map(xfd, (enum ku_region)r, SQN, CQN, &err) != NULL;
		write_all(pfd[1], &good, sizeof(good));
		self_exec("--after-exec", xfd, pfd[1]);
	}
	close(pfd[1]);
	{
		int good = 0;

		ok = read_all(pfd[0], &good, sizeof(good)) == 0 &&
		     read_all(pfd[0], &v, sizeof(v)) == 0;
		waitpid(pid, &status, 0);
		close(pfd[0]);
		if (!ok)
			tap_bail("exec child did not report (status %#x)", status);
		tap_ok(good, "before execve the process maps its instance");
		report("the owner after execve", &v);
	}

	/*
	 * CLONE_VM children (vfork, posix_spawn) share the owner's address
	 * space but are other processes.  What we observe with ksvc.ko, and
	 * what README.md's error table says ("the caller is not the process that
	 * created the instance"): they are refused like any other process.
	 * The owner's mappings, which they share, keep working.
	 */
	ok = run_vm_child(fd, CLONE_VM | CLONE_VFORK);
	tap_ok(ok && vm_res.map == -EACCES && vm_res.notify == -EACCES &&
	       vm_res.refresh == -EACCES,
	       "a vfork (CLONE_VM|CLONE_VFORK) child is another process: mmap, "
	       "NOTIFY, REFRESH: EACCES (got %ld, %ld, %ld)", vm_res.map,
	       vm_res.notify, vm_res.refresh);
	ok = run_vm_child(fd, CLONE_VM);
	tap_ok(ok && vm_res.map == -EACCES && vm_res.notify == -EACCES &&
	       vm_res.refresh == -EACCES,
	       "a CLONE_VM child (not a thread) is another process too: mmap, "
	       "NOTIFY, REFRESH: EACCES (got %ld, %ld, %ld)", vm_res.map,
	       vm_res.notify, vm_res.refresh);
	{
		__u64 cnt;

		while (read(efd, &cnt, sizeof(cnt)) == 8)
			;
	}

	close(fd);
	close(efd);
	tap_ok(ku_counts_wait(base), "every instance gone: counters back to "
	       "%ld/%ld", base.instances, base.pages);
	tap_done();
}
