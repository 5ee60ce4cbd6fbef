// SPDX-License-Identifier: MIT
/*
 * ksvc-demo - create a KSVC instance and show that it works:
 *
 *  1. print the Tier 0 facts from the shared page beside what the real
 *     system calls answer;
 *  2. pass entries through the submit ring and completions back through
 *     the completion ring, playing both the application and (for want of
 *     the dispatcher in this small demo) the consumer side, running each
 *     request with syscall(2) and checking every answer.
 *
 *   ksvc-demo [ENTRIES]
 *
 * ENTRIES: how many entries to pass, 1..100000000 (default 100000).
 *
 * Exit status 0 only if every fact that the kernel marks fresh matches
 * and every entry came back; 1 if not, or if no instance could be made;
 * 2 on bad usage (checked before anything is opened).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ksvc.h"

#define MAX_ENTRIES	100000000u

static int failures;

/* ENTRIES from @s: a whole decimal number, 1..MAX_ENTRIES, or exit 2. */
static unsigned int entries_arg(const char *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || errno || *end || v < 1 ||
	    v > MAX_ENTRIES) {
		fprintf(stderr, "ksvc-demo: entries \"%s\": want a number in "
			"1..%u\nusage: ksvc-demo [ENTRIES]\n", s, MAX_ENTRIES);
		exit(2);
	}
	return (unsigned int)v;
}

static void fact(const char *name, unsigned int fresh, unsigned int bit,
		 long long page, long long real)
{
	int fresh_bit = (fresh & bit) != 0;
	int same = page == real;

	printf("  %-16s page %-12lld syscall %-12lld %s\n", name, page, real,
	       !fresh_bit ? "(not fresh: the call would be made)" :
	       same ? "fresh, equal" : "FRESH BUT DIFFERENT");
	if (fresh_bit && !same)
		failures++;
}

static void fact_str(const char *name, unsigned int fresh, const char *page,
		     const char *real)
{
	int fresh_bit = (fresh & KSVC_FRESH_UTS) != 0;
	int same = strcmp(page, real) == 0;

	printf("  %-16s page %-20s syscall %-20s %s\n", name, page, real,
	       !fresh_bit ? "(not fresh)" :
	       same ? "fresh, equal" : "FRESH BUT DIFFERENT");
	if (fresh_bit && !same)
		failures++;
}

static void show_facts(const struct ksvc_shared_page *sp)
{
	struct ksvc_shared_page copy;
	struct utsname uts;
	struct rlimit rl;
	unsigned int seq;

	/* One consistent snapshot of the page (ksvc_uapi.h protocol). */
	do {
		seq = ksvc_shared_read_begin(sp);
		memcpy(&copy, sp, sizeof(copy));
	} while (ksvc_shared_read_retry(sp, seq));

	uname(&uts);
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("Tier 0 shared page (seq %u, fresh 0x%x):\n", seq, copy.fresh);
	fact("getpid", copy.fresh, KSVC_FRESH_PID, copy.pid,
	     syscall(SYS_getpid));
	fact("getppid", copy.fresh, KSVC_FRESH_PPID, copy.ppid,
	     syscall(SYS_getppid));
	fact("getuid", copy.fresh, KSVC_FRESH_IDS, copy.uid,
	     syscall(SYS_getuid));
	fact("getgid", copy.fresh, KSVC_FRESH_IDS, copy.gid,
	     syscall(SYS_getgid));
	fact("geteuid", copy.fresh, KSVC_FRESH_IDS, copy.euid,
	     syscall(SYS_geteuid));
	fact("getegid", copy.fresh, KSVC_FRESH_IDS, copy.egid,
	     syscall(SYS_getegid));
	fact("nofile soft", copy.fresh, KSVC_FRESH_NOFILE,
	     (long long)copy.rlimit_nofile, (long long)rl.rlim_cur);
	fact("nofile hard", copy.fresh, KSVC_FRESH_NOFILE,
	     (long long)copy.rlimit_nofile_max, (long long)rl.rlim_max);
	fact_str("uname.sysname", copy.fresh, copy.utsname_sysname, uts.sysname);
	fact_str("uname.nodename", copy.fresh, copy.utsname_nodename,
		 uts.nodename);
	fact_str("uname.release", copy.fresh, copy.utsname_release, uts.release);
	fact_str("uname.machine", copy.fresh, copy.utsname_machine, uts.machine);
	printf("  ksvc_getpid() = %d, ksvc_getuid() = %d (library accessors)\n",
	       (int)ksvc_getpid(), (int)ksvc_getuid());
}

/* Round-trip @n requests (getpid/getppid/getuid) through both rings. */
static int pass_entries(struct ksvc *k, unsigned int n)
{
	static const long nrs[] = { SYS_getpid, SYS_getppid, SYS_getuid };
	unsigned int sent = 0, done = 0;

	while (done < n) {
		struct ksvc_completion c;
		struct ksvc_entry e;

		/* Application: submit while there is room. */
		while (sent < n) {
			memset(&e, 0, sizeof(e));
			e.corr_id = sent;
			e.syscall_nr = (unsigned int)nrs[sent % 3];
			if (ksvc_sq_push(&k->sq, &e))
				break;
			sent++;
		}
		/* Consumer: take entries, run them, post completions. */
		while (ksvc_ring_space(&k->cq) && !ksvc_sq_pop(&k->sq, &e)) {
			memset(&c, 0, sizeof(c));
			c.corr_id = e.corr_id;
			c.result = syscall(e.syscall_nr, e.args[0], e.args[1],
					   e.args[2], e.args[3], e.args[4],
					   e.args[5]);
			ksvc_cq_push(&k->cq, &c);
		}
		/* Application: reap and check. */
		while (!ksvc_cq_pop(&k->cq, &c)) {
			long want = syscall(nrs[c.corr_id % 3]);

			if (c.corr_id != done || c.result != want) {
				printf("  completion %u: id %" PRIu64 " result %lld, want id %u result %ld\n",
				       done, (uint64_t)c.corr_id,
				       (long long)c.result, done, want);
				return -1;
			}
			done++;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int n = 100000;
	struct ksvc_open_params params = {
		.submit_entries = 256,
		.complete_entries = 256,
		.flags = KSVC_OPEN_EVENTFD_NEW,
	};
	struct ksvc *k;
	int ret;

	if (argc > 2) {
		fprintf(stderr, "ksvc-demo: unexpected argument \"%s\"\n"
			"usage: ksvc-demo [ENTRIES]\n", argv[2]);
		return 2;
	}
	if (argc > 1)
		n = entries_arg(argv[1]);
	ret = ksvc_open(&k, &params);
	if (ret) {
		fprintf(stderr, "ksvc-demo: %s\n", ksvc_strerror(ret));
		return 1;
	}
	printf("KSVC instance: fd %d, submit ring %u entries (%u bytes), completion ring %u entries (%u bytes), mode %s\n",
	       k->fd, k->sq.entries, k->sq.map_size, k->cq.entries,
	       k->cq.map_size, k->mode == KSVC_MODE_KERNEL ? "kernel" : "anonymous");

	show_facts(k->shared);

	printf("Passing %u entries through the submit and completion rings...\n",
	       n);
	if (pass_entries(k, n)) {
		failures++;
	} else {
		printf("  all %u completions came back in order with the right results\n",
		       n);
	}
	printf("  ksvc_notify() = %d\n", ksvc_notify(k));

	ksvc_close(k);
	printf("%s\n", failures ? "ksvc-demo: FAILED" : "ksvc-demo: OK");
	return failures ? 1 : 0;
}
