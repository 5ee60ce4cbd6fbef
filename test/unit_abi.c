// SPDX-License-Identifier: MIT
/*
 * unit_abi - the ABI layout and libksvc's setup calls, on the host.
 *
 *   - size and offset of every field of every ABI structure, the ioctl
 *     numbers, offsets, magics and ring_pages();
 *   - the shared page's read protocol (ksvc_shared_read_begin/_retry);
 *   - ksvc_open() in anonymous mode produces exactly the documented
 *     layout (the same the kernel produces);
 *   - ksvc_open() argument validation (-EINVAL, -EBADF), error paths that
 *     leak nothing, eventfd ownership, ksvc_notify/ksvc_refresh in
 *     anonymous mode, ksvc_strerror() coverage.
 */
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "util.h"

#define OFF(t, f) offsetof(struct t, f)

/* ------------------------------------------------------------------ */
/* Layout                                                              */
/* ------------------------------------------------------------------ */

struct field {
	const char *name;
	size_t off, want;
};

static int check_fields(const char *what, const struct field *f, size_t n,
			size_t size, size_t want_size)
{
	int ok = size == want_size;
	size_t i;

	if (!ok)
		tap_diag("sizeof(%s) = %zu, want %zu", what, size, want_size);
	for (i = 0; i < n; i++)
		if (f[i].off != f[i].want) {
			tap_diag("%s.%s at %zu, want %zu", what, f[i].name,
				 f[i].off, f[i].want);
			ok = 0;
		}
	return ok;
}

#define F(t, f, w) { #f, OFF(t, f), (w) }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_layout(void)
{
	static const struct field cp[] = {
		F(ksvc_create_params, submit_ring_entries, 0),
		F(ksvc_create_params, complete_ring_entries, 4),
		F(ksvc_create_params, flags, 8),
		F(ksvc_create_params, eventfd, 12),
		F(ksvc_create_params, abi_version, 16),
		F(ksvc_create_params, features, 20),
		F(ksvc_create_params, submit_ring_size, 24),
		F(ksvc_create_params, complete_ring_size, 28),
		F(ksvc_create_params, shared_page_size, 32),
		F(ksvc_create_params, reserved, 36),
		F(ksvc_create_params, reserved[6], 60),
	};
	static const struct field in[] = {
		F(ksvc_info, id, 0),
		F(ksvc_info, flags, 8),
		F(ksvc_info, reserved, 12),
		F(ksvc_info, reserved[4], 28),
	};
	static const struct field rh[] = {
		F(ksvc_ring_hdr, magic, 0),
		F(ksvc_ring_hdr, entries, 4),
		F(ksvc_ring_hdr, mask, 8),
		F(ksvc_ring_hdr, entry_size, 12),
		F(ksvc_ring_hdr, entries_offset, 16),
		F(ksvc_ring_hdr, ring_size, 20),
		F(ksvc_ring_hdr, reserved0, 24),
		F(ksvc_ring_hdr, flags, 64),
		F(ksvc_ring_hdr, reserved1, 68),
		F(ksvc_ring_hdr, head, 128),
		F(ksvc_ring_hdr, reserved2, 132),
		F(ksvc_ring_hdr, tail, 192),
		F(ksvc_ring_hdr, reserved3, 196),
		F(ksvc_ring_hdr, reserved3[14], 252),
	};
	static const struct field en[] = {
		F(ksvc_entry, corr_id, 0),
		F(ksvc_entry, syscall_nr, 8),
		F(ksvc_entry, flags, 12),
		F(ksvc_entry, args, 16),
		F(ksvc_entry, args[5], 56),
	};
	static const struct field co[] = {
		F(ksvc_completion, corr_id, 0),
		F(ksvc_completion, result, 8),
		F(ksvc_completion, flags, 16),
		F(ksvc_completion, reserved0, 20),
		F(ksvc_completion, reserved1, 24),
	};
	static const struct field sp[] = {
		F(ksvc_shared_page, magic, 0),
		F(ksvc_shared_page, version, 4),
		F(ksvc_shared_page, seq, 8),
		F(ksvc_shared_page, fresh, 12),
		F(ksvc_shared_page, pid, 16),
		F(ksvc_shared_page, ppid, 20),
		F(ksvc_shared_page, uid, 24),
		F(ksvc_shared_page, gid, 28),
		F(ksvc_shared_page, euid, 32),
		F(ksvc_shared_page, egid, 36),
		F(ksvc_shared_page, rlimit_nofile, 40),
		F(ksvc_shared_page, rlimit_nofile_max, 48),
		F(ksvc_shared_page, utsname_sysname, 56),
		F(ksvc_shared_page, utsname_nodename, 121),
		F(ksvc_shared_page, utsname_release, 186),
		F(ksvc_shared_page, utsname_version, 251),
		F(ksvc_shared_page, utsname_machine, 316),
		F(ksvc_shared_page, utsname_domainname, 381),
		F(ksvc_shared_page, reserved, 446),
	};

	tap_ok(check_fields("ksvc_create_params", cp, N(cp),
			    sizeof(struct ksvc_create_params), 64),
	       "struct ksvc_create_params: 64 bytes, every field at its offset");
	tap_ok(check_fields("ksvc_info", in, N(in), sizeof(struct ksvc_info),
			    32) && _Alignof(struct ksvc_info) == 8,
	       "struct ksvc_info: 32 bytes, every field at its offset");
	tap_ok(check_fields("ksvc_ring_hdr", rh, N(rh),
			    sizeof(struct ksvc_ring_hdr), 256) &&
	       KSVC_RING_HDR_SIZE == 256,
	       "struct ksvc_ring_hdr: 256 bytes, flags/head/tail on their own "
	       "cache lines");
	tap_ok(check_fields("ksvc_entry", en, N(en), sizeof(struct ksvc_entry), 64) &&
	       _Alignof(struct ksvc_entry) == 8,
	       "struct ksvc_entry: 64 bytes (one cache line), every field at "
	       "its offset");
	tap_ok(check_fields("ksvc_completion", co, N(co),
			    sizeof(struct ksvc_completion), 32),
	       "struct ksvc_completion: 32 bytes, every field at its offset");
	tap_ok(check_fields("ksvc_shared_page", sp, N(sp),
			    sizeof(struct ksvc_shared_page), 4096) &&
	       sizeof(((struct ksvc_shared_page *)0)->utsname_release) == 65,
	       "struct ksvc_shared_page: one 4096-byte page, every field at "
	       "its offset");
}

