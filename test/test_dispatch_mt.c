// SPDX-License-Identifier: MIT
/*
 * test_dispatch_mt - many threads submit at once: 8 threads, a million
 * operations each (KSVC_TEST_SCALE divides that), every result checked,
 * with the dispatcher on its own thread and with the caller driving.
 *
 * Each submitter keeps up to 64 operations in flight in random batches
 * of 1..16, test_dispatch.h's mix (td_mix_*()): pread64 of 8 bytes from
 * a file whose every 8-byte word holds its own offset (Tier 1; the bytes
 * read are checked), getppid (Tier 2 inline) and lseek(SEEK_SET) (Tier 2
 * pool; returns the offset asked for).  One reaper thread takes every
 * completion, decodes the submitter and sequence number from corr_id,
 * checks the result and that it has not seen that operation before, and
 * frees its slot.  At the
 * end every operation must have been seen exactly once.
 *
 * Then the blocking call from 8 threads at once (100000 calls each,
 * scaled), each result checked.  Then KSVC_ENTRY_LINKED chains from 8
 * threads at once (250000 entries each, scaled): see run_chains().
 */
#include "test_dispatch.h"

#define NTHREADS	8
#define WINDOW		64

struct slot {
	__u64 done;		/* atomic: sequence number + 1 of the last op
				 * verified in this slot (0: none) */
	__u64 word;		/* pread target */
};

struct sub {
	pthread_t th;
	int id;
	uint64_t n;
	struct ksvc_dispatcher *d;
	struct slot slots[WINDOW];
	unsigned char *seen;	/* one bit per sequence number */
	uint64_t errors;
	int fd;
};

static int data_fd;
static pid_t ppid;
static struct sub subs[NTHREADS];
static uint64_t total_seen, bad;
static char why[256];

/* Submit @b entries, waiting for room; 0, or -1 with the error noted. */
static int submit_all(struct ksvc_dispatcher *d, struct ksvc_entry *e,
		      unsigned int b)
{
	int ret = ksvc_dispatch_submit(d, e, b, KSVC_SUBMIT_WAIT);

	if (ret == (int)b)
		return 0;
	/* -ESHUTDOWN after the reaper's stop: keep the reaper's why */
	if (!__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED))
		snprintf(why, sizeof(why), "submit: %d", ret);
	return -1;
}

static void *submitter(void *arg)
{
	struct sub *s = arg;
	struct ksvc_entry e[16];
	uint64_t seq = 0, r = 0x1234567ull + (uint64_t)s->id;

	while (seq < s->n) {
		unsigned int b = (unsigned)(td_rnd(&r) % 16) + 1, i;

		if (b > s->n - seq)
			b = (unsigned)(s->n - seq);
		for (i = 0; i < b; i++) {
			uint64_t q = seq + i;
			struct slot *sl = &s->slots[q % WINDOW];
			__u64 corr = ((__u64)s->id << 40) | q;

			/* The slot's previous operation must be verified. */
			while (q >= WINDOW &&
			       __atomic_load_n(&sl->done, __ATOMIC_ACQUIRE) !=
			       q - WINDOW + 1)
				sched_yield();
			sl->word = 0;
			e[i] = td_mix_entry(corr, s->id, q, data_fd, &sl->word,
					    s->fd);
		}
		if (submit_all(s->d, e, b))
			return NULL;
		seq += b;
	}
	return NULL;
}

static int check(const struct ksvc_completion *c)
{
	int id = (int)(c->corr_id >> 40);
	uint64_t q = c->corr_id & ((1ull << 40) - 1);
	struct sub *s;
	struct slot *sl;

	if (id < 0 || id >= NTHREADS || q >= subs[id].n) {
		snprintf(why, sizeof(why), "unknown corr_id %#llx",
			 (unsigned long long)c->corr_id);
		return 0;
	}
	s = &subs[id];
	sl = &s->slots[q % WINDOW];
	if (s->seen[q / 8] & (1u << (q % 8))) {
		snprintf(why, sizeof(why), "thread %d op %llu seen twice", id,
			 (unsigned long long)q);
		return 0;
	}
	s->seen[q / 8] |= (unsigned char)(1u << (q % 8));
	if (!td_mix_ok(c, id, q, sl->word, ppid)) {
		snprintf(why, sizeof(why), "op %d/%llu (kind %d): %lld flags "
			 "%#x word %#llx", id, (unsigned long long)q,
			 td_mix_kind(q), (long long)c->result, c->flags,
			 (unsigned long long)sl->word);
		return 0;
	}
	__atomic_store_n(&sl->done, q + 1, __ATOMIC_RELEASE);
	return 1;
}

