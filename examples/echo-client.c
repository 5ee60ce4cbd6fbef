// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * echo-client: load generator and checker for TCP echo servers.
 *
 *   echo-client [-c CONNS] [-m MSGS] [-s SIZE] [-t THREADS] [-w SECONDS]
 *               [--csv] [--csv-header] HOST PORT
 *   echo-client --wait SECONDS HOST PORT
 *
 * Opens CONNS connections to HOST:PORT (all of them before the clock
 * starts, one after the other, each given SECONDS to be accepted: after
 * the first that is not, the rest are not tried and all count as
 * errors), then on each connection sends MSGS messages of SIZE bytes,
 * closed loop: a message is written whole, and the next one is sent only
 * once all SIZE bytes of it have come back. The connections run
 * concurrently, spread over THREADS threads (default: the CPUs this
 * process may run on, at most CONNS), each driving its share with
 * level-triggered epoll.
 *
 * Every byte that comes back is checked. The bytes of message m on
 * connection c at offset i are a function of (c, m, i), so a server that
 * corrupts, drops, duplicates, reorders or mixes up bytes between
 * connections or messages is caught:
 *   - corrupted, reordered or misrouted bytes differ from the expected ones;
 *   - duplicated bytes either differ, or arrive before the client has sent
 *     anything they could echo (more bytes back than sent), or arrive after
 *     the last message (after its last message the client shuts down its
 *     sending side and expects end-of-file, with nothing more);
 *   - dropped bytes leave a connection waiting: a connection with no
 *     event for SECONDS (default 10) counts as an error.
 * SECONDS (-w, and --wait's) may be fractional; from 1e9 on (about 31
 * years) it means for ever; infinite, NaN or negative values are refused.
 * PORT is a number, 1..65535.
 * A connection stops at its first error; the rest go on.
 *
 * Output: one human-readable line, or with --csv one CSV line whose
 * columns --csv-header prints:
 *   conns,msgs,size,threads,messages,errors,seconds,msgs_per_s,p50_us,p99_us,max_us
 * messages counts the round trips completed and checked; msgs_per_s is
 * that over the time from the start (all connections open) to the last
 * completion; p50/p99/max are round-trip latencies of single messages
 * (write of the first byte to arrival of the last). Diagnostics for the
 * first errors go to stderr.
 *
 * --wait SECONDS only tries to connect until a connection succeeds (every
 * 10 ms, for at most SECONDS, a connection that is not accepted included),
 * closes it and exits 0, or 1 on time-out: for scripts that start a
 * server and wait until it listens.
 *
 * Exit status: 0 if every message of every connection came back intact,
 * 1 on any mismatch, error or time-out, 2 on bad usage.
 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RXBUF_SIZE	(64 * 1024)	/* larger than any message we expect */
#define MAX_REPORTED	10		/* error lines printed to stderr */
#define FOREVER		UINT64_MAX	/* a time-out of 1e9 s or more */

enum phase { SENDING, WAITING, DRAINING, DONE };

struct conn {
	int fd;
	uint32_t id;		/* connection index, part of the pattern */
	uint32_t msg;		/* index of the message in flight */
	size_t sent;		/* bytes of it written */
	size_t rcvd;		/* bytes of it echoed and checked */
	uint64_t t0;		/* when its first byte was written (ns) */
	uint64_t last;		/* its last event (ns), for the time-out */
	enum phase phase;
	uint32_t events;	/* epoll interest currently registered */
	uint8_t *tx;		/* the message in flight, SIZE bytes */
};

struct worker {
	pthread_t thread;
	int epfd;
	struct conn *conns;
	size_t nconns;
	size_t active;		/* connections not DONE */
	uint64_t *lat;		/* one latency per completed message */
	size_t nlat;
	uint64_t errors;
	uint64_t last_done;	/* time of the last completed message (ns) */
	uint8_t *rx;
};

