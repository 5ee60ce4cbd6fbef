// SPDX-License-Identifier: MIT
/*
 * test_close_mapped - a mapping that outlives close(fd) stays valid and
 * writable; the instance (and its pages, as debugfs counts them) lives
 * until the last mapping is gone, then is freed after an RCU grace
 * period.  With several mappings of one region the memory lives until
 * the last of them is unmapped.
 */
#include "util.h"

#define SQN	64
#define CQN	128
#define SETTLE_MS	500	/* long enough for a wrongly early free */

int main(void)
{
	struct ku_counts base, with;
	struct ku_inst in;
	unsigned char *a, *b;
	size_t body_sq, body_cq, len;
	int err, ok, fd;

	ku_require_module();
	tap_plan(12);
	base = ku_counts();

	err = ku_inst_open(&in, SQN, CQN, -1);
	if (err)
		tap_bail("instance: %s", strerror(-err));
	with = ku_counts();
	tap_ok(with.instances == base.instances + 1 &&
	       with.pages == base.pages + ku_instance_pages(SQN, CQN),
	       "while open and mapped: one instance, %ld pages",
	       ku_instance_pages(SQN, CQN));
	body_sq = in.len[KU_SQ] - KSVC_RING_HDR_SIZE;
	body_cq = in.len[KU_CQ] - KSVC_RING_HDR_SIZE;
	ku_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE, body_sq, 10);
	ku_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE, body_cq, 11);

	close(in.fd);
	in.fd = -1;
	ku_sleep_ms(SETTLE_MS);

	ok = ku_check_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE, body_sq, 10) &&
	     ku_check_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE, body_cq, 11);
	ku_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE, body_sq, 12);
	ku_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE, body_cq, 13);
	ok &= ku_check_fill((char *)in.map[KU_SQ] + KSVC_RING_HDR_SIZE, body_sq, 12) &&
	      ku_check_fill((char *)in.map[KU_CQ] + KSVC_RING_HDR_SIZE, body_cq, 13) &&
	      ((struct ksvc_ring_hdr *)in.map[KU_SQ])->magic == KSVC_SUBMIT_RING_MAGIC;
	tap_ok(ok, "after close(fd) both rings keep their data and stay "
	       "writable");
	tap_ok(((struct ksvc_shared_page *)in.map[KU_SHARED])->magic ==
	       KSVC_SHARED_MAGIC, "after close(fd) the shared page is readable");
	tap_ok(ku_counts_eq(ku_counts(), with), "after close(fd) debugfs still "
	       "counts the instance and its pages (%d ms later)", SETTLE_MS);

	munmap(in.map[KU_SQ], in.len[KU_SQ]);
	munmap(in.map[KU_CQ], in.len[KU_CQ]);
	in.map[KU_SQ] = in.map[KU_CQ] = NULL;
	ku_sleep_ms(SETTLE_MS);
	tap_ok(ku_counts_eq(ku_counts(), with), "with only the shared page "
	       "still mapped, the instance is still counted");
	tap_ok(((struct ksvc_shared_page *)in.map[KU_SHARED])->magic ==
	       KSVC_SHARED_MAGIC, "and the shared page still reads right");

	munmap(in.map[KU_SHARED], in.len[KU_SHARED]);
	in.map[KU_SHARED] = NULL;
	tap_ok(ku_counts_wait(base), "after the last munmap the counters drop "
	       "back to %ld/%ld", base.instances, base.pages);

	/* Two mappings of one region. */
	fd = ku_open_create(SQN, CQN, -1);
	if (fd < 0)
		tap_bail("CREATE: %s", strerror(-fd));
	len = ku_region_size(KU_SQ, SQN, CQN);
	a = ku_map(fd, KU_SQ, SQN, CQN, &err);
	b = ku_map(fd, KU_SQ, SQN, CQN, &err);
	if (!a || !b)
		tap_bail("mmap: %s", strerror(-err));
	close(fd);
	ku_fill(a + KSVC_RING_HDR_SIZE, body_sq, 20);
	munmap(a, len);
	ku_sleep_ms(SETTLE_MS);
	ok = ku_check_fill(b + KSVC_RING_HDR_SIZE, body_sq, 20);
	ku_fill(b + KSVC_RING_HDR_SIZE, body_sq, 21);
	ok &= ku_check_fill(b + KSVC_RING_HDR_SIZE, body_sq, 21);
	tap_ok(ok, "two mappings of the submit ring, fd closed, first unmapped: "
	       "the second has the data and stays writable");
	tap_ok(ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	       ku_dbg_read(KU_PAGES) == with.pages,
	       "and the instance, all of its pages, is still counted");
	munmap(b, len);
	tap_ok(ku_counts_wait(base), "after the second munmap the counters "
	       "drop back");

	/* A mapping moved with mremap still holds the instance. */
	fd = ku_open_create(SQN, CQN, -1);
	a = ku_map(fd, KU_CQ, SQN, CQN, &err);
	if (!a)
		tap_bail("mmap: %s", strerror(-err));
	close(fd);
	len = ku_region_size(KU_CQ, SQN, CQN);
	ku_fill(a + KSVC_RING_HDR_SIZE, body_cq, 30);
	b = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, b);
	ku_sleep_ms(SETTLE_MS);
	tap_ok(b != MAP_FAILED && ku_check_fill(b + KSVC_RING_HDR_SIZE, body_cq, 30) &&
	       ku_dbg_read(KU_INSTANCES) == base.instances + 1,
	       "fd closed, the only mapping moved by mremap: data intact, "
	       "instance still counted");
	if (b != MAP_FAILED)
		munmap(b, len);
	tap_ok(ku_counts_wait(base), "after unmapping the moved mapping the "
	       "counters drop back");
	tap_done();
}
