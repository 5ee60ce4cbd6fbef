/* SPDX-License-Identifier: MIT */
/*
 * tier0.h - libksvc internals of the Tier 0 accessors, for the preload
 * shim, the tests and the benchmark.  Not installed, not API.
 */
#ifndef KSVC_LIB_TIER0_H
#define KSVC_LIB_TIER0_H

#include <stddef.h>
#include <sys/types.h>

#include "ksvc.h"

/* States of the process-wide Tier 0 instance. */
enum {
	KSVC__T0_UNINIT = 0,	/* not tried yet (also: just forked) */
	KSVC__T0_BUSY = 1,	/* a thread is opening it right now */
	KSVC__T0_READY = 2,	/* page mapped */
	KSVC__T0_NONE = 3,	/* no /dev/ksvc, or it failed: syscalls */
};

struct ksvc__t0_info {
	const struct ksvc_shared_page *page;	/* NULL unless READY */
	int state;				/* KSVC__T0_* */
	int fd;					/* -1 for an installed page */
	pid_t owner;				/* process that opened it */
	int wipeonfork;				/* state page is MADV_WIPEONFORK */
};

/* What the library knows right now (no side effects). */
void ksvc__t0_info(struct ksvc__t0_info *out) KSVC__HIDDEN;

/* KSVC_IOC_REFRESH on the library's instance: 0 or -errno (-ENODEV: none). */
int ksvc__t0_refresh(void) KSVC__HIDDEN;

/*
 * Copy the library's Tier 0 state (its private state page, the record
 * of the descriptor a forked child must close, and the words of the
 * fork handshake) into @buf; returns the number of bytes.  Lets a test
 * prove that a vfork or CLONE_VM child wrote nothing.
 */
size_t ksvc__t0_state_copy(void *buf, size_t len) KSVC__HIDDEN;

/*
 * Test and benchmark hooks.  Neither may run while another thread uses
 * the accessors.
 *
 * ksvc__t0_test_install: answer from @page, a page the caller filled
 * and keeps mapped (no descriptor: never refreshed).  0 or -errno.
 *
 * ksvc__t0_test_reset: forget the instance (unmap it and close its
 * descriptor if the library opened one); the next call opens it again.
 */
int ksvc__t0_test_install(const struct ksvc_shared_page *page) KSVC__HIDDEN;
void ksvc__t0_test_reset(void) KSVC__HIDDEN;

/*
 * ksvc__t0_test_fork_hold: do what the atfork handlers do when a fork()
 * of this process starts (@on) and when it is over (!@on), so that a
 * test can make the first open meet a fork under way.
 */
void ksvc__t0_test_fork_hold(int on) KSVC__HIDDEN;

#endif /* KSVC_LIB_TIER0_H */
