// SPDX-License-Identifier: MIT
/*
 * test_mmap - the mmap rules of /dev/ksvc:
 *   each region only at its offset and at its exact size; MAP_SHARED
 *   only; the shared page never writable (EPERM at mmap and mprotect);
 *   nothing executable (EPERM at mmap, EACCES at mprotect); mremap
 *   cannot grow a mapping (EFAULT) but may move or shrink it; a
 *   READ_IMPLIES_EXEC process maps no region at all (EPERM); nothing
 *   keeps a region out of a core dump (VM_DONTDUMP, VM_IO); no mmap
 *   before CREATE; pages zeroed; one set of pages behind every mapping
 *   of a region, kept across munmap/remap and MADV_DONTNEED.
 */
#include <sys/personality.h>
#include <sys/uio.h>

#include "util.h"

#define SQN	256
#define CQN	256

static int fd;

static size_t rsize(int r)
{
	return ku_region_size((enum ku_region)r, SQN, CQN);
}

static int rprot(int r)
{
	return r == KU_SHARED ? PROT_READ : PROT_READ | PROT_WRITE;
}

/* mmap that must fail: returns -errno, or 0 (and unmaps) if it worked. */
static int try_map(size_t len, int prot, int flags, __u64 off)
{
	int err;
	void *p = ku_mmap(fd, len, prot, flags, off, &err);

	if (p) {
		munmap(p, len);
		return 0;
	}
	return err;
}

static void expect_map(size_t len, int prot, int flags, __u64 off, int want,
		       const char *what, const char *region)
{
	int got = try_map(len, prot, flags, off);

	tap_ok(got == -want, "%s %s: %s (got %s)", region, what,
	       strerror(want), got ? strerror(-got) : "success");
}

static void test_before_create(void)
{
	int r;

	for (r = 0; r < KU_NREGIONS; r++)
		expect_map(rsize(r), rprot(r), MAP_SHARED, ku_region_off(r),
			   EINVAL, "mmap before CREATE", ku_region_name[r]);
}

static void test_geometry(void)
{
	static const __u64 unknown[] = {
		0x30000000ULL, 0x40000000ULL, 0x08000000ULL, 0x0ffff000ULL,
		0x1ffff000ULL, 0x7ffff000ULL, 0x100000000ULL, 0x7ffffffff000ULL,
	};
	size_t i;
	int r, ok;

	for (r = 0; r < KU_NREGIONS; r++) {
		const char *n = ku_region_name[r];
		size_t len = rsize(r);
		__u64 off = ku_region_off(r);

		if (len > PAGE_SIZE) {
			expect_map(len - PAGE_SIZE, rprot(r), MAP_SHARED, off,
				   EINVAL, "one page short", n);
			expect_map(len / 2 & ~(size_t)(PAGE_SIZE - 1), rprot(r),
				   MAP_SHARED, off, EINVAL, "half the size", n);
		}
		expect_map(len + PAGE_SIZE, rprot(r), MAP_SHARED, off, EINVAL,
			   "one page too long", n);
		expect_map(len, rprot(r), MAP_SHARED, off + PAGE_SIZE, EINVAL,
			   "at offset + PAGE_SIZE", n);
		if (len > PAGE_SIZE)
			expect_map(PAGE_SIZE, rprot(r), MAP_SHARED,
				   off + len - PAGE_SIZE, EINVAL,
				   "its last page alone", n);
		expect_map(len, rprot(r), MAP_PRIVATE, off, EINVAL,
			   "MAP_PRIVATE", n);
		expect_map(len, PROT_READ | PROT_EXEC, MAP_SHARED, off, EPERM,
			   "PROT_READ|PROT_EXEC", n);
	}

	ok = 1;
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		int got = try_map(PAGE_SIZE, PROT_READ, MAP_SHARED, unknown[i]);

		if (got != -EINVAL) {
			tap_diag("offset %#llx: %d", (unsigned long long)unknown[i], got);
			ok = 0;
		}
		got = try_map(rsize(KU_SQ), PROT_READ, MAP_SHARED, unknown[i]);
		if (got != -EINVAL) {
			tap_diag("offset %#llx (ring size): %d",
				 (unsigned long long)unknown[i], got);
			ok = 0;
		}
	}
	tap_ok(ok, "unknown offsets (0x30000000, 0x08000000, 0x100000000, ...): "
	       "EINVAL");

	/* A ring's offset with the other ring's size. */
	expect_map(rsize(KU_CQ), PROT_READ | PROT_WRITE, MAP_SHARED,
		   KSVC_OFF_SUBMIT_RING, EINVAL,
		   "with the completion ring's size", ku_region_name[KU_SQ]);
}

