// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * echo_uring: TCP echo server on liburing used directly, with the same
 * design as examples/ksvc-echo.c but without KSVC.  It is the reference
 * in the echo benchmark (bench/echo_bench.sh) that tells KSVC's own cost
 * in a real server apart from the cost of io_uring itself: ksvc-echo
 * turns the same receives and sends into the same io_uring requests,
 * through the submit and completion rings and the dispatcher.
 *
 * As in ksvc-echo:
 *   - THREADS event loops (default: the CPUs this process may run on),
 *     each with its own listening socket (SO_REUSEPORT) and its own ring,
 *     set up with SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them;
 *   - one io_uring_submit_and_wait() per round: every completion of the
 *     round is handled, and what they cause is submitted together;
 *   - a receive is always posted on every connection, with
 *     IORING_RECVSEND_POLL_FIRST (its data usually does not exist yet);
 *     blocking sockets;
 *   - two buffers per connection, one received into and one sent from,
 *     swapping roles; at most one send in flight per connection, a short
 *     send continued before anything else.
 * It does not spin before waiting (ksvc-echo's dispatcher does, 50 us by
 * default), as a program using liburing plainly would not.  As in
 * ksvc-echo too, a taken port fails (exit 1) although the listeners share
 * it, and an accept that fails for want of descriptors or memory stops
 * that loop's accepting until a connection closes, or for
 * ECHO_ACCEPT_RETRY_MS (one line on stderr per episode).
 *
 * usage: echo_uring PORT [THREADS]     (listens on 127.0.0.1:PORT)
 */

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_args.h"

#define BUF_SIZE	16384
#define RING		1024
#define MAX_CONNS	65536

/* user_data: kind in the top byte, connection index below. */
enum { K_ACCEPT = 1, K_RECV, K_SEND, K_CLOSE, K_RETRY };
#define UD(k, i)	(((uint64_t)(k) << 56) | (uint64_t)(i))
#define KIND(u)		((unsigned int)((u) >> 56))
#define IDX(u)		((unsigned int)((u) & 0xffffffffu))

struct conn {
	int fd;
	unsigned int len, sent, held;
	unsigned char sending, receiving, closing;
	char *rbuf, *sbuf;
};

struct loop {
	pthread_t th;
	int lfd;
	struct io_uring ring;
	struct conn *conns;
	unsigned int *free_idx, nfree;
	int paused;		/* no accept posted, after an error */
	int timer;		/* the K_RETRY time-out is in flight */
	int err_shown;		/* this episode's error was printed */
	struct __kernel_timespec retry;
};

static unsigned int port;

static void die(const char *what, int err)
{
	fprintf(stderr, "echo_uring: %s: %s\n", what, strerror(err));
	exit(1);
}

static struct io_uring_sqe *sqe_get(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		int r = io_uring_submit(&l->ring);

		if (r < 0)
			die("io_uring_submit", -r);
		sqe = io_uring_get_sqe(&l->ring);
		if (!sqe)
			die("io_uring_get_sqe", EBUSY);
	}
	return sqe;
}

static void post_accept(struct loop *l)
{
	struct io_uring_sqe *sqe = sqe_get(l);

	io_uring_prep_accept(sqe, l->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD(K_ACCEPT, 0));
}

/* After an accept error: accept again when a connection closes, or
 * after ECHO_ACCEPT_RETRY_MS (K_RETRY). */
static void pause_accept(struct loop *l, int err)
{
	struct io_uring_sqe *sqe;

	if (!l->err_shown)
		fprintf(stderr, "echo_uring: accept: %s (paused until a "
			"connection closes, or for %d ms)\n", strerror(err),
			ECHO_ACCEPT_RETRY_MS);
	l->err_shown = 1;
	l->paused = 1;
	if (l->timer)
		return;
	l->timer = 1;
	l->retry.tv_sec = 0;
	l->retry.tv_nsec = ECHO_ACCEPT_RETRY_MS * 1000000ll;
	sqe = sqe_get(l);
	io_uring_prep_timeout(sqe, &l->retry, 0, 0);
	io_uring_sqe_set_data64(sqe, UD(K_RETRY, 0));
}

static void resume_accept(struct loop *l)
{
	if (!l->paused)
		return;
	l->paused = 0;
	post_accept(l);
}

static void post_recv(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];
	struct io_uring_sqe *sqe = sqe_get(l);

	c->receiving = 1;
	io_uring_prep_recv(sqe, c->fd, c->rbuf, BUF_SIZE, 0);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	io_uring_sqe_set_data64(sqe, UD(K_RECV, i));
}

static void post_send(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];
	struct io_uring_sqe *sqe = sqe_get(l);

	c->sending = 1;
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->sent, c->len - c->sent,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, UD(K_SEND, i));
}

static void maybe_close(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];
	struct io_uring_sqe *sqe;

	if (c->closing != 1 || c->sending || c->receiving)
		return;
	c->closing = 2;
	sqe = sqe_get(l);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, UD(K_CLOSE, i));
}