static void test_constants(void)
{
	int ok;

	ok = KSVC_IOC_CREATE == 0xc0404b80u && KSVC_IOC_NOTIFY == 0x4b81u &&
	     KSVC_IOC_REFRESH == 0x4b82u && KSVC_IOC_INFO == 0x80204b83u;
	tap_ok(ok, "ioctl numbers: CREATE 0xc0404b80 (_IOWR 'K' 0x80, 64 "
	       "bytes), NOTIFY 0x4b81, REFRESH 0x4b82, INFO 0x80204b83 (_IOR "
	       "'K' 0x83, 32 bytes): none in linux/kd.h's range");
	ok = KSVC_OFF_SUBMIT_RING == 0 && KSVC_OFF_COMPLETE_RING == 0x10000000ULL &&
	     KSVC_OFF_SHARED_PAGE == 0x20000000ULL;
	tap_ok(ok, "mmap offsets 0, 0x10000000, 0x20000000");
	ok = KSVC_SUBMIT_RING_MAGIC == 0x4b535653u &&
	     KSVC_COMPLETE_RING_MAGIC == 0x4b535643u &&
	     KSVC_SHARED_MAGIC == 0x4b535030u && KSVC_SHARED_VERSION == 1 &&
	     KSVC_ABI_VERSION == 1;
	tap_ok(ok, "magics and versions");
	ok = KSVC_MIN_ENTRIES == 16 && KSVC_MAX_ENTRIES == 32768 &&
	     KSVC_PAGE_SIZE == 4096 && PAGE_SIZE == 4096 &&
	     sysconf(_SC_PAGESIZE) == 4096 && KSVC_CREATE_FLAGS_ALL == 0 &&
	     KSVC_FRESH_ALL == (KSVC_FRESH_PID | KSVC_FRESH_PPID |
				KSVC_FRESH_IDS | KSVC_FRESH_UTS |
				KSVC_FRESH_NOFILE) &&
	     KSVC_RING_NEED_WAKEUP == 1 && KSVC_ENTRY_LINKED == 1 &&
	     KSVC_ENTRY_CANCEL == 2 && KSVC_ENTRY_FLAGS_ALL == 3 &&
	     (KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH | KSVC_FEAT_TIER0 |
	      KSVC_FEAT_INFO) == 15 && KSVC_INFO_OWNER == 1 &&
	     (KSVC_COMP_REFUSED | KSVC_COMP_TIER1 | KSVC_COMP_TIER2) == 7;
	tap_ok(ok, "entry bounds 16..32768, 4 KiB pages, flag and bit values");
}

static void test_ring_pages(void)
{
	static const struct { __u32 n, sz, pages; } t[] = {
		{ 16, 64, 1 }, { 60, 64, 1 }, { 61, 64, 2 }, { 16, 32, 1 },
		{ 120, 32, 1 }, { 121, 32, 2 }, { 256, 64, 5 }, { 256, 32, 3 },
		{ 512, 32, 5 }, { 4096, 64, 65 }, { 32768, 64, 513 },
		{ 32768, 32, 257 }, { 0, 64, 1 },
	};
	size_t i;
	__u32 n;
	int ok = 1;

	for (i = 0; i < N(t); i++)
		if (ring_pages(t[i].n, t[i].sz) != t[i].pages ||
		    ksvc_ring_pages(t[i].n, t[i].sz) != t[i].pages) {
			tap_diag("ring_pages(%u, %u) = %u, want %u", t[i].n,
				 t[i].sz, ring_pages(t[i].n, t[i].sz), t[i].pages);
			ok = 0;
		}
	tap_ok(ok, "ring_pages() at and around page boundaries");

	ok = 1;
	for (n = 16; n <= 32768; n <<= 1) {
		__u32 sz;

		for (sz = 32; sz <= 64; sz += 32) {
			__u64 bytes = 256 + (__u64)n * sz;

			ok &= ring_pages(n, sz) == (bytes + 4095) / 4096 &&
			      (__u64)ring_pages(n, sz) * 4096 >= bytes &&
			      (__u64)(ring_pages(n, sz) - 1) * 4096 < bytes;
		}
	}
	/* No 32-bit overflow in the intermediate product. */
	ok &= ksvc_ring_pages(0xffffffffu, 64) ==
	      (__u32)((256 + 0xffffffffull * 64 + 4095) / 4096);
	tap_ok(ok, "ring_pages() is the smallest page count holding header + "
	       "entries, for every legal size; no 32-bit overflow");
}

