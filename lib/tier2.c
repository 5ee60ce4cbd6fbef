// SPDX-License-Identifier: MIT
/*
 * tier2.c - Tier 2: system calls on a bounded pool of worker threads.
 *
 * The dispatcher queues calls under pool_lock; idle workers sleep on
 * pool_cv.  A worker runs syscall(2) with the entry's six arguments and
 * hands the op back through ksvc__worker_done().
 *
 * Interrupting a worker blocked in the kernel (ksvc_dispatch_stop()):
 * workers block every signal except the dispatcher's cancel signal, whose
 * handler is empty and installed without SA_RESTART, so a blocking call
 * that receives it returns EINTR (which the worker reports as -ECANCELED
 * while the pool is cancelling).  The signal can arrive just before the
 * worker enters the call (after it checked pool_cancel): then the handler
 * runs, the call starts and blocks.  The stopper therefore sends the
 * signal again every millisecond for as long as the worker holds a call
 * (its cur op); one of them lands inside.  A call that never
 * returns to EINTR (an uninterruptible wait: disk I/O in progress) is
 * waited for.
 *
 * One call (KSVC_ENTRY_CANCEL, ksvc__pool_cancel_op()) is cancelled the
 * same way, but only its worker may get the signal: any other call would
 * fail with EINTR for nothing.  A queued call is taken out of the queue.
 * A call in a worker's hands gets a timer that sends the worker the
 * signal every millisecond (the first one may come before the call
 * starts, as above), which the worker stops after the call, before it
 * takes another: the signal cannot outlive the call it was meant for.
 * The driver alone allocates ops, so while it cancels, the op a worker
 * holds cannot be another call's.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "dispatch_int.h"

/* ---------------------------------------------------------------- */
/* The cancel signal                                                 */
/* ---------------------------------------------------------------- */

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int sig_users[_NSIG];
static struct sigaction sig_saved[_NSIG];

static void cancel_handler(int sig)
{
	(void)sig;	/* its only job is to make the blocked call return */
}