static size_t opt_conns = 4, opt_msgs = 1000, opt_size = 64;
static size_t opt_threads;
static double opt_timeout = 10.0;
static uint64_t timeout_ns = 10000000000u;	/* opt_timeout; FOREVER */
static uint64_t *base_pattern;	/* SIZE random bytes, rounded up to words */
static pthread_barrier_t start_barrier;
static uint64_t start_ns;
static atomic_uint reported;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* @ns from now, or FOREVER. */
static uint64_t deadline_in(uint64_t ns)
{
	uint64_t now = now_ns();

	return ns >= FOREVER - now ? FOREVER : now + ns;
}

/* splitmix64's finaliser: a cheap 64-bit bijection with good mixing. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/*
 * The message m of connection c: word j is base[j] ^ key(c, m), where
 * base is a fixed pseudo-random sequence (new on every run) and key(c, m)
 * is distinct for each (c, m) (mix64 is a bijection). Bytes shifted within a
 * message meet different base bytes; bytes from another message or
 * connection carry a different key.
 */
static void fill_message(uint8_t *buf, uint32_t c, uint32_t m)
{
	uint64_t key = mix64(((uint64_t)c << 32 | m) + 0x9e3779b97f4a7c15ULL);
	size_t words = opt_size / 8, i;

	for (i = 0; i < words; i++) {
		uint64_t w = base_pattern[i] ^ key;

		memcpy(buf + 8 * i, &w, 8);
	}
	if (opt_size % 8) {
		uint64_t w = base_pattern[words] ^ key;

		memcpy(buf + 8 * words, &w, opt_size % 8);
	}
}

static void report(const char *fmt, ...)
{
	va_list ap;
	unsigned n = atomic_fetch_add(&reported, 1);

	if (n >= MAX_REPORTED) {
		if (n == MAX_REPORTED)
			fprintf(stderr, "echo-client: (further errors not shown)\n");
		return;
	}
	va_start(ap, fmt);
	fputs("echo-client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void conn_fail(struct worker *w, struct conn *c)
{
	w->errors++;
	if (c->fd >= 0)
		close(c->fd);	/* also leaves the epoll set */
	c->fd = -1;
	c->phase = DONE;
	w->active--;
}

static int set_interest(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		report("conn %u: epoll_ctl: %s", c->id, strerror(errno));
		return -1;
	}
	c->events = events;
	return 0;
}

/* Write what is left of the message in flight. */
static int conn_send(struct worker *w, struct conn *c)
{
	while (c->sent < opt_size) {
		ssize_t n = write(c->fd, c->tx + c->sent, opt_size - c->sent);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				/* Keep reading meanwhile: the server may be
				 * blocked writing back to us. */
				return set_interest(w, c, EPOLLIN | EPOLLOUT);
			report("conn %u msg %u: write: %s", c->id, c->msg,
			       strerror(errno));
			return -1;
		}
		c->sent += (size_t)n;
	}
	c->phase = WAITING;
	return set_interest(w, c, EPOLLIN);
}

static int conn_start_message(struct worker *w, struct conn *c)
{
	fill_message(c->tx, c->id, c->msg);
	c->sent = 0;
	c->rcvd = 0;
	c->phase = SENDING;
	c->t0 = now_ns();
	return conn_send(w, c);
}

static void report_mismatch(struct conn *c, const uint8_t *got, size_t n)
{
	size_t i;

	for (i = 0; i < n && got[i] == c->tx[c->rcvd + i]; i++)
		;
	report("conn %u msg %u: byte %zu of %zu is 0x%02x, expected 0x%02x",
	       c->id, c->msg, c->rcvd + i, opt_size, got[i],
	       c->tx[c->rcvd + i]);
}

