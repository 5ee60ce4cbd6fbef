// SPDX-License-Identifier: MIT
/*
 * test_tier0_race - readers on several threads check the shared page and
 * ksvc_uname while another thread renames the host between two names of
 * different lengths, 100000 times (KSVC_TIER0_RACE_ITERS=n sets another
 * number, and --scale N or KSVC_TEST_SCALE=N divides it: the VM list
 * keeps the hundred thousand in the plain run and divides them in the
 * sanitized one).  Then the same with the renames made by another
 * process of the same UTS namespace, a quarter as many.
 *
 * Every read must give one of the two names entirely (never a mix), the
 * other five strings exact; every ksvc_uname likewise.  A second pair of
 * runs (a quarter as many renames each) numbers the names (still
 * alternating short and long): a page read with the bit set, or a
 * ksvc_uname, must then give a name whose number lies between the
 * kernel's before and after the read (never stale).
 * Runs in a private UTS namespace.
 */
#include <sched.h>

#include "test_tier0.h"

#define NAME_A "a"
#define NAME_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define READERS 3

static struct t0_inst inst;
static struct utsname base;		/* all but the node name */
static int stop;
static long page_set, page_clear, bad_page, bad_acc, acc_calls;

static int name_is(const char *n, const char *want)
{
	char w[65];

	memset(w, 0, sizeof(w));
	memcpy(w, want, strlen(want));
	return memcmp(n, w, 65) == 0;
}

static int others_ok(const struct utsname *u)
{
	return memcmp(u->sysname, base.sysname, 65) == 0 &&
	       memcmp(u->release, base.release, 65) == 0 &&
	       memcmp(u->version, base.version, 65) == 0 &&
	       memcmp(u->machine, base.machine, 65) == 0 &&
	       memcmp(u->domainname, base.domainname, 65) == 0;
}

static void *reader(void *arg)
{
	long set = 0, clear = 0, bp = 0, ba = 0, calls = 0;
	struct t0_page_snap s;
	struct utsname u;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		t0_read_page(inst.p, &s);
		if (s.fresh & KSVC_FRESH_UTS) {
			set++;
			if (!(name_is(s.f.uts.nodename, NAME_A) ||
			      name_is(s.f.uts.nodename, NAME_B)) ||
			    !others_ok(&s.f.uts))
				bp++;
		} else {
			clear++;
		}
		if (ksvc_uname(&u) != 0 ||
		    !(name_is(u.nodename, NAME_A) ||
		      name_is(u.nodename, NAME_B)) || !others_ok(&u))
			ba++;
		calls++;
	}
	__atomic_fetch_add(&page_set, set, __ATOMIC_RELAXED);
	__atomic_fetch_add(&page_clear, clear, __ATOMIC_RELAXED);
	__atomic_fetch_add(&bad_page, bp, __ATOMIC_RELAXED);
	__atomic_fetch_add(&bad_acc, ba, __ATOMIC_RELAXED);
	__atomic_fetch_add(&acc_calls, calls, __ATOMIC_RELAXED);
	return NULL;
}

static int numbered;

/* Name number @i: short when even, 64 characters when odd. */
static void seq_name(long i, char *buf)
{
	int n = snprintf(buf, 65, "%c%ld-", (i & 1) ? 'l' : 's', i);

	if (i & 1) {
		memset(buf + n, 'x', (size_t)(64 - n));
		buf[64] = 0;
	}
}

static long seq_of(const char *name)
{
	char want[65], copy[66];
	long i;

	memcpy(copy, name, 65);
	copy[65] = 0;
	if ((copy[0] != 's' && copy[0] != 'l') ||
	    sscanf(copy + 1, "%ld", &i) != 1)
		return -1;
	seq_name(i, want);
	return strcmp(want, copy) == 0 ? i : -1;
}

static long kernel_seq(void)
{
	struct utsname u;

	syscall(SYS_uname, &u);
	return seq_of(u.nodename);
}