/*
 * ksvc_shared_read_begin(3): begin returns the even count, waiting out
 * an odd one (a writer at work); retry says whether the count moved.
 */
static struct ksvc_shared_page rd_page;

static void *rd_writer_done(void *arg)
{
	(void)arg;
	ku_sleep_ms(50);
	__atomic_store_n(&rd_page.seq, 8, __ATOMIC_RELEASE);
	return NULL;
}

static void test_shared_read(void)
{
	pthread_t th;
	uint64_t t0;
	__u32 s;
	int ok;

	rd_page.seq = 4;
	s = ksvc_shared_read_begin(&rd_page);
	ok = s == 4 && ksvc_shared_read_retry(&rd_page, s) == 0;
	rd_page.seq = 6;
	ok &= ksvc_shared_read_retry(&rd_page, s) != 0 &&
	      ksvc_shared_read_retry(&rd_page, 6) == 0;
	tap_ok(ok, "ksvc_shared_read_begin returns the even count; "
	       "ksvc_shared_read_retry is 0 while it stays, non-zero once it "
	       "moved");

	rd_page.seq = 7;	/* a writer is at work */
	t0 = ku_now_ms();
	if (pthread_create(&th, NULL, rd_writer_done, NULL))
		tap_bail("pthread_create");
	s = ksvc_shared_read_begin(&rd_page);
	pthread_join(th, NULL);
	tap_ok(s == 8 && ku_now_ms() - t0 >= 40,
	       "ksvc_shared_read_begin waits while the count is odd, and "
	       "returns the even one the writer left (%u after %llu ms)", s,
	       (unsigned long long)(ku_now_ms() - t0));
}

/* ------------------------------------------------------------------ */
/* Leak accounting                                                     */
/* ------------------------------------------------------------------ */

