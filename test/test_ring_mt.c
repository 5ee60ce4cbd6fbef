// SPDX-License-Identifier: MIT
/*
 * test_ring_mt - a two-thread round trip of 1,000,000 entries through the
 * kernel's rings (an instance from ksvc_open(), backed by /dev/ksvc):
 * thread A produces sequence-numbered entries on the submit ring and
 * consumes completions; thread B consumes the submit ring and answers
 * each entry on the completion ring with a checksum of what it read.
 * Nothing may be lost, duplicated, reordered or corrupted.  Then a
 * fortieth as many through rings of 16 entries each.
 *
 * KSVC_RING_MT_COUNT overrides the number of entries; --scale N (or
 * KSVC_TEST_SCALE=N) divides it, for the sanitized run in the VM (the
 * plain run there keeps the million).
 */
#include "util.h"

static void run(__u32 sq, __u32 cq, uint64_t count, uint64_t seed)
{
	struct ksvc_open_params p = { sq, cq, 0, -1 };
	struct ksvc *k;
	struct ku_rt rt;
	uint64_t t0;
	int err;

	err = ksvc_open(&k, &p);
	if (err)
		tap_bail("ksvc_open: %s", ksvc_strerror(err));
	if (k->mode != KSVC_MODE_KERNEL)
		tap_bail("ksvc_open did not give a kernel instance");

	memset(&rt, 0, sizeof(rt));
	rt.sq = &k->sq;
	rt.cq = &k->cq;
	rt.count = count;
	rt.seed = seed;
	t0 = ku_now_ms();
	if (ku_roundtrip(&rt))
		tap_bail("pthread_create failed");
	tap_diag("%u/%u: %llu entries in %llu ms", sq, cq,
		 (unsigned long long)count,
		 (unsigned long long)(ku_now_ms() - t0));
	if (rt.b_errors)
		tap_diag("consumer: %llu bad entries, first: %s",
			 (unsigned long long)rt.b_errors, rt.b_why);
	if (rt.a_errors)
		tap_diag("completions: %llu bad, first: %s",
			 (unsigned long long)rt.a_errors, rt.a_why);
	tap_ok(rt.b_seen == count && rt.b_errors == 0,
	       "kernel rings %u/%u: the consumer thread got all %llu entries "
	       "once each, in order, intact", sq, cq, (unsigned long long)count);
	tap_ok(rt.a_seen == count && rt.a_errors == 0 &&
	       ksvc_ring_ready(&k->sq) == 0 && ksvc_ring_ready(&k->cq) == 0 &&
	       k->sq.hdr->tail == (__u32)count && k->cq.hdr->tail == (__u32)count,
	       "kernel rings %u/%u: all %llu completions came back in order "
	       "with the right checksums; both rings end empty", sq, cq,
	       (unsigned long long)count);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	struct ku_counts base;
	uint64_t count = ku_env_uint("KSVC_RING_MT_COUNT", 1000000,
				     100000000);
	unsigned int scale = tap_scale(argc, argv);

	ku_require_module();
	tap_plan(5);
	if (scale > 1) {
		count = count / scale < 1000 ? 1000 : count / scale;
		tap_diag("scale %u: %llu entries", scale,
			 (unsigned long long)count);
	}
	base = ku_counts();
	run(256, 512, count, 1);
	/* Small rings, full and empty all the time: 25000 entries, 1562
	 * laps of each ring (the guest is slow at such hand-offs). */
	run(16, 16, count / 40 < 1000 ? 1000 : count / 40, 2);
	tap_ok(ku_counts_wait(base), "counters back to %ld/%ld", base.instances,
	       base.pages);
	tap_done();
}
