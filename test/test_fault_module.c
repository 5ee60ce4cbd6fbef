// SPDX-License-Identifier: MIT
/*
 * test_fault_module - every failure that ksvc.ko handles, made to happen.
 *
 * The fault-injection build of the module ($KSVC_FI_KO, made by
 * vm/build-module.sh ksvc-fi) counts its failure points (kernel/fault.c):
 * the n-th one that this process reaches fails once, as the real call
 * would.  For n = 1, 2, ... until an operation gets through without the
 * failure being injected, each failure must unwind:
 *
 *  1. Module init: finit_module fails with ENOMEM and leaves no module
 *     and no /dev/ksvc (the workqueue, the misc device), or init goes on
 *     without what failed (a hook or a tracepoint not attached): then
 *     /dev/ksvc works and the module unloads.
 *  2. open(): ENOMEM, no descriptor, nothing counted.
 *  3. KSVC_IOC_CREATE, with small rings and with rings of many pages and
 *     an eventfd: ENOMEM, nothing counted (instances, pages), and, with
 *     max_user_instances at 1, nothing charged to the user: the same
 *     file's next CREATE succeeds (also proving the file unchanged).  A
 *     failure CREATE goes on without (the first Tier 0 snapshot) leaves
 *     a working instance whose facts are not marked fresh until REFRESH.
 *  4. The same CREATE by an id of a user namespace owned by another
 *     user, so that two users are charged: when the second charge
 *     fails, the first is taken back.
 *  5. clone(CLONE_VM) of the owner, whose sharer record cannot be
 *     allocated: while the child lives, REFRESH marks no fact fresh (the
 *     owner's facts are not served to a process that shares its memory);
 *     after it exits, REFRESH brings them back.
 *
 * The harness's checks come on top: the module WARNs at unload when an
 * instance, a page or a user's count was left, and a guest splat fails
 * the run.  At the end the installed module ($KSVC_KO) is loaded back.
 * Runs in the guest only (test/vm.list): it loads modules.
 */
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "util.h"

#define MAX_POINTS	400
#define LIMIT_PARAM	"/sys/module/ksvc/parameters/max_user_instances"
#define NS_OWNER	4242
#define NS_KUID		300000

static const char *fi_ko;
static struct ku_counts base;

/* ---- the module's fault knobs ------------------------------------- */

static int dbg_write(const char *name, long v)
{
	char path[256], buf[32];
	int fd, n, ok;

	snprintf(path, sizeof(path), KU_DBG_DIR "/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", v);
	ok = write(fd, buf, n) == n;
	close(fd);
	return ok ? 0 : -1;
}

static void fault_pid(pid_t pid)
{
	if (dbg_write("fault_pid", pid))
		tap_bail("cannot write %s/fault_pid: %s", KU_DBG_DIR,
			 strerror(errno));
}

/* Arm: the n-th point fails.  Returns the hit count before. */
static long arm(int n)
{
	long hits = ku_dbg_read("fault_hits");

	if (hits < 0 || dbg_write("fault_nth", n))
		tap_bail("cannot arm the fault: %s", strerror(errno));
	return hits;
}

/* Disarm; 1 if a failure was injected since arm() returned @hits. */
static int disarm(long hits)
{
	long now = ku_dbg_read("fault_hits");

	if (dbg_write("fault_nth", 0) || now < 0)
		tap_bail("cannot disarm the fault: %s", strerror(errno));
	return now > hits;
}

