// SPDX-License-Identifier: MIT
/*
 * unit_ring - the static inline ring helpers of ksvc.h, on the host.
 *
 * Rings are built in private memory laid out like the kernel's, placed so
 * that the last slot ends exactly at an inaccessible guard page (and one
 * guards the front too): a helper that computes an index out of bounds
 * crashes the test instead of passing silently.  The thread tests run
 * over an anonymous-mode instance from ksvc_open().
 */
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>

#include "util.h"

/* ------------------------------------------------------------------ */
/* Watchdog: a hang is a failure, never a stuck CI job                 */
/* ------------------------------------------------------------------ */

static const char *volatile watchdog_what = "?";

static void on_alarm(int sig)
{
	static const char head[] = "Bail out! watchdog: hung in ";
	const char *w = watchdog_what;

	(void)sig;
	if (write(1, head, sizeof(head) - 1) < 0 ||
	    write(1, w, strlen(w)) < 0 || write(1, "\n", 1) < 0)
		_exit(2);
	_exit(2);
}

static void watchdog(const char *what, unsigned int seconds)
{
	watchdog_what = what;
	alarm(seconds);
}

/* ------------------------------------------------------------------ */
/* Guarded rings                                                       */
/* ------------------------------------------------------------------ */

struct gring {
	struct ksvc_ring r;
	unsigned char *map;
	size_t map_len;
	unsigned char *lo, *hi;		/* slot area [lo, hi) */
};

