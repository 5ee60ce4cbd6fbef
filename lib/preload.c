// SPDX-License-Identifier: MIT
/*
 * preload.c - libksvc-preload.so: Tier 0 for programs that never heard
 * of KSVC.
 *
 *	LD_PRELOAD=/path/to/libksvc-preload.so program ...	(or ksvc-run)
 *
 * Interposes getpid (and glibc's __getpid), getppid, getuid, getgid,
 * geteuid, getegid, uname, getrlimit and getrlimit64 with the libksvc
 * accessors, which answer from the shared page when the kernel marks
 * the value fresh and make the real system call otherwise.  The instance
 * is opened lazily by the first call, again in a forked child, never in
 * a vfork child; without /dev/ksvc every call is the plain syscall.
 *
 * The shim prints nothing, unless KSVC_PRELOAD_STATS=1 is set in the
 * environment: then each process writes one line to stderr when it
 * exits, counting the calls answered from the page and by syscall:
 *
 *   ksvc-preload: pid=42 page=7 syscall=1 getpid=1/0 getppid=1/0 ...
 *
 * (per function: page/syscall), on a copy of stderr taken at start
 * (programs such as id(1) close theirs before they exit).  It also interposes _exit and _Exit,
 * which many programs (shells among them) leave through, to print that
 * line; they end the process exactly as glibc's do (exit_group).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "ksvc.h"

#define EXPORT __attribute__((visibility("default")))

enum { S_GETPID, S_GETPPID, S_GETUID, S_GETGID, S_GETEUID, S_GETEGID,
       S_UNAME, S_GETRLIMIT, S_NR };

static const char *const stat_name[S_NR] = {
	"getpid", "getppid", "getuid", "getgid", "geteuid", "getegid",
	"uname", "getrlimit",
};

static int stats_on;
static int stats_done;
static int stats_fd = 2;	/* a copy of stderr: programs close theirs */
static dev_t stats_dev;		/* ... and the file it is (the program */
static ino_t stats_ino;		/* may close the copy and reuse it) */
static long stats_pid;		/* the process they count for */
static unsigned long stats[S_NR][2];	/* [fn][0: page, 1: syscall] */

static inline void count(int fn, unsigned from_page)
{
	if (__builtin_expect(__atomic_load_n(&stats_on, __ATOMIC_RELAXED), 0))
		__atomic_fetch_add(&stats[fn][from_page ? 0 : 1], 1,
				   __ATOMIC_RELAXED);
}

#define ID_WRAPPER(name, type, field, bit, slow, fn)			\
EXPORT type name(void)							\
{									\
	unsigned hit = 0;						\
	__u32 v;							\
	type r;								\
									\
	if (__builtin_expect(ksvc__t0_try32(KSVC__T0_OFF(field), bit,	\
					    &v), 1)) {			\
		count(fn, 1);						\
		return (type)v;						\
	}								\
	r = slow(&hit);							\
	count(fn, hit);							\
	return r;							\
}

ID_WRAPPER(getpid, pid_t, pid, KSVC_FRESH_PID, ksvc__getpid_slow, S_GETPID)
ID_WRAPPER(getppid, pid_t, ppid, KSVC_FRESH_PPID, ksvc__getppid_slow,
	   S_GETPPID)
ID_WRAPPER(getuid, uid_t, uid, KSVC_FRESH_IDS, ksvc__getuid_slow, S_GETUID)
ID_WRAPPER(getgid, gid_t, gid, KSVC_FRESH_IDS, ksvc__getgid_slow, S_GETGID)
ID_WRAPPER(geteuid, uid_t, euid, KSVC_FRESH_IDS, ksvc__geteuid_slow,
	   S_GETEUID)
ID_WRAPPER(getegid, gid_t, egid, KSVC_FRESH_IDS, ksvc__getegid_slow,
	   S_GETEGID)

/* glibc exports getpid as __getpid too. */
EXPORT pid_t __getpid(void) __THROW __attribute__((alias("getpid")));

EXPORT int uname(struct utsname *buf)
{
	unsigned hit = 0;
	int r;

	if (__builtin_expect(ksvc__t0_try_uts(buf), 1)) {
		count(S_UNAME, 1);
		return 0;
	}
	r = ksvc__uname_slow(buf, &hit);
	count(S_UNAME, hit);
	return r;
}