/* Install the empty handler for @sig (reference counted). */
int ksvc__signal_get(int sig)
{
	struct sigaction sa, old;
	int err = 0;

	if (sig <= 0 || sig >= _NSIG)
		return -EINVAL;
	pthread_mutex_lock(&sig_lock);
	if (sig_users[sig] == 0) {
		if (sigaction(sig, NULL, &old) < 0) {
			err = -errno;
			goto out;
		}
		if ((old.sa_flags & SA_SIGINFO) ||
		    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
			err = -EBUSY;	/* the application uses it */
			goto out;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = cancel_handler;
		sigfillset(&sa.sa_mask);
		sa.sa_flags = 0;	/* no SA_RESTART: calls return EINTR */
		if (sigaction(sig, &sa, NULL) < 0) {
			err = -errno;
			goto out;
		}
		sig_saved[sig] = old;
	}
	sig_users[sig]++;
out:
	pthread_mutex_unlock(&sig_lock);
	return err;
}

void ksvc__signal_atfork_child(void)
{
	pthread_mutex_init(&sig_lock, NULL);
}

void ksvc__signal_put(int sig)
{
	pthread_mutex_lock(&sig_lock);
	if (sig_users[sig] && --sig_users[sig] == 0)
		sigaction(sig, &sig_saved[sig], NULL);
	pthread_mutex_unlock(&sig_lock);
}

/* ---------------------------------------------------------------- */
/* Workers                                                           */
/* ---------------------------------------------------------------- */

__s64 ksvc__run_syscall(const struct ksvc_entry *e)
{
	const __u64 *a = e->args;
	long r;

	r = syscall((long)e->syscall_nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	return r == -1 ? -(__s64)errno : (__s64)r;
}

/*
 * Claim the pool's one spin, if spinning is on and @running workers
 * (this one included) are in a call.  Returns 1 if this worker got it.
 */
static int spin_claim(struct ksvc_dispatcher *d, unsigned int running)
{
	return d->spin_ns && A_LOADR(&d->pool_running) == running &&
	       __atomic_exchange_n(&d->pool_spinning, 1,
				   __ATOMIC_SEQ_CST) == 0;
}

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id	_sigev_un._tid
#endif

/*
 * The timer that sends this worker the cancel signal (see the top).  The
 * worker makes it when it starts; if that fails (timer_create() says
 * EAGAIN while RLIMIT_SIGPENDING is used up), the driver tries again
 * when it kicks the worker (pool_kick()).
 */
static void kick_timer_create(struct kworker *w)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = w->d->cancel_signal;
	sev.sigev_notify_thread_id = w->tid;
	w->has_timer = timer_create(CLOCK_MONOTONIC, &sev, &w->timer) == 0;
}

/*
 * After a call: if the driver kicked it, wait until the timer runs, stop
 * it, and let the signal it may have left pending be taken now (the
 * return from timer_settime() delivers it), not by the next call.
 */
static void kick_end(struct kworker *w)
{
	static const struct itimerspec off;

	while (__atomic_load_n(&w->kick, __ATOMIC_SEQ_CST) == 1)
		sched_yield();
	if (w->has_timer)
		timer_settime(w->timer, 0, &off, NULL);
	else
		syscall(SYS_getppid);	/* delivers the pending signal */
	__atomic_store_n(&w->kick, 0, __ATOMIC_SEQ_CST);
}

/*
 * FOR TESTS (test/test_dispatch_cancel.c, test_dispatch_handoff.c and
 * test_dispatch_reapers.c declare it): make a thread wait @us
 * microseconds in one of the windows where a race matters (@where):
 * 0  a worker, before it publishes the call it took;
 * 1  a worker, after it looked for a cancel and before the call (a
 *    signal that comes then is taken there, as just before the call);
 * 2  the driver, having seen the call in a worker's hands, before it
 *    claims the kick, and 3 before it starts the timer (0 to 3 are the
 *    windows ksvc__pool_cancel_op() must cover);
 * 4  a worker after a call, before it claims the spin, and 5 after;
 * 6  the driver, after it queued calls, before it decides whom to wake;
 * 7  a worker, after it posted a result, before it hands the op back;
 * 8  a caller-driven ksvc_dispatch_wait() that saw enough completions,
 *    before it takes them (lib/dispatch.c);
 * 9  the last waiter to leave its sleep, between its count of sleepers
 *    and its clear of the ring's flag (cq_sleep_end(), lib/dispatch.c).
 */
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us);
void ksvc__pool_test_gap(struct ksvc_dispatcher *d, int where,
			 unsigned int us)
{
	if (where >= 0 && where < KSVC_TEST_GAPS)
		__atomic_store_n(&d->test_gap_us[where], us,
				 __ATOMIC_RELAXED);
}

void ksvc__test_gap(struct ksvc_dispatcher *d, int where)
{
	unsigned int us = __atomic_load_n(&d->test_gap_us[where],
					  __ATOMIC_RELAXED);
	__u64 end;

	if (__builtin_expect(!us, 1))
		return;
	end = ksvc__now_ns() + (__u64)us * 1000;
	while (ksvc__now_ns() < end)
		usleep(100);	/* EINTR: the signal is taken here */
}