static void *seq_reader(void *arg)
{
	long set = 0, clear = 0, bp = 0, ba = 0, calls = 0, pre, post, v;
	struct t0_page_snap s;
	struct utsname u;

	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		pre = kernel_seq();
		t0_read_page(inst.p, &s);
		post = kernel_seq();
		if (s.fresh & KSVC_FRESH_UTS) {
			set++;
			v = seq_of(s.f.uts.nodename);
			if (v < pre || v > post || !others_ok(&s.f.uts))
				bp++;
		} else {
			clear++;
		}
		pre = kernel_seq();
		if (ksvc_uname(&u) != 0)
			ba++;
		post = kernel_seq();
		v = seq_of(u.nodename);
		if (v < pre || v > post || !others_ok(&u))
			ba++;
		calls++;
	}
	__atomic_fetch_add(&page_set, set, __ATOMIC_RELAXED);
	__atomic_fetch_add(&page_clear, clear, __ATOMIC_RELAXED);
	__atomic_fetch_add(&bad_page, bp, __ATOMIC_RELAXED);
	__atomic_fetch_add(&bad_acc, ba, __ATOMIC_RELAXED);
	__atomic_fetch_add(&acc_calls, calls, __ATOMIC_RELAXED);
	return NULL;
}

static void rename_loop(long iters)
{
	char buf[65];
	long i;

	for (i = 0; i < iters; i++) {
		const char *n = (i & 1) ? NAME_B : NAME_A;

		if (numbered) {
			seq_name(i + 1, buf);
			n = buf;
		}
		if (sethostname(n, strlen(n)) != 0)
			tap_bail("sethostname: %s", strerror(errno));
	}
}

static void run(const char *who, long iters, int outside)
{
	pthread_t r[READERS];
	int i;
	pid_t pid = 0;

	if (numbered && sethostname("s0-", 3) != 0)
		tap_bail("sethostname: %s", strerror(errno));
	stop = 0;
	page_set = page_clear = bad_page = bad_acc = acc_calls = 0;
	for (i = 0; i < READERS; i++)
		pthread_create(&r[i], NULL, numbered ? seq_reader : reader,
			       NULL);
	if (outside) {
		pid = fork();
		if (pid == 0) {
			rename_loop(iters);
			_exit(0);
		}
		if (t0_wait(pid) != 0)
			tap_bail("renaming process failed");
	} else {
		rename_loop(iters);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	tap_diag("%s: %ld renames; page reads with UTS set %ld, clear %ld; "
		 "%ld ksvc_uname calls", who, iters, page_set, page_clear,
		 acc_calls);
	/*
	 * Only reads with UTS set are checked: a run where the bit stayed
	 * clear (hooks missing, the refresh broken) checked nothing.  In
	 * the guest about three reads in four find it set.
	 */
	if (page_set * 20 < page_set + page_clear)
		tap_diag("%s: UTS set in fewer than 1 in 20 page reads", who);
	tap_ok(bad_page == 0 && page_set > 0 &&
	       page_set * 20 >= page_set + page_clear,
	       "%s: every page read with UTS set (at least 1 in 20) had %s "
	       "(%ld bad)", who, numbered ? "a current name, never stale" :
	       "one whole name", bad_page);
	tap_ok(bad_acc == 0 && acc_calls > 0,
	       "%s: every ksvc_uname gave %s (%ld bad)", who,
	       numbered ? "a current name" : "one whole name", bad_acc);
}

int main(int argc, char **argv)
{
	long iters = t0_env_long("KSVC_TIER0_RACE_ITERS", 100000), more;
	unsigned int scale = tap_scale(argc, argv);

	t0_need_module();
	tap_plan(10);
	if (unshare(CLONE_NEWUTS) != 0)
		tap_bail("unshare(CLONE_NEWUTS): %s", strerror(errno));
	if (sethostname(NAME_A, 1) != 0)
		tap_bail("sethostname: %s", strerror(errno));
	syscall(SYS_uname, &base);
	t0_inst_must(&inst, 1);
	t0_lib_page();
	if (scale > 1)
		iters = iters / scale < 1000 ? 1000 : iters / scale;
	if (iters != 100000)
		tap_diag("scaled: %ld renames instead of 100000 "
			 "(KSVC_TIER0_RACE_ITERS, --scale)", iters);

	run("renames by a thread of the process", iters, 0);
	tap_ok(t0_page_ok(inst.p, KSVC_FRESH_ALL, "after own renames") &&
	       name_is(inst.p->utsname_nodename, (iters & 1) ? NAME_A : NAME_B),
	       "after the process's own renames: UTS set, last name");
	/* The other three rounds: a quarter (the guest is slow). */
	more = iters >= 4000 ? iters / 4 : iters;
	run("renames by another process", more, 1);
	tap_ok(t0_inst_refresh(&inst) == 0 &&
	       t0_page_ok(inst.p, KSVC_FRESH_ALL, "after outside renames") &&
	       t0_acc_ok("after outside renames"),
	       "after renames from outside: REFRESH sets UTS, exact");

	numbered = 1;
	run("numbered renames by a thread", more, 0);
	run("numbered renames by another process", more, 1);
	tap_done();
}
