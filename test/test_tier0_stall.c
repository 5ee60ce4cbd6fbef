// SPDX-License-Identifier: MIT
/*
 * test_tier0_stall - a host name or id map write held in progress in one
 * namespace holds back only that namespace.
 *
 * Any user can keep such a write in progress for as long as they like:
 * the copy of its argument stalls on a page they control (here a
 * userfaultfd page).  While it is in progress the module must not
 * publish UTS (or IDS) for instances that read it from the namespace
 * being written; instances in other namespaces must be unaffected.
 *
 * Steps (the test runs in a UTS namespace of its own, "main"):
 *  1. writer 1, in a UTS namespace of its own, stalls in sethostname();
 *     its own instance does not publish UTS meanwhile;
 *  2. an instance made in main's namespace meanwhile publishes UTS, exact;
 *  3. writers 2 to NWRITERS stall the same way, one namespace each: the
 *     last one's instance does not publish UTS either, and an instance
 *     made in main's namespace still does;
 *  4. every write goes on and finishes;
 *  5. every writer's instance then publishes its new name, and so does a
 *     new instance in main's namespace (nothing is left counted in
 *     progress);
 *  5b. a lone writer's instance made while its write was stalled
 *     publishes the new name at the write's end, before any call of its
 *     owner;
 *  6. a uid_map write into a child's new user namespace stalls: an
 *     instance made meanwhile in ours publishes IDS, exact; the write
 *     then finishes.
 *
 *  7. more host name writes stalled at once than the module's return
 *     probe has instances for (NMISSED threads of ours, 256 instances),
 *     so that some return probes are missed:
 *     - the writes succeed: UTS is published again as soon as every
 *       write returned (each one's end was seen at the notification
 *       every successful host name write ends in); once each thread
 *       wrote again, none of their records counts a write (main's own
 *       record, from its write at the start, is still kept, idle);
 *     - the writes fail (no notification); each thread writes again:
 *       UTS is published, no record counts a write;
 *     - the writes fail; the threads exit: UTS is published, and their
 *       records are gone.
 *
 * Steps 1 to 5 run twice: with the module recording each writer (as it
 * does wherever its entry probes run through ftrace), then without (as
 * where the records cannot be allocated: debugfs's record_writers), when
 * writes in progress are counted in KSVC_NS_SLOTS slots; the NWRITERS
 * namespaces outnumber them, and the last one's write is counted in a
 * count that holds back every namespace (main's is then not checked).
 *
 * Instances are made anew where a check is about publishing: one made
 * earlier could show a bit set before the stall began.
 *
 * Needs root, the module and userfaultfd; otherwise it skips.
 */
#include <pthread.h>

#include "test_tier0.h"
#include "util.h"

/* More than KSVC_NS_SLOTS (kernel/tier0.c) namespaces at once. */
#define NWRITERS	20
/* More than KSVC_KRP_MAXACTIVE (kernel/hooks.c) calls at once. */
#define NMISSED		300
#define HOOKS_FILE	"/sys/kernel/debug/ksvc/hooks"
#define RECORD_FILE	"/sys/kernel/debug/ksvc/record_writers"
#define WAIT_MS		20000

struct report {
	int ok;			/* the step worked */
	unsigned int fresh;	/* the page's fresh mask at that point */
	unsigned int late;	/* LATE_*: the instance made while stalled */
};

/* The instance a writer makes while its write is stalled: */
#define LATE_HELD	1	/* did not publish UTS meanwhile */
#define LATE_PUBLISHED	2	/* published the new name at the write's end */

struct writer {
	pid_t pid;
	int to, from;		/* pipes to and from the child */
};

static struct writer wr[NWRITERS];

/* ---- in a writer child --------------------------------------------- */

static struct t0_stall st;
static int set_ret, set_errno;
static char new_name[64];

static void *set_name(void *arg)
{
	(void)arg;
	set_ret = sethostname(st.page, strlen(new_name));
	set_errno = errno;
	return NULL;
}

static void say(int fd, int ok, unsigned int fresh, unsigned int late)
{
	struct report r = { ok, fresh, late };

	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(98);
}