static void *worker_main(void *arg)
{
	struct kworker *w = arg;
	struct ksvc_dispatcher *d = w->d;
	struct kspin ks = KSPIN_INIT;
	int spin = 0;
	sigset_t set;

	/* Only the cancel signal reaches a worker. */
	sigfillset(&set);
	sigdelset(&set, d->cancel_signal);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	w->tid = (pid_t)syscall(SYS_gettid);
	kick_timer_create(w);

	for (;;) {
		struct kop *op = NULL;
		__s64 res;

		/*
		 * A bounded spin first, by one idle worker at a time and
		 * only while no other worker runs a call: the next call
		 * often follows, and the pusher does not need to wake
		 * anybody for it (see ksvc__pool_push()).  A worker that
		 * spins while another runs a call would keep three threads
		 * busy (with the driver), more than a small machine has.
		 * A worker claims the spin before it posts its result (see
		 * below), else the next call, pushed as soon as the result
		 * is seen, would wake a sleeping worker instead.
		 */
		if (!spin)
			spin = spin_claim(d, 0);
		if (spin) {
			__u64 t0 = ksvc__now_ns(), now = t0;

			while (!A_LOADR(&d->mbox) &&
			       A_LOADR(&d->pq_tail) == A_LOADR(&d->pq_head) &&
			       !A_LOADR(&d->pool_stop) &&
			       !A_LOADR(&d->pool_running) &&
			       (now = ksvc__now_ns()) - t0 < d->spin_ns)
				ksvc__spin(d->on_cpu, &ks, now - t0);
			/*
			 * Counted running first, so that a call taken from
			 * the mailbox is never invisible to
			 * ksvc__pool_cancel(); then the mailbox is looked
			 * at after the claim is given up (the order
			 * ksvc__pool_push() relies on).
			 */
			A_ADD(&d->pool_running, 1);
			__atomic_store_n(&d->pool_spinning, 0, __ATOMIC_SEQ_CST);
			op = __atomic_exchange_n(&d->mbox, NULL,
						 __ATOMIC_SEQ_CST);
			if (!op)
				A_ADD(&d->pool_running, -1);
			else if (A_LOADR(&d->pq_tail) != A_LOADR(&d->pq_head))
				pthread_cond_signal(&d->pool_cv);
			spin = 0;
		}
		if (op)
			goto run;
		pthread_mutex_lock(&d->pool_lock);
		if (d->pq_head == d->pq_tail)
			ksvc__idle(d->on_cpu, &ks);
		while (d->pq_head == d->pq_tail && !A_LOAD(&d->pool_stop))
			pthread_cond_wait(&d->pool_cv, &d->pool_lock);
		if (d->pq_head == d->pq_tail) {
			pthread_mutex_unlock(&d->pool_lock);
			ksvc__idle(d->on_cpu, &ks);
			break;
		}
		op = d->pq[d->pq_head % d->pq_cap];
		A_STORER(&d->pq_head, d->pq_head + 1);
		A_ADD(&d->pool_running, 1);
		/* More queued: make sure somebody else takes them. */
		if (d->pq_head != d->pq_tail)
			pthread_cond_signal(&d->pool_cv);
		pthread_mutex_unlock(&d->pool_lock);
run:
		ksvc__busy(d->on_cpu, &ks);
		ksvc__test_gap(d, 0);
		/* cur before cancel is read: see ksvc__pool_cancel_op() */
		__atomic_store_n(&w->cur, op, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&d->pool_cancel, __ATOMIC_SEQ_CST) ||
		    __atomic_load_n(&op->cancel, __ATOMIC_SEQ_CST)) {
			res = -ECANCELED;	/* never started */
		} else {
			ksvc__test_gap(d, 1);
			res = ksvc__run_syscall(&op->e);
		}
		__atomic_store_n(&w->cur, NULL, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->kick, __ATOMIC_SEQ_CST))
			kick_end(w);
		if (res == -EINTR && (A_LOAD(&d->pool_cancel) ||
				      A_LOAD(&op->cancel)))
			res = -ECANCELED;

		op->res = res;
		op->cflags = KSVC_COMP_TIER2;
		ksvc__test_gap(d, 4);
		/* The spin to come, if no other worker is in a call. */
		spin = spin_claim(d, 1);
		ksvc__test_gap(d, 5);
		ksvc__worker_done(d, op);
		A_ADD(&d->pool_running, -1);
	}
	if (w->has_timer)
		timer_delete(w->timer);
	return NULL;
}

