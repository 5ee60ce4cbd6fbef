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
 * Last, an idle dispatcher thread with its default spin must really
 * sleep: half a second idle costs the process under 50 ms of CPU.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "test_dispatch.h"
#include "util.h"

static int zero_fd, mem_fd;
static pid_t ppid;
static char scratch[64];

struct prod {
	struct ksvc_dispatcher *d;
	uint64_t n, pauses, calls;
	int err;
};

static void pause_us(unsigned int us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
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
	pthread_t th;
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

int main(int argc, char **argv)
{
	uint64_t n;

	td_args(argc, argv);
	tap_plan(7);
	td_say_where();
	ppid = getppid();
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