/* Runs in the child: stall, report, and so on (see main()). */
static int writer_main(int n, int in, int out)
{
	struct t0_inst inst, late;
	struct t0_page_snap s;
	unsigned int lf = 0;
	char old_name[64];
	pthread_t th;
	int r;

	snprintf(old_name, sizeof(old_name), "ksvc-stall-old-%d", n);
	snprintf(new_name, sizeof(new_name), "ksvc-stall-new-%d", n);
	if (unshare(CLONE_NEWUTS) != 0 ||
	    sethostname(old_name, strlen(old_name)) != 0 ||
	    t0_stall_init(&st) != 0 || t0_inst_open(&inst, 1) != 0)
		return 2;

	/* Stalled, then what does our own instance say? */
	pthread_create(&th, NULL, set_name, NULL);
	r = t0_stall_wait(&st, WAIT_MS);
	if (t0_inst_refresh(&inst) != 0)
		r = 0;
	r = r && t0_page_ok(inst.p, 0, "writer, stalled");
	/*
	 * An instance made now has never published UTS: only its refresh,
	 * held back, can have named the namespace for the write's end.
	 */
	if (t0_inst_open(&late, 1) != 0)
		return 2;
	t0_read_page(late.p, &s);
	if (!(s.fresh & KSVC_FRESH_UTS))
		lf |= LATE_HELD;
	t0_read_page(inst.p, &s);
	say(out, r, s.fresh, lf);

	/* Go on with the write; its end refreshes, nobody else does. */
	t0_waitfor(in);
	r = t0_stall_fill(&st, new_name, strlen(new_name) + 1) == 0;
	pthread_join(th, NULL);
	if (set_ret != 0)
		fprintf(stderr, "# writer %d: sethostname: %s\n", n,
			strerror(set_errno));
	t0_read_page(late.p, &s);
	if ((s.fresh & KSVC_FRESH_UTS) && !strcmp(s.f.uts.nodename, new_name))
		lf |= LATE_PUBLISHED;
	t0_inst_close(&late);
	say(out, r && set_ret == 0, s.fresh, lf);

	/* Every write has finished: the new name, fresh. */
	t0_waitfor(in);
	r = t0_inst_refresh(&inst) == 0 &&
	    t0_page_ok(inst.p, KSVC_FRESH_UTS, "writer, after");
	t0_read_page(inst.p, &s);
	r = r && !strcmp(s.f.uts.nodename, new_name);
	say(out, r, s.fresh, 0);
	t0_inst_close(&inst);
	t0_stall_destroy(&st);
	return 0;
}

/* ---- in the test ---------------------------------------------------- */

static void writer_start(int n)
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0)
		tap_bail("pipe: %s", strerror(errno));
	wr[n].pid = fork();
	if (wr[n].pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (wr[n].pid == 0) {
		close(to[1]);
		close(from[0]);
		_exit(writer_main(n, to[0], from[1]));
	}
	close(to[0]);
	close(from[1]);
	wr[n].to = to[1];
	wr[n].from = from[0];
}

static struct report heard(int n)
{
	struct report r;

	if (read(wr[n].from, &r, sizeof(r)) != (ssize_t)sizeof(r))
		tap_bail("writer %d stopped early (status %d)", n,
			 t0_wait(wr[n].pid));
	return r;
}

/* The uid_map write of step 6, on a thread of ours. */
static int map_fd = -1;
static ssize_t map_ret;

static void *write_map(void *arg)
{
	(void)arg;
	map_ret = write(map_fd, st.page, 6);	/* "0 0 1\n" */
	return NULL;
}

static void check_ids(void)
{
	struct t0_inst inst;
	int go[2], ready[2], r;
	char path[64];
	pthread_t th;
	pid_t child;

	if (pipe2(go, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0)
		tap_bail("pipe: %s", strerror(errno));
	child = fork();
	if (child == 0) {
		if (unshare(CLONE_NEWUSER) != 0)
			_exit(2);
		t0_post(ready[1]);
		t0_waitfor(go[0]);
		_exit(0);
	}
	t0_waitfor(ready[0]);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)child);
	map_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (map_fd < 0 || t0_stall_init(&st) != 0)
		tap_bail("%s: %s", path, strerror(errno));
	pthread_create(&th, NULL, write_map, NULL);
	r = t0_stall_wait(&st, WAIT_MS);
	t0_inst_must(&inst, 1);
	tap_ok(r && t0_inst_refresh(&inst) == 0 &&
	       t0_page_ok(inst.p, KSVC_FRESH_IDS | KSVC_FRESH_UTS,
			  "main, uid_map write stalled"),
	       "while a uid_map write into another user namespace is stalled "
	       "(faulted %d), an instance made in ours publishes IDS, exact",
	       r);
	t0_inst_close(&inst);

	r = t0_stall_fill(&st, "0 0 1\n", 6) == 0;
	pthread_join(th, NULL);
	tap_ok(r && map_ret == 6, "the uid_map write finishes (%zd)", map_ret);
	close(map_fd);
	t0_stall_destroy(&st);
	t0_post(go[1]);
	t0_wait(child);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
}