static const char *site(void)
{
	static char buf[128];
	int fd = open(KU_DBG_DIR "/fault_site", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return "?";
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return buf;
}

static int module_loaded(void)
{
	char line[256];
	FILE *f = fopen("/proc/modules", "re");
	int found = 0;

	if (!f)
		tap_bail("/proc/modules: %s", strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "ksvc ", 5);
	fclose(f);
	return found;
}

/* ---- 1. module init ------------------------------------------------ */

static void test_init(void)
{
	int n, r, failed = 0, survived = 0, ok_failed = 1, ok_survived = 1;
	int clean = 0;
	struct ku_inst in;
	char params[64];
	long left;

	for (n = 1; n <= MAX_POINTS; n++) {
		snprintf(params, sizeof(params), "fault_init_nth=%d", n);
		r = ku_module_load(fi_ko, params);
		if (r) {
			failed++;
			if (r != ENOMEM || module_loaded() ||
			    !access(KSVC_DEVICE_PATH, F_OK)) {
				tap_diag("init point %d: finit_module %s, "
					 "module %s, /dev/ksvc %s", n,
					 strerror(r), module_loaded() ?
					 "loaded" : "gone",
					 access(KSVC_DEVICE_PATH, F_OK) ?
					 "gone" : "there");
				ok_failed = 0;
			}
			if (module_loaded())
				tap_bail("a failed init left the module");
			continue;
		}
		left = ku_dbg_read("fault_nth");
		dbg_write("fault_nth", 0);
		if (left > 0) {
			clean = 1;
			r = ku_module_unload();
			if (r)
				tap_bail("rmmod: %s", strerror(r));
			break;
		}
		survived++;
		r = ku_wait_dev() ? ku_inst_open(&in, 16, 16, -1) : -ENODEV;
		if (!r)
			ku_inst_close(&in);
		ku_counts_wait((struct ku_counts){ 0, 0 });
		if (r) {
			tap_diag("init point %d (%s) survived, but an instance "
				 "cannot be made: %s", n, site(), strerror(-r));
			ok_survived = 0;
		}
		r = ku_module_unload();
		if (r)
			tap_bail("rmmod after init point %d: %s", n,
				 strerror(r));
	}
	tap_ok(clean && failed + survived >= 4, "module init passed %d failure "
	       "points, then loaded with none injected", failed + survived);
	tap_ok(ok_failed && failed >= 2, "each of the %d failures init cannot "
	       "go on without fails finit_module with ENOMEM and leaves no "
	       "module and no " KSVC_DEVICE_PATH, failed);
	tap_ok(ok_survived && survived >= 2, "each of the %d failures init goes "
	       "on without (hooks, tracepoints) leaves a working "
	       KSVC_DEVICE_PATH " and a module that unloads", survived);
}

/* ---- 2. open --------------------------------------------------------- */

static void test_open(void)
{
	int n, fd, err, fds = ku_count_fds(NULL), ok = 1, points = -1;
	long hits;

	for (n = 1; n <= MAX_POINTS; n++) {
		hits = arm(n);
		fd = open(KSVC_DEVICE_PATH, O_RDWR | O_CLOEXEC);
		err = errno;
		if (!disarm(hits)) {
			points = n - 1;
			if (fd >= 0)
				close(fd);
			break;
		}
		if (fd >= 0 || err != ENOMEM || ku_count_fds(NULL) != fds ||
		    !ku_counts_eq(ku_counts(), base)) {
			tap_diag("open, point %d (%s): fd %d, %s", n, site(),
				 fd, strerror(err));
			ok = 0;
			if (fd >= 0)
				close(fd);
		}
	}
	tap_ok(ok && points >= 1, "open: each of its %d failure points fails "
	       "it with ENOMEM, no descriptor, nothing counted", points);
}

/* ---- 3. CREATE ------------------------------------------------------- */

static __u32 page_fresh(const struct ksvc_shared_page *sp)
{
	__u32 s, f;

	do {
		s = ksvc_shared_read_begin(sp);
		f = sp->fresh;
	} while (ksvc_shared_read_retry(sp, s));
	return f;
}

/*
 * On the file @fd: CREATE must succeed now, and the whole instance map
 * with the pages counted.  0 or a reason.
 */
static const char *create_works(int fd, __u32 sq, __u32 cq, int efd)
{
	struct ku_inst in;
	int r, err, i;

	r = ku_create(fd, sq, cq, efd);
	if (r)
		return r == -EMFILE ? "next CREATE: EMFILE (user charged)" :
		       r == -EBUSY ? "next CREATE: EBUSY (file changed)" :
				     "next CREATE failed";
	memset(&in, 0, sizeof(in));
	for (i = 0; i < KU_NREGIONS; i++) {
		in.len[i] = ku_region_size((enum ku_region)i, sq, cq);
		in.map[i] = ku_map(fd, (enum ku_region)i, sq, cq, &err);
	}
	in.fd = -1;
	r = in.map[KU_SQ] && in.map[KU_CQ] && in.map[KU_SHARED] &&
	    ((struct ksvc_ring_hdr *)in.map[KU_CQ])->entries == cq &&
	    ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	    ku_dbg_read(KU_PAGES) == base.pages + ku_instance_pages(sq, cq);
	ku_inst_close(&in);
	return r ? NULL : "the new instance is not whole";
}

static void test_create(__u32 sq, __u32 cq, int with_efd)
{
	int n, fd, efd = -1, r, ok = 1, points = -1, survived = 0;
	int fds = ku_count_fds(NULL);
	const char *why;
	__u32 fresh, later;
	long hits;

	for (n = 1; n <= MAX_POINTS; n++) {
		fd = ku_open();
		if (fd < 0)
			tap_bail("open: %s", strerror(-fd));
		if (with_efd && (efd = eventfd(0, EFD_CLOEXEC)) < 0)
			tap_bail("eventfd: %s", strerror(errno));
		hits = arm(n);
		r = ku_create(fd, sq, cq, efd);
		if (!disarm(hits)) {
			points = n - 1;
			if (r)
				tap_diag("CREATE with nothing injected: %s",
					 strerror(-r));
			ok &= !r;
		} else if (!r) {
			/* Gone on without: only the first snapshot may. */
			struct ksvc_shared_page *sp;
			int err;

			survived++;
			sp = ku_map(fd, KU_SHARED, sq, cq, &err);
			fresh = sp ? page_fresh(sp) : ~0u;
			later = sp && !ku_ioctl0(fd, KSVC_IOC_REFRESH) ?
				page_fresh(sp) : 0;
			if (fresh || !later || !strstr(site(), "tier0")) {
				tap_diag("CREATE, point %d (%s) went on: fresh "
					 "%#x, after REFRESH %#x", n, site(),
					 fresh, later);
				ok = 0;
			}
			if (sp)
				munmap(sp, PAGE_SIZE);
		} else {
			why = r != -ENOMEM ? "not ENOMEM" :
			      !ku_counts_eq(ku_counts(), base) ?
			      "counters changed" :
			      create_works(fd, sq, cq, efd);
			if (why) {
				tap_diag("CREATE, point %d (%s): %s: %s", n,
					 site(), strerror(-r), why);
				ok = 0;
			}
		}
		close(fd);
		if (efd >= 0)
			close(efd);
		efd = -1;
		if (!ku_counts_wait(base))
			tap_bail("instances left after point %d", n);
		if (points >= 0)
			break;
	}
	tap_ok(ok && points >= 4 && ku_count_fds(NULL) == fds,
	       "CREATE %u/%u%s: each of its %d failure points fails it with "
	       "ENOMEM, counting and charging nothing, and the file's next "
	       "CREATE works (%d survived: the first Tier 0 snapshot, facts "
	       "not fresh until REFRESH)", sq, cq,
	       with_efd ? " with an eventfd" : "", points, survived);
}

/* ---- 4. CREATE charging two users ------------------------------------ */

/*
 * In a child: become NS_OWNER, make a user namespace, wait for its maps
 * (its root is NS_KUID outside), open /dev/ksvc, tell the parent, wait
 * for the go, CREATE, report the result, then CREATE again on the same
 * file (nothing must have been charged) and report that.
 */
static int ns_child(int up, int down)
{
	int fd, r[2];
	char c;

	if (setresgid(NS_OWNER, NS_OWNER, NS_OWNER) ||
	    setresuid(NS_OWNER, NS_OWNER, NS_OWNER))
		return 100;
	if (unshare(CLONE_NEWUSER))
		return 77;
	c = 1;
	if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1 || c != 1)
		return 101;
	if (setresgid(0, 0, 0) || setresuid(0, 0, 0))
		return 102;
	fd = ku_open();
	if (fd < 0)
		return 103;
	if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1)
		return 104;
	r[0] = ku_create(fd, 16, 16, -1);
	if (write(up, &r[0], sizeof(r[0])) != sizeof(r[0]) ||
	    read(down, &c, 1) != 1)
		return 105;
	r[1] = r[0] ? ku_create(fd, 16, 16, -1) : 0;
	if (write(up, &r[1], sizeof(r[1])) != sizeof(r[1]))
		return 106;
	close(fd);
	return 0;
}

