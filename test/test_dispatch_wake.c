// SPDX-License-Identifier: MIT
/*
 * test_dispatch_wake - no lost wake-up: ten million operations
 * (KSVC_TEST_SCALE divides that) with random pauses on both sides, with
 * the dispatcher on its own thread and with the caller driving.
 *
 * A producer thread submits random batches (1..32) and now and then
 * pauses for up to 300 us, long enough for the dispatcher's bounded spin
 * (set to 20 us here) to end and the dispatcher to go to sleep, so that
 * the next submission must wake it (KSVC_RING_NEED_WAKEUP, futex on the
 * submit ring's tail).  The consumer waits for random minimum counts and
 * pauses too, so that it sleeps and must be woken: on a futex (the
 * completion ring's tail) when the instance has no eventfd, in the first
 * two runs, and on the eventfd in the third (dispatcher thread, instance
 * opened with KSVC_OPEN_EVENTFD_NEW, a quarter of the count).  A lost
 * wake-up shows up as a wait that times out (10 s) with operations still
 * outstanding.  Every operation must come back exactly once with the
 * right result; the counters must show that both sides really slept,
 * and that the producer woke the dispatcher only when it slept (far
 * fewer wake-ups than submits).  The first two runs open the instance
 * with KSVC_OPEN_EVENTFD_GIVEN and -1: flags 0 would give it an eventfd.
 * The producer's wake-ups are counted twice: by the library, and by a
 * seccomp filter on the producer thread that sends each futex call on
 * the submit ring's tail to a supervisor thread (SECCOMP_RET_USER_NOTIF,
 * which lets it go on), so that a wake the library did not count shows.
 * Last, an idle dispatcher thread with its default spin must really
 * sleep: half a second idle costs the process under 50 ms of CPU.
 * First, ksvc_sq_wake() wakes a sleeping dispatcher for a program that
 * pushed entries itself (raw_wake()).
 */
#include <poll.h>
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "test_dispatch.h"
#include "util.h"

static int zero_fd, mem_fd;
static pid_t ppid;
static char scratch[64];

static void pause_us(unsigned int us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

struct prod {
	struct ksvc_dispatcher *d;
	uint64_t n, pauses, calls;
	int err;
	const __u32 *tail;	/* the submit ring's tail */
	int listener;		/* atomic: -1 not yet, -2 no seccomp here */
	int stop;		/* atomic: the supervisor may leave */
	uint64_t real_wakes;	/* futex calls on the tail, counted outside */
};

/*
 * On the calling thread only: every futex call on @addr goes to the
 * returned listener first.  -errno if seccomp cannot do it here.
 */
static int count_futex_on(const void *addr)
{
	uint64_t a = (uintptr_t)addr;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 0, 5),
		/* args[0], low then high half (little-endian) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)a, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[0]) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)(a >> 32), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	long fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		     SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	return fd < 0 ? -errno : (int)fd;
}

/* Count each notification and let the call go on. */
static void *supervisor(void *arg)
{
	struct prod *p = arg;
	struct seccomp_notif_sizes sz;
	struct seccomp_notif_resp *resp;
	struct seccomp_notif *req;
	int fd;

	while ((fd = __atomic_load_n(&p->listener, __ATOMIC_ACQUIRE)) == -1)
		pause_us(100);
	if (fd < 0)
		return NULL;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz))
		tap_bail("SECCOMP_GET_NOTIF_SIZES: %s", strerror(errno));
	req = calloc(1, sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif
							: sizeof(*req));
	resp = calloc(1, sz.seccomp_notif_resp > sizeof(*resp) ?
		      sz.seccomp_notif_resp : sizeof(*resp));
	if (!req || !resp)
		tap_bail("calloc");
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (poll(&pfd, 1, 20) <= 0 || !(pfd.revents & POLLIN))
			continue;
		memset(req, 0, sz.seccomp_notif);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, req))
			continue;	/* the caller went away (ENOENT) */
		p->real_wakes++;
		memset(resp, 0, sz.seccomp_notif_resp);
		resp->id = req->id;
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
	free(req);
	free(resp);
	return NULL;
}

static int kind(uint64_t q)
{
	return (int)(q % 5);	/* 0,1,2: pread (T1), 3: getppid, 4: lseek */
}

