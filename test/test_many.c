// SPDX-License-Identifier: MIT
/*
 * test_many - 1000 instances open at once, each created with its own ring
 * sizes and all three regions mapped.  debugfs must count each one and
 * exactly ring_pages(submit) + ring_pages(completion) + 1 pages for it;
 * each instance's memory is its own; when everything is unmapped and
 * closed the counters return to where they started.
 */
#include <sys/resource.h>

#include "util.h"

#define COUNT	1000

static const __u32 sizes[] = { 16, 32, 64, 256, 1024 };
#define NSIZES	(sizeof(sizes) / sizeof(sizes[0]))

static struct ku_inst inst[COUNT];

int main(void)
{
	struct ku_counts base;
	struct rlimit rl;
	long want_pages = 0, bad_delta = 0, bad_data = 0, bad_hdr = 0;
	int i, err, opened = 0;

	ku_require_module();
	tap_plan(7);
	base = ku_counts();

	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < COUNT + 64) {
		rl.rlim_cur = COUNT + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			tap_bail("cannot raise RLIMIT_NOFILE to %d: %s", COUNT + 64,
				 strerror(errno));
	}

	for (i = 0; i < COUNT; i++) {
		__u32 sq = sizes[i % NSIZES], cq = sizes[(i / NSIZES) % NSIZES];
		long before = ku_dbg_read(KU_PAGES), after;

		err = ku_inst_open(&inst[i], sq, cq, -1);
		if (err) {
			tap_diag("instance %d (%u/%u): %s", i, sq, cq, strerror(-err));
			break;
		}
		opened++;
		after = ku_dbg_read(KU_PAGES);
		if (after - before != ku_instance_pages(sq, cq)) {
			if (bad_delta++ < 5)
				tap_diag("instance %d (%u/%u): pages +%ld, want +%ld",
					 i, sq, cq, after - before,
					 ku_instance_pages(sq, cq));
		}
		want_pages += ku_instance_pages(sq, cq);
		/* Mark each ring with its instance number. */
		((struct ksvc_entry *)((char *)inst[i].map[KU_SQ] +
				       KSVC_RING_HDR_SIZE))[sq - 1].corr_id = (__u64)i;
		((struct ksvc_completion *)((char *)inst[i].map[KU_CQ] +
					    KSVC_RING_HDR_SIZE))[0].corr_id = (__u64)i;
	}
	tap_ok(opened == COUNT, "%d instances created and fully mapped at once "
	       "(%d)", COUNT, opened);
	tap_ok(bad_delta == 0, "each CREATE adds exactly ring_pages(submit) + "
	       "ring_pages(completion) + 1 pages (%ld wrong)", bad_delta);
	tap_ok(ku_dbg_read(KU_INSTANCES) == base.instances + opened &&
	       ku_dbg_read(KU_PAGES) == base.pages + want_pages,
	       "debugfs: instances = base + %d (%ld), pages = base + %ld (%ld)",
	       opened, ku_dbg_read(KU_INSTANCES), want_pages,
	       ku_dbg_read(KU_PAGES));

	for (i = 0; i < opened; i++) {
		__u32 sq = inst[i].sq_entries, cq = inst[i].cq_entries;
		const struct ksvc_ring_hdr *h = inst[i].map[KU_SQ];
		const struct ksvc_ring_hdr *c = inst[i].map[KU_CQ];

		if (h->entries != sq || c->entries != cq ||
		    h->magic != KSVC_SUBMIT_RING_MAGIC ||
		    c->magic != KSVC_COMPLETE_RING_MAGIC ||
		    ((const struct ksvc_shared_page *)inst[i].map[KU_SHARED])->magic !=
			    KSVC_SHARED_MAGIC)
			bad_hdr++;
		if (((struct ksvc_entry *)((char *)inst[i].map[KU_SQ] +
					   KSVC_RING_HDR_SIZE))[sq - 1].corr_id != (__u64)i ||
		    ((struct ksvc_completion *)((char *)inst[i].map[KU_CQ] +
						KSVC_RING_HDR_SIZE))[0].corr_id != (__u64)i)
			bad_data++;
	}
	tap_ok(bad_hdr == 0, "every instance's headers carry its own sizes");
	tap_ok(bad_data == 0, "every instance's rings are its own memory (%ld "
	       "mixed up)", bad_data);

	/* Close half first, in an interleaved order, then the rest. */
	for (i = 0; i < opened; i += 2)
		ku_inst_close(&inst[i]);
	{
		long half = 0;

		for (i = 1; i < opened; i += 2)
			half += ku_instance_pages(inst[i].sq_entries,
						  inst[i].cq_entries);
		tap_ok(ku_counts_wait((struct ku_counts){
				base.instances + opened / 2, base.pages + half }),
		       "after closing every other instance, the counters show "
		       "exactly the rest");
	}
	for (i = 1; i < opened; i += 2)
		ku_inst_close(&inst[i]);
	tap_ok(ku_counts_wait(base), "all unmapped and closed: counters back to "
	       "%ld/%ld", base.instances, base.pages);
	tap_done();
}
