// SPDX-License-Identifier: MIT
/*
 * test_dispatch_errors - the documented errors that need a situation set
 * up for them, and that they change nothing:
 *
 *  1. ksvc_dispatch_create() returns -EAGAIN when a thread cannot be
 *     created (in a child process, as user nobody, RLIMIT_NPROC at what
 *     the user has): no descriptor or thread is left, also when the pool
 *     started and the dispatcher thread could not; the child exits
 *     cleanly (under AddressSanitizer: no leak); and once the limit is
 *     lifted the same instance takes a dispatcher whose pool runs a call.
 *  2. ksvc_dispatch_call() returns -EAGAIN when the submit ring is full:
 *     the call is not made (its write never reaches the pipe), and after
 *     reaping, the same call goes through.
 *  3. ksvc_dispatch_call() returns -EAGAIN when as many calls as the
 *     submit ring has entries are in progress (its waiter slots): the
 *     call is not made, every call in progress still gets its own
 *     result, and then the call goes through.
 *  4. ksvc_dispatch_wait() returns -EINTR when a signal (handler without
 *     SA_RESTART) interrupts its sleep: on the eventfd, on the completion
 *     ring's futex, and in a caller-driven wait.  The entry in flight is
 *     not lost: its completion comes with the next wait.
 * 2 to 4 with the dispatcher thread and with the caller driving.
 */
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "test_dispatch.h"
#include "util.h"

#define NOBODY	65534

/* Bytes waiting in the pipe @fd (non-blocking read end), 0 if none. */
static int pipe_bytes(int fd)
{
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));

	return n > 0 ? (int)n : 0;
}

static void make_pipe(int p[2])
{
	if (pipe(p))
		tap_bail("pipe: %s", strerror(errno));
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static __u64 in_flight(struct ksvc_dispatcher *d)
{
	struct ksvc_dispatch_stats st;

	ksvc_dispatch_stats(d, &st);
	return st.tier1.in_flight + st.tier2.in_flight;
}

/* ------------------------------------------------------------------ */
/* 1. create: -EAGAIN without threads                                  */
/* ------------------------------------------------------------------ */

struct create_res {
	int setup;		/* 0, or the step that failed */
	int err;		/* ksvc_dispatch_create() under the limit */
	int fds_before, fds_after;
	int threads_after;	/* this process's threads after the failure */
	int err_after;		/* with the limit lifted */
	__s64 res_after;	/* a call through that dispatcher */
};

/* Tasks (threads) of user @uid on this machine, as /proc shows them. */
static long user_tasks(uid_t uid)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	long n = 0;

	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		char path[300], line[128];
		long threads = 0, u = -1;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "Uid:", 4))
				u = strtol(line + 4, NULL, 10);
			else if (!strncmp(line, "Threads:", 8))
				threads = strtol(line + 8, NULL, 10);
		}
		fclose(f);
		if (u == (long)uid)
			n += threads;
	}
	closedir(dir);
	return n;
}

/*
 * In a child: as user nobody, with RLIMIT_NPROC allowing @spare threads
 * more than the user has, create a dispatcher; then lift the limit and
 * create one on the same instance.
 */
static void create_child(int mode, unsigned int spare, int out)
{
	struct ksvc_dispatcher *d = NULL;
	struct ksvc_dispatch_params p;
	struct create_res r;
	struct rlimit rl;
	struct ksvc *k;
	__u64 a[6] = { 0 };
	long mine;

	memset(&r, 0, sizeof(r));
	k = td_open(16, 32);
	/* Root may exceed RLIMIT_NPROC: become nobody first. */
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		r.setup = 1;
	mine = user_tasks(NOBODY);
	if (!r.setup && mine < 1)
		r.setup = 2;
	getrlimit(RLIMIT_NPROC, &rl);
	rl.rlim_cur = (rlim_t)mine + spare;
	if (!r.setup && setrlimit(RLIMIT_NPROC, &rl))
		r.setup = 3;
	memset(&p, 0, sizeof(p));
	p.flags = td_mode_flags[mode];
	p.workers = 2;
	r.fds_before = ku_count_fds(NULL);
	if (!r.setup)
		r.err = ksvc_dispatch_create(&d, k, &p);
	r.fds_after = ku_count_fds(NULL);
	r.threads_after = td_settle_threads(1);
	if (!r.err)
		ksvc_dispatch_destroy(d);
	rl.rlim_cur = rl.rlim_max;
	if (!r.setup && setrlimit(RLIMIT_NPROC, &rl))
		r.setup = 4;
	r.err_after = ksvc_dispatch_create(&d, k, &p);
	if (!r.err_after) {
		a[0] = (__u64)(uintptr_t)"/";
		a[1] = 0;
		r.res_after = -1;
		/* access(2) runs on the pool: its threads exist */
		ksvc_dispatch_call(d, SYS_access, a, &r.res_after, NULL);
		ksvc_dispatch_destroy(d);
	}
	ksvc_close(k);
	if (write(out, &r, sizeof(r)) != sizeof(r))
		_exit(3);
	close(out);
	exit(0);	/* through atexit: a leak report fails the status */
}