static void test_prot(void)
{
	void *p;
	int err, r;

	expect_map(PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   KSVC_OFF_SHARED_PAGE, EPERM, "PROT_READ|PROT_WRITE",
		   "shared page");
	expect_map(PAGE_SIZE, PROT_WRITE, MAP_SHARED, KSVC_OFF_SHARED_PAGE,
		   EPERM, "PROT_WRITE alone", "shared page");

	p = ku_map(fd, KU_SHARED, SQN, CQN, &err);
	if (!p)
		tap_bail("mmap shared page: %s", strerror(-err));
	tap_errno(mprotect(p, PAGE_SIZE, PROT_READ | PROT_WRITE), EPERM,
		  "shared page: mprotect to PROT_READ|PROT_WRITE: EPERM");
	tap_ok(ku_touch(p, 1, 1) == SIGSEGV,
	       "shared page: still read-only afterwards (a write faults)");
	tap_errno(mprotect(p, PAGE_SIZE, PROT_WRITE), EPERM,
		  "shared page: mprotect to PROT_WRITE: EPERM");

	/* Forced writes (ptrace's path, FOLL_FORCE) must not get in either. */
	{
		int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
		__u32 before = ((const struct ksvc_shared_page *)p)->magic;
		__u32 evil = 0x41414141;
		ssize_t n = -1;
		struct iovec local = { &evil, sizeof(evil) };
		struct iovec remote = { p, sizeof(evil) };

		if (mem >= 0) {
			n = pwrite(mem, &evil, sizeof(evil), (off_t)(uintptr_t)p);
			close(mem);
		}
		tap_ok(mem >= 0 && n < 0 &&
		       ((const struct ksvc_shared_page *)p)->magic == before,
		       "shared page: a forced write through /proc/self/mem fails "
		       "and changes nothing (%zd, %s)", n,
		       n < 0 ? strerror(errno) : "written");
		n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		tap_ok(n < 0 && errno == EFAULT &&
		       ((const struct ksvc_shared_page *)p)->magic == before,
		       "shared page: process_vm_writev into it: EFAULT");
	}
	munmap(p, PAGE_SIZE);

	for (r = 0; r < KU_NREGIONS; r++) {
		p = ku_map(fd, (enum ku_region)r, SQN, CQN, &err);
		if (!p)
			tap_bail("mmap %s: %s", ku_region_name[r], strerror(-err));
		tap_errno(mprotect(p, rsize(r), rprot(r) | PROT_EXEC), EACCES,
			  "%s: mprotect adding PROT_EXEC: EACCES",
			  ku_region_name[r]);
		munmap(p, rsize(r));
	}

	/*
	 * READ_IMPLIES_EXEC: the kernel adds PROT_EXEC to a PROT_READ
	 * mapping, so even the plain mappings are refused with EPERM.
	 */
	{
		int old = personality(0xffffffff), ok = 1, got;

		if (old == -1 || personality((unsigned long)old |
					     READ_IMPLIES_EXEC) == -1)
			tap_bail("personality: %s", strerror(errno));
		for (r = 0; r < KU_NREGIONS; r++) {
			got = try_map(rsize(r), rprot(r), MAP_SHARED,
				      ku_region_off(r));
			if (got != -EPERM) {
				tap_diag("%s: %s", ku_region_name[r],
					 got ? strerror(-got) : "mapped");
				ok = 0;
			}
		}
		personality((unsigned long)old);
		got = try_map(rsize(KU_SHARED), PROT_READ, MAP_SHARED,
			      KSVC_OFF_SHARED_PAGE);
		tap_ok(ok && got == 0, "READ_IMPLIES_EXEC personality: mmap of "
		       "each region with its usual protection: EPERM; back to "
		       "the old personality it maps (%d)", got);
	}
}

/*
 * The VmFlags of the mapping at @addr in /proc/self/smaps, each flag
 * followed by a space ("" if not found).
 */
static void vm_flags_of(const void *addr, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512], want[32];
	int in = 0;

	out[0] = '\0';
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)addr);
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want)))
			in = 1;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(out, len, "%s", line + 8);
			break;
		}
	}
	if (f)
		fclose(f);
	/* " rd sh mr ...\n" -> " rd sh mr ... " */
	if (*out && out[strlen(out) - 1] == '\n')
		out[strlen(out) - 1] = ' ';
}

/*
 * ksvc(4): a core dump holds the regions as coredump_filter says for
 * shared file mappings.  The kernel leaves out a VM_DONTDUMP or VM_IO
 * mapping whatever the filter says: neither flag may be set.
 */
