// SPDX-License-Identifier: MIT
/*
 * test_create - KSVC_IOC_CREATE: every bad input gets its errno and
 * changes nothing (no instance, no pages, the file still takes a correct
 * CREATE afterwards); the out fields; the size bounds; EBUSY; racing
 * CREATEs on one file; unknown ioctls; the open mode; no read, write
 * or poll method.
 */
#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include "util.h"

static struct ku_counts base;
static int fd;			/* one file that sees every bad CREATE */

/*
 * Nothing changed: the counters are at base and the file still has no
 * instance (mmap of a region: EINVAL; NOTIFY: EINVAL).
 */
static int unchanged(void)
{
	struct ku_counts now = ku_counts();
	int err = 0;
	void *p = ku_mmap(fd, PAGE_SIZE, PROT_READ, MAP_SHARED,
			  KSVC_OFF_SHARED_PAGE, &err);
	int ok = ku_counts_eq(now, base) && !p && err == -EINVAL &&
		 ku_ioctl0(fd, KSVC_IOC_NOTIFY) == -EINVAL;

	if (p)
		munmap(p, PAGE_SIZE);
	if (!ok)
		tap_diag("after the failed CREATE: instances %ld pages %ld "
			 "(base %ld %ld), mmap %d", now.instances, now.pages,
			 base.instances, base.pages, err);
	return ok;
}

static struct ksvc_create_params good(void)
{
	struct ksvc_create_params p;

	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = 64;
	p.complete_ring_entries = 128;
	p.eventfd = -1;
	return p;
}

/* CREATE @p on the shared file, expect -@err and no change. */
static void expect_fail(struct ksvc_create_params p, int err, const char *what)
{
	int got = ku_create_p(fd, &p);

	if (got != -err)
		tap_diag("got %d (%s), want -%d (%s)", got,
			 got ? strerror(-got) : "success", err, strerror(err));
	if (got == 0)
		tap_bail("a bad CREATE succeeded (%s); the rest would be "
			 "meaningless", what);
	tap_ok(got == -err && unchanged(), "%s: %s, nothing created", what,
	       strerror(err));
}

static void test_entries(void)
{
	static const __u32 bad[] = {
		0, 8, 15, 17, 100, 65536, 1u << 31, 0xffffffffu,
	};
	char what[96];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ksvc_create_params p = good();

		p.submit_ring_entries = bad[i];
		snprintf(what, sizeof(what), "submit_ring_entries %u", bad[i]);
		expect_fail(p, EINVAL, what);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ksvc_create_params p = good();

		p.complete_ring_entries = bad[i];
		snprintf(what, sizeof(what), "complete_ring_entries %u", bad[i]);
		expect_fail(p, EINVAL, what);
	}
}

static void test_flags_reserved(void)
{
	unsigned int bit, ok = 1, i;

	/* One TAP line for all 32 bits, each tried alone; a diag names the
	 * one that was accepted or got the wrong errno. */
	for (bit = 0; bit < 32; bit++) {
		struct ksvc_create_params p = good();
		int got;

		p.flags = 1u << bit;
		got = ku_create_p(fd, &p);
		if (got == 0)
			tap_bail("CREATE accepted flags bit %u", bit);
		if (got != -EINVAL || !unchanged()) {
			tap_diag("flags bit %u: %d", bit, got);
			ok = 0;
		}
	}
	tap_ok(ok, "flags: each of the 32 bits alone: EINVAL, nothing created");

	for (i = 0; i < 7; i++) {
		struct ksvc_create_params p = good();
		char what[64];

		p.reserved[i] = i == 3 ? 0x80000000u : 1u << i;
		snprintf(what, sizeof(what), "reserved[%u] = %#x", i, p.reserved[i]);
		expect_fail(p, EINVAL, what);
	}
}