/* One child, point @n: 1 done (not injected), 0 checked, -1 skip. */
static int ns_point(int n, int *ok)
{
	int up[2], down[2], st, r[2] = { 1, 1 }, fired = 0;
	char path[64], c = 0;
	long hits = 0;
	pid_t pid;

	if (pipe(up) || pipe(down))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		_exit(ns_child(up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) == 1) {
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
		c = !ku_write_file(path, "0 300000 1\n");
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
		c = c && !ku_write_file(path, "0 300000 1\n");
		if (write(down[1], &c, 1) != 1)
			tap_bail("write: %s", strerror(errno));
	}
	if (read(up[0], &c, 1) == 1) {
		fault_pid(pid);
		hits = arm(n);
		if (write(down[1], &c, 1) != 1)
			tap_bail("write: %s", strerror(errno));
		if (read(up[0], &r[0], sizeof(r[0])) == sizeof(r[0])) {
			fired = disarm(hits);
			fault_pid(getpid());
			if (write(down[1], &c, 1) != 1)
				tap_bail("write: %s", strerror(errno));
			if (read(up[0], &r[1], sizeof(r[1])) != sizeof(r[1]))
				r[1] = 1;
		}
	}
	close(up[0]);
	close(down[1]);
	if (waitpid(pid, &st, 0) != pid)
		tap_bail("waitpid: %s", strerror(errno));
	dbg_write("fault_nth", 0);
	fault_pid(getpid());
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		tap_diag("user namespace child, point %d: status %#x", n, st);
		*ok = 0;
		return 1;
	}
	if (!fired) {
		*ok &= !r[0];
		return 1;
	}
	if (r[0] ? r[0] != -ENOMEM || r[1] : !strstr(site(), "tier0")) {
		tap_diag("user namespace CREATE, point %d (%s): %s, then %s",
			 n, site(), strerror(-r[0]), strerror(-r[1]));
		*ok = 0;
	}
	if (!ku_counts_wait(base))
		tap_bail("instances left after point %d", n);
	return 0;
}

