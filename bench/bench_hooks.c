// SPDX-License-Identifier: MIT
/*
 * bench_hooks - what ksvc.ko's Tier 0 hooks cost a process that has no
 * instance, side by side in one run: each operation below is timed with
 * the module loaded, then with it unloaded, then loaded again (so the
 * two are interleaved), and the difference per call is printed.
 *
 * The module hooks the kernel functions that change process facts
 * (commit_creds, security_task_setrlimit, sethostname, personality,
 * switch_task_namespaces, {exit,exec}_mm_release, prlimit64 and the
 * task_newtask and sched_process_exit tracepoints).  For a process
 * without an instance each hook does a counter check or one hash
 * lookup; this measures how much that is next to the system call.
 *
 * Needs root, the module loaded and KSVC_KO naming its file (the guest
 * harness sets it): otherwise it exits 77 (skipped).  Inside QEMU TCG the
 * absolute figures are not hardware timings; compare the columns.
 * Writes $BENCH_OUT/bench_hooks.csv when BENCH_OUT is set.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define ROUNDS	3

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char hostname[65];

static void op_setgroups(void)		/* commit_creds */
{
	if (setgroups(0, NULL))
		abort();
}

static void op_getrlimit(void)		/* prlimit64 return probe */
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		abort();
}

static void op_setrlimit(void)		/* security_task_setrlimit */
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || setrlimit(RLIMIT_NOFILE, &r))
		abort();
}

static void op_sethostname(void)	/* the host-name bracket */
{
	if (sethostname(hostname, strlen(hostname)))
		abort();
}

static void op_personality(void)	/* personality bracket */
{
	if (personality(0xffffffff) < 0)
		abort();
}

static void *thread_fn(void *arg)
{
	return arg;
}

static void op_thread(void)		/* newtask, exit, mm release */
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_fn, NULL) || pthread_join(t, NULL))
		abort();
}

static void op_fork(void)		/* + namespace switch at exit */
{
	pid_t p = fork();

	if (p < 0)
		abort();
	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);
}

struct op {
	const char *name;
	void (*fn)(void);
	long n;
	double with_ns, without_ns;	/* best per-call time */
};

static struct op ops[] = {
	{ .name = "setgroups (commit_creds)", .fn = op_setgroups, .n = 20000 },
	{ .name = "getrlimit (prlimit64)", .fn = op_getrlimit, .n = 20000 },
	{ .name = "setrlimit NOFILE", .fn = op_setrlimit, .n = 10000 },
	{ .name = "sethostname", .fn = op_sethostname, .n = 10000 },
	{ .name = "personality query", .fn = op_personality, .n = 20000 },
	{ .name = "thread create+join", .fn = op_thread, .n = 1000 },
	{ .name = "fork+exit+wait", .fn = op_fork, .n = 300 },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

static double time_op(const struct op *o)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < o->n; i++)
		o->fn();
	return (now_ns() - t0) / (double)o->n;
}

/* "QEMU" from DMI, or "" */
static const char *vendor(void)
{
	static char v[64];
	FILE *f = fopen("/sys/class/dmi/id/sys_vendor", "r");

	if (f) {
		if (!fgets(v, sizeof(v), f))
			v[0] = '\0';
		fclose(f);
		v[strcspn(v, "\n")] = '\0';
	}
	return v;
}

static void measure(int loaded)
{
	unsigned int i;

	for (i = 0; i < NOPS; i++) {
		double t = time_op(&ops[i]);
		double *best = loaded ? &ops[i].with_ns : &ops[i].without_ns;

		if (*best == 0 || t < *best)
			*best = t;
	}
}

static int unload(void)
{
	return syscall(SYS_delete_module, "ksvc", O_NONBLOCK) ? -errno : 0;
}

static int load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		ret = -errno;
	close(fd);
	return ret;
}

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	const char *dir = getenv("BENCH_OUT");
	struct utsname u;
	unsigned int i;
	int r;

	if (!ko || geteuid() != 0 || access("/dev/ksvc", F_OK)) {
		printf("bench_hooks: needs root, /dev/ksvc and KSVC_KO (run it in the guest: make bench-vm)\n");
		return 77;
	}
	if (gethostname(hostname, sizeof(hostname) - 1))
		return 1;
	uname(&u);

	for (r = 0; r < ROUNDS; r++) {
		int err;

		measure(1);
		err = unload();
		if (err) {
			fprintf(stderr, "bench_hooks: cannot unload ksvc: %s\n",
				strerror(-err));
			return 1;
		}
		measure(0);
		err = load(ko);
		if (err) {
			fprintf(stderr, "bench_hooks: cannot load %s again: %s\n",
				ko, strerror(-err));
			return 1;
		}
	}

	printf("Cost of ksvc.ko's Tier 0 hooks to a process WITHOUT an instance\n");
	printf("where: kernel %s %s, %s; best of %d interleaved rounds%s\n",
	       u.release, u.machine, vendor(), ROUNDS,
	       strstr(vendor(), "QEMU") ? " (QEMU guest: not hardware timings)" : "");
	printf("%-26s %14s %14s %12s %8s\n", "operation", "loaded ns",
	       "unloaded ns", "extra ns", "ratio");
	for (i = 0; i < NOPS; i++)
		printf("%-26s %14.1f %14.1f %12.1f %7.3fx\n", ops[i].name,
		       ops[i].with_ns, ops[i].without_ns,
		       ops[i].with_ns - ops[i].without_ns,
		       ops[i].with_ns / ops[i].without_ns);

	if (dir) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/bench_hooks.csv", dir);
		f = fopen(path, "w");
		if (f) {
			fprintf(f, "operation,loaded_ns,unloaded_ns,extra_ns,ratio\n");
			for (i = 0; i < NOPS; i++)
				fprintf(f, "%s,%.1f,%.1f,%.1f,%.4f\n",
					ops[i].name, ops[i].with_ns,
					ops[i].without_ns,
					ops[i].with_ns - ops[i].without_ns,
					ops[i].with_ns / ops[i].without_ns);
			fclose(f);
		}
	}
	return 0;
}