static void test_eventfds(void)
{
	struct ksvc_create_params p = good();
	int pfd[2], tmp, ev_sem;
	char path[] = "/tmp/ksvc-create-XXXXXX";

	if (fcntl(9999, F_GETFD) == 0)
		close(9999);
	p.eventfd = 9999;
	expect_fail(p, EBADF, "eventfd 9999 (not open)");
	p.eventfd = -2;
	expect_fail(p, EBADF, "eventfd -2");
	p.eventfd = INT_MIN;
	expect_fail(p, EBADF, "eventfd INT_MIN");

	if (pipe2(pfd, O_CLOEXEC))
		tap_bail("pipe: %s", strerror(errno));
	p.eventfd = pfd[0];
	expect_fail(p, EINVAL, "eventfd = a pipe");
	close(pfd[0]);
	close(pfd[1]);

	tmp = mkostemp(path, O_CLOEXEC);
	if (tmp < 0)
		tap_bail("mkostemp: %s", strerror(errno));
	unlink(path);
	p.eventfd = tmp;
	expect_fail(p, EINVAL, "eventfd = a regular file");
	close(tmp);

	p.eventfd = fd;
	expect_fail(p, EINVAL, "eventfd = the /dev/ksvc file itself");

	/* An EFD_SEMAPHORE eventfd is still an eventfd: accepted elsewhere. */
	ev_sem = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
	{
		int f = ku_open(), r;

		p.eventfd = ev_sem;
		r = ku_create_p(f, &p);
		tap_ok(r == 0, "eventfd = an EFD_SEMAPHORE eventfd is accepted "
		       "(got %d)", r);
		close(f);
		close(ev_sem);
		ku_counts_wait(base);
	}
}

static void test_efault(void)
{
	struct ksvc_create_params *ro, *edge;
	char *pages;
	int got;

	got = ioctl(fd, KSVC_IOC_CREATE, NULL) < 0 ? -errno : 0;
	if (got == 0)
		tap_bail("CREATE(NULL) succeeded");
	tap_ok(got == -EFAULT && unchanged(), "CREATE with a NULL argument: "
	       "EFAULT, nothing created (got %d)", got);

	pages = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	munmap(pages + PAGE_SIZE, PAGE_SIZE);

	got = ioctl(fd, KSVC_IOC_CREATE, pages + PAGE_SIZE) < 0 ? -errno : 0;
	if (got == 0)
		tap_bail("CREATE(unmapped) succeeded");
	tap_ok(got == -EFAULT && unchanged(), "CREATE with an unmapped "
	       "argument: EFAULT, nothing created (got %d)", got);

	/* A valid structure that straddles into the unmapped page. */
	edge = (struct ksvc_create_params *)(pages + PAGE_SIZE - 32);
	memset(pages + PAGE_SIZE - 32, 0, 32);
	edge->submit_ring_entries = 64;
	edge->complete_ring_entries = 64;
	edge->eventfd = -1;
	got = ioctl(fd, KSVC_IOC_CREATE, edge) < 0 ? -errno : 0;
	if (got == 0)
		tap_bail("CREATE(straddling) succeeded");
	tap_ok(got == -EFAULT && unchanged(), "CREATE with an argument that "
	       "runs into an unmapped page: EFAULT, nothing created (got %d)",
	       got);

	/* A valid structure in read-only memory: the out fields cannot be
	 * written back, so the CREATE must fail and leave no instance. */
	ro = (struct ksvc_create_params *)pages;
	*ro = good();
	mprotect(pages, PAGE_SIZE, PROT_READ);
	got = ioctl(fd, KSVC_IOC_CREATE, ro) < 0 ? -errno : 0;
	if (got == 0) {
		tap_ok(0, "CREATE with a read-only argument: EFAULT, nothing "
		       "created (it succeeded)");
		tap_bail("the shared file now has an instance");
	}
	tap_ok(got == -EFAULT && unchanged(), "CREATE with a valid but "
	       "read-only argument (out fields unwritable): EFAULT, nothing "
	       "created (got %d)", got);
	munmap(pages, PAGE_SIZE);

	/*
	 * Readable throughout, writable only for its first 20 bytes (the
	 * out fields start at 16): EFAULT, and not one byte written.
	 */
	pages = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	edge = (struct ksvc_create_params *)(pages + PAGE_SIZE - 20);
	*edge = good();
	{
		struct ksvc_create_params before = *edge;

		mprotect(pages + PAGE_SIZE, PAGE_SIZE, PROT_READ);
		got = ioctl(fd, KSVC_IOC_CREATE, edge) < 0 ? -errno : 0;
		if (got == 0) {
			tap_ok(0, "CREATE with an argument writable in part: "
			       "EFAULT (it succeeded)");
			tap_bail("the shared file now has an instance");
		}
		tap_ok(got == -EFAULT && unchanged() &&
		       memcmp(&before, edge, sizeof(before)) == 0,
		       "CREATE with an argument writable only for its first "
		       "20 bytes: EFAULT, nothing created, not one byte "
		       "written (got %d, abi_version %u)", got,
		       edge->abi_version);
	}
	munmap(pages, 2 * PAGE_SIZE);
}