static void gring_init(struct gring *g, __u32 entries, __u32 esize,
		       __u32 magic)
{
	size_t ring = (size_t)ring_pages(entries, esize) * PAGE_SIZE;
	size_t used = KSVC_RING_HDR_SIZE + (size_t)entries * esize;
	struct ksvc_ring_hdr *h;

	g->map_len = ring + 2 * PAGE_SIZE;
	g->map = mmap(NULL, g->map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (g->map == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	if (mprotect(g->map + PAGE_SIZE, ring, PROT_READ | PROT_WRITE))
		tap_bail("mprotect: %s", strerror(errno));
	/* The slot area ends where the back guard page starts. */
	h = (struct ksvc_ring_hdr *)(g->map + PAGE_SIZE + ring - used);
	h->magic = magic;
	h->entries = entries;
	h->mask = entries - 1;
	h->entry_size = esize;
	h->entries_offset = KSVC_RING_HDR_SIZE;
	h->ring_size = (__u32)ring;
	KU_RING_VIEW(&g->r, h, entries, esize);
	g->lo = g->r.slots;
	g->hi = g->r.slots + (size_t)entries * esize;
}

static void gring_free(struct gring *g)
{
	munmap(g->map, g->map_len);
}

static void gring_set(struct gring *g, __u32 head, __u32 tail)
{
	g->r.hdr->head = head;
	g->r.hdr->tail = tail;
}

static int in_slots(const struct gring *g, const void *p)
{
	const unsigned char *c = p;

	return c >= g->lo && c + g->r.entry_size <= g->hi &&
	       (size_t)(c - g->lo) % g->r.entry_size == 0;
}

static struct ksvc_entry mk_entry(uint64_t seq)
{
	struct ksvc_entry e;
	int i;

	memset(&e, 0, sizeof(e));
	e.corr_id = seq;
	e.syscall_nr = ku_rt_nr(seq);
	for (i = 0; i < 6; i++)
		e.args[i] = ku_rt_arg(seq, i);
	return e;
}

static int entry_is(const struct ksvc_entry *e, uint64_t seq)
{
	struct ksvc_entry want = mk_entry(seq);

	return memcmp(e, &want, sizeof(want)) == 0;
}

/* ------------------------------------------------------------------ */
/* Single-thread tests                                                 */
/* ------------------------------------------------------------------ */

static void test_empty(void)
{
	struct gring g;
	struct ksvc_entry e;
	int ok;

	gring_init(&g, 16, sizeof(struct ksvc_entry), KSVC_SUBMIT_RING_MAGIC);
	ok = ksvc_ring_ready(&g.r) == 0 && ksvc_ring_space(&g.r) == 16 &&
	     ksvc_sq_pop(&g.r, &e) == -EAGAIN &&
	     ksvc_ring_prod_slot(&g.r, 0) == (void *)g.lo &&
	     ksvc_ring_prod_slot(&g.r, 15) ==
		     (void *)(g.lo + 15 * sizeof(struct ksvc_entry));
	tap_ok(ok, "empty ring: nothing ready, all space free, pop -EAGAIN");
	gring_free(&g);
}

/* Fill to exactly @entries, one more fails, drain in order. */
static void test_capacity(__u32 entries, int completion)
{
	__u32 esize = completion ? sizeof(struct ksvc_completion)
				 : sizeof(struct ksvc_entry);
	struct gring g;
	__u32 i, pushed = 0, popped = 0;
	int ok = 1;

	gring_init(&g, entries, esize, completion ? KSVC_COMPLETE_RING_MAGIC
						  : KSVC_SUBMIT_RING_MAGIC);
	for (i = 0; i < entries + 3; i++) {
		int r;

		if (completion) {
			struct ksvc_completion c = { i, -(long long)i, 0, 0, 0 };

			r = ksvc_cq_push(&g.r, &c);
		} else {
			struct ksvc_entry e = mk_entry(i);

			r = ksvc_sq_push(&g.r, &e);
		}
		if (r == 0)
			pushed++;
		else if (r != -EAGAIN || i < entries)
			ok = 0;
	}
	ok &= pushed == entries && ksvc_ring_space(&g.r) == 0 &&
	      ksvc_ring_ready(&g.r) == entries;
	for (i = 0; i < entries + 3; i++) {
		int r;

		if (completion) {
			struct ksvc_completion c;

			r = ksvc_cq_pop(&g.r, &c);
			if (r == 0 && (c.corr_id != i || c.result != -(long long)i))
				ok = 0;
		} else {
			struct ksvc_entry e;

			r = ksvc_sq_pop(&g.r, &e);
			if (r == 0 && !entry_is(&e, i))
				ok = 0;
		}
		if (r == 0)
			popped++;
		else if (r != -EAGAIN)
			ok = 0;
	}
	ok &= popped == entries && ksvc_ring_ready(&g.r) == 0 &&
	      ksvc_ring_space(&g.r) == entries &&
	      g.r.hdr->head == entries && g.r.hdr->tail == entries;
	tap_ok(ok, "%s ring of %u: exactly %u fit, the next push is -EAGAIN, "
	       "all come back in order", completion ? "completion" : "submit",
	       entries, entries);
	gring_free(&g);
}

/* Random batches through the batch API, checked in FIFO order. */
static int run_batches(struct gring *g, uint64_t total, uint64_t seed)
{
	uint64_t rng = seed | 1, prod = 0, cons = 0;
	struct ksvc_ring *r = &g->r;
	int ok = 1;

	while (cons < total) {
		__u32 space = ksvc_ring_space(r), n, i;

		n = (__u32)(ku_rand(&rng) % (r->entries + 1));
		if (n > space)
			n = space;
		if (n > total - prod)
			n = (__u32)(total - prod);
		for (i = 0; i < n; i++) {
			void *slot = ksvc_ring_prod_slot(r, i);

			if (!in_slots(g, slot) ||
			    slot != ksvc_ring_slot(r, r->hdr->tail + i))
				ok = 0;
			*(struct ksvc_entry *)slot = mk_entry(prod + i);
		}
		ksvc_ring_produce(r, n);
		prod += n;

		n = ksvc_ring_ready(r);
		if (n > prod - cons)
			ok = 0;
		n = (__u32)(ku_rand(&rng) % (n + 1));
		for (i = 0; i < n; i++) {
			const struct ksvc_entry *e = ksvc_ring_cons_slot(r, i);

			if (!in_slots(g, e) || !entry_is(e, cons + i))
				ok = 0;
		}
		ksvc_ring_consume(r, n);
		cons += n;
		if (ksvc_ring_ready(r) + ksvc_ring_space(r) != r->entries)
			ok = 0;
	}
	return ok && prod == total && ksvc_ring_ready(r) == 0;
}

static void test_batches(void)
{
	struct gring g;

	gring_init(&g, 64, sizeof(struct ksvc_entry), KSVC_SUBMIT_RING_MAGIC);
	tap_ok(run_batches(&g, 200000, 42),
	       "random batches (batch API): 200000 entries in FIFO order, "
	       "slot = index & mask, ready + space == entries throughout");
	gring_free(&g);
}

static void test_wrap(void)
{
	struct gring g;
	__u32 start = UINT32_MAX - 9;
	struct ksvc_entry e;
	int ok = 1, i;

	gring_init(&g, 16, sizeof(struct ksvc_entry), KSVC_SUBMIT_RING_MAGIC);

	/* Batches across the wrap. */
	gring_set(&g, start, start);
	ok = run_batches(&g, 5000, 7);
	tap_ok(ok && g.r.hdr->head == (__u32)(start + 5000) &&
	       g.r.hdr->tail == g.r.hdr->head,
	       "32-bit counters wrap: head/tail starting at UINT32_MAX-9, "
	       "5000 entries in order");

	/* Full across the wrap: tail has wrapped, head has not. */
	start = UINT32_MAX - 3;
	gring_set(&g, start, start);
	for (i = 0; i < 16; i++) {
		e = mk_entry((uint64_t)i);
		ok &= ksvc_sq_push(&g.r, &e) == 0;
	}
	e = mk_entry(99);
	ok = ok && g.r.hdr->tail == 12 && ksvc_ring_space(&g.r) == 0 &&
	     ksvc_ring_ready(&g.r) == 16 && ksvc_sq_push(&g.r, &e) == -EAGAIN;
	for (i = 0; i < 16; i++)
		ok &= ksvc_sq_pop(&g.r, &e) == 0 && entry_is(&e, (uint64_t)i);
	ok &= ksvc_sq_pop(&g.r, &e) == -EAGAIN && g.r.hdr->head == 12;
	tap_ok(ok, "full and empty are right while tail has wrapped and head "
	       "has not");

	/* Slot addresses of the counters around the wrap. */
	ok = 1;
	for (i = -40; i < 40; i++) {
		__u32 idx = (__u32)i;

		gring_set(&g, idx, idx);
		ok &= ksvc_ring_prod_slot(&g.r, 0) ==
		      (void *)(g.lo + (idx & 15) * sizeof(struct ksvc_entry));
		ok &= ksvc_ring_prod_slot(&g.r, 5) ==
		      (void *)(g.lo + ((idx + 5) & 15) * sizeof(struct ksvc_entry));
	}
	tap_ok(ok, "entry i lives in slot (i & mask) on both sides of the wrap");
	gring_free(&g);
}

static void test_corrupt(void)
{
	static const __u32 cases[][2] = {
		{ 0, 17 }, { 0, 0xffffffffu }, { 100, 99 }, { 5, 5 + 1000000 },
		{ 0x80000000u, 0 }, { 0xfffffff0u, 0x20 },
	};
	struct gring g;
	struct ksvc_entry e;
	uint64_t rng = 12345;
	unsigned int c, i;
	int ok = 1;

	gring_init(&g, 16, sizeof(struct ksvc_entry), KSVC_SUBMIT_RING_MAGIC);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		gring_set(&g, cases[c][0], cases[c][1]);
		e = mk_entry(c);
		ok &= ksvc_ring_space(&g.r) == 0 &&
		      ksvc_sq_push(&g.r, &e) == -EAGAIN &&
		      g.r.hdr->tail == cases[c][1];
	}
	tap_ok(ok, "producer: tail-head > entries leaves no space, push "
	       "refuses and writes nothing");

	ok = 1;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		__u32 n;

		gring_set(&g, cases[c][0], cases[c][1]);
		n = ksvc_ring_ready(&g.r);
		ok &= n <= 16;
		/* Consume everything the helper offers: the guard pages turn
		 * any out-of-bounds access into a crash. */
		for (unsigned int round = 0; round < 4; round++) {
			n = ksvc_ring_ready(&g.r);
			ok &= n <= 16;
			if (n == 0 || n > 16)
				break;
			for (i = 0; i < n; i++) {
				const struct ksvc_entry *p =
					ksvc_ring_cons_slot(&g.r, i);

				ok &= in_slots(&g, p);
				e = *p;
			}
			ksvc_ring_consume(&g.r, n);
		}
	}
	tap_ok(ok, "consumer: tail-head > entries reports at most entries "
	       "ready and every slot stays inside the ring");

	ok = 1;
	for (i = 0; i < 200000; i++) {
		__u32 h = (__u32)ku_rand(&rng), t = (__u32)ku_rand(&rng);
		__u32 sp, rd, n;

		if (i & 1)
			t = h + (__u32)(ku_rand(&rng) % 40);
		gring_set(&g, h, t);
		sp = ksvc_ring_space(&g.r);
		rd = ksvc_ring_ready(&g.r);
		ok &= sp <= 16 && rd <= 16;
		if (t - h <= 16)
			ok &= sp + rd == 16 && rd == t - h;
		for (n = 0; n < 16; n++)
			ok &= in_slots(&g, ksvc_ring_prod_slot(&g.r, n)) &&
			      in_slots(&g, ksvc_ring_cons_slot(&g.r, n));
	}
	tap_ok(ok, "200000 random head/tail pairs: space and ready within "
	       "[0, entries], exact when the header is sane, slots in bounds");

	/* Geometry is process-local: a rewritten header changes nothing. */
	gring_set(&g, 0, 0);
	g.r.hdr->entries = 1u << 30;
	g.r.hdr->mask = 0xffffffffu;
	g.r.hdr->entry_size = 4096;
	ok = ksvc_ring_space(&g.r) == 16;
	for (i = 0; i < 16; i++) {
		e = mk_entry(i);
		ok &= ksvc_sq_push(&g.r, &e) == 0;
	}
	ok &= ksvc_sq_push(&g.r, &e) == -EAGAIN;
	for (i = 0; i < 16; i++)
		ok &= ksvc_sq_pop(&g.r, &e) == 0 && entry_is(&e, i);
	tap_ok(ok, "helpers use the process-local geometry, not the shared "
	       "header's (rewritten entries/mask/entry_size are ignored)");
	gring_free(&g);
}

