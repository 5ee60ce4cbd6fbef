/* SPDX-License-Identifier: MIT */
/*
 * test_calls.h - what test_dispatch_calls and test_dispatch_rest share:
 * a table of system calls with the io_uring opcode each must become, one
 * call through the dispatcher, and one check of its result, its effect
 * and its tier against this kernel's io_uring probe (read by the test
 * itself, not taken from the library).
 *
 * The program points tc_ops and tc_nops at its table before any check.
 */
#ifndef KSVC_TEST_CALLS_H
#define KSVC_TEST_CALLS_H

#include <liburing.h>

#include "test_dispatch.h"

#define OP_TABLE	-2	/* check(): the table's opcode */
#define OP_NONE		-1	/* check(): Tier 2 whatever the kernel has */

struct call_op {
	long nr;
	const char *name;
	int op;		/* IORING_OP_* that runs it */
};

static const struct call_op *tc_ops;
static unsigned int tc_nops;

static struct io_uring_probe *probe;

static const struct call_op *call_of(long nr)
{
	unsigned int i;

	for (i = 0; i < tc_nops; i++)
		if (tc_ops[i].nr == nr)
			return &tc_ops[i];
	tap_bail("no opcode listed for system call %ld", nr);
	return NULL;
}

struct ctx {
	struct ksvc_dispatcher *d;
	const char *mode;
	int t1;			/* the dispatcher has io_uring */
	char dir[64];
	char path[96];		/* a file with "abcdef" */
	int fd;			/* path, O_RDWR */
	int dfd;		/* dir, O_DIRECTORY */
	__u64 corr;
};

/* Run one call through the dispatcher; its completion's flags in @fl. */
static __s64 run(struct ctx *x, long nr, __u64 a0, __u64 a1, __u64 a2,
		 __u64 a3, __u64 a4, __u64 a5, __u32 *fl)
{
	struct ksvc_entry e;
	struct ksvc_completion c;
	int r;

	ksvc_prep_call(&e, ++x->corr, nr, a0, a1, a2, a3, a4, a5);
	r = ksvc_dispatch_submit(x->d, &e, 1, KSVC_SUBMIT_WAIT);
	if (r != 1)
		tap_bail("submit: %s", strerror(-r));
	if (td_collect(x->d, &c, 1, 10000) != 1)
		tap_bail("%s: %s never completed", x->mode, call_of(nr)->name);
	if (c.corr_id != x->corr)
		tap_bail("completion for %llu, want %llu",
			 (unsigned long long)c.corr_id,
			 (unsigned long long)x->corr);
	*fl = c.flags;
	return c.result;
}

/*
 * One check: the result as wanted (want_ge0: any descriptor), the effect
 * seen, and the tier: Tier 1 when @op (OP_TABLE: the table's; OP_NONE:
 * never) is in this kernel's io_uring, Tier 2 otherwise.
 */
static void check(struct ctx *x, long nr, int op, __s64 res, __s64 want,
		  int want_ge0, __u32 fl, int effect, const char *what)
{
	const struct call_op *c = call_of(nr);
	int t1, res_ok, tier_ok;

	if (op == OP_TABLE)
		op = c->op;
	t1 = op != OP_NONE && x->t1 && probe &&
	     io_uring_opcode_supported(probe, op);
	res_ok = want_ge0 ? res >= 0 : res == want;
	tier_ok = t1 ? fl == KSVC_COMP_TIER1 : fl == KSVC_COMP_TIER2;
	tap_ok(res_ok && tier_ok && effect,
	       "%s: %s -> %lld%s, in Tier %d%s (%s), %s%s",
	       x->mode, c->name, (long long)res, res_ok ? "" : " (WRONG)",
	       fl & KSVC_COMP_TIER1 ? 1 : fl & KSVC_COMP_TIER2 ? 2 : 0,
	       tier_ok ? "" : " (WRONG)",
	       op == OP_NONE ? "Tier 2 whatever the kernel has" :
	       t1 ? "this kernel's io_uring has the opcode" :
		    "no io_uring opcode here",
	       what, effect ? "" : ": NOT SEEN");
}

/* One check: ksvc_dispatch_tier1_opcode() agrees with the table. */
static void check_table(void)
{
	unsigned int i, same = 0;

	for (i = 0; i < tc_nops; i++) {
		int op = ksvc_dispatch_tier1_opcode(tc_ops[i].nr);

		if (op == tc_ops[i].op)
			same++;
		else
			tap_diag("%s: library says opcode %d, this test %d",
				 tc_ops[i].name, op, tc_ops[i].op);
	}
	tap_ok(same == tc_nops, "ksvc_dispatch_tier1_opcode() names the "
	       "opcode this test expects for each of the %u calls (%u agree)",
	       tc_nops, same);
}

/*
 * The program's run: plan (@extra checks besides the table's and
 * @cases_per_mode in each mode), where, the table check, then @one_mode
 * in both dispatcher modes (thread, driven); ends the TAP stream.
 */
static void __attribute__((noreturn))
tc_main(int argc, char **argv, const struct call_op *ops, unsigned int n,
	unsigned int cases_per_mode, unsigned int extra,
	void (*one_mode)(int mode))
{
	td_args(argc, argv);
	tap_plan((int)(1 + 2 * cases_per_mode + extra));
	td_say_where();
	tc_ops = ops;
	tc_nops = n;
	probe = io_uring_get_probe();
	tap_diag("io_uring probe: %s", probe ? "read" : "none (no io_uring)");
	check_table();
	one_mode(0);
	one_mode(1);
	if (probe)
		io_uring_free_probe(probe);
	tap_done();
}

/* A dispatcher in @mode, a directory and a file with "abcdef" in it. */
static struct ksvc *ctx_init(struct ctx *x, int mode, const char *tmpl)
{
	struct ksvc_dispatch_stats st;
	struct ksvc *k = td_open(64, 128);

	memset(x, 0, sizeof(*x));
	x->mode = td_mode_names[mode];
	x->d = td_create(k, td_mode_flags[mode], 2);
	if (ksvc_dispatch_stats(x->d, &st))
		tap_bail("stats");
	x->t1 = st.tier1_available;
	if (!x->t1 && td_uring_here())
		tap_bail("io_uring works here, but the dispatcher has none");
	snprintf(x->dir, sizeof(x->dir), "%s", tmpl);
	if (!mkdtemp(x->dir))
		tap_bail("mkdtemp: %s", strerror(errno));
	snprintf(x->path, sizeof(x->path), "%s/file", x->dir);
	x->fd = open(x->path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	x->dfd = open(x->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (x->fd < 0 || x->dfd < 0 || write(x->fd, "abcdef", 6) != 6)
		tap_bail("%s: %s", x->path, strerror(errno));
	return k;
}

/* Undo ctx_init() (the dispatcher may be gone already: x->d NULL). */
static void ctx_fini(struct ctx *x, struct ksvc *k)
{
	if (x->d)
		ksvc_dispatch_destroy(x->d);
	close(x->fd);
	close(x->dfd);
	unlink(x->path);
	if (rmdir(x->dir))
		tap_diag("rmdir %s: %s", x->dir, strerror(errno));
	ksvc_close(k);
}

#endif /* KSVC_TEST_CALLS_H */