static void test_dump_flags(void)
{
	char flags[512];
	int r, ok = 1, err;

	for (r = 0; r < KU_NREGIONS; r++) {
		void *p = ku_map(fd, (enum ku_region)r, SQN, CQN, &err);

		if (!p)
			tap_bail("mmap %s: %s", ku_region_name[r], strerror(-err));
		vm_flags_of(p, flags, sizeof(flags));
		if (!strstr(flags, " sh ") || strstr(flags, " dd ") ||
		    strstr(flags, " io ")) {
			tap_diag("%s: VmFlags:%s", ku_region_name[r], flags);
			ok = 0;
		}
		munmap(p, rsize(r));
	}
	tap_ok(ok, "every region is a shared mapping that a core dump may "
	       "hold: not VM_DONTDUMP, not VM_IO (smaps VmFlags)");
}

static void test_zero(void)
{
	const struct ksvc_ring_hdr *h;
	const struct ksvc_shared_page *s;
	void *m[KU_NREGIONS];
	int err, r, ok;

	for (r = 0; r < KU_NREGIONS; r++) {
		m[r] = ku_map(fd, (enum ku_region)r, SQN, CQN, &err);
		if (!m[r])
			tap_bail("mmap %s: %s", ku_region_name[r], strerror(-err));
	}
	for (r = 0; r < 2; r++) {
		h = m[r];
		ok = ku_all_zero(h->reserved0, sizeof(h->reserved0)) &&
		     h->flags == 0 &&
		     ku_all_zero(h->reserved1, sizeof(h->reserved1)) &&
		     h->head == 0 && ku_all_zero(h->reserved2, sizeof(h->reserved2)) &&
		     h->tail == 0 && ku_all_zero(h->reserved3, sizeof(h->reserved3)) &&
		     ku_all_zero((char *)m[r] + KSVC_RING_HDR_SIZE,
				 rsize(r) - KSVC_RING_HDR_SIZE);
		tap_ok(ok, "%s: everything but the geometry is zero, entry "
		       "area and tail slack included", ku_region_name[r]);
	}
	s = m[KU_SHARED];
	tap_ok(s->magic == KSVC_SHARED_MAGIC &&
	       ku_all_zero(s->reserved, sizeof(s->reserved)),
	       "shared page: the reserved area reads zero");
	for (r = 0; r < KU_NREGIONS; r++)
		munmap(m[r], rsize(r));
}

static void test_sharing(void)
{
	unsigned char *a, *b;
	size_t len = rsize(KU_SQ), body = len - KSVC_RING_HDR_SIZE;
	int err;

	a = ku_map(fd, KU_SQ, SQN, CQN, &err);
	b = ku_map(fd, KU_SQ, SQN, CQN, &err);
	if (!a || !b)
		tap_bail("mmap: %s", strerror(-err));
	ku_fill(a + KSVC_RING_HDR_SIZE, body, 1);
	((struct ksvc_ring_hdr *)a)->tail = 1234;
	tap_ok(a != b && ku_check_fill(b + KSVC_RING_HDR_SIZE, body, 1) &&
	       ((struct ksvc_ring_hdr *)b)->tail == 1234,
	       "writes through one mapping of the submit ring are visible "
	       "through a second mapping");
	ku_fill(b + KSVC_RING_HDR_SIZE, body, 2);
	tap_ok(ku_check_fill(a + KSVC_RING_HDR_SIZE, body, 2),
	       "and the other way round");

	munmap(a, len);
	munmap(b, len);
	a = ku_map(fd, KU_SQ, SQN, CQN, &err);
	tap_ok(a && ku_check_fill(a + KSVC_RING_HDR_SIZE, body, 2) &&
	       ((struct ksvc_ring_hdr *)a)->tail == 1234 &&
	       ((struct ksvc_ring_hdr *)a)->magic == KSVC_SUBMIT_RING_MAGIC,
	       "after munmap of every mapping and a new mmap the data is still "
	       "there");

	err = madvise(a, len, MADV_DONTNEED);
	tap_ok(err == 0 && ku_check_fill(a + KSVC_RING_HDR_SIZE, body, 2) &&
	       ((struct ksvc_ring_hdr *)a)->magic == KSVC_SUBMIT_RING_MAGIC,
	       "MADV_DONTNEED on a ring mapping, then re-read: the same data "
	       "(madvise %d)", err ? errno : 0);
	munmap(a, len);

	a = ku_map(fd, KU_CQ, SQN, CQN, &err);
	b = ku_map(fd, KU_CQ, SQN, CQN, &err);
	if (!a || !b)
		tap_bail("mmap: %s", strerror(-err));
	ku_fill(a + KSVC_RING_HDR_SIZE, rsize(KU_CQ) - KSVC_RING_HDR_SIZE, 3);
	tap_ok(ku_check_fill(b + KSVC_RING_HDR_SIZE,
			     rsize(KU_CQ) - KSVC_RING_HDR_SIZE, 3),
	       "the completion ring is shared between its mappings too");
	munmap(a, rsize(KU_CQ));
	munmap(b, rsize(KU_CQ));

	/* The shared page, through two mappings and after MADV_DONTNEED. */
	a = ku_map(fd, KU_SHARED, SQN, CQN, &err);
	if (!a)
		tap_bail("mmap: %s", strerror(-err));
	err = madvise(a, PAGE_SIZE, MADV_DONTNEED);
	tap_ok(err == 0 &&
	       ((struct ksvc_shared_page *)a)->magic == KSVC_SHARED_MAGIC,
	       "MADV_DONTNEED on the shared page, then re-read: still the "
	       "kernel's page");
	munmap(a, PAGE_SIZE);
}