static void *producer(void *arg)
{
	struct prod *p = arg;
	struct ksvc_entry e[32];
	uint64_t q = 0, r = 0xfeedbeefull;
	int fd = count_futex_on(p->tail);

	if (fd < 0)
		tap_diag("no seccomp listener here (%s): the wake-ups are not "
			 "counted from outside", strerror(-fd));
	__atomic_store_n(&p->listener, fd < 0 ? -2 : fd, __ATOMIC_RELEASE);

	while (q < p->n) {
		unsigned int b = (unsigned)(td_rnd(&r) % 32) + 1, i;
		int ret;

		if (b > p->n - q)
			b = (unsigned)(p->n - q);
		for (i = 0; i < b; i++) {
			uint64_t x = q + i;

			switch (kind(x)) {
			case 3:
				e[i] = td_entry(x, SYS_getppid, 0, 0, 0, 0);
				break;
			case 4:
				e[i] = td_entry(x, SYS_lseek, (__u64)mem_fd,
						x & 0xffff, SEEK_SET, 0);
				break;
			default:
				e[i] = td_entry(x, SYS_pread64, (__u64)zero_fd,
						(uintptr_t)scratch, 1, 0);
			}
		}
		ret = ksvc_dispatch_submit(p->d, e, b, KSVC_SUBMIT_WAIT);
		if (ret != (int)b) {
			p->err = ret;
			return NULL;
		}
		q += b;
		p->calls++;
		if (td_rnd(&r) % 64 == 0) {
			pause_us((unsigned)(td_rnd(&r) % 300));
			p->pauses++;
		}
	}
	return NULL;
}

static struct ksvc *open_with_eventfd(void)
{
	struct ksvc_open_params p;
	struct ksvc *k;
	int err;

	memset(&p, 0, sizeof(p));
	p.submit_entries = 256;
	p.complete_entries = 512;
	p.flags = KSVC_OPEN_EVENTFD_NEW |
		  (td_have_module() ? 0 : KSVC_OPEN_ANON_FALLBACK);
	err = ksvc_open(&k, &p);
	if (err)
		tap_bail("ksvc_open(EVENTFD_NEW): %s", ksvc_strerror(err));
	if (k->eventfd < 0)
		tap_bail("ksvc_open(EVENTFD_NEW) gave no eventfd");
	return k;
}