static void test_ioctls_before_create(void)
{
	static const unsigned long unknown[] = {
		_IO(KSVC_IOC_MAGIC, 0x7f), _IO(KSVC_IOC_MAGIC, 0x84),
		_IO(KSVC_IOC_MAGIC, 99), _IOWR(KSVC_IOC_MAGIC, 0x80, int),
		_IOW(KSVC_IOC_MAGIC, 0x80, struct ksvc_create_params),
		_IOR(KSVC_IOC_MAGIC, 0x81, int), _IO('k', 0x81),
		/* the numbers of the first drafts of this ABI */
		_IOWR(KSVC_IOC_MAGIC, 1, struct ksvc_create_params),
		_IO(KSVC_IOC_MAGIC, 2), _IO(KSVC_IOC_MAGIC, 3),
		0x5401 /* TCGETS */, 0,
	};
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		struct ksvc_create_params p = good();
		int got = ioctl(fd, unknown[i], &p) < 0 ? -errno : 0;

		if (got != -ENOTTY) {
			tap_diag("ioctl %#lx: %d", unknown[i], got);
			ok = 0;
		}
	}
	tap_ok(ok && unchanged(), "unknown ioctl numbers (other nr, other "
	       "size, other direction, other magic, old numbers, TCGETS, 0): "
	       "ENOTTY");

	tap_ok(ku_ioctl0(fd, KSVC_IOC_NOTIFY) == -EINVAL,
	       "NOTIFY before CREATE: EINVAL");
	tap_ok(ku_ioctl0(fd, KSVC_IOC_REFRESH) == -EINVAL && unchanged(),
	       "REFRESH before CREATE: EINVAL");
}

static void test_open_modes(void)
{
	int r;

	r = ku_open_flags(O_RDONLY | O_CLOEXEC);
	if (r >= 0)
		close(r);
	tap_ok(r == -EINVAL, "open O_RDONLY: EINVAL (got %d)", r);
	r = ku_open_flags(O_WRONLY | O_CLOEXEC);
	if (r >= 0)
		close(r);
	tap_ok(r == -EINVAL, "open O_WRONLY: EINVAL (got %d)", r);
	tap_ok(ku_counts_eq(ku_counts(), base), "refused opens change nothing");
}

/*
 * The device has no read, write or poll method: read and write are
 * EINVAL, poll reports it always ready, epoll refuses it (EPERM).
 */
static void test_no_rw(int f, const char *when)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct pollfd pfd = { f, POLLIN | POLLOUT, 0 };
	char buf[64] = "";
	int ep = epoll_create1(EPOLL_CLOEXEC), r, w, e, pr;

	r = read(f, buf, sizeof(buf)) < 0 ? -errno : 0;
	w = write(f, buf, sizeof(buf)) < 0 ? -errno : 0;
	e = epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev) < 0 ? -errno : 0;
	pr = poll(&pfd, 1, 0);
	close(ep);
	tap_ok(r == -EINVAL && w == -EINVAL && e == -EPERM && pr == 1 &&
	       pfd.revents == (POLLIN | POLLOUT),
	       "%s: read %d and write %d: EINVAL; epoll_ctl %d: EPERM; poll "
	       "%d: always ready (%#x)", when, r, w, e, pr, pfd.revents);
}