static void test_mremap(void)
{
	unsigned char *a, *b, *dst;
	size_t len = rsize(KU_SQ), body = len - KSVC_RING_HDR_SIZE;
	int err, r;

	for (r = 0; r < KU_NREGIONS; r++) {
		a = ku_map(fd, (enum ku_region)r, SQN, CQN, &err);
		if (!a)
			tap_bail("mmap: %s", strerror(-err));
		b = mremap(a, rsize(r), rsize(r) + PAGE_SIZE, 0);
		err = b == MAP_FAILED ? errno : 0;
		tap_ok(b == MAP_FAILED && err == EFAULT,
		       "%s: mremap to grow in place: EFAULT (got %s)",
		       ku_region_name[r], err ? strerror(err) : "success");
		b = mremap(a, rsize(r), rsize(r) + PAGE_SIZE, MREMAP_MAYMOVE);
		err = b == MAP_FAILED ? errno : 0;
		tap_ok(b == MAP_FAILED && err == EFAULT,
		       "%s: mremap to grow with MREMAP_MAYMOVE: EFAULT (got %s)",
		       ku_region_name[r], err ? strerror(err) : "success");
		if (b != MAP_FAILED)
			a = b;
		munmap(a, rsize(r));
	}

	/* Move: the data comes along. */
	a = ku_map(fd, KU_SQ, SQN, CQN, &err);
	dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!a || dst == MAP_FAILED)
		tap_bail("mmap failed");
	ku_fill(a + KSVC_RING_HDR_SIZE, body, 4);
	b = mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	tap_ok(b == dst && ku_check_fill(b + KSVC_RING_HDR_SIZE, body, 4) &&
	       ((struct ksvc_ring_hdr *)b)->magic == KSVC_SUBMIT_RING_MAGIC &&
	       ku_is_mapped(a, len) == 0,
	       "mremap moving the submit ring works and the data stays right");
	ku_fill(b + KSVC_RING_HDR_SIZE, body, 5);
	a = ku_map(fd, KU_SQ, SQN, CQN, &err);
	tap_ok(a && ku_check_fill(a + KSVC_RING_HDR_SIZE, body, 5),
	       "the moved mapping still shares its pages with a new mapping");
	munmap(a, len);

	/* Shrink: the front stays, with its data. */
	a = mremap(b, len, 2 * PAGE_SIZE, 0);
	tap_ok(a == b && ku_check_fill(a + KSVC_RING_HDR_SIZE,
				       2 * PAGE_SIZE - KSVC_RING_HDR_SIZE, 5) &&
	       ku_is_mapped(b + 2 * PAGE_SIZE, len - 2 * PAGE_SIZE) == 0,
	       "mremap shrinking the submit ring to 2 pages works; the data in "
	       "them stays right");
	munmap(a, 2 * PAGE_SIZE);
}

int main(void)
{
	struct ku_counts base;

	ku_require_module();
	/* 3 before + geometry (7+7+4)+1+1 + prot 7+3+1 + zero 3 + dump 1
	 * + share 6 + mremap 6+3 + 1 */
	tap_plan(54);
	base = ku_counts();
	fd = ku_open();
	if (fd < 0)
		tap_bail("open: %s", strerror(-fd));
	test_before_create();
	if (ku_create(fd, SQN, CQN, -1))
		tap_bail("CREATE: %s", strerror(errno));
	test_zero();
	test_dump_flags();
	test_geometry();
	test_prot();
	test_sharing();
	test_mremap();
	close(fd);
	tap_ok(ku_counts_wait(base), "everything unmapped and closed: counters "
	       "back to base");
	tap_done();
}
