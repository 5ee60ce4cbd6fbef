// SPDX-License-Identifier: MIT
/*
 * ksvc-echo - a TCP echo server whose accept, receive and send all go
 * through KSVC: each is a struct ksvc_entry on the submit ring (accept4,
 * recvfrom, sendto, close), run by the dispatcher in Tier 1 (io_uring),
 * and answered on the completion ring.
 *
 *   ksvc-echo PORT [THREADS]
 *   ksvc-echo --port PORT [--threads N] [--spin-us N] [--thread-dispatcher]
 *             [--no-tier1]
 *
 * Listens on 127.0.0.1:PORT and echoes every byte back; runs until
 * SIGTERM or SIGINT, then closes everything and exits 0.  Prints at
 * start-up how KSVC runs (kernel mode with /dev/ksvc, or anonymous
 * memory without the module), and at the end how many calls KSVC
 * answered in each tier.  PORT is 1..65535, THREADS 1..256 (default:
 * the CPUs this process may run on, at most 256), --spin-us 0..10000
 * (the dispatcher's idle spin; 0: none; default 50).  Exit status 1 if
 * the port is taken (the listeners share it through SO_REUSEPORT, so
 * it is checked first: two servers must not share it), 2 on bad usage.
 *
 * An accept that fails for want of descriptors or memory (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM) would fail again at once: that thread stops
 * accepting (one line on stderr) until one of its connections closes, or
 * for ACCEPT_RETRY_MS if none does; the connections it has are served
 * meanwhile, and the new ones wait in the listen backlog.
 *
 * Design, for speed:
 *   - THREADS event loops (default: the CPUs this process may run on),
 *     each with its own listening socket (SO_REUSEPORT: the kernel
 *     spreads connections), its own KSVC instance and dispatcher, and no
 *     shared state: nothing to lock between them;
 *   - the dispatcher runs inside each loop (KSVC_DISPATCH_CALLER_DRIVES
 *     with ONE_DRIVER, so io_uring gets SINGLE_ISSUER|DEFER_TASKRUN): the
 *     thread that waits for completions submits to io_uring and reaps it
 *     in the same io_uring_enter(), no thread hop, no cross-CPU wake-up;
 *     --thread-dispatcher puts the dispatcher on its own thread instead
 *     (for comparison);
 *   - batching: every completion of one wait is handled, and all the
 *     entries they cause are submitted together;
 *   - a receive is always posted: when data comes in, its send and the
 *     next receive go to the kernel together (one io_uring_enter() per
 *     round of messages, not one per call); the receive is posted before
 *     its data exists, so io_uring is told to wait for data before
 *     trying (KSVC_DISPATCH_RECV_POLL_FIRST), and the sockets are
 *     blocking (KSVC_DISPATCH_BLOCKING_FDS: no descriptor check);
 *   - no copy: each connection has two buffers, one being received into
 *     and one being sent from; they swap roles.
 * At most one send is in flight per connection (a short send is
 * continued before anything else is sent), so bytes cannot be
 * reordered; data that arrives while a send is in flight waits for it.
 *
 * Without io_uring (a container whose seccomp profile refuses it, or
 * --no-tier1) every call runs in Tier 2, where a blocking accept,
 * receive or send holds a pool worker until it returns.  Each loop then
 * takes the largest pool (T2_WORKERS) and serves at most
 * (T2_WORKERS - 1) / 2 connections at a time (a receive and a send each,
 * and the accept); further clients wait in the listen backlog until one
 * closes.  It says so at start-up.  A pool of one worker, as with
 * io_uring, would hold the accept and serve nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "ksvc.h"
#include "ksvc_dispatch.h"

#define BUF_SIZE	16384
#define MAX_BATCH	256
#define RING		1024
#define T2_WORKERS	256	/* the largest pool ksvc_dispatch_create() takes */
#define T2_CONNS	((T2_WORKERS - 1) / 2)
#define T2_CONNS_STR	"127"	/* T2_CONNS, for messages */
#define MAX_THREADS	256
#define MAX_SPIN_US	10000	/* the most ksvc_dispatch_create() takes */
#define ACCEPT_RETRY_MS	100	/* accept paused on an error: retry after */
_Static_assert(T2_CONNS == 127, "T2_CONNS_STR");