static void run(int mode, uint64_t n, int evfd)
{
	struct ksvc_dispatch_params dp;
	/* Without an eventfd: flags 0 would mean EVENTFD_NEW. */
	struct ksvc *k = evfd ? open_with_eventfd()
			      : td_open_with(256, 512, KSVC_OPEN_EVENTFD_GIVEN,
					     -1);
	struct ksvc_dispatcher *d;
	struct ksvc_completion c[64];
	struct ksvc_dispatch_stats st;
	struct prod p;
	pthread_t th, sup;
	unsigned char *seen = calloc(n / 8 + 1, 1);
	uint64_t got = 0, r = 0xabcdefull, t0 = td_now_ms(), pauses = 0;
	uint64_t dup = 0, wrong = 0, missing = 0, q;
	const char *m = evfd ? "thread, eventfd" : td_mode_names[mode];
	int lost = 0;

	memset(&dp, 0, sizeof(dp));
	/* /dev/zero takes pread but is no regular file: Tier 1 anyway */
	dp.flags = td_mode_flags[mode] | KSVC_DISPATCH_POSITIONAL_FDS;
	dp.spin_us = 20;
	dp.workers = 2;
	d = td_create_p(k, &dp);
	memset(&p, 0, sizeof(p));
	p.d = d;
	p.n = n;
	p.tail = &k->sq.hdr->tail;
	p.listener = -1;
	pthread_create(&sup, NULL, supervisor, &p);
	pthread_create(&th, NULL, producer, &p);
	while (got < n) {
		unsigned int min = (unsigned)(td_rnd(&r) % 8) + 1;
		int ret, i;

		if (min > n - got)
			min = (unsigned)(n - got);
		ret = ksvc_dispatch_wait(d, c, 64, min, 10000);
		if (ret < 0) {
			tap_diag("%s: wait(min %u): %s with %llu of %llu back",
				 m, min, strerror(-ret), (unsigned long long)got,
				 (unsigned long long)n);
			lost = 1;
			break;
		}
		for (i = 0; i < ret; i++) {
			__s64 want;

			q = c[i].corr_id;
			if (q >= n || (seen[q / 8] & (1u << (q % 8)))) {
				dup++;
				continue;
			}
			seen[q / 8] |= (unsigned char)(1u << (q % 8));
			switch (kind(q)) {
			case 3:
				want = ppid;
				break;
			case 4:
				want = (__s64)(q & 0xffff);
				break;
			default:
				want = 1;
			}
			if (c[i].result != want)
				wrong++;
		}
		got += (unsigned)ret;
		if (td_rnd(&r) % 64 == 0) {
			pause_us((unsigned)(td_rnd(&r) % 300));
			pauses++;
		}
	}
	if (lost) {
		/* Unblock the producer so that the test can end. */
		ksvc_dispatch_stop(d);
	}
	pthread_join(th, NULL);
	__atomic_store_n(&p.stop, 1, __ATOMIC_RELEASE);
	pthread_join(sup, NULL);
	if (p.listener >= 0)
		close(p.listener);
	for (q = 0; q < n; q++)
		if (!(seen[q / 8] & (1u << (q % 8))))
			missing++;
	ksvc_dispatch_stats(d, &st);
	tap_ok(!lost && !p.err && dup == 0 && wrong == 0 && missing == 0,
	       "%s: %llu operations, %llu + %llu random pauses: all back once "
	       "and right (dup %llu wrong %llu missing %llu) in %llu ms", m,
	       (unsigned long long)n, (unsigned long long)p.pauses,
	       (unsigned long long)pauses, (unsigned long long)dup,
	       (unsigned long long)wrong, (unsigned long long)missing,
	       (unsigned long long)(td_now_ms() - t0));
	/*
	 * The producer wakes the dispatcher only when it sleeps: it pauses
	 * before about one submit in 64, so wake-ups are a few per cent of
	 * the submits; waking on every submit would make them all.
	 */
	tap_ok(st.sleeps > 0 && st.wakeups_sent > 0 &&
	       st.wakeups_sent * 4 < p.calls &&
	       (mode == 1 || st.notifies > 0) && (evfd || k->eventfd < 0),
	       "%s: both sides slept and were woken: dispatcher slept %llu "
	       "times, producer wake-ups %llu for %llu submits, application "
	       "wake-ups %llu (%s)", m,
	       (unsigned long long)st.sleeps,
	       (unsigned long long)st.wakeups_sent,
	       (unsigned long long)p.calls,
	       (unsigned long long)st.notifies,
	       evfd ? "on the eventfd" : k->eventfd < 0 ?
	       "no eventfd: on futexes" : "an eventfd, NOT WANTED");
	if (p.listener == -2)
		tap_skip("no seccomp listener here", "%s: the producer made "
			 "no wake-up the library did not count", m);
	else
		tap_ok(p.real_wakes == st.wakeups_sent &&
		       p.real_wakes * 4 < p.calls,
		       "%s: counted outside (seccomp), the producer made %llu "
		       "futex calls on the submit ring's tail: the library "
		       "counted %llu, for %llu submits", m,
		       (unsigned long long)p.real_wakes,
		       (unsigned long long)st.wakeups_sent,
		       (unsigned long long)p.calls);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	free(seen);
}

static uint64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/*
 * An idle dispatcher sleeps after its bounded spin (default spin, a
 * dispatcher thread and two workers, all idle): half a second with
 * nothing to do costs the process little CPU time.  One that kept
 * spinning would cost about the whole half second.
 */