int ksvc__pool_start(struct ksvc_dispatcher *d)
{
	sigset_t all, old;
	unsigned int i;
	int err = 0;

	/*
	 * A power of two: the indices are free-running unsigned counters,
	 * and index % pq_cap must not jump when they wrap at 2^32 (with
	 * another size, the slots of indices 2^32 apart would differ, and
	 * two queued calls could share one).
	 */
	d->pq_cap = 1;
	while (d->pq_cap < d->nops)
		d->pq_cap <<= 1;
	d->pq = calloc(d->pq_cap, sizeof(*d->pq));
	d->workers = calloc(d->nworkers, sizeof(*d->workers));
	if (!d->pq || !d->workers)
		return -ENOMEM;
	/* Threads start with every signal blocked; workers open theirs. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < d->nworkers; i++) {
		struct kworker *w = &d->workers[i];

		w->d = d;
		err = -pthread_create(&w->th, NULL, worker_main, w);
		if (err)
			break;
		w->started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/*
 * Hand @op to the spinning worker through the mailbox, without the lock
 * and the queue.  The worker gives up its claim (pool_spinning) before it
 * empties the mailbox, both sequentially consistent; so after putting the
 * call in, a claim still seen means a spinner that will empty the mailbox
 * later, and none seen means the call may be stranded: take it back,
 * unless a worker already took it.  Returns 1 if the call was handed
 * over.
 */
static int pool_handoff(struct ksvc_dispatcher *d, struct kop *op)
{
	struct kop *none = NULL;

	if (!__atomic_load_n(&d->pool_spinning, __ATOMIC_SEQ_CST) ||
	    !__atomic_compare_exchange_n(&d->mbox, &none, op, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;
	if (__atomic_load_n(&d->pool_spinning, __ATOMIC_SEQ_CST))
		return 1;
	none = op;
	return !__atomic_compare_exchange_n(&d->mbox, &none, NULL, 0,
					    __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED);
}

/* Queue @n calls (the dispatcher's in-flight bound keeps room). */
void ksvc__pool_push(struct ksvc_dispatcher *d, struct kop **ops,
		     unsigned int n)
{
	unsigned int i;

	if (n == 1 && pool_handoff(d, ops[0]))
		return;
	pthread_mutex_lock(&d->pool_lock);
	for (i = 0; i < n; i++)
		d->pq[(d->pq_tail + i) % d->pq_cap] = ops[i];
	A_STORER(&d->pq_tail, d->pq_tail + n);
	pthread_mutex_unlock(&d->pool_lock);
	ksvc__test_gap(d, 6);
	/*
	 * A spinning worker will take the first call without a wake-up
	 * (it clears pool_spinning, then looks at the queue under the
	 * lock: both sides use sequentially consistent accesses, so either
	 * we see it spinning and it sees the call, or we wake somebody);
	 * whoever takes a call wakes another worker if more are queued.
	 * That includes a spinner that finds a call in the mailbox instead
	 * (pushed after this one, while it was still claiming its spin):
	 * it runs that call and wakes a sleeper for the queue.
	 * A batch wakes every idle worker at once.
	 */
	if (n > 1)
		pthread_cond_broadcast(&d->pool_cv);	/* work for all */
	else if (!__atomic_load_n(&d->pool_spinning, __ATOMIC_SEQ_CST) ||
		 __atomic_load_n(&d->mbox, __ATOMIC_SEQ_CST))
		pthread_cond_signal(&d->pool_cv);	/* the spinner is busy */
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Cancel the pool: queued calls complete with -ECANCELED without
 * running; calls blocked in the kernel are interrupted (see the top of
 * this file).  Returns when no worker is inside a call any more.
 */
void ksvc__pool_cancel(struct ksvc_dispatcher *d)
{
	__u64 start = ksvc__now_ns();
	unsigned int i, round = 0;
	int busy;

	__atomic_store_n(&d->pool_cancel, 1, __ATOMIC_SEQ_CST);
	/* Queued ones: the workers take them and see pool_cancel. */
	pthread_mutex_lock(&d->pool_lock);
	pthread_cond_broadcast(&d->pool_cv);
	pthread_mutex_unlock(&d->pool_lock);

	do {
		busy = 0;
		for (i = 0; i < d->nworkers; i++) {
			struct kworker *w = &d->workers[i];

			if (!w->started ||
			    !__atomic_load_n(&w->cur, __ATOMIC_SEQ_CST))
				continue;
			busy = 1;
			/*
			 * Past the time-out, the call is taken to be in an
			 * uninterruptible wait: keep waiting, signal less
			 * (every 100 ms), in case it becomes interruptible.
			 */
			if (ksvc__now_ns() - start <
			    (__u64)d->stop_timeout_ms * 1000000ull ||
			    round % 100 == 0)
				pthread_kill(w->th, d->cancel_signal);
		}
		pthread_mutex_lock(&d->pool_lock);
		if (d->pq_head != d->pq_tail)
			busy = 1;
		pthread_mutex_unlock(&d->pool_lock);
		if (__atomic_load_n(&d->mbox, __ATOMIC_SEQ_CST))
			busy = 1;	/* the spinner takes it, sees pool_cancel */
		if (!busy && A_LOAD(&d->pool_running))
			busy = 1;
		if (busy)
			sleep_ms(1);
		round++;
	} while (busy);
}

/* Start @w's timer if it still holds @op (see the top of this file). */
static void pool_kick(struct ksvc_dispatcher *d, struct kworker *w,
		      struct kop *op)
{
	static const struct itimerspec every_ms = { { 0, 1000000 },
						    { 0, 1 } };
	__u32 none = 0;

	ksvc__test_gap(d, 2);
	if (!__atomic_compare_exchange_n(&w->kick, &none, 1, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;		/* running already, for this call */
	if (__atomic_load_n(&w->cur, __ATOMIC_SEQ_CST) != op) {
		/* Done meanwhile; the worker did not see the kick. */
		__atomic_store_n(&w->kick, 0, __ATOMIC_SEQ_CST);
		return;
	}
	ksvc__test_gap(d, 3);
	/*
	 * The worker reads has_timer only once the kick is 2 (kick_end()),
	 * or after the pool stopped: this thread may set it meanwhile.
	 */
	if (!w->has_timer)
		kick_timer_create(w);
	if (w->has_timer)
		timer_settime(w->timer, 0, &every_ms, NULL);
	else
		pthread_kill(w->th, d->cancel_signal);	/* once: best effort */
	__atomic_store_n(&w->kick, 2, __ATOMIC_SEQ_CST);
}

/*
 * Complete @op, never given to a worker, with -ECANCELED (on the
 * driver): a call cancelled in the mailbox or the queue, or by a cancel
 * entry of the pass that took it, before it was handed over.
 */
void ksvc__pool_drop(struct ksvc_dispatcher *d, struct kop *op)
{
	op->res = -ECANCELED;
	op->cflags = KSVC_COMP_TIER2;
	ksvc__worker_done(d, op);
}

/*
 * Cancel one pool call, on the driver (KSVC_ENTRY_CANCEL): op->cancel is
 * set.  A call still in the mailbox or the queue is taken out and
 * completes -ECANCELED at once; a call in a worker's hands is interrupted
 * (or, if the worker has not started it, never started: the worker
 * publishes cur, then reads op->cancel; this sets op->cancel, then reads
 * cur, both sequentially consistent, so one of them sees the other).
 * Returns 1 if the call was taken out.
 */
int ksvc__pool_cancel_op(struct ksvc_dispatcher *d, struct kop *op)
{
	struct kop *want = op;
	unsigned int i;
	int out = 0;

	if (__atomic_compare_exchange_n(&d->mbox, &want, NULL, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
		out = 1;
	} else {
		pthread_mutex_lock(&d->pool_lock);
		for (i = d->pq_head; i != d->pq_tail; i++) {
			if (d->pq[i % d->pq_cap] != op)
				continue;
			/*
			 * Close the gap.  A hole would keep its slot until a
			 * worker passes it, and the room ksvc__pool_push()
			 * counts on is one slot per live op: with every
			 * worker in a call, calls cancelled in the queue
			 * would pile up holes until a push overwrote a call
			 * still queued.
			 */
			for (; i + 1 != d->pq_tail; i++)
				d->pq[i % d->pq_cap] =
					d->pq[(i + 1) % d->pq_cap];
			A_STORER(&d->pq_tail, d->pq_tail - 1);
			out = 1;
			break;
		}
		pthread_mutex_unlock(&d->pool_lock);
	}
	if (out) {
		ksvc__pool_drop(d, op);
		return 1;
	}
	for (i = 0; i < d->nworkers; i++) {
		struct kworker *w = &d->workers[i];

		if (w->started &&
		    __atomic_load_n(&w->cur, __ATOMIC_SEQ_CST) == op)
			pool_kick(d, w, op);
	}
	return 0;
}

/*
 * FOR TESTS (test/test_dispatch_corner.c declares it): start the pool
 * queue's free-running indices at @idx, to make them wrap soon.  Only
 * while the queue is empty.
 */
void ksvc__pool_test_index(struct ksvc_dispatcher *d, unsigned int idx)
{
	pthread_mutex_lock(&d->pool_lock);
	if (d->pq_head == d->pq_tail) {
		A_STORER(&d->pq_head, idx);
		A_STORER(&d->pq_tail, idx);
	}
	pthread_mutex_unlock(&d->pool_lock);
}

/* Let the workers leave and join them. */
void ksvc__pool_join(struct ksvc_dispatcher *d)
{
	unsigned int i;

	if (!d->workers)
		return;
	pthread_mutex_lock(&d->pool_lock);
	__atomic_store_n(&d->pool_stop, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&d->pool_cv);
	pthread_mutex_unlock(&d->pool_lock);
	for (i = 0; i < d->nworkers; i++)
		if (d->workers[i].started)
			pthread_join(d->workers[i].th, NULL);
}