/*
 * @spare 0: the first pool worker cannot start; thread mode with @spare
 * 2: the pool starts and the dispatcher thread cannot (the workers must
 * be stopped and joined).
 */
static void test_create_eagain(int mode, unsigned int spare)
{
	const char *m = td_mode_names[mode];
	const char *what = spare ? "the pool starts, the dispatcher thread "
				   "cannot" : "no thread can start";
	struct create_res r;
	int p[2], st = 0, i;
	pid_t pid;

	make_pipe(p);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		create_child(mode, spare, p[1]);
	}
	close(p[1]);
	memset(&r, 0, sizeof(r));
	if (read(p[0], &r, sizeof(r)) != sizeof(r))
		r.setup = 9;
	close(p[0]);
	waitpid(pid, &st, 0);
	if (r.setup) {
		/* The three checks below, all failed. */
		for (i = 0; i < 3; i++)
			tap_ok(0, "%s, %s: %s (step %d, status %#x)", m, what,
			       r.setup == 9 ? "the child ended without a report"
					    : "could not set the child up",
			       r.setup, st);
		return;
	}
	tap_ok(r.err == -EAGAIN && r.fds_after == r.fds_before &&
	       r.threads_after == 1,
	       "%s, %s: ksvc_dispatch_create() -EAGAIN (%s); descriptors %d "
	       "before, %d after; threads left: %d", m, what,
	       strerror(-r.err), r.fds_before, r.fds_after,
	       r.threads_after);
	tap_ok(r.err_after == 0 && r.res_after == 0,
	       "%s, %s: limit lifted: the same instance takes a dispatcher "
	       "(%s) and its pool's call returns %lld", m, what,
	       strerror(-r.err_after), (long long)r.res_after);
	tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "%s, %s: the child exits cleanly (status %#x)", m, what, st);
}

/*
 * One ksvc_dispatch_call() of write(@fd, "y", 1), on a thread of its own: a
 * call that waits where it should fail is reported, not waited for.
 */
struct extra {
	struct ksvc_dispatcher *d;
	int fd;			/* write end */
	int err;
	__s64 res;
};