static void idle_costs_nothing(void)
{
	struct ksvc *k = td_open(64, 128);
	struct ksvc_dispatcher *d = td_create(k, 0, 2);
	struct ksvc_dispatch_stats st;
	struct ksvc_completion c;
	struct ksvc_entry e = td_entry(1, SYS_getppid, 0, 0, 0, 0);
	uint64_t c0, c1;

	if (ksvc_dispatch_submit(d, &e, 1, 0) != 1 ||
	    td_collect(d, &c, 1, 5000) != 1)
		tap_bail("a first call");
	ku_sleep_ms(50);		/* past every spin */
	c0 = cpu_ms();
	ku_sleep_ms(500);
	c1 = cpu_ms();
	ksvc_dispatch_stats(d, &st);
	tap_ok(c1 - c0 < 50 && st.sleeps >= 1,
	       "idle for 500 ms, a dispatcher thread and its workers cost "
	       "%llu ms of CPU (want under 50), dispatcher slept %llu times",
	       (unsigned long long)(c1 - c0), (unsigned long long)st.sleeps);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* Poll for the dispatcher's sleep: NEED_WAKEUP in the submit ring. */
static int sleeps_within(const struct ksvc *k, unsigned int ms)
{
	uint64_t end = td_now_ms() + ms;

	do {
		if (__atomic_load_n(&k->sq.hdr->flags, __ATOMIC_SEQ_CST) &
		    KSVC_RING_NEED_WAKEUP)
			return 1;
		ku_sleep_ms(1);
	} while (td_now_ms() < end);
	return 0;
}

/* Reap without driving or waiting: @n completions within @ms, or fewer. */
static unsigned int reap_within(struct ksvc_dispatcher *d,
				struct ksvc_completion *c, unsigned int n,
				unsigned int ms)
{
	uint64_t end = td_now_ms() + ms;
	unsigned int got = 0;
	int r;

	do {
		r = ksvc_dispatch_reap(d, c + got, n - got);
		if (r > 0)
			got += (unsigned int)r;
		if (got == n)
			break;
		ku_sleep_ms(1);
	} while (td_now_ms() < end);
	return got;
}

/*
 * ksvc_sq_wake(), the raw producer's wake: with a dispatcher thread that
 * sleeps (no spin), an entry pushed with ksvc_sq_push() and no wake
 * stays in the ring for 300 ms (nothing else wakes the dispatcher; this
 * also checks that the next step means something); then ksvc_sq_wake()
 * says it woke the dispatcher, and the entry completes.  With io_uring
 * (the dispatcher sleeps in it on an IORING_OP_FUTEX_WAIT, or in
 * futex_waitv() without that opcode) and without (futex_waitv()).
 * Before that: 0 while nobody sleeps, -EINVAL for NULL, errno kept.
 */
static void raw_wake(void)
{
	static const __u32 cfg[2] = { 0, KSVC_DISPATCH_NO_TIER1 };
	struct ksvc_dispatch_params dp;
	struct ksvc_completion c[2];
	struct ksvc_dispatcher *d;
	struct ksvc_entry e;
	struct ksvc *k;
	int i, ok, r, w;

	k = td_open_with(16, 32, KSVC_OPEN_EVENTFD_GIVEN, -1);
	errno = 1234;
	ok = ksvc_sq_wake(k) == 0 && ksvc_sq_wake(NULL) == -EINVAL &&
	     errno == 1234;
	tap_ok(ok, "ksvc_sq_wake: 0 while no consumer sleeps, -EINVAL for "
	       "NULL, errno left as it was");
	ksvc_close(k);

	for (i = 0; i < 2; i++) {
		k = td_open_with(16, 32, KSVC_OPEN_EVENTFD_GIVEN, -1);
		memset(&dp, 0, sizeof(dp));
		dp.flags = cfg[i];
		dp.workers = 1;
		dp.spin_us = KSVC_SPIN_NONE;
		d = td_create_p(k, &dp);
		if (!sleeps_within(k, 5000))
			tap_bail("the dispatcher never announced sleep");
		ku_sleep_ms(20);	/* from the flag into the wait */
		e = td_entry(7, SYS_getppid, 0, 0, 0, 0);
		if (ksvc_sq_push(&k->sq, &e))
			tap_bail("ksvc_sq_push");
		r = (int)reap_within(d, c, 1, 300);
		w = ksvc_sq_wake(k);
		ok = r == 0 && w == 1 && reap_within(d, c, 1, 5000) == 1 &&
		     c[0].corr_id == 7 && c[0].result == ppid;
		tap_ok(ok, "%s: a raw push without a wake stays unanswered "
		       "(%d in 300 ms); ksvc_sq_wake() returns %d and wakes "
		       "the sleeping dispatcher, which answers it",
		       i ? "NO_TIER1" : "default", r, w);
		ksvc_dispatch_destroy(d);
		ksvc_close(k);
	}
}

int main(int argc, char **argv)
{
	uint64_t n;

	td_args(argc, argv);
	tap_plan(13);
	td_say_where();
	ppid = getppid();
	raw_wake();
	zero_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	mem_fd = memfd_create("ksvc-wake", MFD_CLOEXEC);	/* lseek target */
	n = td_count(10000000, 10000);
	tap_diag("%llu operations per mode (full: 10000000)",
		 (unsigned long long)n);
	run(0, n, 0);
	run(1, n, 0);
	run(0, n / 4, 1);
	idle_costs_nothing();
	tap_done();
}
