// SPDX-License-Identifier: MIT
/*
 * test_tier0_idmap - the id maps written for a new user namespace bring
 * IDS back at once, even when a refresh that read the old credentials
 * ends after the one that read the new.
 *
 * The owner (single-threaded, in a UTS namespace of its own) calls
 * unshare(CLONE_NEWUSER): its ids have no mapping yet, so IDS is held
 * back, and the refresh at the return of commit_creds() names the new
 * user namespace on the instance, so that the map writes find it and
 * refresh it (doc/DESIGN.md, "a refresh records the UTS and user
 * namespaces it read").  Meanwhile another process of the owner's UTS
 * namespace sets the host name; the end of that write refreshes the
 * owner's page (UTS) from that process, and that refresh read the
 * owner's credentials before the unshare.  If it names the old user
 * namespace after the new one was named, the map writes find nothing
 * to refresh and IDS stays clear until the owner's next call.
 *
 * A stress round runs against the installed module, where the host name
 * refresh nearly always ends first.  Then, when the harness gives the
 * fault-injection build ($KSVC_FI_KO), the round runs against it with
 * the delay point armed for the owner (kernel/fault.c): the host name
 * refresh waits DELAY_MS after its thread walk, the owner turns the
 * delay off and unshares inside that wait, so the stale refresh ends
 * last every time.  The installed module ($KSVC_KO) is loaded back at
 * the end.  Runs as root in the VM with the module.
 */
#include <sched.h>
#include <sys/mman.h>

#include "test_tier0.h"
#include "util.h"

#define DELAY_MS	500

/* Bits of the owner's exit status. */
#define R_SETUP		1	/* a step of the set-up failed */
#define R_NOT_HIT	2	/* delay run: the refresh never waited */
#define R_IDS		4	/* IDS not set, or wrong, after the maps */

static int delay_on;

static int owner(int to_parent, int from_parent)
{
	struct t0_inst in;
	int go[2], ret = 0;
	long hits = 0;
	char buf[32];
	pid_t h;

	if (unshare(CLONE_NEWUTS) || sethostname("idmap-a", 7) ||
	    pipe(go))
		return R_SETUP;
	if (t0_inst_open(&in, 1) || !t0_page_ok(in.p, KSVC_FRESH_ALL, "start"))
		return R_SETUP;
	h = fork();		/* same UTS namespace, not CLONE_VM */
	if (h < 0)
		return R_SETUP;
	if (h == 0) {
		t0_waitfor(go[0]);
		_exit(sethostname("idmap-b", 7) ? 1 : 0);
	}
	if (delay_on) {
		hits = ku_dbg_read("delay_hits");
		snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		if (hits < 0 || ku_write_file(KU_DBG_DIR "/delay_pid", buf) ||
		    ku_write_file(KU_DBG_DIR "/delay_ms", "500\n"))
			return R_SETUP;
	}
	t0_post(go[1]);
	if (delay_on) {
		/* The host name refresh walked our thread and waits. */
		uint64_t end = ku_now_ms() + KU_WAIT_MS;

		while (ku_dbg_read("delay_hits") <= hits && ku_now_ms() < end)
			ku_sleep_ms(1);
		if (ku_dbg_read("delay_hits") <= hits)
			ret |= R_NOT_HIT;
		/* Ours must not wait: it has to end first. */
		if (ku_write_file(KU_DBG_DIR "/delay_ms", "0\n"))
			return R_SETUP;
	}
	if (unshare(CLONE_NEWUSER))
		return R_SETUP;
	if (t0_wait(h) != 0)	/* its refresh is over */
		return R_SETUP;
	t0_post(to_parent);
	t0_waitfor(from_parent);	/* the maps are written */
	if (!t0_page_ok(in.p, KSVC_FRESH_IDS, "after the id maps"))
		ret |= R_IDS;
	t0_inst_close(&in);
	return ret;
}

/* Run the owner; write its maps when it asks.  Its exit status. */
static int round_run(void)
{
	int up[2], down[2], r1, r2;
	char path[64];
	pid_t o;

	if (pipe(up) || pipe(down))
		tap_bail("pipe: %s", strerror(errno));
	o = fork();
	if (o < 0)
		tap_bail("fork: %s", strerror(errno));
	if (o == 0)
		_exit(owner(up[1], down[0]));
	close(up[1]);
	close(down[0]);
	t0_waitfor(up[0]);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)o);
	r1 = ku_write_file(path, "0 0 1\n");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)o);
	r2 = ku_write_file(path, "0 0 1\n");
	if (r1 || r2)
		tap_diag("map writes: %s, %s", strerror(-r1), strerror(-r2));
	t0_post(down[1]);
	close(up[0]);
	close(down[1]);
	return t0_wait(o);
}

static void delay_run(struct ku_counts base)
{
	const char *fi_ko = ku_fi_swap_in(base);
	int r, st;

	if (!fi_ko) {
		for (r = 0; r < 3; r++)
			tap_skip("needs $KSVC_KO and $KSVC_FI_KO (vm/run.sh "
				 "sets them)", "delay run, check %d", r + 1);
		return;
	}
	delay_on = 1;
	st = round_run();
	ku_delay_disarm();
	tap_ok(st >= 0 && st < 128 && !(st & (R_SETUP | R_NOT_HIT)),
	       "delay run (%s): the host name refresh read the old "
	       "credentials and waited %d ms while the owner unshared "
	       "(status %d)", fi_ko, DELAY_MS, st);
	tap_ok(st >= 0 && st < 128 && !(st & (R_SETUP | R_IDS)),
	       "delay run: the id maps brought IDS back, exact, although "
	       "the stale refresh ended last (status %d)", st);
	ku_fi_swap_out(base);
}

int main(void)
{
	struct ku_counts base;
	int st;

	t0_need_module();
	tap_plan(5);
	base = ku_counts();

	st = round_run();
	tap_ok(st >= 0 && st < 128 && !(st & (R_SETUP | R_IDS)),
	       "unshare(CLONE_NEWUSER) while another process sets the host "
	       "name: the id maps bring IDS back, exact (status %d)", st);
	tap_ok(ku_counts_wait(base), "everything freed: counters back to "
	       "%ld/%ld", base.instances, base.pages);
	delay_run(base);
	tap_done();
}