static void test_wakeup_flag(void)
{
	struct gring g;
	struct ksvc_entry e = mk_entry(1);
	int ok;

	gring_init(&g, 16, sizeof(struct ksvc_entry), KSVC_SUBMIT_RING_MAGIC);
	g.r.hdr->flags = 1u << 7;	/* an unrelated bit must survive */
	ok = ksvc_ring_needs_wakeup(&g.r) == 0;
	ok &= ksvc_ring_prepare_sleep(&g.r) == 1;
	ok &= g.r.hdr->flags == ((1u << 7) | KSVC_RING_NEED_WAKEUP);
	ok &= ksvc_ring_needs_wakeup(&g.r) == 1;
	ksvc_ring_finish_sleep(&g.r);
	ok &= g.r.hdr->flags == (1u << 7) && ksvc_ring_needs_wakeup(&g.r) == 0;
	tap_ok(ok, "prepare_sleep on an empty ring sets NEED_WAKEUP and says "
	       "sleep; finish_sleep clears it; other flag bits untouched");

	ok = ksvc_sq_push(&g.r, &e) == 0;
	ok &= ksvc_ring_prepare_sleep(&g.r) == 0;
	ok &= g.r.hdr->flags == (1u << 7) && ksvc_ring_needs_wakeup(&g.r) == 0;
	tap_ok(ok, "prepare_sleep with an entry ready says don't sleep and "
	       "withdraws NEED_WAKEUP");
	gring_free(&g);
}