/* Read what has come back and check it. */
static int conn_recv(struct worker *w, struct conn *c)
{
	ssize_t n;

	for (;;) {
		n = read(c->fd, w->rx, RXBUF_SIZE);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		report("conn %u msg %u: read: %s", c->id, c->msg,
		       strerror(errno));
		return -1;
	}
	if (c->phase == DRAINING) {
		if (n > 0) {
			report("conn %u: %zd bytes after the last message "
			       "was echoed", c->id, n);
			return -1;
		}
		close(c->fd);
		c->fd = -1;
		c->phase = DONE;
		w->active--;
		return 0;
	}
	if (n == 0) {
		report("conn %u msg %u: server closed the connection after "
		       "%zu of %zu bytes", c->id, c->msg, c->rcvd, opt_size);
		return -1;
	}
	if (c->rcvd + (size_t)n > c->sent) {
		report("conn %u msg %u: %zu bytes came back, only %zu were "
		       "sent", c->id, c->msg, c->rcvd + (size_t)n, c->sent);
		return -1;
	}
	if (memcmp(w->rx, c->tx + c->rcvd, (size_t)n) != 0) {
		report_mismatch(c, w->rx, (size_t)n);
		return -1;
	}
	c->rcvd += (size_t)n;
	if (c->rcvd < opt_size)
		return 0;

	/* Message complete. */
	w->last_done = now_ns();
	w->lat[w->nlat++] = w->last_done - c->t0;
	if (++c->msg < opt_msgs)
		return conn_start_message(w, c);
	c->phase = DRAINING;
	if (shutdown(c->fd, SHUT_WR) < 0) {
		report("conn %u: shutdown: %s", c->id, strerror(errno));
		return -1;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[64];
	uint64_t idle_limit = timeout_ns;
	uint64_t last_check;
	size_t i;

	pthread_barrier_wait(&start_barrier);
	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (conn_start_message(w, c) < 0)
			conn_fail(w, c);
	}
	last_check = now_ns();
	for (i = 0; i < w->nconns; i++)
		w->conns[i].last = last_check;
	while (w->active > 0) {
		int n = epoll_wait(w->epfd, evs, 64, 100), k;
		uint64_t t;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			report("epoll_wait: %s", strerror(errno));
			break;
		}
		t = now_ns();
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			int r = 0;

			if (c->phase == DONE)
				continue;
			c->last = t;
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				r = conn_recv(w, c);
			if (r == 0 && c->phase == SENDING &&
			    (evs[k].events & EPOLLOUT))
				r = conn_send(w, c);
			if (r < 0)
				conn_fail(w, c);
		}
		/* A connection with no event for opt_timeout has lost bytes
		 * (or its server hangs). Look every 100 ms. */
		if (t - last_check < 100000000u)
			continue;
		last_check = t;
		for (i = 0; i < w->nconns; i++) {
			struct conn *c = &w->conns[i];

			if (c->phase == DONE || t - c->last < idle_limit)
				continue;
			if (c->phase == DRAINING)
				report("conn %u: no end-of-file within %.1f s "
				       "after the last message", c->id,
				       opt_timeout);
			else
				report("conn %u msg %u: %zu of %zu bytes back, "
				       "nothing more within %.1f s", c->id,
				       c->msg, c->rcvd, opt_size, opt_timeout);
			conn_fail(w, c);
		}
	}
	/* Anything left (epoll_wait failed) counts as failed. */
	for (i = 0; i < w->nconns; i++)
		if (w->conns[i].phase != DONE)
			conn_fail(w, &w->conns[i]);
	return NULL;
}

/*
 * A non-blocking socket connected to @ai, or -1 with errno; ETIMEDOUT if
 * the connection is not made by @deadline (a server whose listen backlog
 * is full drops the handshake, and a blocking connect would wait for the
 * kernel's retries, about two minutes).
 */