/* Shared anonymous mappings (what anon mode creates). */
static int count_shared_anon(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/dev/zero") || strstr(line, "[anon_shmem"))
			n++;
	fclose(f);
	return n;
}

struct leak_snap {
	int fds, maps;
};

static struct leak_snap snap(void)
{
	struct leak_snap s = { ku_count_fds(NULL), count_shared_anon() };

	return s;
}

static int same_snap(struct leak_snap a, struct leak_snap b)
{
	if (a.fds != b.fds || a.maps != b.maps)
		tap_diag("fds %d -> %d, shared mappings %d -> %d", a.fds,
			 b.fds, a.maps, b.maps);
	return a.fds == b.fds && a.maps == b.maps;
}

static int is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

/* ------------------------------------------------------------------ */
/* Anonymous mode                                                      */
/* ------------------------------------------------------------------ */

static int check_hdr(const struct ksvc_ring *r, __u32 magic, __u32 n,
		     __u32 esize)
{
	const struct ksvc_ring_hdr *h = r->hdr;
	__u32 size = ring_pages(n, esize) * PAGE_SIZE;
	int ok;

	ok = h && h->magic == magic && h->entries == n && h->mask == n - 1 &&
	     h->entry_size == esize && h->entries_offset == 256 &&
	     h->ring_size == size && h->flags == 0 && h->head == 0 &&
	     h->tail == 0 &&
	     ku_all_zero(h->reserved0, sizeof(h->reserved0)) &&
	     ku_all_zero(h->reserved1, sizeof(h->reserved1)) &&
	     ku_all_zero(h->reserved2, sizeof(h->reserved2)) &&
	     ku_all_zero(h->reserved3, sizeof(h->reserved3));
	ok = ok && r->slots == (unsigned char *)h + 256 && r->entries == n &&
	     r->mask == n - 1 && r->entry_size == esize && r->map_size == size &&
	     ((uintptr_t)h & (PAGE_SIZE - 1)) == 0 &&
	     ku_all_zero(r->slots, size - 256);
	return ok;
}

static struct ksvc *anon(__u32 sq, __u32 cq, __u32 flags, int efd, int *err)
{
	struct ksvc_open_params p = { sq, cq, KSVC_OPEN_ANON | flags, efd };
	struct ksvc *k = NULL;

	*err = ksvc_open(&k, &p);
	return *err ? NULL : k;
}

static void test_anon_layout(void)
{
	struct leak_snap before = snap();
	struct ksvc *k;
	int err, fl, ok;

	k = anon(0, 0, 0, -1, &err);
	if (!tap_ok(k != NULL, "ksvc_open(ANON) with default sizes succeeds")) {
		tap_diag("ksvc_open: %d %s", err, ksvc_strerror(err));
		tap_bail("no anonymous instance");
	}
	ok = k->mode == KSVC_MODE_ANON && k->fd == -1 && k->owner == getpid() &&
	     k->features == 0 &&
	     check_hdr(&k->sq, KSVC_SUBMIT_RING_MAGIC, 256, 64) &&
	     check_hdr(&k->cq, KSVC_COMPLETE_RING_MAGIC, 512, 32);
	tap_ok(ok, "defaults: submit ring 256 entries, completion ring 512, "
	       "headers exactly as the kernel writes them, rings zeroed");

	/* Everything after magic/version must be zero. */
	ok = k->shared && k->shared->magic == KSVC_SHARED_MAGIC &&
	     k->shared->version == KSVC_SHARED_VERSION &&
	     ku_all_zero((const char *)k->shared + 8, PAGE_SIZE - 8);
	tap_ok(ok, "shared page: magic and version set, fresh == 0, every "
	       "other byte zero");
	tap_ok(ku_touch((volatile unsigned char *)k->shared + 100, 1, 1) ==
		       SIGSEGV &&
	       ku_touch((volatile unsigned char *)k->shared + 100, 0, 0) == 0,
	       "shared page is mapped read-only (a write faults)");

	fl = fcntl(k->eventfd, F_GETFL);
	ok = k->eventfd >= 0 && k->owns_eventfd && is_eventfd(k->eventfd) &&
	     (fcntl(k->eventfd, F_GETFD) & FD_CLOEXEC) && fl >= 0 &&
	     (fl & O_NONBLOCK);
	tap_ok(ok, "the library's eventfd is an eventfd, O_CLOEXEC and "
	       "O_NONBLOCK, owned by the handle");

	{
		__u64 v = 0;

		ok = ksvc_notify(k) == 0 && ksvc_notify(k) == 0 &&
		     ksvc_notify(k) == 0 &&
		     read(k->eventfd, &v, sizeof(v)) == sizeof(v) && v == 3;
		tap_ok(ok, "ksvc_notify in anonymous mode adds 1 to the eventfd "
		       "(3 notifies read back as 3)");
	}
	tap_ok(ksvc_refresh(k) == -EOPNOTSUPP,
	       "ksvc_refresh in anonymous mode: -EOPNOTSUPP");
	ksvc_close(k);
	tap_ok(same_snap(before, snap()),
	       "ksvc_close releases every fd and mapping");
}

static void test_anon_sizes(void)
{
	static const __u32 sz[][2] = {
		{ 16, 16 }, { 16, 32768 }, { 32768, 16 }, { 32768, 32768 },
		{ 1024, 64 },
	};
	struct leak_snap before = snap();
	struct ksvc *k;
	size_t i;
	int err, ok = 1;

	for (i = 0; i < N(sz); i++) {
		k = anon(sz[i][0], sz[i][1], 0, -1, &err);
		ok &= k && check_hdr(&k->sq, KSVC_SUBMIT_RING_MAGIC, sz[i][0], 64) &&
		      check_hdr(&k->cq, KSVC_COMPLETE_RING_MAGIC, sz[i][1], 32);
		ksvc_close(k);
	}
	tap_ok(ok, "explicit sizes (16..32768, mixed): the documented layout");

	k = anon(32768, 0, 0, -1, &err);
	ok = k && k->cq.entries == 32768;
	ksvc_close(k);
	k = anon(64, 0, 0, -1, &err);
	ok = ok && k && k->cq.entries == 128;
	ksvc_close(k);
	tap_ok(ok, "complete_entries 0 is twice submit_entries, capped at "
	       "32768");

	for (i = 0; i < 500; i++) {
		k = anon(16, 16, 0, -1, &err);
		if (!k)
			break;
		ksvc_close(k);
	}
	tap_ok(i == 500 && same_snap(before, snap()),
	       "500 open/close cycles leak no fd and no mapping");
}

static void test_eventfd_modes(void)
{
	struct ksvc *k;
	int efd = eventfd(0, EFD_CLOEXEC), err, ok;
	__u64 v = 0;

	k = anon(0, 0, KSVC_OPEN_EVENTFD_GIVEN, efd, &err);
	ok = k && k->eventfd >= 0 && k->eventfd != efd && !k->owns_eventfd &&
	     (fcntl(k->eventfd, F_GETFD) & FD_CLOEXEC) &&
	     ksvc_notify(k) == 0 && read(efd, &v, sizeof(v)) == sizeof(v) &&
	     v == 1;
	ksvc_close(k);
	ok = ok && fcntl(efd, F_GETFD) >= 0;
	tap_ok(ok, "EVENTFD_GIVEN: the handle signals the caller's eventfd "
	       "through a close-on-exec duplicate; the caller's stays open "
	       "after ksvc_close");

	/*
	 * The caller closes its number and a file takes it: the library
	 * writes neither to the file (ksvc_notify, and the dispatcher's
	 * notice at stop) nor reads it (a waiter), and still signals the
	 * eventfd, which a second descriptor of the caller's sees.
	 */
	{
		struct ksvc_dispatcher *d = NULL;
		struct ksvc_completion c;
		char path[] = "/tmp/ksvc-unit-abi.XXXXXX";
		int keep, file = -1, st;
		struct stat sb;

		k = anon(0, 0, KSVC_OPEN_EVENTFD_GIVEN, efd, &err);
		keep = fcntl(efd, F_DUPFD_CLOEXEC, 0);
		ok = k && keep >= 0 &&
		     fcntl(keep, F_SETFL, O_NONBLOCK) == 0 &&	/* no hang */
		     ksvc_dispatch_create(&d, k, NULL) == 0;
		close(efd);
		if (ok) {
			file = mkstemp(path);
			ok = file == efd;
			if (file >= 0)
				unlink(path);
			if (!ok)
				tap_diag("the file took %d, not %d", file, efd);
		}
		v = 0;
		st = ok ? ksvc_notify(k) : -1;
		ok = ok && st == 0 &&
		     read(keep, &v, sizeof(v)) == sizeof(v) && v >= 1;
		if (d) {
			ok &= ksvc_dispatch_wait(d, &c, 1, 1, 20) == -ETIMEDOUT;
			ksvc_dispatch_destroy(d);
		}
		ksvc_close(k);
		ok = ok && fstat(file, &sb) == 0 && sb.st_size == 0 &&
		     lseek(file, 0, SEEK_CUR) == 0;
		tap_ok(ok, "EVENTFD_GIVEN, the caller's number closed and "
		       "taken by a file: the file is not touched, the "
		       "eventfd still signalled");
		if (file >= 0)
			close(file);
		if (keep >= 0)
			close(keep);
	}

	k = anon(0, 0, KSVC_OPEN_EVENTFD_GIVEN, -1, &err);
	ok = k && k->eventfd == -1 && ksvc_notify(k) == -ENOENT;
	ksvc_close(k);
	tap_ok(ok, "EVENTFD_GIVEN with -1: no eventfd, ksvc_notify gives "
	       "-ENOENT");
}

/*
 * In a child: put memory of the child's own where the submit ring was,
 * then close the handle.  Returns 0 if that memory survived, 1 if it
 * could not be mapped there, 2 if ksvc_close() took it.
 */
static int close_keeps_own_mapping(struct ksvc *k)
{
	volatile int *p = mmap(k->sq.hdr, PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS |
			       MAP_FIXED_NOREPLACE, -1, 0);

	if ((void *)p != k->sq.hdr)
		return 1;
	*p = 5;
	ksvc_close(k);
	return ku_is_mapped((void *)p, PAGE_SIZE) == 1 && *p == 5 ? 0 : 2;
}

/* Anonymous rings behave like the kernel's: not inherited over fork(),
 * and ksvc_close in the child leaves whatever the child has there. */
static void test_anon_fork(void)
{
	struct ksvc *k;
	int err, status = -1;
	pid_t pid;

	k = anon(16, 16, 0, -1, &err);
	if (!k)
		tap_bail("ksvc_open(ANON): %d", err);
	((struct ksvc_entry *)k->sq.slots)->corr_id = 77;
	pid = fork();
	if (pid == 0) {
		int bad = 0;

		bad |= ku_is_mapped(k->sq.hdr, k->sq.map_size) != 0;
		bad |= ku_is_mapped(k->cq.hdr, k->cq.map_size) != 0;
		bad |= ku_is_mapped(k->shared, PAGE_SIZE) != 0;
		/* ksvc_open(3): it writes the eventfd it inherited. */
		bad |= (ksvc_notify(k) != 0) << 3;
		bad |= close_keeps_own_mapping(k) << 1;
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		tap_diag("child status 0x%x", status);
	{
		__u64 v = 0;

		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		       ((struct ksvc_entry *)k->sq.slots)->corr_id == 77 &&
		       read(k->eventfd, &v, sizeof(v)) == sizeof(v) && v == 1,
		       "anonymous rings are not inherited by fork(); the "
		       "child's ksvc_notify signals the eventfd it inherited; "
		       "ksvc_close in the child leaves the child's own "
		       "mappings alone");
	}
	ksvc_close(k);
}

/*
 * The same when the child has its parent's pid number: the parent is
 * pid 1 of a new pid namespace and forks the child into another one, as
 * a container's init may.  The pid cannot tell them apart; ksvc_close()
 * in the child must still leave the child's own mapping alone.
 */
static int same_pid_opener(void)
{
	struct ksvc *k;
	int err, status = -1;
	pid_t pid;

	k = anon(16, 16, 0, -1, &err);
	if (!k)
		return 10;
	if (unshare(CLONE_NEWPID) != 0)
		return 11;
	pid = fork();
	if (pid == 0) {
		int r;

		if (getpid() != k->owner)
			_exit(20);	/* the test would prove nothing */
		r = close_keeps_own_mapping(k);
		_exit(r ? 20 + r : 0);
	}
	waitpid(pid, &status, 0);
	ksvc_close(k);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 30;
}

static void test_anon_fork_same_pid(void)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		pid_t init;

		if (unshare(CLONE_NEWPID) != 0 &&
		    unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0)
			_exit(77);
		init = fork();
		if (init == 0)
			_exit(same_pid_opener());
		waitpid(init, &status, 0);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 31);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		tap_skip("no new pid namespace allowed here", "ksvc_close in a "
			 "child with its parent's pid number");
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		tap_diag("status 0x%x", status);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "ksvc_close in a child that has its parent's pid number (pid 1 "
	       "of nested pid namespaces) leaves the child's own mappings "
	       "alone");
}