/* rbuf holds @n new bytes and no send is in flight. */
static void start_send(struct loop *l, unsigned int i, unsigned int n)
{
	struct conn *c = &l->conns[i];
	char *t = c->sbuf;

	c->sbuf = c->rbuf;
	c->rbuf = t;
	c->len = n;
	c->sent = 0;
	c->held = 0;
	post_send(l, i);
	if (!c->closing)
		post_recv(l, i);
}

static int conn_new(struct loop *l, int fd)
{
	struct conn *c;
	unsigned int i;

	if (!l->nfree)
		return -1;
	i = l->free_idx[--l->nfree];
	c = &l->conns[i];
	if (!c->rbuf) {
		c->rbuf = malloc(BUF_SIZE);
		c->sbuf = malloc(BUF_SIZE);
		if (!c->rbuf || !c->sbuf)
			die("malloc", ENOMEM);
	}
	c->fd = fd;
	c->len = c->sent = c->held = 0;
	c->sending = c->receiving = c->closing = 0;
	return (int)i;
}

static void handle(struct loop *l, uint64_t ud, int res)
{
	unsigned int i = IDX(ud);
	struct conn *c = &l->conns[i];
	int one = 1, ci;

	switch (KIND(ud)) {
	case K_ACCEPT:
		if (res >= 0) {
			setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			ci = conn_new(l, res);
			if (ci < 0)
				close(res);	/* out of slots */
			else
				post_recv(l, (unsigned int)ci);
			l->err_shown = 0;
		} else if (!echo_accept_again(-res)) {
			pause_accept(l, -res);
			break;
		}
		post_accept(l);
		break;
	case K_RECV:
		c->receiving = 0;
		if (res > 0 && !c->closing) {
			if (c->sending)
				c->held = (unsigned int)res;
			else
				start_send(l, i, (unsigned int)res);
		} else {
			c->closing = 1;
			maybe_close(l, i);
		}
		break;
	case K_SEND:
		c->sending = 0;
		if (res < 0) {
			c->closing = 1;
		} else {
			c->sent += (unsigned int)res;
			if (c->sent < c->len)
				post_send(l, i);
			else if (c->held)
				start_send(l, i, c->held);
		}
		maybe_close(l, i);
		break;
	case K_CLOSE:
		c->fd = -1;
		l->free_idx[l->nfree++] = i;
		resume_accept(l);
		break;
	case K_RETRY:
		l->timer = 0;
		resume_accept(l);
		break;
	}
}

static int ring_init(struct io_uring *ring)
{
	static const unsigned int flags[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	struct io_uring_params p;
	int r = -EINVAL;
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flags[i];
		r = io_uring_queue_init_params(RING, ring, &p);
		if (r == 0)
			return 0;
	}
	return r;
}

/*
 * A listening socket on 127.0.0.1:PORT that shares the port with the
 * other loops (SO_REUSEPORT); without @reuseport only a bound probe,
 * made first: SO_REUSEPORT would share the port with another server
 * listening there already, which must fail instead.
 */
static int listen_on(int reuseport)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket", errno);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one)) < 0))
		die("setsockopt", errno);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind", errno);
	if (reuseport && listen(fd, 4096) < 0)
		die("listen", errno);
	return fd;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	unsigned int i;
	int r;

	/* The ring is made here: SINGLE_ISSUER binds it to this thread. */
	r = ring_init(&l->ring);
	if (r < 0)
		die("io_uring_queue_init", -r);
	l->conns = calloc(MAX_CONNS, sizeof(*l->conns));
	l->free_idx = malloc(MAX_CONNS * sizeof(*l->free_idx));
	if (!l->conns || !l->free_idx)
		die("calloc", ENOMEM);
	for (i = MAX_CONNS; i-- > 0;) {
		l->conns[i].fd = -1;
		l->free_idx[l->nfree++] = i;
	}
	post_accept(l);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		r = io_uring_submit_and_wait(&l->ring, 1);
		if (r < 0 && r != -EINTR && r != -ETIME)
			die("io_uring_submit_and_wait", -r);
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			handle(l, cqe->user_data, cqe->res);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned int nthreads, i;
	struct loop *loops;

	echo_args(argc, argv, "echo_uring", 256, &port, &nthreads);
	signal(SIGPIPE, SIG_IGN);

	loops = calloc(nthreads, sizeof(*loops));
	if (!loops)
		die("calloc", ENOMEM);
	close(listen_on(0));	/* is the port free? */
	for (i = 0; i < nthreads; i++)
		loops[i].lfd = listen_on(1);
	for (i = 1; i < nthreads; i++) {
		int rc = pthread_create(&loops[i].th, NULL, loop_main,
					&loops[i]);

		if (rc)
			die("pthread_create", rc);
	}
	loop_main(&loops[0]);
	return 0;
}
