// SPDX-License-Identifier: MIT
/*
 * test_tier0_pidns - the pid and parent pid a hook publishes are numbers
 * in the owner's pid namespace, whichever task runs the hook and
 * whichever of the owner's threads is gone by the time they are taken.
 *
 * A CLONE_VM child that leaves the owner's address space brings the
 * fresh bits back from its own exit (ksvc_t0_mm_release()): the refresh
 * runs in the child, here the init of a new pid namespace, where the
 * owner has no number.  The owner's main thread has exited, so the first
 * thread that refresh reads is a second one, and each round that thread
 * exits just as the child does (a little later each round).  The
 * owner's next thread then reaps the child and checks that every fresh
 * fact on the page equals its own system calls.  Taking the namespace
 * from the thread that was read, which may be reaped by then, numbers
 * the owner in the child's namespace instead: pid 0, ppid 0.
 *
 * The window is narrow: --rounds N sets the rounds of this stress run
 * (default 300).  Then, when the harness gives the module's fault-
 * injection build ($KSVC_FI_KO, vm/run.sh), the same scenario runs
 * DELAY_ROUNDS times against that build with its delay point armed
 * (kernel/fault.c: delay_pid, delay_ms, delay_hits): the child's refresh
 * waits DELAY_MS after its thread walk, and each round's thread exits
 * only once that wait has begun, so the window is hit every round.  The
 * installed module ($KSVC_KO) is loaded back at the end.
 * Runs as root (CLONE_NEWPID) in the VM with the module.
 */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>

#include "test_tier0.h"
#include "util.h"

#define STACK_SIZE	(64 * 1024)
#define DELAY_ROUNDS	8
#define DELAY_MS	500

struct result {
	unsigned int rounds;		/* done */
	unsigned int wrong;		/* rounds with a fresh but wrong fact */
	unsigned int pid_fresh;		/* rounds that found PID fresh */
	unsigned int delayed;		/* delay run: rounds whose thread
					   exited inside the delay */
	int setup;			/* 0, or the errno of a failed step */
};

static struct result *res;
static struct t0_inst inst;
static unsigned int nr_rounds;
static unsigned int delay_ms;		/* 0: the stress run */
static int go[2];			/* the child exits when this is written */
static pid_t child;
static char *stack;

/* The CLONE_VM child, init of its own pid namespace: wait, then leave. */
static int child_main(void *arg)
{
	char c;

	(void)arg;
	syscall(SYS_read, go[0], &c, 1);
	syscall(SYS_exit, 0);
	return 0;
}

static _Noreturn void finish(int err)
{
	if (err && !res->setup)
		res->setup = err;
	t0_inst_close(&inst);
	exit(0);
}

/* Reap the last round's child and check the page as its refresh left it. */
static void check_round(void)
{
	struct t0_page_snap s;

	if (t0_wait(child) != 0)
		finish(ECHILD);
	t0_read_page(inst.p, &s);
	if (s.fresh & KSVC_FRESH_PID)
		res->pid_fresh++;
	if (!t0_page_ok(inst.p, 0, "after the child's exit"))
		res->wrong++;
	res->rounds++;
}

/*
 * Delay run: wait until the module's delay count passes @before, that is
 * until the child's refresh has walked this thread and waits; 1 if so.
 */
static int delay_begun(long before)
{
	uint64_t end = ku_now_ms() + KU_WAIT_MS;

	while (ku_dbg_read("delay_hits") <= before)
		if (ku_now_ms() > end)
			return 0;
		else
			ku_sleep_ms(1);
	return 1;
}

/*
 * One round: start the child, start the next round's thread, let the
 * child go and exit about when it does (in the delay run: inside the
 * delay after the child's refresh walked this thread).  @arg: this
 * thread's semaphore, posted by the previous round's thread as it exits
 * (NULL: the first).
 */
static void *round_thread(void *arg)
{
	sem_t *mine = arg, *next;
	long hits = 0;
	pthread_t t;

	if (mine) {
		sem_wait(mine);
		sem_destroy(mine);
		free(mine);
		check_round();
	}
	if (res->rounds == nr_rounds)
		finish(0);

	child = clone(child_main, stack + STACK_SIZE,
		      CLONE_VM | CLONE_NEWPID | SIGCHLD, NULL);
	if (child < 0)
		finish(errno);
	next = malloc(sizeof(*next));
	if (!next || sem_init(next, 0, 0) ||
	    pthread_create(&t, NULL, round_thread, next))
		finish(ENOMEM);
	pthread_detach(t);

	if (delay_ms && (hits = ku_dbg_read("delay_hits")) < 0)
		finish(errno);
	if (write(go[1], "x", 1) != 1)
		finish(errno);
	if (delay_ms)		/* once the refresh walked it and waits */
		res->delayed += delay_begun(hits);
	else if (res->rounds % 16)	/* 0 to 1.5 ms later: it may walk */
		usleep((res->rounds % 16) * 100);
	sem_post(next);
	return NULL;
}