/* ------------------------------------------------------------------ */
/* Argument validation and error paths                                 */
/* ------------------------------------------------------------------ */

static void test_validation(void)
{
	static const __u32 bad_n[] = {
		8, 15, 17, 100, 65536, 1u << 31, 0xffffffffu, 1, 2, 4,
	};
	struct leak_snap before = snap();
	struct ksvc *sentinel = (struct ksvc *)(uintptr_t)0x1234;
	struct ksvc *k;
	struct ksvc_open_params p;
	int ok, err, pfd[2];
	size_t i;
	unsigned int bit;

	tap_ok(ksvc_open(NULL, NULL) == -EINVAL, "ksvc_open(NULL out): -EINVAL");

	ok = 1;
	for (i = 0; i < N(bad_n); i++) {
		struct ksvc_open_params a = { bad_n[i], 0, KSVC_OPEN_ANON, -1 };
		struct ksvc_open_params b = { 0, bad_n[i], KSVC_OPEN_ANON, -1 };

		k = sentinel;
		err = ksvc_open(&k, &a);
		if (err != -EINVAL || k != sentinel) {
			tap_diag("submit_entries %u: %d", bad_n[i], err);
			ok = 0;
		}
		err = ksvc_open(&k, &b);
		if (err != -EINVAL || k != sentinel) {
			tap_diag("complete_entries %u: %d", bad_n[i], err);
			ok = 0;
		}
	}
	tap_ok(ok, "entry counts that are not a power of two in [16, 32768]: "
	       "-EINVAL, *out untouched");

	ok = 1;
	for (bit = 4; bit < 32; bit++) {
		p = (struct ksvc_open_params){ 0, 0, KSVC_OPEN_ANON | (1u << bit), -1 };
		k = sentinel;
		err = ksvc_open(&k, &p);
		if (err != -EINVAL || k != sentinel) {
			tap_diag("flag bit %u: %d", bit, err);
			ok = 0;
		}
	}
	tap_ok(ok, "every unknown flag bit (4..31) alone: -EINVAL");

	p = (struct ksvc_open_params){ 0, 0, KSVC_OPEN_ANON |
		KSVC_OPEN_EVENTFD_NEW | KSVC_OPEN_EVENTFD_GIVEN, -1 };
	tap_ok(ksvc_open(&k, &p) == -EINVAL, "EVENTFD_NEW | EVENTFD_GIVEN: -EINVAL");

	p = (struct ksvc_open_params){ 0, 0, KSVC_OPEN_ANON |
		KSVC_OPEN_EVENTFD_GIVEN, -2 };
	ok = ksvc_open(&k, &p) == -EBADF;
	p.eventfd = 9999;
	ok &= fcntl(9999, F_GETFD) < 0 && ksvc_open(&k, &p) == -EBADF;
	p.eventfd = INT_MIN;
	ok &= ksvc_open(&k, &p) == -EBADF;
	tap_ok(ok, "EVENTFD_GIVEN with a bad descriptor (-2, 9999, INT_MIN): "
	       "-EBADF");

	if (pipe(pfd))
		tap_bail("pipe: %s", strerror(errno));
	p.eventfd = pfd[0];
	ok = ksvc_open(&k, &p) == -EINVAL;
	ok &= fcntl(pfd[0], F_GETFD) >= 0;	/* not closed by the library */
	close(pfd[0]);
	close(pfd[1]);
	pfd[0] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	p.eventfd = pfd[0];
	ok &= ksvc_open(&k, &p) == -EINVAL;
	close(pfd[0]);
	tap_ok(ok, "EVENTFD_GIVEN with a pipe or a directory: -EINVAL, and the "
	       "descriptor stays open");

	tap_ok(same_snap(before, snap()), "failed ksvc_open calls leak nothing");

	tap_ok(ksvc_notify(NULL) == -EINVAL && ksvc_refresh(NULL) == -EINVAL,
	       "ksvc_notify(NULL), ksvc_refresh(NULL): -EINVAL");
	ksvc_close(NULL);
}