/* ------------------------------------------------------------------ */
/* Threads over an anonymous-mode instance                             */
/* ------------------------------------------------------------------ */

static struct ksvc *open_anon(__u32 sq, __u32 cq)
{
	struct ksvc_open_params p = { sq, cq, KSVC_OPEN_ANON, -1 };
	struct ksvc *k;
	int err = ksvc_open(&k, &p);

	if (err)
		tap_bail("ksvc_open(ANON): %s", ksvc_strerror(err));
	return k;
}

static void test_spsc(void)
{
	struct ksvc *k = open_anon(256, 256);
	struct ku_rt rt;
	uint64_t n = 1000000;

	memset(&rt, 0, sizeof(rt));
	rt.sq = &k->sq;
	rt.cq = &k->cq;
	rt.count = n;
	rt.seed = 2024;
	watchdog("SPSC round trip", 300);
	if (ku_roundtrip(&rt))
		tap_bail("pthread_create failed");
	alarm(0);
	if (rt.b_errors)
		tap_diag("consumer: %llu bad, first: %s",
			 (unsigned long long)rt.b_errors, rt.b_why);
	if (rt.a_errors)
		tap_diag("completions: %llu bad, first: %s",
			 (unsigned long long)rt.a_errors, rt.a_why);
	tap_ok(rt.b_seen == n && rt.a_seen == n && !rt.b_errors &&
	       !rt.a_errors && ksvc_ring_ready(&k->sq) == 0 &&
	       ksvc_ring_ready(&k->cq) == 0,
	       "two-thread round trip of %llu entries over an anonymous "
	       "instance: none lost, duplicated, reordered or corrupted",
	       (unsigned long long)n);
	ksvc_close(k);
}