EXPORT int getrlimit(__rlimit_resource_t resource, struct rlimit *rlim)
{
	unsigned hit = 0;
	int r;

	/*
	 * <sys/resource.h> declares rlim nonnull, so the compiler would drop
	 * the NULL test of ksvc__t0_try_nofile() and store through it.  The
	 * kernel takes NULL (glibc passes it on: 0, nothing stored), so must
	 * we: the empty asm makes rlim a value the compiler knows nothing of.
	 */
	__asm__("" : "+r"(rlim));
	if (__builtin_expect((int)resource == RLIMIT_NOFILE &&
			     ksvc__t0_try_nofile(rlim), 1)) {
		count(S_GETRLIMIT, 1);
		return 0;
	}
	r = ksvc__getrlimit_slow((int)resource, rlim, &hit);
	count(S_GETRLIMIT, hit);
	return r;
}

#ifdef __USE_LARGEFILE64
_Static_assert(sizeof(struct rlimit64) == sizeof(struct rlimit) &&
	       sizeof(rlim64_t) == sizeof(rlim_t),
	       "getrlimit64 is getrlimit on this ABI");

EXPORT int getrlimit64(__rlimit_resource_t resource, struct rlimit64 *rlim)
{
	return getrlimit(resource, (struct rlimit *)rlim);
}
#endif

/* ------------------------------------------------------------------ */
/* KSVC_PRELOAD_STATS=1                                                */
/* ------------------------------------------------------------------ */

static char *put_str(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_ulong(char *p, char *end, unsigned long v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && p < end)
		*p++ = tmp[--n];
	return p;
}

/* Is stats_fd still the file it was made a copy of? */
static int stats_fd_same(void)
{
	struct stat st;

	return fstat(stats_fd, &st) == 0 && st.st_dev == stats_dev &&
	       st.st_ino == stats_ino;
}

static void stats_print(void)
{
	unsigned long page = 0, sys = 0;
	char buf[512], *p = buf, *end = buf + sizeof(buf) - 1;
	int saved = errno;
	int i;

	/*
	 * Only the process the counters belong to: a vfork child (no
	 * atfork handlers run for it) shares this memory, and must neither
	 * print its parent's counters nor mark them printed.
	 */
	if (!__atomic_load_n(&stats_on, __ATOMIC_RELAXED) ||
	    syscall(SYS_getpid) != __atomic_load_n(&stats_pid,
						   __ATOMIC_RELAXED) ||
	    __atomic_exchange_n(&stats_done, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < S_NR; i++) {
		page += __atomic_load_n(&stats[i][0], __ATOMIC_RELAXED);
		sys += __atomic_load_n(&stats[i][1], __ATOMIC_RELAXED);
	}
	p = put_str(p, end, "ksvc-preload: pid=");
	p = put_ulong(p, end, (unsigned long)syscall(SYS_getpid));
	p = put_str(p, end, " page=");
	p = put_ulong(p, end, page);
	p = put_str(p, end, " syscall=");
	p = put_ulong(p, end, sys);
	for (i = 0; i < S_NR; i++) {
		p = put_str(p, end, " ");
		p = put_str(p, end, stat_name[i]);
		p = put_str(p, end, "=");
		p = put_ulong(p, end, __atomic_load_n(&stats[i][0],
						      __ATOMIC_RELAXED));
		p = put_str(p, end, "/");
		p = put_ulong(p, end, __atomic_load_n(&stats[i][1],
						      __ATOMIC_RELAXED));
	}
	*p++ = '\n';
	/* Not into a file of the program's that took the copy's number. */
	if (stats_fd_same() &&
	    write(stats_fd, buf, (size_t)(p - buf)) < 0) {
		/* Nothing sensible to do. */
	}
	errno = saved;
}

static void stats_atfork_child(void)
{
	memset(stats, 0, sizeof(stats));
	__atomic_store_n(&stats_done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&stats_pid, (long)syscall(SYS_getpid),
			 __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void preload_init(void)
{
	const char *s = getenv("KSVC_PRELOAD_STATS");

	if (s && strcmp(s, "1") == 0) {
		int fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
		struct stat st;

		if (fd >= 0)
			stats_fd = fd;
		if (fstat(stats_fd, &st) == 0) {
			stats_dev = st.st_dev;
			stats_ino = st.st_ino;
		}
		pthread_atfork(NULL, NULL, stats_atfork_child);
		__atomic_store_n(&stats_pid, (long)syscall(SYS_getpid),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&stats_on, 1, __ATOMIC_RELAXED);
	}
}

__attribute__((destructor)) static void preload_fini(void)
{
	stats_print();
}

EXPORT void _exit(int status)
{
	stats_print();
	for (;;) {
		syscall(SYS_exit_group, status);
		syscall(SYS_exit, status);
	}
}

EXPORT void _Exit(int status) __attribute__((alias("_exit")));
