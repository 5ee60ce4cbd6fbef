// SPDX-License-Identifier: MIT
/*
 * tier0-facts - print the eight Tier 0 facts through plain libc.
 *
 * A program that knows nothing of KSVC: it calls getpid, getppid, getuid,
 * getgid, geteuid, getegid, uname and getrlimit(RLIMIT_NOFILE) and
 * prints what they return.  Run it with and without libksvc-preload.so
 * (or through ksvc-run) and the output must be the same.
 *
 *   tier0-facts [--check] [--thread] [--fork] [--vfork] [--exec]
 *
 *   --check   also compare every answer with the raw system call and
 *             exit 1 (with a line on stderr) on any difference
 *   --thread  ask again from a second thread ("thread: " lines)
 *   --fork    ask again in a forked child ("child: " lines)
 *   --vfork   vfork a child that only calls _exit(), then ask again
 *             ("after-vfork: " lines)
 *   --exec    after asking, execute itself again without --exec
 *             ("exec: " lines come from the new image); with --check,
 *             only if every check so far passed (else exit 1 there:
 *             the exit status would be the new image's alone)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static int check;
static int failed;

static void mismatch(const char *prefix, const char *what, long got,
		     long want)
{
	fprintf(stderr, "tier0-facts: %s%s: libc %ld, syscall %ld\n",
		prefix, what, got, want);
	failed = 1;
}

/*
 * getrlimit() as declared without <sys/resource.h>'s nonnull, so that
 * NULL can be passed (the kernel takes it) without the compiler or
 * UBSan objecting.
 */
extern int getrlimit_any(int resource, struct rlimit *rlim)
	__asm__("getrlimit");

static void facts(const char *prefix)
{
	pid_t pid = getpid(), ppid = getppid();
	uid_t uid = getuid(), euid = geteuid();
	gid_t gid = getgid(), egid = getegid();
	struct utsname u, ku;
	struct rlimit rl, krl;

	if (uname(&u) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		fprintf(stderr, "tier0-facts: %s%s\n", prefix, strerror(errno));
		exit(1);
	}
	printf("%sgetpid %ld\n", prefix, (long)pid);
	printf("%sgetppid %ld\n", prefix, (long)ppid);
	printf("%sgetuid %lu\n", prefix, (unsigned long)uid);
	printf("%sgetgid %lu\n", prefix, (unsigned long)gid);
	printf("%sgeteuid %lu\n", prefix, (unsigned long)euid);
	printf("%sgetegid %lu\n", prefix, (unsigned long)egid);
	printf("%suname %s|%s|%s|%s|%s|%s\n", prefix, u.sysname, u.nodename,
	       u.release, u.version, u.machine, u.domainname);
	printf("%sgetrlimit NOFILE %llu %llu\n", prefix,
	       (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max);
	fflush(stdout);

	if (!check)
		return;
	if (pid != syscall(SYS_getpid))
		mismatch(prefix, "getpid", pid, syscall(SYS_getpid));
	if (ppid != syscall(SYS_getppid))
		mismatch(prefix, "getppid", ppid, syscall(SYS_getppid));
	if ((long)uid != syscall(SYS_getuid))
		mismatch(prefix, "getuid", uid, syscall(SYS_getuid));
	if ((long)gid != syscall(SYS_getgid))
		mismatch(prefix, "getgid", gid, syscall(SYS_getgid));
	if ((long)euid != syscall(SYS_geteuid))
		mismatch(prefix, "geteuid", euid, syscall(SYS_geteuid));
	if ((long)egid != syscall(SYS_getegid))
		mismatch(prefix, "getegid", egid, syscall(SYS_getegid));
	if (syscall(SYS_uname, &ku) != 0 || memcmp(&u, &ku, sizeof(u)) != 0)
		mismatch(prefix, "uname", 0, 1);
	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &krl) != 0 ||
	    krl.rlim_cur != rl.rlim_cur || krl.rlim_max != rl.rlim_max)
		mismatch(prefix, "getrlimit", (long)rl.rlim_cur,
			 (long)krl.rlim_cur);
	{
		/* The kernel takes NULL and stores nothing, so glibc: 0. */
		long r = getrlimit_any(RLIMIT_NOFILE, NULL);

		if (r != syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, NULL))
			mismatch(prefix, "getrlimit(RLIMIT_NOFILE, NULL)", r,
				 0);
	}
}

static void *thread_main(void *arg)
{
	(void)arg;
	facts("thread: ");
	return NULL;
}

/* A vfork child that only calls _exit() (a function of its own: vfork). */
static int vfork_exit(void)
{
	int status;
	pid_t child = vfork();

	if (child < 0) {
		perror("tier0-facts: vfork");
		return -1;
	}
	if (child == 0)
		_exit(0);	/* all a vfork child may do here */
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "tier0-facts: vfork child failed (%#x)\n",
			status);
		failed = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int do_thread = 0, do_fork = 0, do_vfork = 0, do_exec = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (strcmp(argv[i], "--thread") == 0) {
			do_thread = 1;
		} else if (strcmp(argv[i], "--fork") == 0) {
			do_fork = 1;
		} else if (strcmp(argv[i], "--vfork") == 0) {
			do_vfork = 1;
		} else if (strcmp(argv[i], "--exec") == 0) {
			do_exec = 1;
		} else if (strcmp(argv[i], "--exec-child") == 0) {
			/* The image --exec started. */
			check = 1;
			facts("exec: ");
			return failed;
		} else {
			fprintf(stderr, "usage: tier0-facts [--check] "
				"[--thread] [--fork] [--vfork] [--exec]\n");
			return 2;
		}
	}

	facts("");

	if (do_thread) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_main, NULL) != 0 ||
		    pthread_join(t, NULL) != 0) {
			fprintf(stderr, "tier0-facts: pthread_create failed\n");
			return 1;
		}
	}

	if (do_fork) {
		int status;
		pid_t child = fork();

		if (child < 0) {
			perror("tier0-facts: fork");
			return 1;
		}
		if (child == 0) {
			facts("child: ");
			exit(failed);
		}
		if (waitpid(child, &status, 0) != child ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "tier0-facts: child failed (%#x)\n",
				status);
			failed = 1;
		}
		/* And the parent still gets its own answers. */
		facts("after-fork: ");
	}

	if (do_vfork) {
		if (vfork_exit() != 0)
			return 1;
		facts("after-vfork: ");
	}

	if (do_exec) {
		char *args[] = { argv[0], (char *)"--exec-child", NULL };

		if (failed) {
			fprintf(stderr, "tier0-facts: checks failed, not "
				"executing again (--exec)\n");
			return 1;
		}
		fflush(stdout);
		execv("/proc/self/exe", args);
		perror("tier0-facts: execv");
		return 1;
	}
	return failed;
}