static int connect_to(const struct addrinfo *ai, uint64_t deadline)
{
	int fd = socket(ai->ai_family,
			ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol), e = 0;
	socklen_t len = sizeof(e);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		e = errno;
		goto fail;
	}
	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		uint64_t now = now_ns(), ms;
		int r;

		ms = deadline == FOREVER ? INT_MAX : now >= deadline ? 0 :
		     (deadline - now + 999999) / 1000000;
		r = poll(&pf, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR) {
			e = errno;
			goto fail;
		}
		if (r == 0 && now_ns() >= deadline) {
			e = ETIMEDOUT;
			goto fail;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (!e)
		return fd;
fail:
	close(fd);
	errno = e;
	return -1;
}

static int wait_listening(const struct addrinfo *ai, uint64_t wait)
{
	uint64_t deadline = deadline_in(wait);

	for (;;) {
		/* Each try gets what is left, and at least 10 ms. */
		uint64_t d = deadline_in(10000000u);
		int fd = connect_to(ai, d > deadline ? d : deadline);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (now_ns() >= deadline)
			return 1;
		usleep(10000);
	}
}

/*
 * Seconds @s (fractional; > 0, or >= 0 with @zero) for -w or --wait,
 * into *@secs and *@ns (FOREVER from 1e9 s on, about 31 years).
 */
static int parse_seconds(const char *s, int zero, double *secs,
			 uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE && v > 1)
		v = 1e9;	/* beyond a double: for ever too */
	if (end == s || *end || !isfinite(v) || v < 0 || (!zero && !(v > 0)))
		return -1;
	*secs = v;
	*ns = v >= 1e9 ? FOREVER : (uint64_t)(v * 1e9);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (n * p + 99) / 100;	/* ceil(n * p / 100) */
	if (rank == 0)
		rank = 1;
	return (double)v[rank - 1] / 1000.0;
}

static int parse_size(const char *s, size_t min, size_t max, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	if (*end == 'k' || *end == 'K') {
		if (v > max / 1024)
			return -1;
		v *= 1024;
		end++;
	}
	if (*end || v < min || v > max)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: echo-client [-c CONNS] [-m MSGS] [-s SIZE] [-t THREADS] "
		"[-w SECONDS] [--csv] HOST PORT\n"
		"       echo-client --wait SECONDS HOST PORT\n"
		"       echo-client --csv-header\n"
		"  -c  connections (default 4)      -m  messages per connection (1000)\n"
		"  -s  message size, bytes or NK (64, at most %d)\n"
		"  -t  client threads (default: usable CPUs, at most CONNS)\n"
		"  -w  give up after SECONDS without progress (10; from 1e9: "
		"never)\n"
		"  PORT 1..65535\n",
		RXBUF_SIZE);
	exit(2);
}