static void test_userns(void)
{
	int n, r = 0, ok = 1;

	for (n = 1; n <= MAX_POINTS; n++) {
		r = ns_point(n, &ok);
		if (r)
			break;
	}
	if (r < 0)
		tap_skip("no user namespace here", "CREATE charging two users");
	else
		tap_ok(ok && n >= 6, "CREATE by root of a namespace owned by "
		       "user %d (users %d and %d charged): each of its %d "
		       "failure points fails it with ENOMEM and charges "
		       "neither user (the same file's next CREATE works "
		       "with a limit of 1)", NS_OWNER, NS_KUID, NS_OWNER,
		       n - 1);
}

/* ---- 5. the sharer record ------------------------------------------ */

static int sharer_main(void *arg)
{
	int *p = arg;
	char c;

	/*
	 * Shares the test's memory: only raw system calls here.  Its copy
	 * of the write end goes, so that the parent's close ends the read.
	 */
	syscall(SYS_close, p[1]);
	syscall(SYS_read, p[0], &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

static void test_sharer(void)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	struct ksvc_shared_page *sp;
	int p[2], fd, err, n, st, ok = 1, points = -1;
	__u32 during, after;
	uint64_t end;
	long hits;
	pid_t pid;

	for (n = 1; n <= MAX_POINTS && points < 0; n++) {
		fd = ku_open_create(16, 16, -1);
		if (fd < 0)
			tap_bail("instance: %s", strerror(-fd));
		sp = ku_map(fd, KU_SHARED, 16, 16, &err);
		if (!sp)
			tap_bail("mmap: %s", strerror(-err));
		if (pipe(p))
			tap_bail("pipe: %s", strerror(errno));
		hits = arm(n);
		pid = clone(sharer_main, stack + sizeof(stack),
			    CLONE_VM | SIGCHLD, p);
		if (!disarm(hits))
			points = n - 1;
		if (pid < 0)
			tap_bail("clone: %s", strerror(errno));
		during = ku_ioctl0(fd, KSVC_IOC_REFRESH) ? ~0u :
			 page_fresh(sp);
		close(p[1]);
		if (waitpid(pid, &st, 0) != pid)
			tap_bail("waitpid: %s", strerror(errno));
		close(p[0]);
		/* Overflowed records are looked at again at most 10 times a second. */
		end = ku_now_ms() + 3000;
		do {
			ku_sleep_ms(20);
			after = ku_ioctl0(fd, KSVC_IOC_REFRESH) ? 0 :
				page_fresh(sp);
		} while (!after && ku_now_ms() < end);
		if (during || !after) {
			tap_diag("clone(CLONE_VM), point %d (%s): fresh %#x "
				 "while the child lived, %#x after", n,
				 points < 0 ? site() : "none", during, after);
			ok = 0;
		}
		munmap(sp, PAGE_SIZE);
		close(fd);
		if (!ku_counts_wait(base))
			tap_bail("instances left after point %d", n);
	}
	tap_ok(ok && points >= 1, "clone(CLONE_VM) of the owner: with each of "
	       "its %d failure points failing (no sharer record), REFRESH "
	       "marks no fact fresh while the child lives, and brings them "
	       "back after it exits", points);
}

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	char old_limit[32] = "";
	int r, fd;

	ku_require_module();
	fi_ko = getenv("KSVC_FI_KO");
	if (!ko || !*ko || !fi_ko || !*fi_ko)
		tap_skip_all("needs $KSVC_KO and $KSVC_FI_KO (the module and "
			     "its fault-injection build: vm/run.sh sets them)");
	tap_plan(9);

	if (!ku_counts_wait((struct ku_counts){ 0, 0 }))
		tap_bail("instances exist before the test");
	r = ku_module_unload();
	if (r)
		tap_bail("rmmod: %s", strerror(r));

	test_init();

	r = ku_module_load(fi_ko, "");
	if (r || !ku_wait_dev())
		tap_bail("cannot load %s: %s", fi_ko, strerror(r));
	base = ku_counts();
	fault_pid(getpid());
	test_open();

	fd = open(LIMIT_PARAM, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, old_limit, sizeof(old_limit) - 1) <= 0)
		tap_bail("cannot read " LIMIT_PARAM);
	close(fd);
	if (ku_write_file(LIMIT_PARAM, "1\n"))
		tap_bail("cannot write " LIMIT_PARAM);
	test_create(16, 16, 0);
	test_create(1024, 4096, 1);
	test_userns();
	ku_write_file(LIMIT_PARAM, old_limit);

	test_sharer();

	fault_pid(0);
	r = ku_module_unload();
	if (r)
		tap_bail("rmmod of the fault-injection build: %s", strerror(r));
	r = ku_module_load(ko, "");
	tap_ok(!r && ku_wait_dev(), "the installed module %s is loaded back (%s)",
	       ko, r ? strerror(r) : "ok");
	tap_done();
}