/*
 * NEED_WAKEUP under stress.  The producer pushes a small batch, wakes the
 * consumer only if ksvc_ring_needs_wakeup() says so, then waits until the
 * consumer has taken everything.  The consumer sleeps (without timeout)
 * whenever ksvc_ring_prepare_sleep() tells it to.  A lost wake-up leaves
 * the consumer asleep and the producer waiting: the watchdog fails it.
 */
enum sleep_kind { SLEEP_EVENTFD, SLEEP_FUTEX };

struct wake_ctx {
	struct ksvc *k;
	enum sleep_kind kind;
	uint64_t rounds;
	uint64_t total;			/* entries the producer will send */
	uint64_t consumed;		/* consumer: entries taken */
	uint64_t sleeps, wakes;
	uint64_t errors;
};

static long futex(__u32 *uaddr, int op, __u32 val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

static void random_pause(uint64_t *rng)
{
	uint64_t r = ku_rand(rng) % 64;

	if (r < 16)
		return;
	if (r < 48) {
		volatile unsigned int spin = (unsigned int)(ku_rand(rng) % 2000);

		while (spin)
			spin--;
	} else if (r < 60) {
		sched_yield();
	} else {
		usleep((useconds_t)(ku_rand(rng) % 50));
	}
}

static void *wake_consumer(void *arg)
{
	struct wake_ctx *w = arg;
	struct ksvc_ring *sq = &w->k->sq;
	uint64_t rng = 99, seq = 0;

	while (seq < w->total) {
		struct ksvc_entry e;

		if (ksvc_sq_pop(sq, &e) == 0) {
			w->errors += !entry_is(&e, seq);
			seq++;
			__atomic_store_n(&w->consumed, seq, __ATOMIC_RELEASE);
			continue;
		}
		random_pause(&rng);
		if (ksvc_ring_ready(sq))
			continue;
		if (!ksvc_ring_prepare_sleep(sq))
			continue;
		w->sleeps++;
		if (w->kind == SLEEP_EVENTFD) {
			struct pollfd pfd = { w->k->eventfd, POLLIN, 0 };
			__u64 v;

			while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
				;
			if (read(w->k->eventfd, &v, sizeof(v)) != sizeof(v))
				w->errors++;
		} else {
			/* Sleep while tail still equals the head we saw. */
			__u32 head = __atomic_load_n(&sq->hdr->head,
						     __ATOMIC_RELAXED);

			futex(&sq->hdr->tail, FUTEX_WAIT, head);
		}
		ksvc_ring_finish_sleep(sq);
	}
	return NULL;
}

static void test_wakeup_stress(enum sleep_kind kind, uint64_t rounds)
{
	struct ksvc *k = open_anon(16, 32);
	struct wake_ctx w;
	uint64_t rng = 7, sent = 0, r;
	pthread_t t;
	const char *name = kind == SLEEP_EVENTFD ? "eventfd" : "futex";

	memset(&w, 0, sizeof(w));
	w.k = k;
	w.kind = kind;
	w.rounds = rounds;
	/* Precompute the total so the consumer knows when to stop. */
	{
		uint64_t r2 = 7, tot = 0;

		for (r = 0; r < rounds; r++) {
			tot += 1 + ku_rand(&r2) % 8;
			(void)ku_rand(&r2);
		}
		w.total = tot;
	}
	watchdog(kind == SLEEP_EVENTFD ? "NEED_WAKEUP stress (eventfd)"
				       : "NEED_WAKEUP stress (futex)", 120);
	if (pthread_create(&t, NULL, wake_consumer, &w))
		tap_bail("pthread_create failed");
	for (r = 0; r < rounds; r++) {
		uint64_t n = 1 + ku_rand(&rng) % 8, i;
		uint64_t pause_rng = ku_rand(&rng);

		random_pause(&pause_rng);
		for (i = 0; i < n; i++) {
			struct ksvc_entry e = mk_entry(sent + i);

			if (ksvc_sq_push(&k->sq, &e) != 0)
				w.errors++;
		}
		sent += n;
		if (ksvc_ring_needs_wakeup(&k->sq)) {
			w.wakes++;
			if (kind == SLEEP_EVENTFD) {
				if (ksvc_notify(k) != 0)
					w.errors++;
			} else {
				futex(&k->sq.hdr->tail, FUTEX_WAKE, 1);
			}
		}
		/* Wait (without ever waking again) until all is taken. */
		while (__atomic_load_n(&w.consumed, __ATOMIC_ACQUIRE) != sent)
			sched_yield();
	}
	pthread_join(t, NULL);
	alarm(0);
	tap_diag("%s: %llu rounds, %llu entries, consumer slept %llu times, "
		 "producer woke it %llu times", name,
		 (unsigned long long)rounds, (unsigned long long)sent,
		 (unsigned long long)w.sleeps, (unsigned long long)w.wakes);
	tap_ok(sent == w.total && w.consumed == sent && w.errors == 0 &&
	       w.sleeps > 0,
	       "NEED_WAKEUP protocol (%s sleep): %llu rounds with random "
	       "pauses, no lost wake-up, nothing lost", name,
	       (unsigned long long)rounds);
	ksvc_close(k);
}

int main(void)
{
	signal(SIGALRM, on_alarm);
	tap_plan(20);

	test_empty();
	test_capacity(16, 0);
	test_capacity(256, 0);
	test_capacity(32768, 0);
	test_capacity(16, 1);
	test_capacity(512, 1);
	test_capacity(32768, 1);
	test_batches();
	test_wrap();
	test_corrupt();
	test_wakeup_flag();
	test_spsc();
	test_wakeup_stress(SLEEP_EVENTFD, 100000);
	test_wakeup_stress(SLEEP_FUTEX, 100000);
	tap_done();
}