/* ---- step 7 --------------------------------------------------------- */

/* The module's records of writers: one per task that wrote, till it exits. */
struct wcount {
	unsigned long records;	/* all of them */
	unsigned long busy;	/* those counting a write in progress */
};

/*
 * From the module's debugfs file: the return probes sethostname() missed
 * (*@missed), and the writers it keeps records of (*@w).
 */
static int hooks_read(unsigned long *missed, struct wcount *w)
{
	FILE *f = fopen(HOOKS_FILE, "r");
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kp, krp;
		char *m;

		if (strstr(line, "_sys_sethostname ") && !strstr(line, "ia32") &&
		    (m = strstr(line, "missed=")) &&
		    sscanf(m, "missed=%lu/%lu", &kp, &krp) == 2) {
			*missed = krp;
			found |= 1;
		}
		if (sscanf(line, "writers %lu busy %lu", &w->records,
			   &w->busy) == 2)
			found |= 2;
	}
	fclose(f);
	return found == 3 ? 0 : -1;
}

enum { STALL, AGAIN, LEAVE };

struct crowd {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int returned, failed, phase;
};

static struct crowd crowd = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, STALL
};

static void *crowd_main(void *arg)
{
	int r = sethostname(st.page, strlen("ksvc-stall-crowd"));

	(void)arg;
	pthread_mutex_lock(&crowd.lock);
	crowd.returned++;
	crowd.failed += r != 0;
	pthread_cond_broadcast(&crowd.cv);
	while (crowd.phase == STALL)
		pthread_cond_wait(&crowd.cv, &crowd.lock);
	if (crowd.phase == AGAIN)
		crowd.failed += sethostname("ksvc-stall-again", 16) != 0;
	crowd.returned++;
	pthread_cond_broadcast(&crowd.cv);
	pthread_mutex_unlock(&crowd.lock);
	return NULL;
}

static void crowd_wait(int n)
{
	pthread_mutex_lock(&crowd.lock);
	while (crowd.returned < n)
		pthread_cond_wait(&crowd.cv, &crowd.lock);
	pthread_mutex_unlock(&crowd.lock);
}

static void crowd_phase(int phase)
{
	pthread_mutex_lock(&crowd.lock);
	crowd.phase = phase;
	pthread_cond_broadcast(&crowd.cv);
	pthread_mutex_unlock(&crowd.lock);
}

/*
 * NMISSED threads stall in sethostname() on the userfaultfd page; then
 * the page is filled and all succeed, or (@fail) all fail.  Returns how
 * many return probes the module missed meanwhile, or -1.
 */
static long crowd_stall(pthread_t *th, int fail)
{
	unsigned long missed0, missed1;
	struct wcount w;
	pthread_attr_t attr;
	int i, faults = 0;

	if (hooks_read(&missed0, &w) != 0 || t0_stall_init(&st) != 0)
		return -1;
	crowd.returned = 0;
	crowd.failed = 0;
	crowd.phase = STALL;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (i = 0; i < NMISSED; i++)
		if (pthread_create(&th[i], &attr, crowd_main, NULL) != 0)
			tap_bail("pthread_create %d", i);
	pthread_attr_destroy(&attr);
	/* One fault message per stalled thread. */
	while (faults < NMISSED && t0_stall_wait(&st, WAIT_MS))
		faults++;
	if (faults < NMISSED)
		tap_diag("only %d of %d threads stalled", faults, NMISSED);
	if (fail) {
		/*
		 * Unmap the page, then close the userfaultfd, which wakes
		 * the threads: their copies fault again, on no mapping, and
		 * the calls fail with EFAULT, before any change and without
		 * the notification that ends a successful write.
		 */
		munmap(st.page, st.size);
		st.page = NULL;
		close(st.ufd);
		st.ufd = -1;
	} else if (t0_stall_fill(&st, "ksvc-stall-crowd", 17) != 0) {
		tap_bail("UFFDIO_COPY: %s", strerror(errno));
	}
	crowd_wait(NMISSED);
	if (hooks_read(&missed1, &w) != 0)
		return -1;
	t0_stall_destroy(&st);
	return faults == NMISSED ? (long)(missed1 - missed0) : -1;
}

