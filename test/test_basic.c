// SPDX-License-Identifier: MIT
/*
 * test_basic - the seed's basic test: create an instance through the raw
 * ABI, map its three regions exactly as the seed's example does, pass
 * entries through both rings (this program plays both sides), read the
 * shared page, close, and check that nothing is left.
 *
 *	sudo insmod ksvc.ko
 *	sudo ./test/test_basic
 */
#include "util.h"

#define SQ_ENTRIES	256
#define CQ_ENTRIES	256

static int check_ring_hdr(const struct ksvc_ring_hdr *h, __u32 magic,
			  __u32 entries, __u32 esize)
{
	int ok = h->magic == magic && h->entries == entries &&
		 h->mask == entries - 1 && h->entry_size == esize &&
		 h->entries_offset == KSVC_RING_HDR_SIZE &&
		 h->ring_size == ring_pages(entries, esize) * PAGE_SIZE &&
		 h->flags == 0 && h->head == 0 && h->tail == 0;

	if (!ok)
		tap_diag("header: magic %#x entries %u mask %#x entry_size %u "
			 "entries_offset %u ring_size %u flags %#x head %u tail %u",
			 h->magic, h->entries, h->mask, h->entry_size,
			 h->entries_offset, h->ring_size, h->flags, h->head,
			 h->tail);
	return ok;
}

