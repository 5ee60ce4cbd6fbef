// SPDX-License-Identifier: MIT
/*
 * test_memcg - an instance's pages are charged to the memory cgroup of
 * the process that creates it (cgroup v2).
 *
 * The test moves itself into a fresh child cgroup with the memory
 * controller, creates an instance with the largest rings (771 pages),
 * and watches the cgroup's memory.stat "kernel" line (MEMCG_KMEM: every
 * __GFP_ACCOUNT page and slab charge of the cgroup, see memory_stats[] in
 * mm/memcontrol.c) and memory.current.  Stats are flushed lazily (at the
 * latest every 2 s), so values are polled.  Then, in a second cgroup
 * whose memory.max leaves no room, CREATE must fail with ENOMEM and leave
 * nothing behind, without the OOM killer.
 */
#include <sys/statfs.h>
#include <sys/wait.h>

#include "util.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define CGROUP2_MAGIC	0x63677270
#define BIG		32768u

static char cg_orig[4096];	/* where we started, relative to CG_ROOT */
static char cg_test[256], cg_lim[256];
static int added_memory;

static int cg_write(const char *cg, const char *file, const char *s)
{
	char path[4400];

	snprintf(path, sizeof(path), CG_ROOT "%s/%s", cg, file);
	return ku_write_file(path, s);
}

/* A key of memory.stat / memory.events, or a single-value file (key NULL). */
static long long cg_read(const char *cg, const char *file, const char *key)
{
	static char buf[16384];
	char path[4400], *p;
	size_t klen;

	snprintf(path, sizeof(path), CG_ROOT "%s/%s", cg, file);
	if (ku_read_file(path, buf, sizeof(buf)))
		return -1;
	if (!key)
		return strtoll(buf, NULL, 10);
	klen = strlen(key);
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtoll(p + klen + 1, NULL, 10);
	return -1;
}

static int move_self(const char *cg)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", getpid());
	return cg_write(cg, "cgroup.procs", pid);
}

static void cleanup(void)
{
	move_self(cg_orig);
	if (cg_lim[0]) {
		char path[512];

		snprintf(path, sizeof(path), CG_ROOT "%s", cg_lim);
		rmdir(path);
	}
	if (cg_test[0]) {
		char path[512];

		snprintf(path, sizeof(path), CG_ROOT "%s", cg_test);
		rmdir(path);
	}
	if (added_memory)
		cg_write("", "cgroup.subtree_control", "-memory");
}

static void setup_or_skip(void)
{
	struct statfs sfs;
	char buf[4096], *p;

	if (statfs(CG_ROOT, &sfs) || sfs.f_type != CGROUP2_MAGIC) {
		mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL);
		if (statfs(CG_ROOT, &sfs) || sfs.f_type != CGROUP2_MAGIC)
			tap_skip_all("no cgroup v2 hierarchy at " CG_ROOT);
	}
	if (ku_read_file(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) ||
	    !strstr(buf, "memory"))
		tap_skip_all("the memory controller is not available in cgroup v2");
	if (ku_read_file("/proc/self/cgroup", buf, sizeof(buf)) ||
	    strncmp(buf, "0::", 3))
		tap_skip_all("cannot tell this process's cgroup");
	p = strchr(buf, '\n');
	if (p)
		*p = '\0';
	snprintf(cg_orig, sizeof(cg_orig), "%s", strcmp(buf + 3, "/") ? buf + 3 : "");

	if (ku_read_file(CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf)))
		tap_skip_all("cannot read cgroup.subtree_control");
	if (!strstr(buf, "memory")) {
		if (cg_write("", "cgroup.subtree_control", "+memory"))
			tap_skip_all("cannot enable +memory in the root cgroup's "
				     "subtree_control");
		added_memory = 1;
	}
	snprintf(cg_test, sizeof(cg_test), "/ksvc-memcg-%d", getpid());
	snprintf(buf, sizeof(buf), CG_ROOT "%s", cg_test);
	if (mkdir(buf, 0755)) {
		cg_test[0] = '\0';
		cleanup();
		tap_skip_all("cannot create a child cgroup");
	}
	if (move_self(cg_test)) {
		cleanup();
		tap_skip_all("cannot move into the child cgroup");
	}
}

/* Poll until pred(value) or 10 s; returns the last value. */
static long long poll_kernel(long long bound, int want_at_least)
{
	uint64_t end = ku_now_ms() + KU_WAIT_MS;
	long long v;

	for (;;) {
		v = cg_read(cg_test, "memory.stat", "kernel");
		if (v >= 0 && (want_at_least ? v >= bound : v <= bound))
			return v;
		if (ku_now_ms() >= end)
			return v;
		ku_sleep_ms(100);
	}
}