/* An instance made now in main's namespace publishes UTS, exact. */
static int main_publishes(const char *what)
{
	struct t0_inst inst;
	int ok;

	t0_inst_must(&inst, 1);
	ok = t0_inst_refresh(&inst) == 0 &&
	     t0_page_ok(inst.p, KSVC_FRESH_UTS, what);
	t0_inst_close(&inst);
	return ok;
}

/*
 * The crowd is in main's namespace: that publishes UTS, and no record
 * counts a write in progress.
 */
static int crowd_quiet(const char *what, struct wcount *w)
{
	unsigned long missed;
	int ok = main_publishes(what);

	w->records = w->busy = ~0ul;
	return hooks_read(&missed, w) == 0 && ok && w->busy == 0;
}

/* Wait up to @ms for the module to hold at most @n records. */
static void records_down_to(unsigned long n, int ms)
{
	uint64_t end = ku_now_ms() + (uint64_t)ms;
	unsigned long missed;
	struct wcount w;

	while (hooks_read(&missed, &w) == 0 && w.records > n &&
	       ku_now_ms() < end)
		ku_sleep_ms(10);
}

static void crowd_join(pthread_t *th)
{
	int i;

	for (i = 0; i < NMISSED; i++)
		pthread_join(th[i], NULL);
}

static void check_missed(void)
{
	static pthread_t th[NMISSED];
	unsigned long missed;
	struct wcount w = { 0, 0 }, w0;
	long n;
	int ok;

	/*
	 * Only main's own record remains from the steps before, idle: main
	 * set its host name at the start, and a task keeps its record for
	 * its next write until it exits (threads that wrote and exited lose
	 * theirs soon after their exit).
	 */
	records_down_to(1, WAIT_MS);
	if (hooks_read(&missed, &w0) != 0)
		tap_bail("cannot read %s", HOOKS_FILE);

	/* Round 1: the writes succeed; each thread writes again. */
	n = crowd_stall(th, 0);
	ok = n > 0 && !crowd.failed && main_publishes("after the crowd");
	tap_ok(ok, "%d writes stalled at once: %ld return probes missed; once "
	       "all returned, an instance in their namespace publishes UTS, "
	       "exact", NMISSED, n);
	crowd_phase(AGAIN);
	crowd_wait(2 * NMISSED);
	ok = !crowd.failed && crowd_quiet("after writing again", &w) &&
	     w0.records == 1 && w0.busy == 0;
	crowd_join(th);
	tap_ok(ok, "once each thread wrote the name again, none of their "
	       "records counts a write in progress (%lu busy); main's record "
	       "from its own write is kept, idle (%lu records, %lu busy "
	       "before)", w.busy, w0.records, w0.busy);

	/* Round 2: the writes fail; each thread writes again. */
	records_down_to(w0.records, WAIT_MS);
	n = crowd_stall(th, 1);
	ok = n > 0 && crowd.failed == NMISSED;
	crowd_phase(AGAIN);
	crowd_wait(2 * NMISSED);
	ok = ok && crowd.failed == NMISSED &&
	     crowd_quiet("after failing, then writing again", &w);
	crowd_join(th);
	tap_ok(ok, "%d writes stalled, then failed with no notification (%ld "
	       "return probes missed); once each thread wrote again, UTS is "
	       "published and no record counts a write (%lu busy)", NMISSED,
	       n, w.busy);

	/*
	 * Round 3: the writes fail; the threads exit at once.  A join
	 * returns once the thread's memory is released, before the exit
	 * tracepoint runs: wait (bounded) for the module to see the exits.
	 */
	records_down_to(w0.records, WAIT_MS);
	n = crowd_stall(th, 1);
	ok = n > 0 && crowd.failed == NMISSED;
	crowd_phase(LEAVE);
	crowd_join(th);
	records_down_to(w0.records, WAIT_MS);
	ok = ok && crowd_quiet("after the threads exited", &w) &&
	     w.records == w0.records;
	tap_ok(ok, "the same, and the threads exit at once (%ld missed): UTS "
	       "is published and their records are gone (%lu busy, %lu "
	       "records, %lu before)", n, w.busy, w.records, w0.records);
}

/*
 * A refresh held back by a write in progress names the namespace it read,
 * so that the write's end refreshes the instance: a lone writer's
 * instance made while it was stalled shows the new name as soon as the
 * write returned, before its owner makes any call.  (When several writes
 * end at once, one's refresh may be held back by another's, and only the
 * owner's next call brings the bit back: so in step 5, where twenty end
 * together, each owner makes that call first.)
 */