/* corr_id: kind in the top byte, connection index below. */
#define K_ACCEPT	1ull
#define K_RECV		2ull
#define K_SEND		3ull
#define K_CLOSE		4ull
#define K_WAKE		5ull
#define CORR(k, i)	(((k) << 56) | (__u64)(i))
#define KIND(c)		((c) >> 56)
#define IDX(c)		((unsigned)((c) & 0xffffffffu))

struct conn {
	int fd;			/* -1: free */
	unsigned int len;	/* bytes in sbuf to send */
	unsigned int sent;	/* of which sent */
	unsigned int held;	/* bytes received into rbuf, not yet sent */
	unsigned char sending;	/* a send is in flight */
	unsigned char receiving;/* a receive is in flight */
	unsigned char closing;
	char *rbuf, *sbuf;
};

struct loop {
	pthread_t th;
	int id;
	int lfd;
	struct ksvc *k;
	struct ksvc_dispatcher *d;
	struct conn *conns;
	unsigned int nconns, cap;
	unsigned int *free_idx, nfree;
	unsigned int max_conns;	/* served at a time (Tier 2 only: bounded) */
	int accept_paused;	/* no accept posted: at max_conns, or
				 * after an error (see accept_failed) */
	unsigned long long retry_ms;	/* paused after an error: post the
					 * accept again at this time; 0: no */
	int accept_err;		/* the error of this episode was printed */
	struct ksvc_entry pend[MAX_BATCH * 2];
	unsigned int npend;
	int ready;		/* set up */
	int wake_sent;		/* the main thread is done with us */
	struct ksvc_dispatch_stats st;	/* at the end */
};

static int port = -1;
static unsigned int nthreads;
static unsigned int spin_us;
static int thread_dispatcher;
static int no_tier1;
static int quit;		/* atomic: set by main, read by the loops */
static struct loop *loops;

static int quitting(void)
{
	return __atomic_load_n(&quit, __ATOMIC_ACQUIRE);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "ksvc-echo: %s: %s\n", what,
		err < 0 ? ksvc_strerror(err) : strerror(err));
	exit(1);
}

/* The next entry to fill; submits the batch so far when it is full. */
static struct ksvc_entry *next_entry(struct loop *l)
{
	if (l->npend == sizeof(l->pend) / sizeof(l->pend[0])) {
		int r = ksvc_dispatch_submit(l->d, l->pend, l->npend,
					     KSVC_SUBMIT_WAIT);

		if (r < 0)
			die("submit", r);
		l->npend = 0;
	}
	return &l->pend[l->npend++];
}

static void post_accept(struct loop *l)
{
	ksvc_prep_call(next_entry(l), CORR(K_ACCEPT, 0), SYS_accept4,
		       (__u64)l->lfd, 0, 0, SOCK_CLOEXEC, 0, 0);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Accept again, unless at max_conns (then the next close does). */
static void resume_accept(struct loop *l)
{
	l->retry_ms = 0;
	if (quitting() || l->nconns >= l->max_conns)
		return;
	l->accept_paused = 0;
	post_accept(l);
}

/*
 * The accept failed with -@err.  A network error of the connection being
 * accepted (accept(2): treat them like EAGAIN) is that connection's:
 * accept the next.  Anything else, above all EMFILE, ENFILE, ENOBUFS or
 * ENOMEM, would fail again at once and spin: stop accepting, with one
 * line per episode, until a connection closes or ACCEPT_RETRY_MS pass.
 */
static void accept_failed(struct loop *l, int err)
{
	switch (err) {
	case ECANCELED:		/* shutting down */
	case EINTR:
	case EAGAIN:
	case ECONNABORTED:
	case EPERM:		/* a firewall rule refused it */
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
		post_accept(l);
		return;
	}
	if (!l->accept_err)
		fprintf(stderr, "ksvc-echo: accept: %s (paused until a "
			"connection closes, or for %d ms)\n", strerror(err),
			ACCEPT_RETRY_MS);
	l->accept_err = 1;
	l->accept_paused = 1;
	l->retry_ms = now_ms() + ACCEPT_RETRY_MS;
}

static void post_recv(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];

	c->receiving = 1;
	ksvc_prep_call(next_entry(l), CORR(K_RECV, i), SYS_recvfrom,
		       (__u64)c->fd, (uintptr_t)c->rbuf, BUF_SIZE, 0, 0, 0);
}

