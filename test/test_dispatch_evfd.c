// SPDX-License-Identifier: MIT
/*
 * test_dispatch_evfd - an eventfd the program gave (KSVC_OPEN_EVENTFD_GIVEN)
 * and reads too.
 *
 * A thread waiting in ksvc_dispatch_wait() sleeps in ppoll() on the
 * instance's eventfd, then reads the eventfd to clear it.  The program
 * owns a given eventfd and may read it as well (to drive its own event
 * loop), and may have made it blocking.  If the program takes the count
 * between the library's ppoll() and its read(), a blocking read() would
 * hang the waiter, holding the wait lock, with its completion in the
 * ring.
 *
 * This program makes that interleaving happen every time: it defines
 * ppoll() itself (the library's call resolves to this definition), and
 * after the real ppoll() reports the eventfd readable it reads the count
 * away before returning.  Each wait must still return its completion,
 * and the steal must have happened (else the test proves nothing).  With
 * the dispatcher thread: with the caller driving, the waiter is the
 * driver and sleeps in io_uring, not on the eventfd.
 */
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>

#include "test_dispatch.h"

#define ROUNDS	20

/* The library's descriptor of the eventfd (its own duplicate), and ours. */
static int steal_fd = -1, prog_fd = -1;
static volatile int stolen;

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
	  const sigset_t *sigmask)
{
	struct timespec copy, *tp = NULL;
	long r;

	if (ts) {
		copy = *ts;	/* the system call writes the time left */
		tp = &copy;
	}
	r = syscall(SYS_ppoll, fds, n, tp, sigmask, (size_t)(_NSIG / 8));
	if (r > 0 && steal_fd >= 0) {
		nfds_t i;

		for (i = 0; i < n; i++) {
			uint64_t v;

			if (fds[i].fd == steal_fd && (fds[i].revents & POLLIN) &&
			    read(prog_fd, &v, sizeof(v)) == sizeof(v))
				stolen++;
		}
	}
	return (int)r;
}

struct run {
	struct ksvc_dispatcher *d;
	int ok, bad;
};

static void *waits(void *arg)
{
	struct run *r = arg;
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;

	for (i = 0; i < ROUNDS; i++) {
		/* 20 ms on a worker: the waiter is asleep when it ends. */
		struct ksvc_entry e = td_entry((__u64)i, SYS_nanosleep,
					       (uintptr_t)&ts, 0, 0, 0);
		struct ksvc_completion c;

		if (ksvc_dispatch_submit(r->d, &e, 1, 0) != 1) {
			r->bad++;
			continue;
		}
		if (ksvc_dispatch_wait(r->d, &c, 1, 1, 5000) == 1 &&
		    c.corr_id == (__u64)i && c.result == 0)
			r->ok++;
		else
			r->bad++;
	}
	return NULL;
}

static void test_steal(void)
{
	const char *m = td_mode_names[0];
	struct ksvc_dispatch_params p;
	struct ksvc_dispatcher *d;
	struct run r = { NULL, 0, 0 };
	struct ksvc *k;
	pthread_t th;
	int efd, done;

	efd = eventfd(0, EFD_CLOEXEC);	/* blocking, as a program may */
	if (efd < 0)
		tap_bail("eventfd");
	k = td_open_with(16, 32, KSVC_OPEN_EVENTFD_GIVEN, efd);
	memset(&p, 0, sizeof(p));
	p.flags = 0;
	p.workers = 1;
	p.spin_us = KSVC_SPIN_NONE;	/* waiters sleep at once */
	d = td_create_p(k, &p);
	r.d = d;
	stolen = 0;
	prog_fd = efd;
	steal_fd = k->eventfd;
	pthread_create(&th, NULL, waits, &r);
	done = td_join_within(th, 20000);
	steal_fd = -1;
	if (!done) {
		tap_ok(0, "%s: the program reads the given blocking eventfd "
		       "between the library's ppoll() and read(): a waiter "
		       "HANGS (%d of %d done)", m, r.ok, ROUNDS);
		tap_bail("a waiter is left hanging: cannot go on");
	}
	tap_ok(r.ok == ROUNDS && !r.bad && stolen > 0,
	       "%s: the program reads the given blocking eventfd between the "
	       "library's ppoll() and read() (%d times): every wait still "
	       "returns its completion (%d of %d)", m, stolen, r.ok, ROUNDS);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	tap_ok(fcntl(efd, F_GETFD) >= 0, "%s: the given eventfd stays open",
	       m);
	close(efd);
}

int main(int argc, char **argv)
{
	td_args(argc, argv);
	tap_plan(2);
	td_say_where();
	test_steal();
	tap_done();
}
