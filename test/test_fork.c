// SPDX-License-Identifier: MIT
/*
 * test_fork - mappings of an instance are not inherited over fork(): in
 * the child each region's address range is unmapped (mincore and msync
 * say ENOMEM, touching it faults); after MADV_DOFORK the child's copy
 * raises SIGBUS when touched; the parent's mappings keep working;
 * forking while another thread writes the ring corrupts nothing.
 */
#include <sys/wait.h>

#include "util.h"

#define SQN	256
#define CQN	256

static struct ku_inst in;

/* In a child: is region @r absent?  Bit mask of what was wrong. */
static int child_check_absent(int r)
{
	int bad = 0;

	if (ku_is_mapped(in.map[r], in.len[r]) != 0)
		bad |= 1;
	if (msync(in.map[r], in.len[r], MS_ASYNC) == 0 || errno != ENOMEM)
		bad |= 2;
	if (ku_touch(in.map[r], 0, 0) != SIGSEGV)
		bad |= 4;
	if (r != KU_SHARED &&
	    ku_touch((unsigned char *)in.map[r] + in.len[r] - 1, 1, 1) != SIGSEGV)
		bad |= 8;
	return bad;
}

static int wait_exit(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* A producer and a consumer thread moving sequence numbers through the
 * submit ring while the main thread forks. */
static volatile int stop;
static struct ksvc_ring sq;
static uint64_t produced, consumed, seq_errors;

static void *producer(void *arg)
{
	uint64_t seq = 0;

	(void)arg;
	while (!stop) {
		struct ksvc_entry e = { .corr_id = seq, .args = { ~seq, seq * 3 } };

		if (ksvc_sq_push(&sq, &e) == 0)
			seq++;
		else
			sched_yield();
	}
	__atomic_store_n(&produced, seq, __ATOMIC_RELEASE);
	return NULL;
}

static void *consumer(void *arg)
{
	uint64_t seq = 0;

	(void)arg;
	for (;;) {
		struct ksvc_entry e;

		if (ksvc_sq_pop(&sq, &e) == 0) {
			if (e.corr_id != seq || e.args[0] != ~seq ||
			    e.args[1] != seq * 3)
				seq_errors++;
			seq++;
		} else if (stop && __atomic_load_n(&produced, __ATOMIC_ACQUIRE) == seq) {
			break;
		} else {
			sched_yield();
		}
	}
	consumed = seq;
	return NULL;
}

int main(void)
{
	struct ku_counts base, with;
	pthread_t tp, tc;
	int r, err, ok, i, child_bad;
	pid_t pid;

	ku_require_module();
	tap_plan(9);
	base = ku_counts();
	err = ku_inst_open(&in, SQN, CQN, -1);
	if (err)
		tap_bail("instance: %s", strerror(-err));
	with = ku_counts();
	ku_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE,
		in.len[KU_SQ] - KSVC_RING_HDR_SIZE, 1);
	ku_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE,
		in.len[KU_CQ] - KSVC_RING_HDR_SIZE, 2);

	{
		int pfd[2];

		if (pipe(pfd))
			tap_bail("pipe: %s", strerror(errno));
		pid = fork();
		if (pid == 0) {
			int bad = 0;

			for (r = 0; r < KU_NREGIONS; r++)
				bad |= child_check_absent(r) << (4 * r);
			_exit(write(pfd[1], &bad, sizeof(bad)) == sizeof(bad) ? 0 : 1);
		}
		close(pfd[1]);
		if (wait_exit(pid) != 0 ||
		    read(pfd[0], &child_bad, sizeof(child_bad)) != sizeof(child_bad))
			child_bad = -1;
		close(pfd[0]);
	}
	for (r = 0; r < KU_NREGIONS; r++) {
		int b = child_bad >= 0 ? (child_bad >> (4 * r)) & 15 : 15;

		tap_ok(b == 0, "%s is not inherited: in the child mincore and "
		       "msync give ENOMEM and touching it faults (bad %#x)",
		       ku_region_name[r], b);
	}

	ok = ku_check_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE,
			   in.len[KU_SQ] - KSVC_RING_HDR_SIZE, 1) &&
	     ku_check_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE,
			   in.len[KU_CQ] - KSVC_RING_HDR_SIZE, 2) &&
	     ((struct ksvc_shared_page *)in.map[KU_SHARED])->magic ==
		     KSVC_SHARED_MAGIC;
	ku_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE,
		in.len[KU_SQ] - KSVC_RING_HDR_SIZE, 3);
	ok &= ku_check_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE,
			    in.len[KU_SQ] - KSVC_RING_HDR_SIZE, 3);
	tap_ok(ok, "the parent's mappings keep their data and stay writable "
	       "after fork");
	tap_ok(ku_counts_eq(ku_counts(), with), "the child's exit changed no "
	       "counter (the instance is the parent's)");

	/* Fork repeatedly while two threads use the ring. */
	((struct ksvc_ring_hdr *)in.map[KU_SQ])->head = 0;
	((struct ksvc_ring_hdr *)in.map[KU_SQ])->tail = 0;
	KU_RING_VIEW(&sq, in.map[KU_SQ], SQN, sizeof(struct ksvc_entry));
	pthread_create(&tp, NULL, producer, NULL);
	pthread_create(&tc, NULL, consumer, NULL);
	child_bad = 0;
	for (i = 0; i < 200; i++) {
		pid = fork();
		if (pid == 0)
			_exit(ku_is_mapped(in.map[KU_SQ], in.len[KU_SQ]) != 0);
		if (wait_exit(pid) != 0)
			child_bad++;
	}
	stop = 1;
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	tap_diag("%llu entries moved during 200 forks",
		 (unsigned long long)consumed);
	tap_ok(seq_errors == 0 && consumed == produced && consumed > 0 &&
	       ksvc_ring_ready(&sq) == 0,
	       "200 forks while one thread produces and another consumes on "
	       "the ring: every entry arrives intact and in order");
	tap_ok(child_bad == 0, "none of those 200 children had the ring mapped");

	/* MADV_DOFORK must not make a region inheritable (a fresh
	 * instance: this one would stay inheritable if it did). */
	{
		struct ku_inst in2;
		int dofork[KU_NREGIONS];

		err = ku_inst_open(&in2, SQN, CQN, -1);
		if (err)
			tap_bail("instance: %s", strerror(-err));
		for (r = 0; r < KU_NREGIONS; r++)
			dofork[r] = madvise(in2.map[r], in2.len[r], MADV_DOFORK) ?
				    errno : 0;
		tap_diag("MADV_DOFORK: %s / %s / %s",
			 dofork[0] ? strerror(dofork[0]) : "accepted",
			 dofork[1] ? strerror(dofork[1]) : "accepted",
			 dofork[2] ? strerror(dofork[2]) : "accepted");
		pid = fork();
		if (pid == 0) {
			int bad = 0;

			/* A copy the child got must raise SIGBUS (ksvc(4)). */
			for (r = 0; r < KU_NREGIONS; r++)
				if (ku_is_mapped(in2.map[r], in2.len[r]) != 0 &&
				    ku_touch(in2.map[r], 0, 0) != SIGBUS)
					bad |= 1 << r;
			_exit(bad);
		}
		child_bad = wait_exit(pid);
		tap_ok(child_bad == 0, "after MADV_DOFORK a child still cannot "
		       "reach any region: touching its copy raises SIGBUS "
		       "(%#x: mapped and not SIGBUS in the child)", child_bad);
		ku_inst_close(&in2);
	}

	ku_inst_close(&in);
	tap_ok(ku_counts_wait(base), "counters back to %ld/%ld",
	       base.instances, base.pages);
	tap_done();
}