static void test_no_device(void)
{
	struct leak_snap before = snap();
	struct ksvc_open_params p = { 0, 0, KSVC_OPEN_ANON_FALLBACK, -1 };
	struct ksvc *k = NULL;
	int efd, err;

	if (access(KSVC_DEVICE_PATH, F_OK) == 0) {
		tap_skip("/dev/ksvc exists here", "ksvc_open without the module: -ENOENT");
		tap_skip("/dev/ksvc exists here", "ANON_FALLBACK without the module");
		tap_skip("/dev/ksvc exists here", "a given eventfd survives a failed open");
		return;
	}
	err = ksvc_open(&k, NULL);
	tap_ok(err == -ENOENT && same_snap(before, snap()),
	       "ksvc_open without /dev/ksvc: -ENOENT, and the library's eventfd "
	       "is closed again");
	err = ksvc_open(&k, &p);
	tap_ok(err == 0 && k && k->mode == KSVC_MODE_ANON && k->fd == -1 &&
	       check_hdr(&k->sq, KSVC_SUBMIT_RING_MAGIC, 256, 64),
	       "ANON_FALLBACK without /dev/ksvc: an anonymous instance");
	if (!err)
		ksvc_close(k);

	efd = eventfd(0, 0);
	p = (struct ksvc_open_params){ 0, 0, KSVC_OPEN_EVENTFD_GIVEN, efd };
	err = ksvc_open(&k, &p);
	tap_ok(err == -ENOENT && fcntl(efd, F_GETFD) >= 0,
	       "a given eventfd survives a failed open");
	close(efd);
}