static void post_send(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];

	c->sending = 1;
	ksvc_prep_call(next_entry(l), CORR(K_SEND, i), SYS_sendto,
		       (__u64)c->fd, (uintptr_t)(c->sbuf + c->sent),
		       c->len - c->sent, MSG_NOSIGNAL, 0, 0);
}

/* Close once nothing is in flight on the connection any more. */
static void maybe_close(struct loop *l, unsigned int i)
{
	struct conn *c = &l->conns[i];

	if (c->closing != 1 || c->sending || c->receiving)
		return;
	c->closing = 2;
	ksvc_prep_call(next_entry(l), CORR(K_CLOSE, i), SYS_close,
		       (__u64)c->fd, 0, 0, 0, 0, 0);
}

/* rbuf holds @n new bytes and no send is in flight: send them, and
 * receive again into the other buffer. */
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

static unsigned int conn_new(struct loop *l, int fd)
{
	unsigned int i;

	if (!l->nfree) {
		unsigned int ncap = l->cap ? l->cap * 2 : 64, j;
		struct conn *nc = realloc(l->conns, ncap * sizeof(*nc));
		unsigned int *nf = realloc(l->free_idx, ncap * sizeof(*nf));

		if (!nc || !nf)
			die("realloc", ENOMEM);
		l->conns = nc;
		l->free_idx = nf;
		for (j = ncap; j-- > l->cap;) {
			nc[j].fd = -1;
			nc[j].rbuf = nc[j].sbuf = NULL;
			nf[l->nfree++] = j;
		}
		l->cap = ncap;
	}
	i = l->free_idx[--l->nfree];
	if (!l->conns[i].rbuf) {
		l->conns[i].rbuf = malloc(BUF_SIZE);
		l->conns[i].sbuf = malloc(BUF_SIZE);
		if (!l->conns[i].rbuf || !l->conns[i].sbuf)
			die("malloc", ENOMEM);
	}
	l->conns[i].fd = fd;
	l->conns[i].len = l->conns[i].sent = l->conns[i].held = 0;
	l->conns[i].sending = l->conns[i].receiving = 0;
	l->conns[i].closing = 0;
	l->nconns++;
	return i;
}

static void conn_free(struct loop *l, unsigned int i)
{
	l->conns[i].fd = -1;
	l->free_idx[l->nfree++] = i;
	l->nconns--;
}