#define CSV_HEADER "conns,msgs,size,threads,messages,errors,seconds," \
		   "msgs_per_s,p50_us,p99_us,max_us"

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "csv", no_argument, NULL, 'C' },
		{ "csv-header", no_argument, NULL, 'H' },
		{ "wait", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	struct worker *workers;
	struct conn *conns;
	uint64_t *lat, errors = 0, end_ns = 0, seed, wait_ns = 0;
	size_t i, nlat = 0, words, port, gave_up = 0;
	double wait_s = -1, secs, rate;
	int csv = 0, opt, rc;
	cpu_set_t cpus;

	while ((opt = getopt_long(argc, argv, "c:m:s:t:w:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (parse_size(optarg, 1, 100000, &opt_conns))
				usage();
			break;
		case 'm':
			if (parse_size(optarg, 1, UINT32_MAX, &opt_msgs))
				usage();
			break;
		case 's':
			if (parse_size(optarg, 1, RXBUF_SIZE, &opt_size))
				usage();
			break;
		case 't':
			if (parse_size(optarg, 1, 1024, &opt_threads))
				usage();
			break;
		case 'w':
			if (parse_seconds(optarg, 0, &opt_timeout,
					  &timeout_ns)) {
				fprintf(stderr, "echo-client: -w \"%s\": want "
					"seconds > 0\n", optarg);
				usage();
			}
			break;
		case 'W':
			if (parse_seconds(optarg, 1, &wait_s, &wait_ns)) {
				fprintf(stderr, "echo-client: --wait \"%s\": "
					"want seconds >= 0\n", optarg);
				usage();
			}
			break;
		case 'C':
			csv = 1;
			break;
		case 'H':
			puts(CSV_HEADER);
			return 0;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (parse_size(argv[optind + 1], 1, 65535, &port)) {
		fprintf(stderr, "echo-client: port \"%s\": want a number in "
			"1..65535\n", argv[optind + 1]);
		usage();
	}
	rc = getaddrinfo(argv[optind], argv[optind + 1], &hints, &ai);
	if (rc) {
		fprintf(stderr, "echo-client: %s:%s: %s\n", argv[optind],
			argv[optind + 1], gai_strerror(rc));
		return 1;
	}
	if (wait_s >= 0) {
		rc = wait_listening(ai, wait_ns);
		if (rc)
			fprintf(stderr, "echo-client: nothing listens on %s:%s "
				"after %.1f s\n", argv[optind],
				argv[optind + 1], wait_s);
		freeaddrinfo(ai);
		return rc;
	}
	if (opt_msgs > SIZE_MAX / sizeof(uint64_t) / opt_conns) {
		fprintf(stderr, "echo-client: too many messages\n");
		return 2;
	}
	if (opt_threads == 0) {
		opt_threads = 1;
		if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
		    CPU_COUNT(&cpus) > 0)
			opt_threads = (size_t)CPU_COUNT(&cpus);
	}
	if (opt_threads > opt_conns)
		opt_threads = opt_conns;
	signal(SIGPIPE, SIG_IGN);

	/* The fixed half of the pattern, different on every run. */
	words = opt_size / 8 + 1;
	base_pattern = malloc(words * sizeof(*base_pattern));
	seed = mix64(now_ns() ^ (uint64_t)getpid() << 32);
	for (i = 0; base_pattern && i < words; i++)
		base_pattern[i] = mix64(seed + i * 0x9e3779b97f4a7c15ULL);

	conns = calloc(opt_conns, sizeof(*conns));
	workers = calloc(opt_threads, sizeof(*workers));
	lat = malloc(opt_conns * opt_msgs * sizeof(*lat));
	if (!base_pattern || !conns || !workers || !lat) {
		fprintf(stderr, "echo-client: out of memory\n");
		return 1;
	}

	/* The threads' descriptors and buffers first: with few descriptors
	 * left, the connections are what fails (and is reported). */
	for (i = 0; i < opt_threads; i++) {
		struct worker *w = &workers[i];

		w->conns = calloc(opt_conns / opt_threads + 1, sizeof(*conns));
		w->rx = malloc(RXBUF_SIZE);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (!w->conns || !w->rx || w->epfd < 0) {
			fprintf(stderr, "echo-client: thread setup: %s\n",
				strerror(errno));
			return 1;
		}
	}

	/* Open every connection before the clock starts. */
	for (i = 0; i < opt_conns; i++) {
		struct conn *c = &conns[i];
		int one = 1;

		c->id = (uint32_t)i;
		c->phase = DONE;
		c->tx = malloc(opt_size);
		if (!c->tx) {
			fprintf(stderr, "echo-client: out of memory\n");
			return 1;
		}
		c->fd = -1;
		if (gave_up) {
			errors++;
			continue;
		}
		c->fd = connect_to(ai, deadline_in(timeout_ns));
		if (c->fd < 0 && errno == ETIMEDOUT) {
			/* The rest would wait as long: not tried. */
			gave_up = opt_conns - i;
			report("conn %zu: connect to %s:%s: not accepted "
			       "within %.1f s; %zu connection%s not made",
			       i, argv[optind], argv[optind + 1], opt_timeout,
			       gave_up, gave_up == 1 ? "" : "s");
			errors++;
			continue;
		}
		if (c->fd < 0) {
			report("conn %zu: connect to %s:%s: %s", i,
			       argv[optind], argv[optind + 1],
			       strerror(errno));
			errors++;
			continue;
		}
		if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
			       sizeof(one)) < 0) {
			report("conn %zu: setup: %s", i, strerror(errno));
			close(c->fd);
			c->fd = -1;
			errors++;
			continue;
		}
		c->phase = SENDING;
	}
	freeaddrinfo(ai);

	/* Deal the open connections out to the threads, round robin. */
	for (i = 0; i < opt_conns; i++) {
		struct worker *w = &workers[i % opt_threads];
		struct conn *c;
		struct epoll_event ev;

		if (conns[i].phase == DONE)
			continue;
		c = &w->conns[w->nconns];
		*c = conns[i];
		c->events = EPOLLIN;
		ev.events = c->events;
		ev.data.ptr = c;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			fprintf(stderr, "echo-client: epoll_ctl: %s\n",
				strerror(errno));
			return 1;
		}
		w->nconns++;
	}
	/* Each thread's latencies go to its own slice of lat. */
	for (i = 0; i < opt_threads; i++) {
		workers[i].lat = lat + nlat;
		workers[i].active = workers[i].nconns;
		nlat += workers[i].nconns * opt_msgs;
	}

	if (pthread_barrier_init(&start_barrier, NULL,
				 (unsigned)opt_threads + 1)) {
		fprintf(stderr, "echo-client: pthread_barrier_init failed\n");
		return 1;
	}
	for (i = 0; i < opt_threads; i++) {
		rc = pthread_create(&workers[i].thread, NULL, worker_main,
				    &workers[i]);
		if (rc) {
			fprintf(stderr, "echo-client: pthread_create: %s\n",
				strerror(rc));
			return 1;
		}
	}
	start_ns = now_ns();
	pthread_barrier_wait(&start_barrier);

	/* Gather: each thread's latencies are packed at the start of its
	 * slice; move them together. */
	nlat = 0;
	for (i = 0; i < opt_threads; i++) {
		struct worker *w = &workers[i];

		pthread_join(w->thread, NULL);
		memmove(lat + nlat, w->lat, w->nlat * sizeof(*lat));
		nlat += w->nlat;
		errors += w->errors;
		if (w->last_done > end_ns)
			end_ns = w->last_done;
		close(w->epfd);
		free(w->rx);
		free(w->conns);
	}
	for (i = 0; i < opt_conns; i++)
		free(conns[i].tx);
	free(conns);
	free(workers);
	free(base_pattern);

	if (nlat > 0 && end_ns > start_ns)
		secs = (double)(end_ns - start_ns) / 1e9;
	else
		secs = 0;
	rate = secs > 0 ? (double)nlat / secs : 0;
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	if (csv)
		printf("%zu,%zu,%zu,%zu,%zu,%llu,%.6f,%.0f,%.2f,%.2f,%.2f\n",
		       opt_conns, opt_msgs, opt_size, opt_threads, nlat,
		       (unsigned long long)errors, secs, rate,
		       pct_us(lat, nlat, 50), pct_us(lat, nlat, 99),
		       nlat ? (double)lat[nlat - 1] / 1000.0 : 0.0);
	else
		printf("%zu conns x %zu msgs x %zu B, %zu threads: %zu "
		       "messages in %.3f s, %.0f msgs/s, p50 %.1f us, "
		       "p99 %.1f us, max %.1f us, %llu errors\n",
		       opt_conns, opt_msgs, opt_size, opt_threads, nlat, secs,
		       rate, pct_us(lat, nlat, 50), pct_us(lat, nlat, 99),
		       nlat ? (double)lat[nlat - 1] / 1000.0 : 0.0,
		       (unsigned long long)errors);
	free(lat);
	return errors || nlat != opt_conns * opt_msgs ? 1 : 0;
}