static void *extra_call(void *arg)
{
	struct extra *x = arg;
	__u64 a[6] = { (__u64)x->fd, (__u64)(uintptr_t)"y", 1 };

	x->res = 12345;
	x->err = ksvc_dispatch_call(x->d, SYS_write, a, &x->res, NULL);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* 2. call: -EAGAIN with the submit ring full                           */
/* ------------------------------------------------------------------ */

/*
 * Wait (at most 5 s) until the dispatcher has taken @n entries of @k's
 * fresh submit ring and handed their slots back.  The counter moves
 * entry by entry, the ring's head once the whole batch is in: both.
 */
static void wait_taken(struct ksvc_dispatcher *d, struct ksvc *k, __u32 n)
{
	uint64_t end = td_now_ms() + 5000;
	struct ksvc_dispatch_stats st;

	while (!ksvc_dispatch_stats(d, &st) &&
	       (st.taken < n ||
		__atomic_load_n(&k->sq.hdr->head, __ATOMIC_ACQUIRE) < n) &&
	       td_now_ms() < end)
		usleep(1000);
}

static void test_call_ring_full(int mode)
{
	const char *m = td_mode_names[mode];
	struct ksvc *k = td_open(16, 16);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	struct ksvc_completion c[64];
	struct ksvc_entry e[40];
	struct ksvc_dispatch_stats a, b;
	unsigned int i, got;
	int p[2], r, accepted = 0, joined;
	struct extra x;
	pthread_t th;

	make_pipe(p);
	nonblock(p[0]);
	for (i = 0; i < 40; i++)
		e[i] = td_entry(100 + i, SYS_getppid, 0, 0, 0, 0);
	/*
	 * The thread takes 16 (what the completion ring can answer) and
	 * stops; 16 more fill the submit ring.  Caller-driven, nobody
	 * drives: 16 fill it.
	 */
	for (i = 0, r = 0; i < 40; i++) {
		r = ksvc_dispatch_submit(d, &e[i], 1, 0);
		if (r < 0)
			break;
		accepted++;
		if (mode == 0 && accepted == 16)
			wait_taken(d, k, 16);
	}
	ksvc_dispatch_stats(d, &a);
	x.d = d;
	x.fd = p[1];
	x.err = 1;
	pthread_create(&th, NULL, extra_call, &x);
	joined = td_join_within(th, 3000);
	usleep(mode == 0 ? 50000 : 0);
	ksvc_dispatch_stats(d, &b);
	tap_ok(r == -EAGAIN && joined && x.err == -EAGAIN &&
	       x.res == 12345 && pipe_bytes(p[0]) == 0 && b.taken == a.taken,
	       "%s: submit ring full (%d entries in): ksvc_dispatch_call() "
	       "-EAGAIN (%s), the write not made, nothing more taken", m,
	       accepted, joined ? strerror(-x.err) : "still waiting after 3 s");
	got = td_collect(d, c, (unsigned int)accepted, 3000);
	if (!joined && !td_join_within(th, 3000))
		tap_bail("the call never returned");
	extra_call(&x);
	tap_ok(got == (unsigned int)accepted && x.err == 0 &&
	       x.res == 1 && pipe_bytes(p[0]) == 1,
	       "%s: after reaping all %u, the same call writes its byte (%s, "
	       "result %lld)", m, got, strerror(-x.err), (long long)x.res);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------------ */
/* 3. call: -EAGAIN with every waiter slot taken                        */
/* ------------------------------------------------------------------ */

#define SLOTS	16	/* = the submit ring's entries */

struct blocked {
	struct ksvc_dispatcher *d;
	pthread_t th;
	int fd;			/* read end of its own pipe */
	char byte;
	int err;
	int done;		/* atomic: the call returned */
	__s64 res;
};

/*
 * The callers stay until every call is back: with the caller driving,
 * io_uring ties a read to the thread that drove when it went in, and a
 * driving thread that exits cancels it (documented), so a caller whose
 * own read came first must not end while the others' are in flight.
 */
static int release_callers;	/* atomic */

static void *blocked_call(void *arg)
{
	struct blocked *b = arg;
	__u64 a[6] = { (__u64)b->fd, (__u64)(uintptr_t)&b->byte, 1 };

	b->err = ksvc_dispatch_call(b->d, SYS_read, a, &b->res, NULL);
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&release_callers, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static void test_call_slots(int mode)
{
	const char *m = td_mode_names[mode];
	struct ksvc *k = td_open(SLOTS, 64);
	struct ksvc_dispatcher *d = td_create(k, td_mode_flags[mode], 2);
	struct blocked b[SLOTS];
	int p[SLOTS][2], q[2], i, ok = 1, joined;
	struct extra x;
	pthread_t th;
	uint64_t end;

	make_pipe(q);
	nonblock(q[0]);
	for (i = 0; i < SLOTS; i++) {
		make_pipe(p[i]);
		memset(&b[i], 0, sizeof(b[i]));
		b[i].d = d;
		b[i].fd = p[i][0];
		b[i].err = 1;
		pthread_create(&b[i].th, NULL, blocked_call, &b[i]);
	}
	/* All SLOTS reads taken and waiting for their data. */
	end = td_now_ms() + 5000;
	while (in_flight(d) < SLOTS && td_now_ms() < end)
		usleep(1000);
	x.d = d;
	x.fd = q[1];
	x.err = 1;
	pthread_create(&th, NULL, extra_call, &x);
	joined = td_join_within(th, 3000);
	tap_ok(joined && x.err == -EAGAIN && x.res == 12345 &&
	       pipe_bytes(q[0]) == 0,
	       "%s: %d calls in progress (%llu in flight), one more: "
	       "-EAGAIN (%s), its write not made", m, SLOTS,
	       (unsigned long long)in_flight(d),
	       joined ? strerror(-x.err) : "still waiting after 3 s");
	for (i = 0; i < SLOTS; i++) {
		char c = (char)('a' + i);

		if (write(p[i][1], &c, 1) != 1)
			tap_bail("write: %s", strerror(errno));
	}
	end = td_now_ms() + 5000;
	for (i = 0; i < SLOTS; i++) {
		while (!__atomic_load_n(&b[i].done, __ATOMIC_ACQUIRE) &&
		       td_now_ms() < end)
			usleep(1000);
		if (!__atomic_load_n(&b[i].done, __ATOMIC_ACQUIRE)) {
			ok = 0;
			tap_diag("call %d still blocked", i);
		} else if (b[i].err || b[i].res != 1 || b[i].byte != 'a' + i) {
			ok = 0;
			tap_diag("call %d: %d, result %lld, byte %#x", i,
				 b[i].err, (long long)b[i].res, b[i].byte);
		}
	}
	__atomic_store_n(&release_callers, 1, __ATOMIC_RELEASE);
	for (i = 0; i < SLOTS; i++)
		if (!td_join_within(b[i].th, 5000))
			tap_bail("caller %d never ended", i);
	__atomic_store_n(&release_callers, 0, __ATOMIC_RELEASE);
	tap_ok(ok, "%s: the %d calls in progress each get their own byte",
	       m, SLOTS);
	if (!joined && !td_join_within(th, 3000))
		tap_bail("the extra call never returned");
	x.err = ksvc_dispatch_call(d, SYS_write,
				   (const __u64[6]){ (__u64)q[1],
				   (__u64)(uintptr_t)"y", 1 }, &x.res, NULL);
	tap_ok(x.err == 0 && x.res == 1 && pipe_bytes(q[0]) >= 1,
	       "%s: with the slots free again, the call writes its byte "
	       "(%s, result %lld)", m, strerror(-x.err),
	       (long long)x.res);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	for (i = 0; i < SLOTS; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(q[0]);
	close(q[1]);
}

/* ------------------------------------------------------------------ */
/* 4. wait: -EINTR                                                      */
/* ------------------------------------------------------------------ */

/* A handler that does nothing: the point is the interrupted sleep. */
static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * The thread that waits is the one that stays: with the caller driving,
 * io_uring ties the read to the thread that submitted it, and cancels it
 * when that thread exits (documented), so the signals come from a helper.
 */
struct signaller {
	pthread_t target;
	int wfd;		/* the pipe, written if no signal got through */
	int done;		/* the wait returned */
	int sent;
};

static void *signal_until_done(void *arg)
{
	struct signaller *s = arg;
	uint64_t end = td_now_ms() + 3000;

	/* Again and again: one may land in the spin before the sleep. */
	while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) &&
	       td_now_ms() < end) {
		usleep(20000);
		if (__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
			break;
		pthread_kill(s->target, SIGUSR1);
		s->sent++;
	}
	/* Never interrupted: end the wait the honest way. */
	if (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE) &&
	    write(s->wfd, "z", 1) != 1)
		tap_bail("write: %s", strerror(errno));
	return NULL;
}

/* how: 0 thread + eventfd, 1 thread + futex, 2 caller-driven */
static void test_wait_eintr(int how)
{
	static const char *const names[] = {
		"thread, eventfd sleep", "thread, futex sleep", "driven"
	};
	struct ksvc *k = how == 1 ?
		td_open_with(16, 32, KSVC_OPEN_EVENTFD_GIVEN, -1) :
		td_open(16, 32);
	struct ksvc_dispatcher *d = td_create(k, how == 2 ?
					      KSVC_DISPATCH_CALLER_DRIVES : 0,
					      2);
	struct ksvc_completion c[4];
	struct signaller s;
	struct ksvc_entry e;
	char byte = 0;
	int p[2], r, w;
	pthread_t th;

	make_pipe(p);
	e = td_entry(77, SYS_read, (__u64)p[0], (__u64)(uintptr_t)&byte, 1,
		     0);
	r = ksvc_dispatch_submit(d, &e, 1, 0);
	if (r != 1)
		tap_bail("submit: %d", r);
	memset(&s, 0, sizeof(s));
	s.target = pthread_self();
	s.wfd = p[1];
	pthread_create(&th, NULL, signal_until_done, &s);
	w = ksvc_dispatch_wait(d, c, 4, 1, -1);
	__atomic_store_n(&s.done, 1, __ATOMIC_RELEASE);
	if (!td_join_within(th, 5000))
		tap_bail("%s: the signaller never returned", names[how]);
	tap_ok(w == -EINTR && s.sent > 0,
	       "%s: a signal interrupts ksvc_dispatch_wait(): -EINTR (%s) "
	       "after %d signal(s)", names[how],
	       w < 0 ? ksvc_strerror(w) : "completions", s.sent);
	if (w == -EINTR && write(p[1], "z", 1) != 1)
		tap_bail("write: %s", strerror(errno));
	r = w == -EINTR ? ksvc_dispatch_wait(d, c, 4, 1, 3000) : 0;
	tap_ok(r == 1 && c[0].corr_id == 77 && c[0].result == 1 &&
	       byte == 'z',
	       "%s: the read in flight is not lost: the next wait has it "
	       "(%d, result %lld)", names[how], r,
	       r == 1 ? (long long)c[0].result : 0ll);
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	int mode;

	td_args(argc, argv);
	tap_plan(3 * 3 + 2 * 2 + 2 * 3 + 3 * 2);
	td_say_where();
	/* Forks first, while this process has no other thread. */
	test_create_eagain(0, 0);
	test_create_eagain(0, 2);
	test_create_eagain(1, 0);
	for (mode = 0; mode < 2; mode++)
		test_call_ring_full(mode);
	for (mode = 0; mode < 2; mode++)
		test_call_slots(mode);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	for (mode = 0; mode < 3; mode++)
		test_wait_eintr(mode);
	tap_done();
}
