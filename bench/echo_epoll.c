// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * echo_epoll: TCP echo server on plain epoll, the C opponent in the echo
 * benchmark (bench/echo_bench.sh). Written to be fast, so that the
 * comparison is fair:
 *
 *   - edge-triggered epoll, each connection registered once for input and
 *     output (EPOLLIN | EPOLLOUT | EPOLLET), so there is never an
 *     epoll_ctl after accept, and no level-triggered re-check of every
 *     reported socket on the next epoll_wait (measured: a little less CPU
 *     per message than level-triggered);
 *   - one read per input event in the common case: a read that returns
 *     less than the buffer has emptied the socket, and data arriving later
 *     raises a new edge, so no extra read is spent collecting EAGAIN; only
 *     a full buffer reads again;
 *   - the bytes read are written straight back from a per-thread buffer;
 *     only a short write copies the rest into the connection, and reading
 *     pauses until the output edge has flushed it (so a client that does
 *     not read cannot make the server buffer without bound);
 *   - TCP_NODELAY on every connection;
 *   - THREADS threads (default: the CPUs this process may run on), each
 *     with its own epoll instance; thread 0 accepts and deals the
 *     connections out round robin (exactly balanced, unlike SO_REUSEPORT
 *     hashing, which matters with few connections).
 *
 * An accept that fails for want of descriptors or memory (EMFILE and the
 * like) would fail again at once, and the listening socket, level
 * triggered, would be reported again and again: it leaves thread 0's
 * interest set (EPOLL_CTL_MOD to no events) until a connection closes,
 * or for ECHO_ACCEPT_RETRY_MS (one line on stderr per episode).
 *
 * usage: echo_epoll PORT [THREADS]     (listens on 127.0.0.1:PORT)
 */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "echo_args.h"

#define BUF_SIZE	(64 * 1024)
#define MAX_EVENTS	256

struct conn {
	int fd;
	size_t pend_len;	/* bytes in pend not yet written back */
	size_t pend_off;
	uint8_t *pend;
};

struct thread {
	pthread_t th;
	int epfd;
	uint8_t *buf;
};

static struct thread *threads;
static unsigned nthreads;
static int listen_fd;
static unsigned next_thread;	/* only thread 0 accepts */
static int accept_paused;	/* atomic: the listener is out of the set */
static uint64_t retry_ms;	/* thread 0's: then put it back */
static int accept_err_shown;	/* thread 0's: this episode's was printed */

/* epoll data of the listening socket; connections carry their struct. */
static struct conn listen_tag;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Put the listener back into thread 0's set, if it was taken out. */
static void resume_accept(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag };

	if (!__atomic_exchange_n(&accept_paused, 0, __ATOMIC_ACQ_REL))
		return;
	if (epoll_ctl(threads[0].epfd, EPOLL_CTL_MOD, listen_fd, &ev) < 0) {
		perror("echo_epoll: epoll_ctl");
		exit(1);
	}
}

/* Stop accepting after @err until a close or ECHO_ACCEPT_RETRY_MS. */
static void pause_accept(int err)
{
	struct epoll_event ev = { .events = 0, .data.ptr = &listen_tag };

	if (!accept_err_shown)
		fprintf(stderr, "echo_epoll: accept4: %s (paused until a "
			"connection closes, or for %d ms)\n", strerror(err),
			ECHO_ACCEPT_RETRY_MS);
	accept_err_shown = 1;
	if (epoll_ctl(threads[0].epfd, EPOLL_CTL_MOD, listen_fd, &ev) < 0) {
		perror("echo_epoll: epoll_ctl");
		exit(1);
	}
	retry_ms = now_ms() + ECHO_ACCEPT_RETRY_MS;
	/* Only now: a close before this leaves it to the time-out, where
	 * setting it first could let a close put the listener back just
	 * before the MOD above took it out, with nothing to undo that. */
	__atomic_store_n(&accept_paused, 1, __ATOMIC_RELEASE);
}

static void conn_close(struct conn *c)
{
	close(c->fd);		/* also leaves the epoll set */
	free(c->pend);
	free(c);
	resume_accept();	/* a descriptor is free again */
}

