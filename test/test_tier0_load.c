// SPDX-License-Identifier: MIT
/*
 * test_tier0_load - a host name write that began before the module was
 * loaded.
 *
 * The module brackets host name writes with a probe at the entry of
 * sethostname() and one at its return.  A call that entered before the
 * module was loaded gets neither: the kprobe was not there yet, and a
 * return probe is armed only at entry.  Such a call can be stalled in
 * its copy_from_user() (here by userfaultfd) while the module loads and
 * an instance publishes the old name as fresh; when it goes on, the new
 * name must not stay hidden behind a fresh bit.
 *
 * Steps, in a UTS namespace of its own: unload the module, start a
 * sethostname() whose name sits on a userfaultfd page and wait until it
 * faults, load the module again from $KSVC_KO, open an instance (the old
 * name, fresh), let the write finish, and check the page: every fresh
 * group must be exact; then REFRESH brings UTS back, exact.
 *
 * Needs root, the module, $KSVC_KO (the guest harness sets it) and
 * userfaultfd; otherwise it skips.
 */
#include <pthread.h>

#include "test_tier0.h"
#include "util.h"

#define OLD_NAME	"ksvc-before-load"
#define NEW_NAME	"ksvc-after-load"

static struct t0_stall st;
static int set_ret, set_errno;

static void *set_name(void *arg)
{
	(void)arg;
	/* The name is on a page nobody touched yet: the copy faults. */
	set_ret = sethostname(st.page, sizeof(NEW_NAME) - 1);
	set_errno = errno;
	return NULL;
}

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	struct t0_page_snap s;
	struct t0_inst in;
	pthread_t th;
	int r, faulted;

	t0_need_module();
	if (!ko || !*ko)
		tap_skip_all("KSVC_KO is unset: the module could not be "
			     "loaded again");
	if (t0_stall_init(&st) != 0)
		tap_skip_all("no userfaultfd here");
	if (unshare(CLONE_NEWUTS) != 0 ||
	    sethostname(OLD_NAME, sizeof(OLD_NAME) - 1) != 0)
		tap_bail("a UTS namespace of our own: %s", strerror(errno));
	tap_plan(6);

	r = ku_module_unload();
	if (!tap_ok(r == 0, "the module unloads (%s)", r ? strerror(r) : "ok"))
		tap_bail("cannot go on without unloading");

	pthread_create(&th, NULL, set_name, NULL);
	faulted = t0_stall_wait(&st, 10000);
	r = ku_module_load(ko, "");
	tap_ok(faulted && r == 0,
	       "sethostname() stalls in its copy of the name (faulted %d); "
	       "meanwhile the module is loaded again (%s)", faulted,
	       r ? strerror(r) : "ok");
	if (r)
		tap_bail("the module is gone: cannot go on");

	r = t0_inst_open(&in, 1);
	if (r)
		tap_bail("cannot open an instance: %s", strerror(-r));
	t0_read_page(in.p, &s);
	tap_ok((s.fresh & KSVC_FRESH_UTS) &&
	       !strcmp(s.f.uts.nodename, OLD_NAME),
	       "an instance made meanwhile has the old name, fresh (the "
	       "write is invisible to it so far): '%s', fresh %#x",
	       s.f.uts.nodename, s.fresh);

	/* Let the write go on. */
	if (!faulted || t0_stall_fill(&st, NEW_NAME, sizeof(NEW_NAME)) != 0)
		tap_bail("UFFDIO_COPY: %s", strerror(errno));
	pthread_join(th, NULL);
	tap_ok(set_ret == 0, "the write finishes (%s)",
	       set_ret ? strerror(set_errno) : "ok");

	/* Every fresh group exact: the old name must not stay fresh. */
	tap_ok(t0_page_ok(in.p, 0, "after the write"),
	       "after it, the page shows no stale name as fresh");
	tap_ok(t0_inst_refresh(&in) == 0 &&
	       t0_page_ok(in.p, KSVC_FRESH_UTS, "after REFRESH"),
	       "REFRESH brings UTS back, with the new name");
	t0_inst_close(&in);
	t0_stall_destroy(&st);
	tap_done();
}