static void handle(struct loop *l, const struct ksvc_completion *c)
{
	unsigned int i = IDX(c->corr_id);
	struct conn *cn;
	int one = 1;

	switch (KIND(c->corr_id)) {
	case K_ACCEPT:
		if (c->result < 0) {
			if (!quitting())
				accept_failed(l, (int)-c->result);
			break;
		}
		/* Not a data path call: made directly. */
		setsockopt((int)c->result, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		post_recv(l, conn_new(l, (int)c->result));
		l->accept_err = 0;	/* the episode, if any, is over */
		if (quitting())
			break;
		if (l->nconns < l->max_conns)
			post_accept(l);
		else
			l->accept_paused = 1;	/* until one closes */
		break;
	case K_RECV:
		cn = &l->conns[i];
		cn->receiving = 0;
		if (c->result > 0 && !cn->closing) {
			if (cn->sending)
				cn->held = (unsigned int)c->result; /* wait */
			else
				start_send(l, i, (unsigned int)c->result);
		} else {
			/* End of file or error: the client is done. */
			cn->closing = 1;
			maybe_close(l, i);
		}
		break;
	case K_SEND:
		cn = &l->conns[i];
		cn->sending = 0;
		if (c->result < 0) {
			cn->closing = 1;
		} else {
			cn->sent += (unsigned int)c->result;
			if (cn->sent < cn->len)
				post_send(l, i);	/* short: the rest */
			else if (cn->held)
				start_send(l, i, cn->held);
		}
		maybe_close(l, i);
		break;
	case K_CLOSE:
		conn_free(l, i);
		if (l->accept_paused)
			resume_accept(l);
		break;
	default:
		break;		/* K_WAKE: just look at quit */
	}
}

/*
 * A socket bound to 127.0.0.1:PORT; with @reuseport a listening one that
 * shares the port with the others of this process.  Without it, only a
 * probe: SO_REUSEPORT would let us share the port with another server
 * (of the same user) that listens there already, so before the first
 * listener one bind without it must succeed.
 */
static int listen_socket(int reuseport)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket", errno);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", errno);
	if (reuseport && listen(fd, 4096) < 0)
		die("listen", errno);
	return fd;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct ksvc_open_params op;
	struct ksvc_dispatch_params dp;
	struct ksvc_completion comp[MAX_BATCH];
	unsigned int i;
	int r;

	memset(&op, 0, sizeof(op));
	op.submit_entries = RING;
	op.complete_entries = RING * 2;
	op.flags = KSVC_OPEN_ANON_FALLBACK;
	r = ksvc_open(&l->k, &op);
	if (r)
		die("ksvc_open", r);
	memset(&dp, 0, sizeof(dp));
	dp.flags = thread_dispatcher ? 0 : KSVC_DISPATCH_CALLER_DRIVES |
					   KSVC_DISPATCH_ONE_DRIVER;
	/* Our sockets are blocking; a receive is posted before its data. */
	dp.flags |= KSVC_DISPATCH_BLOCKING_FDS | KSVC_DISPATCH_RECV_POLL_FIRST;
	if (no_tier1)
		dp.flags |= KSVC_DISPATCH_NO_TIER1;
	dp.workers = 1;		/* with io_uring nothing here runs in Tier 2 */
	dp.spin_us = spin_us;
	r = ksvc_dispatch_create(&l->d, l->k, &dp);
	if (r)
		die("ksvc_dispatch_create", r);
	l->max_conns = UINT_MAX;
	if (ksvc_dispatch_stats(l->d, &l->st) == 0 &&
	    !l->st.tier1_available) {
		/* Everything blocks a worker: see the top of this file. */
		ksvc_dispatch_destroy(l->d);
		dp.workers = T2_WORKERS;
		r = ksvc_dispatch_create(&l->d, l->k, &dp);
		if (r)
			die("ksvc_dispatch_create", r);
		l->max_conns = T2_CONNS;
	}
	__atomic_store_n(&l->ready, 1, __ATOMIC_RELEASE);

	post_accept(l);
	while (!quitting()) {
		int n, timeout = -1;

		if (l->npend) {
			r = ksvc_dispatch_submit(l->d, l->pend, l->npend,
						 KSVC_SUBMIT_WAIT);
			if (r < 0)
				die("submit", r);
			l->npend = 0;
		}
		if (l->retry_ms) {
			unsigned long long t = now_ms();

			if (t >= l->retry_ms) {
				resume_accept(l);
				continue;	/* submit it */
			}
			timeout = (int)(l->retry_ms - t);
		}
		n = ksvc_dispatch_wait(l->d, comp, MAX_BATCH, 1, timeout);
		if (n == -EINTR || n == -ETIMEDOUT)
			continue;
		if (n < 0)
			die("wait", n);
		for (i = 0; i < (unsigned int)n; i++)
			handle(l, &comp[i]);
	}

	/* Shut down: cancel what is in flight, close, free. */
	while (!__atomic_load_n(&l->wake_sent, __ATOMIC_ACQUIRE))
		usleep(1000);
	ksvc_dispatch_stop(l->d);
	ksvc_dispatch_stats(l->d, &l->st);
	ksvc_dispatch_destroy(l->d);
	ksvc_close(l->k);
	for (i = 0; i < l->cap; i++) {
		if (l->conns[i].fd >= 0)
			close(l->conns[i].fd);
		free(l->conns[i].rbuf);
		free(l->conns[i].sbuf);
	}
	free(l->conns);
	free(l->free_idx);
	close(l->lfd);
	return NULL;
}

static unsigned int usable_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned int)n : 1;
}

/* The usage: on stdout with exit 0 for --help, else on stderr, exit 2. */
static void usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: ksvc-echo PORT [THREADS]\n"
		"       ksvc-echo --port PORT [--threads N] [--spin-us N] "
		"[--thread-dispatcher] [--no-tier1]\n"
		"  PORT 1..65535; THREADS 1..%d (default: usable CPUs, at most "
		"%d);\n  --spin-us 0..%d, the dispatcher's idle spin (0: "
		"none; default 50)\n", MAX_THREADS, MAX_THREADS, MAX_SPIN_US);
	exit(status);
}