static void test_success(void)
{
	struct ksvc_create_params p = good();
	int r;

	/* Out fields carry garbage in: their input values are ignored. */
	p.abi_version = 0xdeadbeef;
	p.features = 0xffffffff;
	p.submit_ring_size = 1;
	p.complete_ring_size = 2;
	p.shared_page_size = 3;
	r = ku_create_p(fd, &p);
	if (!tap_ok(r == 0, "after all of that the same file takes a correct "
		    "CREATE (out fields' input values ignored)"))
		tap_bail("CREATE: %s", strerror(-r));
	tap_ok(p.abi_version == KSVC_ABI_VERSION && p.submit_ring_entries == 64 &&
	       p.complete_ring_entries == 128 && p.eventfd == -1 && p.flags == 0,
	       "out: abi_version %u; the in fields are left as they were",
	       p.abi_version);
	tap_ok((p.features & KSVC_FEAT_NOTIFY) && (p.features & KSVC_FEAT_REFRESH) &&
	       (p.features & KSVC_FEAT_INFO) &&
	       !(p.features & ~(KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH |
				KSVC_FEAT_TIER0 | KSVC_FEAT_INFO)),
	       "out: features %#x has NOTIFY, REFRESH and INFO and no unknown "
	       "bit",
	       p.features);
	tap_ok(p.submit_ring_size == ku_region_size(KU_SQ, 64, 128) &&
	       p.complete_ring_size == ku_region_size(KU_CQ, 64, 128) &&
	       p.shared_page_size == PAGE_SIZE,
	       "out: sizes %u/%u/%u = ring_pages() * PAGE_SIZE and one page",
	       p.submit_ring_size, p.complete_ring_size, p.shared_page_size);
	tap_ok(ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	       ku_dbg_read(KU_PAGES) == base.pages + ku_instance_pages(64, 128),
	       "debugfs: one more instance, %ld more pages",
	       ku_instance_pages(64, 128));

	p = good();
	p.submit_ring_entries = 16;
	r = ku_create_p(fd, &p);
	tap_ok(r == -EBUSY && ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	       ku_dbg_read(KU_PAGES) == base.pages + ku_instance_pages(64, 128),
	       "a second CREATE on the file: EBUSY, the first instance "
	       "untouched (got %d)", r);
	p.submit_ring_entries = 8;
	r = ku_create_p(fd, &p);
	tap_ok(r == -EBUSY || r == -EINVAL, "a second, invalid CREATE: EBUSY "
	       "or EINVAL (got %d)", r);

	r = ioctl(fd, _IO(KSVC_IOC_MAGIC, 99)) < 0 ? -errno : 0;
	tap_ok(r == -ENOTTY, "unknown ioctl with an instance: ENOTTY");
	test_no_rw(fd, "with an instance");
	tap_ok(ku_ioctl0(fd, KSVC_IOC_REFRESH) == 0,
	       "REFRESH with an instance: 0");
	tap_ok(ku_ioctl0(fd, KSVC_IOC_NOTIFY) == -ENOENT,
	       "NOTIFY with an instance that has no eventfd: ENOENT");

	close(fd);
	tap_ok(ku_counts_wait(base), "after close the counters return to "
	       "%ld/%ld", base.instances, base.pages);
}

static void test_bounds(void)
{
	static const __u32 pairs[][2] = {
		{ 16, 16 }, { 32768, 32768 }, { 16, 32768 }, { 32768, 16 },
	};
	size_t i;
	__u32 n;
	int ok = 1;

	for (i = 0; i < 4; i++) {
		struct ksvc_create_params p = good();
		int f = ku_open(), r;
		void *m[KU_NREGIONS];
		int e, reg, maps_ok = 1;

		p.submit_ring_entries = pairs[i][0];
		p.complete_ring_entries = pairs[i][1];
		r = ku_create_p(f, &p);
		for (reg = 0; reg < KU_NREGIONS && r == 0; reg++) {
			m[reg] = ku_map(f, (enum ku_region)reg, pairs[i][0],
					pairs[i][1], &e);
			if (!m[reg]) {
				maps_ok = 0;
				continue;
			}
			if (reg != KU_SHARED) {
				const struct ksvc_ring_hdr *h = m[reg];

				maps_ok &= h->entries == (reg == KU_SQ ?
					pairs[i][0] : pairs[i][1]);
			}
			munmap(m[reg], ku_region_size((enum ku_region)reg,
				pairs[i][0], pairs[i][1]));
		}
		tap_ok(r == 0 && maps_ok &&
		       p.submit_ring_size == ku_region_size(KU_SQ, pairs[i][0], 0) &&
		       p.complete_ring_size == ku_region_size(KU_CQ, 0, pairs[i][1]),
		       "sizes %u/%u accepted, every region maps, headers agree",
		       pairs[i][0], pairs[i][1]);
		close(f);
	}

	for (n = 16; n <= 32768; n <<= 1) {
		int f = ku_open(), r = ku_create(f, n, 32768 / n * 16, -1);

		if (r) {
			tap_diag("%u/%u: %d", n, 32768 / n * 16, r);
			ok = 0;
		}
		close(f);
	}
	tap_ok(ok, "every power of two from 16 to 32768 is accepted for both "
	       "rings");
	tap_ok(ku_counts_wait(base), "counters back to base");
}

