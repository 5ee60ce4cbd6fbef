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
 *  3. writers 2 to NWRITERS stall the same way, one namespace each, more
 *     than the module keeps track of one by one: the last one's instance
 *     does not publish UTS either;
 *  4. every write goes on and finishes;
 *  5. every writer's instance then publishes its new name, and so does a
 *     new instance in main's namespace (nothing is left counted in
 *     progress);
 *  6. a uid_map write into a child's new user namespace stalls: an
 *     instance made meanwhile in ours publishes IDS, exact; the write
 *     then finishes.
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
#define WAIT_MS		20000

struct report {
	int ok;			/* the step worked */
	unsigned int fresh;	/* the page's fresh mask at that point */
};

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

static void say(int fd, int ok, unsigned int fresh)
{
	struct report r = { ok, fresh };

	if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(98);
}

/* Runs in the child: stall, report, and so on (see main()). */
static int writer_main(int n, int in, int out)
{
	struct t0_page_snap s;
	struct t0_inst inst;
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
	t0_read_page(inst.p, &s);
	say(out, r && t0_page_ok(inst.p, 0, "writer, stalled"), s.fresh);

	/* Go on with the write. */
	t0_waitfor(in);
	r = t0_stall_fill(&st, new_name, strlen(new_name) + 1) == 0;
	pthread_join(th, NULL);
	if (set_ret != 0)
		fprintf(stderr, "# writer %d: sethostname: %s\n", n,
			strerror(set_errno));
	say(out, r && set_ret == 0, 0);

	/* Every write has finished: the new name, fresh. */
	t0_waitfor(in);
	r = t0_inst_refresh(&inst) == 0 &&
	    t0_page_ok(inst.p, KSVC_FRESH_UTS, "writer, after");
	t0_read_page(inst.p, &s);
	r = r && !strcmp(s.f.uts.nodename, new_name);
	say(out, r, s.fresh);
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

int main(void)
{
	struct t0_inst main_inst;
	struct report r = { 0, 0 };
	int i, ok;

	t0_need_module();
	if (t0_stall_init(&st) != 0)
		tap_skip_all("no userfaultfd here");
	t0_stall_destroy(&st);
	if (unshare(CLONE_NEWUTS) != 0 ||
	    sethostname("ksvc-stall-main", 15) != 0)
		tap_bail("a UTS namespace of our own: %s", strerror(errno));
	tap_plan(8);

	/* 1 */
	writer_start(0);
	r = heard(0);
	tap_ok(r.ok && !(r.fresh & KSVC_FRESH_UTS),
	       "writer 0 stalls in sethostname(); its namespace's instance "
	       "does not publish UTS meanwhile (fresh %#x)", r.fresh);

	/* 2: a new instance, so that UTS has to be published now */
	t0_inst_must(&main_inst, 1);
	tap_ok(t0_inst_refresh(&main_inst) == 0 &&
	       t0_page_ok(main_inst.p, KSVC_FRESH_UTS,
			  "main, writer 0 stalled"),
	       "meanwhile an instance made in another UTS namespace "
	       "publishes UTS, exact");
	t0_inst_close(&main_inst);

	/* 3 */
	ok = 1;
	for (i = 1; i < NWRITERS; i++) {
		writer_start(i);
		r = heard(i);
		ok = ok && r.ok;
	}
	tap_ok(ok && !(r.fresh & KSVC_FRESH_UTS),
	       "%d writes stall in as many namespaces; the last one's instance "
	       "does not publish UTS either (fresh %#x)", NWRITERS, r.fresh);

	/* 4 */
	for (i = 0; i < NWRITERS; i++)
		t0_post(wr[i].to);
	ok = 1;
	for (i = 0; i < NWRITERS; i++)
		ok = heard(i).ok && ok;
	tap_ok(ok, "every write goes on and finishes");

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
	tap_ok(ok, "then every writer's instance publishes its new name");
	t0_inst_must(&main_inst, 1);
	tap_ok(t0_inst_refresh(&main_inst) == 0 &&
	       t0_page_ok(main_inst.p, KSVC_FRESH_UTS, "main, after"),
	       "and an instance made in main's namespace publishes UTS");
	t0_inst_close(&main_inst);

	/* 6 */
	check_ids();
	tap_done();
}
