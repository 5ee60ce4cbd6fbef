/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * echo_args.h - the command line every C echo server of the echo
 * benchmark takes (bench/echo_bench.sh starts each as PROGRAM PORT
 * [THREADS]): the port, and the number of threads, by default one per CPU
 * the process may run on (at most the program's maximum).  Anything else
 * prints the usage and exits 2.
 *
 * And what they share about accept(2): which errors belong to the
 * connection being accepted, and how long to stop accepting after the
 * others (EMFILE, ENFILE, ENOBUFS, ENOMEM: they would fail again at once).
 */
#ifndef KSVC_BENCH_ECHO_ARGS_H
#define KSVC_BENCH_ECHO_ARGS_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static inline void echo_usage(const char *name)
{
	fprintf(stderr, "usage: %s PORT [THREADS]\n", name);
	exit(2);
}

static inline unsigned int echo_uint(const char *name, const char *s,
				     unsigned int min, unsigned int max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		echo_usage(name);
	return (unsigned int)v;
}

static inline void echo_args(int argc, char **argv, const char *name,
			     unsigned int max_threads, unsigned int *port,
			     unsigned int *nthreads)
{
	cpu_set_t cpus;

	if (argc < 2 || argc > 3)
		echo_usage(name);
	*port = echo_uint(name, argv[1], 1, 65535);
	*nthreads = 1;
	if (argc == 3)
		*nthreads = echo_uint(name, argv[2], 1, max_threads);
	else if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
		 CPU_COUNT(&cpus) > 0)
		*nthreads = (unsigned int)CPU_COUNT(&cpus);
	if (*nthreads > max_threads)
		*nthreads = max_threads;
}

/* After an accept error that is not the connection's: retry after. */
#define ECHO_ACCEPT_RETRY_MS	100

/*
 * 1 if accept(2) failing with @err only lost that connection (or was
 * interrupted), so the next accept may follow at once: ECONNABORTED,
 * EPERM (a firewall rule) and the network errors accept(2) says to treat
 * like EAGAIN.  Anything else pauses accepting.
 */
static inline int echo_accept_again(int err)
{
	return err == EINTR || err == EAGAIN || err == ECONNABORTED ||
	       err == EPERM || err == EPROTO || err == ENETDOWN ||
	       err == ENOPROTOOPT || err == EHOSTDOWN || err == ENONET ||
	       err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH;
}

#endif
