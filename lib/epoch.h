/* SPDX-License-Identifier: MIT */
/*
 * epoch.h - which process a handle belongs to.
 *
 * A pid does not tell: a child forked into a new pid namespace can have
 * its parent's pid number, and pids wrap.  The epoch is a number kept in
 * a MADV_WIPEONFORK page (pthread_atfork where the kernel lacks it): a
 * child sees 0 there and gets a number of its own, larger than any its
 * ancestors handed out, on first use.  A vfork child shares the page:
 * compare pids first.
 */
#ifndef KSVC_LIB_EPOCH_H
#define KSVC_LIB_EPOCH_H

#include <linux/types.h>

/* This process's epoch, assigned on first use; never 0. */
__u64 ksvc__epoch(void);

/* The word that holds it: 0 in a child that has not asked yet. */
extern __u64 *ksvc__epoch_word;

struct ksvc;

/* Is @k this process's handle (not one inherited over fork())? */
int ksvc__owned_here(const struct ksvc *k);

#endif /* KSVC_LIB_EPOCH_H */
