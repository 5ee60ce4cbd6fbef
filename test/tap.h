/* SPDX-License-Identifier: MIT */
/*
 * tap.h - a tiny TAP producer for KSVC test programs, in the manner of
 * the kernel's kselftest.h.  Each program prints
 *
 *	TAP version 13
 *	1..N
 *	ok 1 name
 *	not ok 2 name # reason
 *	ok 3 name # SKIP reason
 *
 * and exits 0 only if nothing failed and the plan was met.  Output is
 * unbuffered so that a crash loses nothing that was already decided.
 */
#ifndef KSVC_TEST_TAP_H
#define KSVC_TEST_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

static int tap__planned;
static int tap__count;
static int tap__failed;

static inline void tap_plan(int n)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("TAP version 13\n1..%d\n", n);
	tap__planned = n;
}

static inline void tap_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Record one result; returns cond so callers can chain. */
static inline int tap_ok(int cond, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap__count++;
	if (!cond)
		tap__failed++;
	printf("%sok %d ", cond ? "" : "not ", tap__count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

static inline void tap_skip(const char *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void tap_skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	tap__count++;
	printf("ok %d ", tap__count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
}

/* Skip the whole program (e.g. no /dev/ksvc): a plan of 0 tests. */
static inline void __attribute__((noreturn)) tap_skip_all(const char *why)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("TAP version 13\n1..0 # SKIP %s\n", why);
	exit(0);
}

/* Expect a call to fail with errno @err: (ret == -1 && errno == err). */
#define tap_errno(ret, err, ...)					\
	({ long __r = (long)(ret); int __e = errno;			\
	   int __c = (__r == -1 && __e == (err));			\
	   if (!__c) tap_diag("got %ld errno %d (%s), want -1 errno %d (%s)", \
			      __r, __r == -1 ? __e : 0,			\
			      __r == -1 ? strerror(__e) : "-",		\
			      (err), strerror(err));			\
	   tap_ok(__c, __VA_ARGS__); })

static inline int __attribute__((noreturn)) tap_done(void)
{
	if (tap__count != tap__planned) {
		printf("# planned %d tests but ran %d\n", tap__planned,
		       tap__count);
		exit(1);
	}
	printf("# %d passed, %d failed\n", tap__count - tap__failed,
	       tap__failed);
	exit(tap__failed ? 1 : 0);
}

/*
 * The scale of a run: N from "--scale N" among the arguments, else from
 * KSVC_TEST_SCALE=N, else 1.  Programs divide their big counts by it
 * (the VM is slow, and a sanitized run need not repeat a stress test's
 * every round to cover its paths) and print the counts they use.
 */
static inline unsigned int tap_scale(int argc, char **argv)
{
	const char *s = getenv("KSVC_TEST_SCALE");
	unsigned int scale = 1;
	int i;

	if (s && atoi(s) > 0)
		scale = (unsigned int)atoi(s);
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc &&
		    atoi(argv[i + 1]) > 0)
			scale = (unsigned int)atoi(argv[++i]);
	return scale;
}

/* Abort the program: a bail-out counts as a failure. */
static inline void __attribute__((noreturn)) tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(2);
}

#endif /* KSVC_TEST_TAP_H */