/* /proc says the thread group's leader is a zombie (its thread exited). */
static int leader_exited(void)
{
	char path[64], buf[256], *p;
	FILE *f;
	int z = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)getpid());
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		z = p && p[1] == ' ' && p[2] == 'Z';
	}
	fclose(f);
	return z;
}

static void *first_thread(void *arg)
{
	uint64_t end = ku_now_ms() + KU_WAIT_MS;

	(void)arg;
	while (!leader_exited())
		if (ku_now_ms() > end)
			finish(ETIMEDOUT);
		else
			ku_sleep_ms(1);
	return round_thread(NULL);
}

/* The owner: its main thread leaves, the rounds run on the others. */
static void owner(void)
{
	pthread_t t;
	int r;

	r = t0_inst_open(&inst, 1);
	if (r)
		finish(-r);
	if (delay_ms) {
		/* Arm the delay for this process's refreshes (after the open's). */
		char buf[32];

		snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		r = ku_write_file(KU_DBG_DIR "/delay_pid", buf);
		snprintf(buf, sizeof(buf), "%u\n", delay_ms);
		if (!r)
			r = ku_write_file(KU_DBG_DIR "/delay_ms", buf);
		if (r)
			finish(-r);
	}
	stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED || pipe(go))
		finish(errno);
	if (pthread_create(&t, NULL, first_thread, NULL))
		finish(ENOMEM);
	/* This thread only (pthread_exit() would need libgcc_s to unwind). */
	syscall(SYS_exit, 0);
}

/* Run @rounds rounds in an owner process; its exit status. */
static int run(unsigned int rounds)
{
	pid_t pid;

	nr_rounds = rounds;
	memset(res, 0, sizeof(*res));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0)
		owner();
	return t0_wait(pid);
}

/*
 * The same against the fault-injection build with the delay armed:
 * every round is a hit, so a module that numbers pid or ppid in the
 * hook's namespace fails every time.  @base: the counters to come back
 * to before the installed module can be unloaded.
 */
static void delay_run(struct ku_counts base)
{
	const char *fi_ko = ku_fi_swap_in(base);
	long hits;
	int r, st;

	if (!fi_ko) {
		for (r = 0; r < 4; r++)
			tap_skip("needs $KSVC_KO and $KSVC_FI_KO (vm/run.sh "
				 "sets them)", "delay run, check %d", r + 1);
		return;
	}
	delay_ms = DELAY_MS;
	st = run(DELAY_ROUNDS);
	hits = ku_dbg_read("delay_hits");
	ku_delay_disarm();

	tap_ok(st == 0 && !res->setup && res->rounds == nr_rounds &&
	       res->delayed == nr_rounds,
	       "delay run (%s): %u rounds ran, in %u the thread the child's "
	       "refresh had walked exited while that refresh waited %u ms "
	       "(%ld delays; status %d, %s)", fi_ko, res->rounds,
	       res->delayed, delay_ms, hits, st,
	       res->setup ? strerror(res->setup) : "set up");
	tap_ok(res->wrong == 0,
	       "delay run: no fresh fact was wrong (%u wrong of %u rounds)",
	       res->wrong, res->rounds);
	tap_ok(res->pid_fresh == res->rounds && res->rounds,
	       "delay run: every round's refresh brought the bits back (PID "
	       "fresh in %u of %u rounds)", res->pid_fresh, res->rounds);

	ku_fi_swap_out(base);
}

int main(int argc, char **argv)
{
	unsigned int rounds = 300;
	struct ku_counts base;
	int st;

	t0_need_module();
	if (argc == 3 && !strcmp(argv[1], "--rounds") && atoi(argv[2]) > 0)
		rounds = (unsigned int)atoi(argv[2]);
	else if (argc != 1)
		tap_bail("usage: %s [--rounds N]", argv[0]);
	tap_plan(8);
	base = ku_counts();

	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	st = run(rounds);

	tap_ok(st == 0 && !res->setup && res->rounds == nr_rounds,
	       "%u rounds ran (status %d, %s)", res->rounds, st,
	       res->setup ? strerror(res->setup) : "set up");
	tap_ok(res->wrong == 0,
	       "no fresh fact was wrong after a CLONE_VM child in another pid "
	       "namespace left while the owner's first thread exited "
	       "(%u wrong)", res->wrong);
	tap_ok(res->pid_fresh > 0,
	       "the child's exit brought the bits back (PID fresh in %u of "
	       "%u rounds)", res->pid_fresh, res->rounds);
	tap_ok(ku_counts_wait(base), "everything freed: counters back to "
	       "%ld/%ld", base.instances, base.pages);
	delay_run(base);
	tap_done();
}