/* Write back n bytes of buf; keep what does not fit. 0 ok, -1 close. */
static int conn_echo(struct conn *c, const uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		ssize_t w = write(c->fd, buf + off, n - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -1;
			c->pend = malloc(n - off);
			if (!c->pend)
				return -1;
			memcpy(c->pend, buf + off, n - off);
			c->pend_len = n - off;
			c->pend_off = 0;
			return 0;	/* the output edge flushes it */
		}
		off += (size_t)w;
	}
	return 0;
}

static int conn_readable(struct thread *t, struct conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, t->buf, BUF_SIZE);

		if (n > 0) {
			if (conn_echo(c, t->buf, (size_t)n) < 0)
				return -1;
			/* A short read emptied the socket; with output
			 * pending, reading waits for the output edge. */
			if (c->pend || n < BUF_SIZE)
				return 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		return -1;	/* end of file or error */
	}
}

static int conn_writable(struct thread *t, struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t w = write(c->fd, c->pend + c->pend_off,
				  c->pend_len - c->pend_off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		c->pend_off += (size_t)w;
	}
	free(c->pend);
	c->pend = NULL;
	c->pend_len = c->pend_off = 0;
	/* Input that came while reading was paused raised no new edge. */
	return conn_readable(t, c);
}

static void accept_all(void)
{
	for (;;) {
		struct epoll_event ev = {
			.events = EPOLLIN | EPOLLOUT | EPOLLET,
		};
		struct conn *c;
		int fd, one = 1;

		fd = accept4(listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN)
				return;
			if (echo_accept_again(errno))
				continue;
			/* Out of descriptors or memory: the backlog keeps
			 * the rest until something closes. */
			pause_accept(errno);
			return;
		}
		accept_err_shown = 0;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		/* epoll_ctl on another thread's epoll instance is safe. */
		if (epoll_ctl(threads[next_thread].epfd, EPOLL_CTL_ADD, fd,
			      &ev) < 0) {
			perror("echo_epoll: epoll_ctl");
			close(fd);
			free(c);
			continue;
		}
		next_thread = (next_thread + 1) % nthreads;
	}
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		int n, i, timeout = -1;

		/* Thread 0, accepting paused: for at most the time left. */
		if (t == &threads[0] &&
		    __atomic_load_n(&accept_paused, __ATOMIC_ACQUIRE)) {
			uint64_t now = now_ms();

			if (now >= retry_ms) {
				resume_accept();
				continue;
			}
			timeout = (int)(retry_ms - now);
		}
		n = epoll_wait(t->epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_epoll: epoll_wait");
			exit(1);
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int r;

			if (c == &listen_tag) {
				accept_all();
				continue;
			}
			/* Either edge: flush pending output first (which
			 * then reads), else read. An output edge without
			 * anything pending finds nothing to read: EAGAIN. */
			if (c->pend)
				r = conn_writable(t, c);
			else if (evs[i].events & (EPOLLIN | EPOLLERR |
						  EPOLLHUP | EPOLLRDHUP))
				r = conn_readable(t, c);
			else
				r = 0;
			if (r < 0)
				conn_close(c);
		}
	}
	return NULL;
}

static int listen_on(unsigned port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listen_tag };
	unsigned port, i;

	echo_args(argc, argv, "echo_epoll", 1024, &port, &nthreads);
	signal(SIGPIPE, SIG_IGN);

	listen_fd = listen_on(port);
	if (listen_fd < 0) {
		fprintf(stderr, "echo_epoll: 127.0.0.1:%u: %s\n", port,
			strerror(errno));
		return 1;
	}
	threads = calloc(nthreads, sizeof(*threads));
	if (!threads) {
		perror("echo_epoll");
		return 1;
	}
	for (i = 0; i < nthreads; i++) {
		threads[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		threads[i].buf = malloc(BUF_SIZE);
		if (threads[i].epfd < 0 || !threads[i].buf) {
			perror("echo_epoll: setup");
			return 1;
		}
	}
	if (epoll_ctl(threads[0].epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
		perror("echo_epoll: epoll_ctl");
		return 1;
	}
	for (i = 1; i < nthreads; i++) {
		int rc = pthread_create(&threads[i].th, NULL, thread_main,
					&threads[i]);

		if (rc) {
			fprintf(stderr, "echo_epoll: pthread_create: %s\n",
				strerror(rc));
			return 1;
		}
	}
	thread_main(&threads[0]);
	return 0;
}
