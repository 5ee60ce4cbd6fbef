// SPDX-License-Identifier: MIT
/*
 * bench_tier0 - each Tier 0 accessor against the system call it
 * replaces, side by side in one run, with the ratio.
 *
 * Two modes, each labelled in the output:
 *
 *   module     /dev/ksvc exists: the library's own instance, the page the
 *              kernel maintains (every fresh bit is checked to be set
 *              first).  Under QEMU TCG the absolute numbers are not
 *              hardware timings; the ratio is what is comparable.
 *   host-page  a page this benchmark fills from the real system calls,
 *              with every fresh bit set, installed through the library's
 *              test hook: the accessors run the very same load path.
 *              This is where the goals apply (on the host, not under
 *              QEMU TCG): the id accessors at least 100 times faster
 *              than their syscalls, ksvc_uname at least 10 times.
 *
 * The "syscall" side is the libc call (getpid() etc. are a bare syscall
 * in glibc; getrlimit is prlimit64).  Each figure is the best of several
 * rounds, each round timing enough calls to take about 20 ms; accessor
 * and syscall rounds alternate.  Prints a table, then CSV (also written
 * to $BENCH_OUT/bench_tier0.csv when BENCH_OUT is set).  Exits 1 if a
 * host-page goal is missed.
 *
 * KSVC_BENCH_ROUNDS=n changes the number of rounds (default 5).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "ksvc.h"
#include "../lib/tier0.h"

#define NFN 8

static const char *const fn_name[NFN] = {
	"getpid", "getppid", "getuid", "getgid", "geteuid", "getegid",
	"uname", "getrlimit(NOFILE)",
};

/* Goal ratio on the host page; 0: none stated. */
static const double fn_goal[NFN] = { 100, 100, 100, 100, 100, 100, 10, 0 };

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keep @p's pointee alive: the compiler must assume it is read. */
#define USE(p) __asm__ __volatile__("" : : "r"(p) : "memory")

static unsigned long sink;

/* One round: ns per call of expression number @fn, accessor or not. */
static double run(int fn, int acc, long n)
{
	struct utsname u;
	struct rlimit rl;
	unsigned long s = 0;
	double t0, t1;
	long i;

#define LOOP(expr)					\
	do {						\
		t0 = now_ns();				\
		for (i = 0; i < n; i++) {		\
			s += (unsigned long)(expr);	\
			USE(&u);			\
			USE(&rl);			\
		}					\
		t1 = now_ns();				\
	} while (0)

	switch (fn * 2 + acc) {
	case 0: LOOP(getpid()); break;
	case 1: LOOP(ksvc_getpid()); break;
	case 2: LOOP(getppid()); break;
	case 3: LOOP(ksvc_getppid()); break;
	case 4: LOOP(getuid()); break;
	case 5: LOOP(ksvc_getuid()); break;
	case 6: LOOP(getgid()); break;
	case 7: LOOP(ksvc_getgid()); break;
	case 8: LOOP(geteuid()); break;
	case 9: LOOP(ksvc_geteuid()); break;
	case 10: LOOP(getegid()); break;
	case 11: LOOP(ksvc_getegid()); break;
	case 12: LOOP(uname(&u) + (unsigned char)u.nodename[0]); break;
	case 13: LOOP(ksvc_uname(&u) + (unsigned char)u.nodename[0]); break;
	case 14: LOOP(getrlimit(RLIMIT_NOFILE, &rl) + rl.rlim_cur); break;
	case 15: LOOP(ksvc_getrlimit(RLIMIT_NOFILE, &rl) + rl.rlim_cur);
		break;
	default: return 0;
	}
#undef LOOP
	sink += s;
	return (t1 - t0) / (double)n;
}

/* How many calls take about @target_ns. */
static long calibrate(int fn, int acc, double target_ns)
{
	long n = 64;

	for (;;) {
		double per = run(fn, acc, n);

		if (per * (double)n >= target_ns / 4 || n > (1L << 34))
			return (long)(target_ns / (per > 0.01 ? per : 0.01)) + 1;
		n *= 4;
	}
}