static void check_end_refresh(void)
{
	struct report r1, r2, r3;

	writer_start(0);
	r1 = heard(0);
	t0_post(wr[0].to);
	r2 = heard(0);
	t0_post(wr[0].to);
	r3 = heard(0);
	tap_ok(t0_wait(wr[0].pid) == 0 && r1.ok && r2.ok && r3.ok &&
	       (r1.late & LATE_HELD) && (r2.late & LATE_PUBLISHED),
	       "a lone stalled write: an instance made meanwhile does not "
	       "publish UTS (%d), then its end publishes the new name there, "
	       "with no call by the owner (%d; fresh %#x)",
	       !!(r1.late & LATE_HELD), !!(r2.late & LATE_PUBLISHED), r2.fresh);
	close(wr[0].to);
	close(wr[0].from);
}

/* Whether the module records writers one by one (debugfs knob). */
static int set_records(int on)
{
	int fd = open(RECORD_FILE, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, on ? "Y\n" : "N\n", 2) == 2;
	close(fd);
	return ok ? 0 : -1;
}

static void records_back_on(void)
{
	set_records(1);
}

/* Steps 1 to 5, with the module recording writers (@records) or not. */
static void check_writers(int records)
{
	const char *how = records ? "[records]" : "[no records]";
	struct report r = { 0, 0, 0 };
	int i, ok;

	if (set_records(records) != 0)
		tap_bail("%s: %s", RECORD_FILE, strerror(errno));

	/* 1 */
	writer_start(0);
	r = heard(0);
	tap_ok(r.ok && !(r.fresh & KSVC_FRESH_UTS),
	       "%s writer 0 stalls in sethostname(); its namespace's instance "
	       "does not publish UTS meanwhile (fresh %#x)", how, r.fresh);

	/* 2 */
	tap_ok(main_publishes("main, writer 0 stalled"),
	       "%s meanwhile an instance made in another UTS namespace "
	       "publishes UTS, exact", how);

	/* 3 */
	ok = 1;
	for (i = 1; i < NWRITERS; i++) {
		writer_start(i);
		r = heard(i);
		ok = ok && r.ok;
	}
	tap_ok(ok && !(r.fresh & KSVC_FRESH_UTS),
	       "%s %d writes stall in as many namespaces; the last one's "
	       "instance does not publish UTS either (fresh %#x)", how,
	       NWRITERS, r.fresh);
	if (records)	/* without, the namespaces outnumber the slots */
		tap_ok(main_publishes("main, all writers stalled"),
		       "%s and an instance made in main's namespace still "
		       "publishes UTS, exact", how);

	/* 4 */
	for (i = 0; i < NWRITERS; i++)
		t0_post(wr[i].to);
	ok = 1;
	for (i = 0; i < NWRITERS; i++)
		ok = heard(i).ok && ok;
	tap_ok(ok, "%s every write goes on and finishes", how);

	/* 5 */
	for (i = 0; i < NWRITERS; i++)
		t0_post(wr[i].to);
	ok = 1;
	for (i = 0; i < NWRITERS; i++) {
		r = heard(i);
		if (!r.ok)
			tap_diag("writer %d: fresh %#x", i, r.fresh);
		ok = ok && r.ok;
	}
	for (i = 0; i < NWRITERS; i++) {
		ok = t0_wait(wr[i].pid) == 0 && ok;
		close(wr[i].to);
		close(wr[i].from);
	}
	tap_ok(ok, "%s then every writer's instance publishes its new name",
	       how);
	tap_ok(main_publishes("main, after"),
	       "%s and an instance made in main's namespace publishes UTS",
	       how);
	set_records(1);
}

int main(void)
{
	t0_need_module();
	if (t0_stall_init(&st) != 0)
		tap_skip_all("no userfaultfd here");
	t0_stall_destroy(&st);
	if (unshare(CLONE_NEWUTS) != 0 ||
	    sethostname("ksvc-stall-main", 15) != 0)
		tap_bail("a UTS namespace of our own: %s", strerror(errno));
	if (access(HOOKS_FILE, R_OK) != 0 || access(RECORD_FILE, W_OK) != 0)
		tap_skip_all("no " HOOKS_FILE " or " RECORD_FILE);
	atexit(records_back_on);
	tap_plan(20);

	/* 1 to 5, both ways */
	check_writers(1);
	check_writers(0);
	check_end_refresh();

	/* 6 */
	check_ids();

	/* 7 */
	check_missed();
	tap_done();
}