static void test_unwind(void)
{
#if !defined(__SANITIZE_ADDRESS__)
	struct leak_snap before = snap();
#endif
	struct rlimit old, rl;
	struct ksvc *k = (struct ksvc *)(uintptr_t)0x1234;
	int err, fds;

	/* No descriptor left for the eventfd. */
	getrlimit(RLIMIT_NOFILE, &old);
	fds = ku_count_fds(NULL);
	rl = old;
	/* rlim_cur = the lowest free descriptor: no new one fits. */
	{
		int probe = dup(0), maxfd = probe;

		close(probe);
		rl.rlim_cur = (rlim_t)maxfd;
	}
	setrlimit(RLIMIT_NOFILE, &rl);
	err = ksvc_open(&k, &(struct ksvc_open_params){ 0, 0, KSVC_OPEN_ANON, -1 });
	setrlimit(RLIMIT_NOFILE, &old);
	tap_ok(err == -EMFILE && k == (struct ksvc *)(uintptr_t)0x1234 &&
	       ku_count_fds(NULL) == fds,
	       "no descriptor for the eventfd: -EMFILE, nothing leaked");

#if defined(__SANITIZE_ADDRESS__)
	tap_skip("AddressSanitizer reserves address space", "a failing mmap "
		 "unwinds the rings already mapped");
#else
	{
		/* Room for the 2 MiB submit ring but not the 1 MiB completion
		 * ring after it. */
		FILE *f = fopen("/proc/self/status", "re");
		char line[256];
		unsigned long vm_kb = 0;

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "VmSize: %lu kB", &vm_kb) == 1)
				break;
		if (f)
			fclose(f);
		getrlimit(RLIMIT_AS, &old);
		rl = old;
		rl.rlim_cur = (vm_kb + 2048 + 512) * 1024;
		if (vm_kb == 0 || setrlimit(RLIMIT_AS, &rl)) {
			tap_skip("cannot set RLIMIT_AS", "a failing mmap unwinds");
		} else {
			err = ksvc_open(&k, &(struct ksvc_open_params){
					32768, 32768, KSVC_OPEN_ANON, -1 });
			setrlimit(RLIMIT_AS, &old);
			tap_ok(err == -ENOMEM && same_snap(before, snap()),
			       "a failing mmap (RLIMIT_AS) gives -ENOMEM and "
			       "unwinds the ring already mapped and the eventfd");
		}
	}
#endif
}

/* ------------------------------------------------------------------ */
/* errno, and a given eventfd where /proc is not mounted               */
/* ------------------------------------------------------------------ */

#define ERRNO_MARK 4242	/* no system call sets this */

static void test_errno_kept(void)
{
	struct ksvc_open_params p = { 0, 0, KSVC_OPEN_ANON_FALLBACK, -1 };
	__u64 big = 0xfffffffffffffffeull;
	struct ksvc *k = NULL;
	int ok = 1, err, efd;

	/* Succeeds after an open of /dev/ksvc that failed (on the host),
	 * or through the device. */
	errno = ERRNO_MARK;
	err = ksvc_open(&k, &p);
	ok &= err == 0 && errno == ERRNO_MARK;
	if (err == 0) {
		errno = ERRNO_MARK;
		ksvc_close(k);
		ok &= errno == ERRNO_MARK;
	}
	/* Fails in fcntl() on a closed descriptor. */
	p = (struct ksvc_open_params){ 0, 0, KSVC_OPEN_ANON |
		KSVC_OPEN_EVENTFD_GIVEN, 9999 };
	ok &= fcntl(9999, F_GETFD) < 0;
	errno = ERRNO_MARK;
	ok &= ksvc_open(&k, &p) == -EBADF && errno == ERRNO_MARK;
	/* ksvc_notify's write() fails: the eventfd's count is full. */
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p.eventfd = efd;
	if (efd < 0 || write(efd, &big, sizeof(big)) != sizeof(big) ||
	    ksvc_open(&k, &p))
		tap_bail("eventfd setup: %s", strerror(errno));
	errno = ERRNO_MARK;
	err = ksvc_notify(k);
	ok &= err == -EAGAIN && errno == ERRNO_MARK;
	errno = ERRNO_MARK;
	ok &= ksvc_refresh(k) == -EOPNOTSUPP && errno == ERRNO_MARK;
	ksvc_close(k);
	close(efd);
	tap_ok(ok, "ksvc_open (failing or succeeding after a failed system "
	       "call), ksvc_notify, ksvc_refresh and ksvc_close leave errno "
	       "as it was");
}

/* In a child: /proc unmounted, then a given file, pipe and eventfd. */
static int no_proc_child(void)
{
	struct ksvc_open_params p = { 0, 0, KSVC_OPEN_ANON |
		KSVC_OPEN_EVENTFD_GIVEN, -1 };
	char link[64], name[] = "/tmp/ksvc-unit-abi.XXXXXX";
	struct ksvc *k = NULL;
	struct stat st;
	__u64 v = 0;
	int fd, pfd[2], efd;

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 77;
	if (umount2("/proc", MNT_DETACH) && errno != EINVAL)
		return 77;
	if (readlink("/proc/self/fd/0", link, sizeof(link)) >= 0)
		return 77;	/* another /proc below it */
	fd = mkstemp(name);
	if (fd < 0 || unlink(name) || pipe(pfd))
		return 2;
	p.eventfd = fd;
	if (ksvc_open(&k, &p) != -EINVAL)
		return 3;
	if (fstat(fd, &st) || st.st_size != 0)
		return 4;
	p.eventfd = pfd[1];
	if (ksvc_open(&k, &p) != -EINVAL)
		return 5;
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p.eventfd = efd;
	if (efd < 0 || ksvc_open(&k, &p) || ksvc_notify(k) ||
	    read(efd, &v, sizeof(v)) != sizeof(v) || v != 1)
		return 6;
	ksvc_close(k);
	return 0;
}