/* @s as a whole decimal number in @min..@max, or usage. */
static unsigned int number(const char *what, const char *s,
			   unsigned int min, unsigned int max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || v < min || v > max) {
		fprintf(stderr, "ksvc-echo: %s \"%s\": want a number in "
			"%u..%u\n", what, s, min, max);
		usage(2);
	}
	return (unsigned int)v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "spin-us", required_argument, NULL, 's' },
		{ "thread-dispatcher", no_argument, NULL, 'T' },
		{ "no-tier1", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	sigset_t sigs;
	unsigned int i;
	int o, sig;

	while ((o = getopt_long(argc, argv, "p:t:s:Tnh", lo, NULL)) != -1) {
		switch (o) {
		case 'p':
			port = (int)number("port", optarg, 1, 65535);
			break;
		case 't':
			nthreads = number("threads", optarg, 1, MAX_THREADS);
			break;
		case 's':
			spin_us = number("spin-us", optarg, 0, MAX_SPIN_US);
			if (!spin_us)
				spin_us = KSVC_SPIN_NONE;
			break;
		case 'T':
			thread_dispatcher = 1;
			break;
		case 'n':
			no_tier1 = 1;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);	/* getopt said what */
		}
	}
	if (optind < argc && port < 0) {	/* the positional form */
		port = (int)number("port", argv[optind++], 1, 65535);
		if (optind < argc && !nthreads)
			nthreads = number("threads", argv[optind++], 1,
					  MAX_THREADS);
	}
	if (optind < argc) {
		fprintf(stderr, "ksvc-echo: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(2);
	}
	if (port < 0) {
		fprintf(stderr, "ksvc-echo: no port given\n");
		usage(2);
	}
	if (!nthreads)
		nthreads = usable_cpus();
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;

	/* Signals go to the main thread only, through sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	loops = calloc(nthreads, sizeof(*loops));
	if (!loops)
		die("calloc", ENOMEM);
	close(listen_socket(0));	/* is the port free? */
	for (i = 0; i < nthreads; i++) {
		loops[i].id = (int)i;
		loops[i].lfd = listen_socket(1);
		if (pthread_create(&loops[i].th, NULL, loop_main, &loops[i]))
			die("pthread_create", errno);
	}
	for (i = 0; i < nthreads; i++)
		while (!__atomic_load_n(&loops[i].ready, __ATOMIC_ACQUIRE))
			usleep(1000);
	{
		struct ksvc_dispatch_stats st;

		ksvc_dispatch_stats(loops[0].d, &st);
		printf("ksvc-echo: listening on 127.0.0.1:%d, %u thread%s, "
		       "KSVC mode: %s%s, dispatcher %s, io_uring %s\n", port,
		       nthreads, nthreads == 1 ? "" : "s",
		       ksvc_mode_name(ksvc_dispatch_mode(loops[0].d)),
		       ksvc_dispatch_mode(loops[0].d) == KSVC_MODE_KERNEL ?
		       " (/dev/ksvc)" : " (no /dev/ksvc: anonymous memory)",
		       thread_dispatcher ? "on its own thread" :
		       "in the event loop", st.tier1_available ? "in use" :
		       no_tier1 ? "not used (--no-tier1): everything in "
		       "Tier 2, at most " T2_CONNS_STR " connections at a "
		       "time per thread" :
		       "UNAVAILABLE: everything in Tier 2, at most "
		       T2_CONNS_STR " connections at a time per thread");
		fflush(stdout);
	}

	sigwait(&sigs, &sig);
	__atomic_store_n(&quit, 1, __ATOMIC_RELEASE);
	/* Wake each loop with an entry any thread may submit. */
	for (i = 0; i < nthreads; i++) {
		struct ksvc_entry e;

		ksvc_prep_call(&e, CORR(K_WAKE, 0), SYS_getppid, 0, 0, 0, 0, 0,
			       0);
		ksvc_dispatch_submit(loops[i].d, &e, 1, KSVC_SUBMIT_WAIT);
		__atomic_store_n(&loops[i].wake_sent, 1, __ATOMIC_RELEASE);
	}
	{
		unsigned long long t1 = 0, t2 = 0, refused = 0;

		for (i = 0; i < nthreads; i++) {
			pthread_join(loops[i].th, NULL);
			t1 += loops[i].st.tier1.completed;
			t2 += loops[i].st.tier2.completed;
			refused += loops[i].st.refused;
		}
		/* What went through KSVC, for tests and the curious. */
		printf("ksvc-echo: stopped; calls answered through KSVC: "
		       "Tier 1 %llu, Tier 2 %llu, refused %llu\n", t1, t2,
		       refused);
	}
	free(loops);
	return 0;
}