int main(void)
{
	struct ksvc_create_params p;
	struct ku_counts base;
	struct ksvc_ring sq, cq;
	struct ksvc_ring_hdr *sqh, *cqh;
	const struct ksvc_shared_page *sp;
	int fd, ok, i;
	__u32 s;

	ku_require_module();
	tap_plan(12);
	base = ku_counts();

	fd = open("/dev/ksvc", O_RDWR);
	if (!tap_ok(fd >= 0, "open /dev/ksvc O_RDWR"))
		tap_bail("open: %s", strerror(errno));

	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = SQ_ENTRIES;
	p.complete_ring_entries = CQ_ENTRIES;
	p.flags = 0;
	p.eventfd = -1;
	if (!tap_ok(ioctl(fd, KSVC_IOC_CREATE, &p) == 0,
		    "KSVC_IOC_CREATE 256/256, no eventfd"))
		tap_bail("KSVC_IOC_CREATE: %s", strerror(errno));
	tap_ok(p.abi_version == KSVC_ABI_VERSION &&
	       p.submit_ring_size == ring_pages(256, sizeof(struct ksvc_entry)) * PAGE_SIZE &&
	       p.complete_ring_size == ring_pages(256, sizeof(struct ksvc_completion)) * PAGE_SIZE &&
	       p.shared_page_size == PAGE_SIZE,
	       "CREATE reports ABI version %u and the region sizes", p.abi_version);

	sqh = mmap(NULL, ring_pages(256, sizeof(struct ksvc_entry)) * PAGE_SIZE,
		   PROT_READ | PROT_WRITE, MAP_SHARED, fd, KSVC_OFF_SUBMIT_RING);
	cqh = mmap(NULL, ring_pages(256, sizeof(struct ksvc_completion)) * PAGE_SIZE,
		   PROT_READ | PROT_WRITE, MAP_SHARED, fd, KSVC_OFF_COMPLETE_RING);
	sp = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_SHARED, fd,
		  KSVC_OFF_SHARED_PAGE);
	if (!tap_ok(sqh != MAP_FAILED && cqh != MAP_FAILED && sp != MAP_FAILED,
		    "mmap the submit ring, completion ring and shared page"))
		tap_bail("mmap: %s", strerror(errno));

	tap_ok(check_ring_hdr(sqh, KSVC_SUBMIT_RING_MAGIC, SQ_ENTRIES,
			      sizeof(struct ksvc_entry)),
	       "submit ring header: magic, 256 entries, mask, 64-byte entries, "
	       "offset 256, empty");
	tap_ok(check_ring_hdr(cqh, KSVC_COMPLETE_RING_MAGIC, CQ_ENTRIES,
			      sizeof(struct ksvc_completion)),
	       "completion ring header: magic, 256 entries, mask, 32-byte "
	       "entries, offset 256, empty");

	KU_RING_VIEW(&sq, sqh, SQ_ENTRIES, sizeof(struct ksvc_entry));
	KU_RING_VIEW(&cq, cqh, CQ_ENTRIES, sizeof(struct ksvc_completion));

	/* Application side: fill the submit ring (wrapping it 3 times). */
	ok = 1;
	for (i = 0; i < 3 * SQ_ENTRIES + 17; i++) {
		struct ksvc_entry e = { .corr_id = 1000 + i,
					.syscall_nr = 39 /* getpid */,
					.args = { (__u64)i, ~(__u64)i } };
		struct ksvc_entry got;
		struct ksvc_completion c, cgot;

		ok &= ksvc_sq_push(&sq, &e) == 0;
		/* Dispatcher side: take it, answer on the completion ring. */
		ok &= ksvc_sq_pop(&sq, &got) == 0 &&
		      memcmp(&got, &e, sizeof(e)) == 0;
		c = (struct ksvc_completion){ .corr_id = got.corr_id,
					      .result = getpid() };
		ok &= ksvc_cq_push(&cq, &c) == 0;
		/* Application side: reap. */
		ok &= ksvc_cq_pop(&cq, &cgot) == 0 &&
		      cgot.corr_id == 1000u + i && cgot.result == getpid();
	}
	tap_ok(ok && sqh->head == sqh->tail && sqh->tail == 3 * SQ_ENTRIES + 17,
	       "%d entries through the submit ring and back through the "
	       "completion ring", 3 * SQ_ENTRIES + 17);

	ok = 1;
	for (i = 0; i < SQ_ENTRIES; i++) {
		struct ksvc_entry e = { .corr_id = (__u64)i };

		ok &= ksvc_sq_push(&sq, &e) == 0;
	}
	{
		struct ksvc_entry e = { .corr_id = 9999 };

		ok &= ksvc_sq_push(&sq, &e) == -EAGAIN;
	}
	for (i = 0; i < SQ_ENTRIES; i++) {
		struct ksvc_entry e;

		ok &= ksvc_sq_pop(&sq, &e) == 0 && e.corr_id == (__u64)i;
	}
	tap_ok(ok, "the submit ring holds exactly 256 entries");

	do {
		s = ksvc_shared_read_begin(sp);
		ok = sp->magic == KSVC_SHARED_MAGIC &&
		     sp->version == KSVC_SHARED_VERSION;
	} while (ksvc_shared_read_retry(sp, s));
	tap_ok(ok, "shared page: magic %#x, version %u", sp->magic, sp->version);
	/* Any instance ioctl brings the page up to date. */
	ioctl(fd, KSVC_IOC_REFRESH, 0);
	{
		__s32 pid;
		__u32 fresh;

		do {
			s = ksvc_shared_read_begin(sp);
			pid = sp->pid;
			fresh = sp->fresh;
		} while (ksvc_shared_read_retry(sp, s));
		if (!(fresh & KSVC_FRESH_PID))
			tap_diag("KSVC_FRESH_PID is clear (fresh %#x)", fresh);
		tap_ok(pid == getpid(), "shared page: pid %d == getpid() %d",
		       pid, getpid());
	}

	tap_ok(ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	       ku_dbg_read(KU_PAGES) == base.pages + ku_instance_pages(256, 256),
	       "debugfs counts the instance and its %ld pages",
	       ku_instance_pages(256, 256));

	munmap(sqh, ring_pages(256, sizeof(struct ksvc_entry)) * PAGE_SIZE);
	munmap(cqh, ring_pages(256, sizeof(struct ksvc_completion)) * PAGE_SIZE);
	munmap((void *)sp, PAGE_SIZE);
	close(fd);
	tap_ok(ku_counts_wait(base), "after munmap and close, debugfs "
	       "instances/pages are back to %ld/%ld", base.instances, base.pages);
	tap_done();
}