struct result {
	double sys_ns, acc_ns;
};

/*
 * Before timing a mode: every accessor answers what its system call
 * answers (a fast accessor that read the wrong field would otherwise
 * pass the goal).  Exits 1 if one does not.
 */
static void check_answers(const char *mode)
{
	struct utsname u1, u2;
	struct rlimit r1, r2;
	int bad = 0;

	bad |= ksvc_getpid() != getpid();
	bad |= ksvc_getppid() != getppid();
	bad |= ksvc_getuid() != getuid() || ksvc_getgid() != getgid();
	bad |= ksvc_geteuid() != geteuid() || ksvc_getegid() != getegid();
	bad |= ksvc_uname(&u1) != 0 || uname(&u2) != 0 ||
	       memcmp(&u1, &u2, sizeof(u1)) != 0;
	bad |= ksvc_getrlimit(RLIMIT_NOFILE, &r1) != 0 ||
	       getrlimit(RLIMIT_NOFILE, &r2) != 0 ||
	       r1.rlim_cur != r2.rlim_cur || r1.rlim_max != r2.rlim_max;
	if (bad) {
		fprintf(stderr, "bench_tier0: %s: an accessor disagrees with "
			"its system call\n", mode);
		exit(1);
	}
}

static void measure(struct result *r, int rounds)
{
	int fn, k;

	for (fn = 0; fn < NFN; fn++) {
		long ns = calibrate(fn, 0, 20e6), na = calibrate(fn, 1, 20e6);

		r[fn].sys_ns = r[fn].acc_ns = 1e30;
		for (k = 0; k < rounds; k++) {
			double s = run(fn, 0, ns), a = run(fn, 1, na);

			if (s < r[fn].sys_ns)
				r[fn].sys_ns = s;
			if (a < r[fn].acc_ns)
				r[fn].acc_ns = a;
		}
	}
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int under_tcg;	/* QEMU's emulator: no hardware timings */

static void describe_machine(char *buf, size_t len)
{
	char vendor[128] = "?", product[128] = "?", line[4096];
	struct utsname u;
	int hyp = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "model name", 10) == 0 &&
			    strstr(line, "TCG"))
				under_tcg = 1;
			if (strncmp(line, "flags", 5) == 0) {
				hyp = strstr(line, " hypervisor") != NULL;
				break;
			}
		}
		fclose(f);
	}
	read_line("/sys/class/dmi/id/sys_vendor", vendor, sizeof(vendor));
	read_line("/sys/class/dmi/id/product_name", product, sizeof(product));
	uname(&u);
	snprintf(buf, len, "kernel %s %s, %ld CPUs, hypervisor flag %s, "
		 "DMI %s / %s%s", u.release, u.machine,
		 sysconf(_SC_NPROCESSORS_ONLN), hyp ? "yes" : "no", vendor,
		 product,
		 under_tcg ? " (QEMU TCG: timings are not hardware timings)" :
		 strstr(vendor, "QEMU") || strstr(product, "QEMU") ?
		 " (QEMU guest)" : "");
}

static int report(const char *mode, const char *what, struct result *r,
		  int goals, FILE *csv)
{
	int fn, missed = 0;

	printf("\nmode: %s\n  %s\n", mode, what);
	printf("  %-18s %12s %12s %10s  %s\n", "function", "syscall ns",
	       "accessor ns", "ratio", goals ? "goal" : "");
	for (fn = 0; fn < NFN; fn++) {
		double ratio = r[fn].sys_ns / r[fn].acc_ns;
		const char *verdict = "";
		char goal[32] = "";

		if (goals && fn_goal[fn] > 0) {
			int met = ratio >= fn_goal[fn];

			snprintf(goal, sizeof(goal), ">= %.0fx", fn_goal[fn]);
			verdict = met ? "met" : "MISSED";
			missed += !met;
		}
		printf("  %-18s %12.2f %12.3f %9.1fx  %s %s\n", fn_name[fn],
		       r[fn].sys_ns, r[fn].acc_ns, ratio, goal, verdict);
		fprintf(csv, "%s,%s,%.3f,%.4f,%.2f,%s,%s\n", mode, fn_name[fn],
			r[fn].sys_ns, r[fn].acc_ns, ratio,
			goals && fn_goal[fn] > 0 ? goal + 3 : "",
			verdict);
	}
	return missed;
}