struct reaper_arg {
	struct ksvc_dispatcher *d;
	uint64_t want;
	int (*check)(const struct ksvc_completion *c);
};

/*
 * Take every completion and check it.  On the first failure, stop the
 * dispatcher: submitters waiting for room then get -ESHUTDOWN instead of
 * waiting for a reaper that is gone.
 */
static void *reaper(void *arg)
{
	struct reaper_arg *a = arg;
	struct ksvc_completion c[256];

	while (total_seen < a->want) {
		int n = ksvc_dispatch_wait(a->d, c, 256, 1, 20000), i;

		if (n < 0) {
			if (!__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED))
				snprintf(why, sizeof(why), "wait: %s (%llu of "
					 "%llu seen)", strerror(-n),
					 (unsigned long long)total_seen,
					 (unsigned long long)a->want);
			ksvc_dispatch_stop(a->d);
			return NULL;
		}
		for (i = 0; i < n; i++) {
			if (!a->check(&c[i])) {
				__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
				ksvc_dispatch_stop(a->d);
				return NULL;
			}
			total_seen++;
		}
	}
	return NULL;
}

static void run_async(int mode, uint64_t per_thread)
{
	struct ksvc *k = td_open(1024, 2048);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 4);
	struct reaper_arg ra = { d, per_thread * NTHREADS, check };
	struct ksvc_dispatch_stats st;
	pthread_t rt;
	uint64_t t0 = td_now_ms(), missing = 0, q;
	int i;

	total_seen = 0;
	bad = 0;
	why[0] = 0;
	for (i = 0; i < NTHREADS; i++) {
		memset(&subs[i], 0, sizeof(subs[i]));
		subs[i].id = i;
		subs[i].n = per_thread;
		subs[i].d = d;
		subs[i].fd = dup(data_fd);
		subs[i].seen = calloc(per_thread / 8 + 1, 1);
	}
	pthread_create(&rt, NULL, reaper, &ra);
	for (i = 0; i < NTHREADS; i++)
		pthread_create(&subs[i].th, NULL, submitter, &subs[i]);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(subs[i].th, NULL);
	pthread_join(rt, NULL);
	for (i = 0; i < NTHREADS; i++) {
		for (q = 0; q < per_thread; q++)
			if (!(subs[i].seen[q / 8] & (1u << (q % 8))))
				missing++;
		free(subs[i].seen);
		close(subs[i].fd);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(!bad && missing == 0 && total_seen == ra.want,
	       "%s: %d threads x %llu operations: %llu checked, %llu missing, "
	       "%s in %llu ms", td_mode_names[mode], NTHREADS,
	       (unsigned long long)per_thread, (unsigned long long)total_seen,
	       (unsigned long long)missing, bad ? why : "no error",
	       (unsigned long long)(td_now_ms() - t0));
	tap_ok(st.taken == ra.want && st.posted == ra.want &&
	       st.tier1.in_flight == 0 && st.tier2.in_flight == 0 &&
	       st.tier1.completed + st.tier2.completed == ra.want,
	       "%s: counters agree: taken %llu posted %llu tier1 %llu tier2 "
	       "%llu (inline %llu), %llu sleeps, %llu wake-ups",
	       td_mode_names[mode], (unsigned long long)st.taken,
	       (unsigned long long)st.posted,
	       (unsigned long long)st.tier1.completed,
	       (unsigned long long)st.tier2.completed,
	       (unsigned long long)st.tier2_inline,
	       (unsigned long long)st.sleeps,
	       (unsigned long long)st.wakeups_sent);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

/* ------------------------------------------------------------------ */
/* Chains from 8 threads                                               */
/* ------------------------------------------------------------------ */

/*
 * Each thread submits batches of chains (2 or 3 entries, all but the
 * last KSVC_ENTRY_LINKED) and single entries.  A link is a pread64
 * (Tier 1), getppid (inline), lseek (pool), or one of those on a closed
 * descriptor (-EBADF) for one link in four.  The submitter writes down
 * what each entry must return: its own result while the chain so far
 * succeeded, -ECANCELED after the first failure.  An entry of another
 * thread that landed inside a chain (a reservation that was not
 * contiguous), a link that ran after a failure or one cancelled after a
 * success all show as a wrong result.
 */
struct csub {
	pthread_t th;
	int id;
	uint64_t n;
	struct ksvc_dispatcher *d;
	__u64 *word;		/* pread targets, one per entry */
	__s64 *want;		/* expected results */
	unsigned char *seen;
	int fd;
};

static struct csub csubs[NTHREADS];
static uint64_t chains_sent, chain_cancels;

static __s64 prep_link(struct csub *s, struct ksvc_entry *e, uint64_t q,
		       uint64_t *rnd)
{
	__u64 corr = ((__u64)s->id << 40) | q;
	int bad_fd = td_rnd(rnd) % 4 == 0;
	__u64 off = td_mix_off(s->id, q);

	switch (td_rnd(rnd) % 3) {
	case 0:
		s->word[q] = 0;
		*e = td_entry(corr, SYS_pread64, bad_fd ? (__u64)-1 :
			      (__u64)data_fd, (uintptr_t)&s->word[q], 8, off);
		return bad_fd ? -EBADF : 8;
	case 1:
		/* getppid cannot fail: it stands for a link that succeeds */
		*e = td_entry(corr, SYS_getppid, 0, 0, 0, 0);
		return ppid;
	default:
		/* odd offsets: a result of 8 is always a pread's */
		*e = td_entry(corr, SYS_lseek, bad_fd ? (__u64)-1 :
			      (__u64)s->fd, off + 1, SEEK_SET, 0);
		return bad_fd ? -EBADF : (__s64)off + 1;
	}
}

static void *chain_submitter(void *arg)
{
	struct csub *s = arg;
	struct ksvc_entry e[24];
	uint64_t seq = 0, r = 0x9876543ull + (uint64_t)s->id;

	while (seq < s->n) {
		unsigned int b = 0, groups = (unsigned)(td_rnd(&r) % 6) + 1;

		while (groups-- && seq + b + 3 <= s->n) {
			unsigned int len = (unsigned)(td_rnd(&r) % 3) + 1, i;
			int alive = 1;

			for (i = 0; i < len; i++) {
				uint64_t q = seq + b + i;
				__s64 w = prep_link(s, &e[b + i], q, &r);

				if (i + 1 < len)
					ksvc_prep_link(&e[b + i]);
				s->want[q] = alive ? w : -ECANCELED;
				if (!alive)
					__atomic_add_fetch(&chain_cancels, 1,
							   __ATOMIC_RELAXED);
				if (w < 0)
					alive = 0;
			}
			if (len > 1)
				__atomic_add_fetch(&chains_sent, 1,
						   __ATOMIC_RELAXED);
			b += len;
		}
		if (!b) {		/* the last few: single entries */
			s->want[seq] = prep_link(s, &e[0], seq, &r);
			b = 1;
		}
		if (submit_all(s->d, e, b))
			return NULL;
		seq += b;
	}
	return NULL;
}

static int check_chain(const struct ksvc_completion *c)
{
	int id = (int)(c->corr_id >> 40);
	uint64_t q = c->corr_id & ((1ull << 40) - 1);
	struct csub *s;

	if (id < 0 || id >= NTHREADS || q >= csubs[id].n) {
		snprintf(why, sizeof(why), "unknown corr_id %#llx",
			 (unsigned long long)c->corr_id);
		return 0;
	}
	s = &csubs[id];
	if (s->seen[q / 8] & (1u << (q % 8))) {
		snprintf(why, sizeof(why), "thread %d entry %llu seen twice", id,
			 (unsigned long long)q);
		return 0;
	}
	s->seen[q / 8] |= (unsigned char)(1u << (q % 8));
	if (c->result != s->want[q] ||
	    (c->result == 8 && s->word[q] != td_mix_word(td_mix_off(id, q)))) {
		snprintf(why, sizeof(why), "thread %d entry %llu: %lld, want "
			 "%lld (word %#llx)", id, (unsigned long long)q,
			 (long long)c->result, (long long)s->want[q],
			 (unsigned long long)s->word[q]);
		return 0;
	}
	return 1;
}

static void run_chains(int mode, uint64_t per_thread)
{
	struct ksvc *k = td_open(256, 512);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 4);
	struct reaper_arg ra = { d, per_thread * NTHREADS, check_chain };
	struct ksvc_dispatch_stats st;
	uint64_t t0 = td_now_ms(), missing = 0, q;
	pthread_t rt;
	int i;

	total_seen = 0;
	bad = 0;
	chains_sent = chain_cancels = 0;
	why[0] = 0;
	for (i = 0; i < NTHREADS; i++) {
		struct csub *s = &csubs[i];

		memset(s, 0, sizeof(*s));
		s->id = i;
		s->n = per_thread;
		s->d = d;
		s->fd = dup(data_fd);
		s->word = calloc(per_thread, sizeof(*s->word));
		s->want = calloc(per_thread, sizeof(*s->want));
		s->seen = calloc(per_thread / 8 + 1, 1);
		if (!s->word || !s->want || !s->seen)
			tap_bail("out of memory");
	}
	pthread_create(&rt, NULL, reaper, &ra);
	for (i = 0; i < NTHREADS; i++)
		pthread_create(&csubs[i].th, NULL, chain_submitter, &csubs[i]);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(csubs[i].th, NULL);
	pthread_join(rt, NULL);
	for (i = 0; i < NTHREADS; i++) {
		for (q = 0; q < per_thread; q++)
			if (!(csubs[i].seen[q / 8] & (1u << (q % 8))))
				missing++;
		free(csubs[i].word);
		free(csubs[i].want);
		free(csubs[i].seen);
		close(csubs[i].fd);
	}
	ksvc_dispatch_stats(d, &st);
	tap_ok(!bad && missing == 0 && total_seen == ra.want &&
	       st.chain_cancelled == chain_cancels,
	       "%s: %d threads x %llu entries in chains (%llu chains): every "
	       "result as its chain says, %llu cancelled by a failed link "
	       "(counter %llu), %llu missing, %s in %llu ms",
	       td_mode_names[mode], NTHREADS, (unsigned long long)per_thread,
	       (unsigned long long)chains_sent,
	       (unsigned long long)chain_cancels,
	       (unsigned long long)st.chain_cancelled,
	       (unsigned long long)missing, bad ? why : "no error",
	       (unsigned long long)(td_now_ms() - t0));
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

struct caller {
	pthread_t th;
	int id;
	uint64_t n, errors;
	struct ksvc_dispatcher *d;
	char why[160];
};

static void *call_thread(void *arg)
{
	struct caller *c = arg;
	uint64_t q;
	int fd = dup(data_fd);

	for (q = 0; q < c->n; q++) {
		__u64 word = 0, a[6] = { 0 };
		__s64 res, want;
		__u32 cf, wantf;
		long nr;
		int r;

		switch (td_mix_kind(q)) {
		case TD_MIX_PREAD:
			nr = SYS_pread64;
			a[0] = (__u64)data_fd;
			a[1] = (uintptr_t)&word;
			a[2] = 8;
			a[3] = td_mix_off(c->id, q);
			want = 8;
			wantf = KSVC_COMP_TIER1;
			break;
		case TD_MIX_PPID:
			nr = SYS_getppid;	/* Tier 0: no ring */
			want = ppid;
			wantf = 0;
			break;
		default:
			nr = SYS_lseek;
			a[0] = (__u64)fd;
			a[1] = td_mix_off(c->id, q);
			a[2] = SEEK_SET;
			want = (__s64)a[1];
			wantf = KSVC_COMP_TIER2;
			break;
		}
		r = ksvc_dispatch_call(c->d, nr, a, &res, &cf);
		if (r || res != want || cf != wantf ||
		    (nr == SYS_pread64 && word != td_mix_word(a[3]))) {
			snprintf(c->why, sizeof(c->why),
				 "thread %d call %llu (nr %ld): %d %lld %#x",
				 c->id, (unsigned long long)q, nr, r,
				 (long long)res, cf);
			c->errors++;
			break;
		}
	}
	close(fd);
	return NULL;
}

static void run_sync(int mode, uint64_t per_thread)
{
	struct ksvc *k = td_open(1024, 2048);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 4);
	struct caller c[NTHREADS];
	struct ksvc_completion x[4];
	uint64_t t0 = td_now_ms(), errors = 0;
	const char *w = "no error";
	int i;

	for (i = 0; i < NTHREADS; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].id = i;
		c[i].n = per_thread;
		c[i].d = d;
		pthread_create(&c[i].th, NULL, call_thread, &c[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(c[i].th, NULL);
		if (c[i].errors) {
			errors += c[i].errors;
			w = c[i].why;
		}
	}
	tap_ok(errors == 0 && ksvc_dispatch_reap(d, x, 4) == 0,
	       "%s: %d threads x %llu blocking calls, every result right, "
	       "none in the completion ring: %s (%llu ms)",
	       td_mode_names[mode], NTHREADS, (unsigned long long)per_thread,
	       w, (unsigned long long)(td_now_ms() - t0));
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
}

int main(int argc, char **argv)
{
	uint64_t n, m, c;
	int mode;

	td_args(argc, argv);
	tap_plan(8);
	td_say_where();
	ppid = getppid();
	data_fd = td_mix_file();
	n = td_count(1000000, 1000);
	m = td_count(100000, 1000);
	c = td_count(250000, 1000);
	tap_diag("%d threads x %llu operations each (full: 1000000); "
		 "blocking calls %llu each; entries in chains %llu each",
		 NTHREADS, (unsigned long long)n, (unsigned long long)m,
		 (unsigned long long)c);
	for (mode = 0; mode < 2; mode++) {
		run_async(mode, n);
		run_sync(mode, m);
		run_chains(mode, c);
	}
	tap_done();
}