static void test_eventfd_no_proc(void)
{
	const char *what = "without /proc, EVENTFD_GIVEN with a file or a "
			   "pipe: -EINVAL, nothing written; an eventfd works";
	int st = 0;
	pid_t pid = fork();

	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(no_proc_child());
	if (waitpid(pid, &st, 0) != pid)
		tap_bail("waitpid: %s", strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		tap_skip("cannot unmount /proc in a mount namespace here", "%s",
			 what);
		return;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		tap_diag("child status %#x (step %d)", st,
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", what);
}

/* ------------------------------------------------------------------ */
/* ksvc_strerror                                                       */
/* ------------------------------------------------------------------ */

static void test_strerror(void)
{
	static const int errs[] = {
		ENOENT, ENOTTY, EACCES, EBUSY, EINVAL, EPERM, EBADF, EFAULT,
		ENOMEM, EMFILE, ENFILE, EPROTO, EOPNOTSUPP, ENODEV, ENXIO,
		EAGAIN, ECANCELED, ESHUTDOWN, ETIMEDOUT, EINTR,
	};
	size_t i, j;
	int ok = 1;

	for (i = 0; i < N(errs); i++) {
		const char *s = ksvc_strerror(-errs[i]);

		if (!s || strlen(s) < 20 || s != ksvc_strerror(errs[i]) ||
		    s[strlen(s) - 1] != '.') {
			tap_diag("ksvc_strerror(-%d) = \"%s\"", errs[i], s ? s : "(null)");
			ok = 0;
		}
	}
	tap_ok(ok, "ksvc_strerror: a full sentence for every errno the library "
	       "returns (same for -E and E)");

	ok = strstr(ksvc_strerror(-ENOENT), "/dev/ksvc") &&
	     strstr(ksvc_strerror(-ENOENT), "insmod ksvc.ko") &&
	     strstr(ksvc_strerror(-ENOTTY), "ABI") &&
	     strstr(ksvc_strerror(-ENOTTY), "Not a KSVC device") &&
	     strstr(ksvc_strerror(-EACCES), "another process") &&
	     strstr(ksvc_strerror(-EBUSY), "already has an instance") &&
	     strstr(ksvc_strerror(-EPROTO), "ABI") &&
	     strstr(ksvc_strerror(-EINVAL), "power");
	tap_ok(ok, "ksvc_strerror says what to do (ENOENT: load the module; "
	       "ENOTTY/EPROTO: ABI mismatch; EACCES: another process; ...)");

	ok = strstr(ksvc_strerror(-ENOENT), "ksvc_dispatch_cancel") &&
	     strstr(ksvc_strerror(-EPERM), "ONE_DRIVER") &&
	     strstr(ksvc_strerror(-EBUSY), "another dispatcher") &&
	     strstr(ksvc_strerror(-EBUSY), "cancel_signal") &&
	     strstr(ksvc_strerror(-EAGAIN), "call slots") &&
	     strstr(ksvc_strerror(-EAGAIN), "thread could not be created") &&
	     strstr(ksvc_strerror(-ESHUTDOWN), "ksvc_dispatch_stop") &&
	     strstr(ksvc_strerror(-ETIMEDOUT), "timeout") &&
	     strstr(ksvc_strerror(-EINTR), "signal") &&
	     strstr(ksvc_strerror(-EINVAL), "spin_us") &&
	     strstr(ksvc_strerror(-EINVAL), "struct ksvc_dispatch_params ") &&
	     strstr(ksvc_strerror(-EINVAL), "ONE_DRIVER") &&
	     strstr(ksvc_strerror(KSVC_REFUSED_RESULT), "KSVC_COMP_REFUSED");
	tap_ok(ok, "ksvc_strerror covers the dispatcher's meanings too "
	       "(ENOENT, EPERM, EBUSY, EAGAIN, ESHUTDOWN, ETIMEDOUT, EINTR, "
	       "EINVAL naming struct ksvc_dispatch_params, and a refused "
	       "call's -EOPNOTSUPP)");

	ok = 1;
	for (i = 0; i < 8; i++)
		for (j = i + 1; j < 8; j++)
			ok &= ksvc_strerror(errs[i]) != ksvc_strerror(errs[j]);
	ok &= ksvc_strerror(-123456) != NULL && ksvc_strerror(INT_MIN) != NULL &&
	      ksvc_strerror(INT_MAX) != NULL && ksvc_strerror(0) != NULL;
	tap_ok(ok, "distinct sentences for the main errors; unknown values "
	       "(-123456, INT_MIN, INT_MAX, 0) still give a string");
}

int main(void)
{
	tap_plan(49);

	test_layout();
	test_constants();
	test_ring_pages();
	test_shared_read();
	test_anon_layout();
	test_anon_sizes();
	test_eventfd_modes();
	test_anon_fork();
	test_anon_fork_same_pid();
	test_validation();
	test_no_device();
	test_unwind();
	test_errno_kept();
	test_eventfd_no_proc();
	test_strerror();
	tap_done();
}