/* In a child process: its own cgroup with no room, CREATE must fail. */
static int limited_child(void)
{
	long long cur, ooms_before, ooms_after;
	char val[64];
	int fd, r;

	if (move_self(cg_lim))
		return 90;
	cur = cg_read(cg_lim, "memory.current", NULL);
	if (cur < 0)
		return 91;
	snprintf(val, sizeof(val), "%lld", cur + 512 * 1024);
	if (cg_write(cg_lim, "memory.max", val))
		return 92;
	ooms_before = cg_read(cg_lim, "memory.events", "oom_kill");
	fd = ku_open();
	if (fd < 0)
		return 93;
	r = ku_create(fd, BIG, BIG, -1);
	ooms_after = cg_read(cg_lim, "memory.events", "oom_kill");
	if (r == 0)
		return 1;		/* created beyond the limit */
	if (r != -ENOMEM)
		return 2;
	if (ooms_after != ooms_before)
		return 3;
	close(fd);
	return 0;
}

int main(void)
{
	struct ku_counts base;
	long long k0, k1, k2, c0, c1, c2, a1, a2, f1, f2;
	long pages = ku_instance_pages(BIG, BIG);
	long long bytes = (long long)pages * PAGE_SIZE;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long long slack = 64LL * PAGE_SIZE * (ncpu > 0 ? ncpu : 1);
	int fd, status;
	pid_t pid;

	ku_require_module();
	setup_or_skip();
	tap_plan(6);
	base = ku_counts();

	/* Let the move settle, then take the baseline. */
	ku_sleep_ms(2500);
	k0 = cg_read(cg_test, "memory.stat", "kernel");
	c0 = cg_read(cg_test, "memory.current", NULL);
	if (k0 < 0 || c0 < 0) {
		cleanup();
		tap_bail("cannot read memory.stat kernel / memory.current");
	}

	fd = ku_open_create(BIG, BIG, -1);
	if (fd < 0) {
		cleanup();
		tap_bail("CREATE %u/%u: %s", BIG, BIG, strerror(-fd));
	}
	k1 = poll_kernel(k0 + bytes, 1);
	c1 = cg_read(cg_test, "memory.current", NULL);
	a1 = cg_read(cg_test, "memory.stat", "anon");
	f1 = cg_read(cg_test, "memory.stat", "file");
	tap_diag("instance of %ld pages (%lld bytes): kernel %lld -> %lld, "
		 "memory.current %lld -> %lld", pages, bytes, k0, k1, c0, c1);
	tap_ok(k1 - k0 >= bytes, "CREATE charges the instance's %ld pages to "
	       "the creator's cgroup (memory.stat kernel +%lld, want >= %lld)",
	       pages, k1 - k0, bytes);
	tap_ok(c1 - c0 >= bytes - slack, "memory.current of the creator's "
	       "cgroup grows with it (+%lld, want >= %lld minus per-cpu "
	       "precharge %lld)", c1 - c0, bytes, slack);

	close(fd);
	ku_counts_wait(base);
	k2 = poll_kernel(k1 - bytes + 16 * PAGE_SIZE, 0);
	c2 = cg_read(cg_test, "memory.current", NULL);
	a2 = cg_read(cg_test, "memory.stat", "anon");
	f2 = cg_read(cg_test, "memory.stat", "file");
	tap_diag("after close: kernel %lld, memory.current %lld, anon %lld -> %lld",
		 k2, c2, a1, a2);
	tap_ok(k1 - k2 >= bytes - 16 * PAGE_SIZE, "after close and the RCU "
	       "grace period the charge is gone (kernel -%lld)", k1 - k2);
	/*
	 * memory.current also counts the test's own memory, which a
	 * sanitizer runtime keeps growing (shadow, quarantine): discount the
	 * anonymous and file memory that appeared meanwhile.
	 */
	tap_ok((c1 - c2) + (a2 - a1) + (f2 - f1) >= bytes - slack,
	       "and memory.current drops again (%+lld, with %+lld anon and "
	       "%+lld file of the test's own)", c2 - c1, a2 - a1, f2 - f1);

	/* No room: ENOMEM, no OOM kill, nothing created. */
	snprintf(cg_lim, sizeof(cg_lim), "/ksvc-memcg-%d-lim", getpid());
	{
		char path[512];

		snprintf(path, sizeof(path), CG_ROOT "%s", cg_lim);
		if (mkdir(path, 0755))
			cg_lim[0] = '\0';
	}
	if (!cg_lim[0]) {
		tap_skip("cannot create a second cgroup", "CREATE beyond "
			 "memory.max: ENOMEM");
	} else {
		pid = fork();
		if (pid == 0)
			_exit(limited_child());
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			tap_diag("the child was killed by signal %d (the memcg OOM "
				 "killer?) instead of getting ENOMEM",
				 WTERMSIG(status));
		else if (WEXITSTATUS(status))
			tap_diag("child result %d (1 created beyond the limit, 2 "
				 "other errno, 3 OOM kill, 9x setup)",
				 WEXITSTATUS(status));
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "CREATE in a cgroup whose memory.max leaves no room: ENOMEM, "
		       "no OOM kill");
	}
	tap_ok(ku_counts_wait(base), "counters back to %ld/%ld", base.instances,
	       base.pages);
	cleanup();
	tap_done();
}