int main(void)
{
	struct result r[NFN];
	struct ksvc__t0_info info;
	struct ksvc_shared_page *page;
	struct stat st;
	char machine[512], *csvbuf = NULL;
	size_t csvlen = 0;
	FILE *csv = open_memstream(&csvbuf, &csvlen);
	int rounds = 5, missed = 0;
	const char *env = getenv("KSVC_BENCH_ROUNDS");

	if (env && atoi(env) > 0)
		rounds = atoi(env);
	if (!csv)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	describe_machine(machine, sizeof(machine));
	printf("bench_tier0: Tier 0 accessors against their system calls\n");
	printf("where: %s\n", machine);
	printf("best of %d rounds of ~20 ms each, accessor and syscall "
	       "alternating\n", rounds);
	fprintf(csv, "mode,function,syscall_ns,accessor_ns,ratio,goal,"
		"verdict\n");

	if (stat(KSVC_DEVICE_PATH, &st) == 0) {
		ksvc_getpid();	/* opens the library's instance */
		ksvc__t0_info(&info);
		if (info.state != KSVC__T0_READY || !info.page) {
			printf("\nmode: module: SKIPPED, the library could not "
			       "open %s (state %d)\n", KSVC_DEVICE_PATH,
			       info.state);
		} else {
			ksvc__t0_refresh();
			if (info.page->fresh != KSVC_FRESH_ALL)
				printf("\nwarning: module page fresh bits "
				       "%#x, not all set: some accessors will "
				       "take the slow path\n",
				       info.page->fresh);
			check_answers("module");
			measure(r, rounds);
			report("module", "the library's own instance: the page "
			       "the kernel maintains", r, 0, csv);
		}
	} else {
		printf("\nmode: module: not run, no %s here\n",
		       KSVC_DEVICE_PATH);
	}

	/* host-page: a page filled from the real system calls. */
	page = mmap(NULL, KSVC_PAGE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return 1;
	{
		struct utsname u;
		struct rlimit rl;

		page->magic = KSVC_SHARED_MAGIC;
		page->version = KSVC_SHARED_VERSION;
		page->pid = (__s32)syscall(SYS_getpid);
		page->ppid = (__s32)syscall(SYS_getppid);
		page->uid = (__u32)syscall(SYS_getuid);
		page->gid = (__u32)syscall(SYS_getgid);
		page->euid = (__u32)syscall(SYS_geteuid);
		page->egid = (__u32)syscall(SYS_getegid);
		syscall(SYS_uname, &u);
		memcpy((char *)page + KSVC__T0_OFF(utsname_sysname), &u,
		       sizeof(u));
		getrlimit(RLIMIT_NOFILE, &rl);
		page->rlimit_nofile = rl.rlim_cur;
		page->rlimit_nofile_max = rl.rlim_max;
		page->fresh = KSVC_FRESH_ALL;
	}
	if (ksvc__t0_test_install(page) != 0)
		return 1;
	check_answers("host-page");
	measure(r, rounds);
	missed = report("host-page", "a page filled from the real syscalls by "
			"this benchmark, all fresh bits set, no module; same "
			"load path", r, !under_tcg, csv);

	fclose(csv);
	printf("\nCSV:\n%s", csvbuf);
	env = getenv("BENCH_OUT");
	if (env && *env) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/bench_tier0.csv", env);
		f = fopen(path, "w");
		if (f) {
			fputs(csvbuf, f);
			fclose(f);
			printf("(CSV also in %s)\n", path);
		}
	}
	free(csvbuf);
	if (under_tcg)
		printf("\nbench_tier0: goals are for the host; not judged under "
		       "QEMU TCG\n");
	else if (missed)
		printf("\nbench_tier0: %d host-page goal(s) MISSED\n", missed);
	else
		printf("\nbench_tier0: host-page goals met\n");
	return missed ? 1 : 0;
}