/* N threads CREATE on one file at the same moment. */
#define RACERS	8
#define ROUNDS	200

static pthread_barrier_t race_bar;
static int race_fd;
static int race_res[RACERS];
static int race_touched[RACERS];	/* a loser's argument was written */

static void *racer(void *arg)
{
	long i = (long)arg;
	int round;

	for (round = 0; round < ROUNDS; round++) {
		struct ksvc_create_params p, before;

		memset(&p, 0, sizeof(p));
		/* alternate sizes so that pages tell who won */
		p.submit_ring_entries = 16u << (i % 4);
		p.complete_ring_entries = 16;
		p.eventfd = -1;
		before = p;
		pthread_barrier_wait(&race_bar);
		race_res[i] = ku_create_p(race_fd, &p);
		race_touched[i] = race_res[i] != 0 &&
				  memcmp(&p, &before, sizeof(p)) != 0;
		pthread_barrier_wait(&race_bar);
		pthread_barrier_wait(&race_bar);	/* main checked */
	}
	return NULL;
}

static void test_race(void)
{
	pthread_t t[RACERS];
	int round, bad_count = 0, bad_errno = 0, bad_dbg = 0, touched = 0;
	long i;

	pthread_barrier_init(&race_bar, NULL, RACERS + 1);
	for (i = 0; i < RACERS; i++)
		pthread_create(&t[i], NULL, racer, (void *)i);
	for (round = 0; round < ROUNDS; round++) {
		int wins = 0, winner = -1;

		race_fd = ku_open();
		if (race_fd < 0)
			tap_bail("open: %d", race_fd);
		pthread_barrier_wait(&race_bar);	/* go */
		pthread_barrier_wait(&race_bar);	/* all done */
		for (i = 0; i < RACERS; i++) {
			touched += race_touched[i];
			if (race_res[i] == 0) {
				wins++;
				winner = (int)i;
			} else if (race_res[i] != -EBUSY) {
				bad_errno++;
				tap_diag("round %d: racer %ld got %d", round, i,
					 race_res[i]);
			}
		}
		if (wins != 1) {
			bad_count++;
			tap_diag("round %d: %d CREATEs succeeded", round, wins);
		} else if (ku_dbg_read(KU_INSTANCES) != base.instances + 1 ||
			   ku_dbg_read(KU_PAGES) != base.pages +
			   ku_instance_pages(16u << (winner % 4), 16)) {
			bad_dbg++;
			tap_diag("round %d: debugfs %ld/%ld", round,
				 ku_dbg_read(KU_INSTANCES), ku_dbg_read(KU_PAGES));
		}
		close(race_fd);
		/* The instance is freed after an RCU grace period: let it go
		 * so that the next round's counts are its own. */
		ku_dbg_wait(KU_INSTANCES, base.instances, KU_WAIT_MS);
		ku_dbg_wait(KU_PAGES, base.pages, KU_WAIT_MS);
		pthread_barrier_wait(&race_bar);	/* next round */
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&race_bar);
	tap_ok(bad_count == 0, "%d threads CREATE on one file at once, %d "
	       "rounds: exactly one succeeds each time", RACERS, ROUNDS);
	tap_ok(bad_errno == 0, "the losers all get EBUSY");
	tap_ok(touched == 0, "and find their argument as they passed it "
	       "(%d written)", touched);
	tap_ok(bad_dbg == 0, "debugfs shows exactly the winner's instance and "
	       "pages each round");
	tap_ok(ku_counts_wait(base), "after the races the counters return to "
	       "%ld/%ld", base.instances, base.pages);
}

int main(void)
{
	ku_require_module();
	/* 3 open + 2 read/write + 3 ioctls + 16 entries + 1 flags
	 * + 7 reserved + 7 eventfd + 4 efault + 11 success + 6 bounds
	 * + 5 race */
	tap_plan(66);
	base = ku_counts();
	fd = ku_open();
	if (fd < 0)
		tap_bail("open /dev/ksvc: %s", strerror(-fd));

	test_open_modes();
	test_no_rw(fd, "before CREATE");
	test_ioctls_before_create();
	test_entries();
	test_flags_reserved();
	test_eventfds();
	test_efault();
	test_success();
	test_bounds();
	test_race();
	tap_done();
}
