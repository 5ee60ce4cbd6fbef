// SPDX-License-Identifier: MIT
/*
 * test_echo - the real server and its load client, as programs
 * (examples/ksvc-echo and examples/echo-client, found next to this
 * program's directory):
 *
 *  1. ksvc-echo starts and says how KSVC runs: kernel mode where
 *     /dev/ksvc exists, anonymous memory where it does not.
 *  2. echo-client, 8 connections x 300 messages of 64 bytes, and
 *  3. 4 connections x 50 messages of 4 KiB: each exits 0 with every
 *     message back and checked, and reports messages per second, p50
 *     and p99.
 *  4. On SIGTERM ksvc-echo exits 0 and reports the calls KSVC answered:
 *     with io_uring, at least a receive and a send per message in Tier 1
 *     (its accept, receive and send go through the rings).
 *  1-4 again with ksvc-echo --no-tier1: everything in Tier 2, as where
 *     io_uring is not available; it says so, every byte still comes
 *     back, and no call is answered in Tier 1.
 *  5-12. echo-client against a broken server (a child of this program)
 *     that flips one byte, sends one byte too many, closes the
 *     connection early, drops, duplicates or swaps a byte, stops
 *     echoing (hangs) with the connection open, or sends a byte after
 *     the end: it must exit 1 each
 *     time, and say why (the check that caught it), within its stall
 *     time-out (-w 1 where that is the check).
 *
 * Then the example programs and the benchmark's echo servers where they
 * meet trouble: bad arguments, a full descriptor table, a
 * server that never accepts, a taken port, a failed check before an
 * exec.  The programs are found next to this program's directory:
 * examples/ksvc-echo, echo-client, ksvc-demo and tier0-facts, and
 * build/bench/echo_uring and echo_epoll (make bench-progs).  A
 * sanitizer build (O=build/san) has no servers of its own: then those of
 * the plain build are used, found from the current directory (the top of
 * the tree, where the runners start), and they are skipped where neither
 * exists (the guest).
 *
 *  A1. Bad arguments exit 2 and say what was wrong: ksvc-echo's port out
 *     of range (4294967376 wrapped to 80), trailing junk, --spin-us abc
 *     or -1 (was 0 and KSVC_SPIN_NONE); echo-client's port 99999, -w inf
 *     or NaN, --wait -1; ksvc-demo's "abc", "-1", "0", "12x" (before it
 *     opens /dev/ksvc).  ksvc-echo --help: the usage on stdout, exit 0.
 *  A2. A taken port: a second ksvc-echo (and echo_uring), whose listeners
 *     use SO_REUSEPORT, exits 1 with "bind: Address already in use".
 *  A3. Out of descriptors (each server, one thread): with an open
 *     connection, the server's RLIMIT_NOFILE is lowered to its lowest
 *     free descriptor and more clients connect, so every accept fails
 *     with EMFILE.  Over a second the server must use less than 0.3 s
 *     of CPU (spinning uses about a second), print only a few lines,
 *     and keep echoing on the open connection; when that one closes, a
 *     waiting client is served; with the limit back (and no connection
 *     closing: only the timed retry can notice) the last client is
 *     served too, and echo-client runs clean.
 *  A4. echo-client against a server that never accepts (backlog full):
 *     exit 1 within -w 1 and some slack (a blocking connect waited
 *     about 127 s), saying "not accepted within"; --wait 1 likewise.
 *  A5. echo-client -w 1e300, 2e10 and 1e400 against a healthy but slow
 *     server: exit 0 (the conversion to nanoseconds overflowed and
 *     failed it at the first look for stalled connections).
 *  A7. (before A6) echo-client -c 30 with 16 descriptors: the connections
 *     it cannot open fail, and it prints its summary (it made its epoll
 *     instances last, failed "thread setup" and printed none).
 *  A6. tier0-facts --check --exec with a preload shim that lies about
 *     getpid in the first image only: exit 1, and no exec (the new
 *     image's exit 0 used to hide the failure).  The shim is compiled
 *     with cc; skipped where there is none.
 */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_dispatch.h"
#include "util.h"

static char server[512], client[512], demo[PATH_MAX];

/* A socket listening on 127.0.0.1 with @backlog; its port in *@port. */
static int listener(int backlog, int *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		tap_bail("listening socket: %s", strerror(errno));
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port nothing listens on (the kernel's pick, closed again). */
static int free_port(void)
{
	int port;

	close(listener(1, &port));
	return port;
}

/*
 * Start @argv with stdout on a pipe (*@out, or /dev/null without @out),
 * stderr to @errfd (-1: the same pipe), stdin /dev/null.
 */
static pid_t spawn(char *const argv[], char *const envp[], int *out,
		   int errfd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (out && pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	pid = fork();
	if (pid < 0)
		tap_bail("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		dup2(null, 0);
		dup2(out ? p[1] : null, 1);
		dup2(errfd >= 0 ? errfd : out ? p[1] : null, 2);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(p[1]);
		*out = p[0];
	}
	return pid;
}

/*
 * Read from @fd until end of file or @ms, or with @line up to and with
 * the first '\n'; NUL-terminated in @buf.
 */
static size_t slurp(int fd, char *buf, size_t size, unsigned int ms,
		    int line)
{
	uint64_t end = td_now_ms() + ms;
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd pf = { fd, POLLIN, 0 };
		uint64_t now = td_now_ms();
		ssize_t r;

		if (now >= end || poll(&pf, 1, (int)(end - now)) <= 0)
			break;
		r = read(fd, buf + n, line ? 1 : size - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (line && buf[n - 1] == '\n')
			break;
	}
	buf[n] = '\0';
	return n;
}

/* Wait for @pid at most @ms; its exit status, or -1 (then killed). */
static int reap(pid_t pid, unsigned int ms)
{
	uint64_t end = td_now_ms() + ms;
	int st;

	while (td_now_ms() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
			       WTERMSIG(st);
		ku_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

struct run {
	int status;
	unsigned long conns, msgs, size, threads, messages, errors;
	double secs, rate, p50, p99, max;
	int fields;
	char out[1024];		/* what it printed */
};

/* echo-client with @c, @m, @s and -w @w; give up after @ms. */
static void run_client(int port, const char *c, const char *m,
		       const char *s, const char *w, struct run *r, int both,
		       unsigned int ms)
{
	char portstr[16], out[1024];
	char *argv[] = { client, "--csv", "-c", (char *)c, "-m", (char *)m,
			 "-s", (char *)s, "-w", (char *)w, "127.0.0.1",
			 portstr, NULL };
	pid_t pid;
	int fd;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = spawn(argv, NULL, &fd, both ? -1 : 2);
	slurp(fd, out, sizeof(out), ms, 0);
	close(fd);
	memset(r, 0, sizeof(*r));
	memcpy(r->out, out, sizeof(r->out));
	r->status = reap(pid, 10000);
	if (both) {
		char *line = strtok(out, "\n");

		for (; line; line = strtok(NULL, "\n"))
			tap_diag("%s", line);
		return;
	}
	r->fields = sscanf(out, "%lu,%lu,%lu,%lu,%lu,%lu,%lf,%lf,%lf,%lf,%lf",
			   &r->conns, &r->msgs, &r->size, &r->threads,
			   &r->messages, &r->errors, &r->secs, &r->rate,
			   &r->p50, &r->p99, &r->max);
}

static void check_run(const struct run *r, unsigned long conns,
		      unsigned long msgs, const char *what)
{
	tap_ok(r->status == 0 && r->fields == 11 && r->errors == 0 &&
	       r->messages == conns * msgs && r->rate > 0 && r->p50 > 0 &&
	       r->p99 >= r->p50,
	       "echo-client %s: exit %d, %lu of %lu messages back and checked, "
	       "%lu errors, %.0f msgs/s, p50 %.1f us, p99 %.1f us", what,
	       r->status, r->messages, conns * msgs, r->errors, r->rate,
	       r->p50, r->p99);
}

/*
 * A broken echo server for one connection (the client sends 64-byte
 * messages): 1 flips byte 100 of the stream, 2 sends one byte too many
 * after the first read, 3 closes after 200 bytes, 4 drops byte 127 (the
 * last of the second message), 5 sends byte 100 twice, 6 swaps the
 * first two adjacent bytes that differ from byte 100 on (two equal
 * bytes swapped would change nothing), 7 echoes three messages and then
 * reads on without echoing anything, until the client closes, 8 sends a
 * byte after the end (when the client has shut down its side).
 */
static void broken_server(int lfd, int how)
{
	char buf[4096], t;
	size_t total = 0, i;
	int c = accept(lfd, NULL, NULL), swapped = 0;

	if (c < 0)
		_exit(1);
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf) - 1);
		size_t len;

		if (n <= 0) {
			if (how == 8 && n == 0 && write(c, "X", 1) != 1)
				_exit(1);
			break;
		}
		len = (size_t)n;
		if (how == 1 && total <= 100 && total + len > 100)
			buf[100 - total] ^= 0x20;
		if (how == 2 && total == 0)
			buf[len++] = 'X';
		if (how == 4 && total <= 127 && total + len > 127) {
			i = 127 - total;
			memmove(buf + i, buf + i + 1, len - i - 1);
			len--;
		}
		if (how == 5 && total <= 100 && total + len > 100) {
			i = 100 - total;
			memmove(buf + i + 1, buf + i, len - i);
			len++;
		}
		for (i = total < 100 ? 100 - total : 0;
		     how == 6 && !swapped && i + 1 < len; i++) {
			if (buf[i] == buf[i + 1])
				continue;
			t = buf[i];
			buf[i] = buf[i + 1];
			buf[i + 1] = t;
			swapped = 1;
		}
		if (how == 7 && total >= 3 * 64)
			len = 0;
		total += (size_t)n;
		if (len && write(c, buf, len) != (ssize_t)len)
			break;
		if (how == 3 && total >= 200)
			break;
	}
	close(c);
	_exit(0);
}

/*
 * echo-client against broken server @how with stall time-out @w: it must
 * exit 1 and print @want (or @want2, if not NULL) among its diagnostics,
 * the check that caught it.
 */
static void broken(int how, const char *what, const char *w,
		   const char *want, const char *want2)
{
	struct run r;
	pid_t srv;
	int port, lfd = listener(4, &port);

	srv = fork();
	if (srv < 0)
		tap_bail("fork");
	if (srv == 0)
		broken_server(lfd, how);
	close(lfd);
	run_client(port, "1", "20", "64", w, &r, 1, 15000);
	reap(srv, 5000);
	tap_ok(r.status == 1 && (strstr(r.out, want) ||
				 (want2 && strstr(r.out, want2))),
	       "echo-client against a server that %s: exit %d (want 1), "
	       "says \"%s\"%s%s%s", what, r.status, want,
	       want2 ? " or \"" : "", want2 ? want2 : "", want2 ? "\"" : "");
}

/*
 * Steps 1 to 4 with ksvc-echo started with @flag (NULL: none).  With
 * --no-tier1 everything runs in Tier 2, as without io_uring: the server
 * must say so, echo every byte all the same, and answer no call in
 * Tier 1.
 */
static void serve(const char *flag)
{
	char line[512], portstr[16], rest[2048];
	char *sargv[] = { server, portstr, (char *)flag, NULL };
	const char *tag = flag ? flag : "default";
	unsigned long long t1 = 0, t2 = 0, refused = 0;
	unsigned int want = 2 * (8 * 300 + 4 * 50);
	int port, fd, st, io_uring, ok;
	struct run r1, r2;
	pid_t pid;

	port = free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = spawn(sargv, NULL, &fd, 2);
	slurp(fd, line, sizeof(line), 30000, 1);
	io_uring = strstr(line, "io_uring in use") != NULL;
	ok = strstr(line, "listening on 127.0.0.1:") &&
	     strstr(line, td_have_module() ? "KSVC mode: kernel (/dev/ksvc)"
					   : "KSVC mode: anonymous");
	if (flag)
		ok = ok && strstr(line, "io_uring not used (--no-tier1): "
				  "everything in Tier 2, at most 127 "
				  "connections");
	tap_ok(ok, "%s: ksvc-echo starts in %s mode: %.*s", tag,
	       td_have_module() ? "kernel" : "anonymous",
	       (int)strcspn(line, "\n"), line);

	run_client(port, "8", "300", "64", "30", &r1, 0, 120000);
	check_run(&r1, 8, 300, "8 x 300 x 64 B");
	run_client(port, "4", "50", "4K", "30", &r2, 0, 120000);
	check_run(&r2, 4, 50, "4 x 50 x 4 KiB");

	kill(pid, SIGTERM);
	slurp(fd, rest, sizeof(rest), 20000, 0);
	close(fd);
	st = reap(pid, 10000);
	{
		const char *p = strstr(rest, "Tier 1 ");

		if (p)
			sscanf(p, "Tier 1 %llu, Tier 2 %llu, refused %llu", &t1,
			       &t2, &refused);
	}
	tap_ok(st == 0 && strstr(rest, "stopped") &&
	       (io_uring ? t1 >= want : t1 == 0 && t2 >= want),
	       "%s: SIGTERM: ksvc-echo exits %d; KSVC answered Tier 1 %llu, "
	       "Tier 2 %llu (want %s at least %u: a receive and a send per "
	       "message)", tag, st, t1, t2,
	       io_uring ? "Tier 1" : "Tier 2 alone (no io_uring)", want);
}

#define NWAIT		6	/* clients left waiting by EMFILE */

static char tree[PATH_MAX];	/* test/.. */

static void path_of(char *out, size_t size, const char *rel)
{
	snprintf(out, size, "%.3800s/%s", tree, rel);
}

/* A C echo server of the benchmark: this build's, else the plain one's. */
static void bench_server(char *out, size_t size, const char *name)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "build/bench/%s", name);
	path_of(out, size, rel);
	if (access(out, X_OK) == 0 || access(rel, X_OK) != 0)
		return;
	if (!realpath(rel, out))
		path_of(out, size, rel);
}

/*
 * Run @argv (NULL-terminated) with @envp (NULL: ours) for at most @ms;
 * its exit status (-1: killed at the limit), its output (stdout and
 * stderr) in @out.
 */
static int run(char *const argv[], char *const envp[], char *out,
	       size_t size, unsigned int ms)
{
	int fd, st;
	pid_t pid = spawn(argv, envp, &fd, -1);

	slurp(fd, out, size, ms, 0);
	close(fd);
	st = reap(pid, 2000);
	return st;
}

static void show(const char *out)
{
	char copy[4096], *line, *save;

	snprintf(copy, sizeof(copy), "%s", out);
	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		tap_diag("  %s", line);
}

/* @argv must exit @want, its output containing @msg. */
static void expect(char *const argv[], int want, const char *msg)
{
	char out[4096], cmd[256] = "";
	int i, st;

	for (i = 1; argv[i]; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s",
			 argv[i]);
	st = run(argv, NULL, out, sizeof(out), 10000);
	if (!tap_ok(st == want && strstr(out, msg), "%s%s: exit %d (want %d)"
		    ", says \"%s\"", basename(argv[0]), cmd, st, want, msg))
		show(out);
}

/* A connection to 127.0.0.1:@port (blocking), or -1. */
static int dial(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Until something listens on @port (at most 30 s): 0, else -1.  The
 * connection that finds it ends with the server's end-of-file: the
 * server has closed its descriptor, so the next connection's is the
 * lowest free one (emfile() depends on it).
 */
static int wait_listening(int port)
{
	uint64_t end = td_now_ms() + 30000;

	while (td_now_ms() < end) {
		int fd = dial(port);

		if (fd >= 0) {
			struct pollfd pf = { fd, POLLIN, 0 };
			char c;

			shutdown(fd, SHUT_WR);
			if (poll(&pf, 1, 10000) != 1 || read(fd, &c, 1) != 0)
				fd = -fd;	/* it did not close */
			close(fd < 0 ? -fd : fd);
			return fd < 0 ? -1 : 0;
		}
		ku_sleep_ms(20);
	}
	return -1;
}

/* Start the server @argv on @port, stderr to @errfd (-1: /dev/null). */
static pid_t start_server(char *const argv[], int port, int errfd)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	pid_t pid = spawn(argv, NULL, NULL, errfd >= 0 ? errfd : null);

	close(null);
	if (wait_listening(port)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		tap_bail("%s does not listen on %d, or does not close a "
			 "connection at its end-of-file", argv[0], port);
	}
	return pid;
}

/* One byte through @fd and back within @ms: 1 if echoed. */
static int echoes(int fd, unsigned int ms)
{
	struct pollfd pf = { fd, POLLIN, 0 };
	char c = 'x', r = 0;

	if (write(fd, &c, 1) != 1 || poll(&pf, 1, (int)ms) != 1)
		return 0;
	return read(fd, &r, 1) == 1 && r == c;
}

/* CPU time @pid has used, all threads, in seconds; -1 if unknown. */
static double cpu_secs(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
			 "%*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The lowest descriptor number @pid does not use. */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	static char used[4096];
	struct dirent *de;
	DIR *d;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		tap_bail("%s: %s", path, strerror(errno));
	memset(used, 0, sizeof(used));
	while ((de = readdir(d))) {
		long n = strtol(de->d_name, NULL, 10);

		if (de->d_name[0] != '.' && n >= 0 && n < (long)sizeof(used))
			used[n] = 1;
	}
	closedir(d);
	for (i = 0; i < (int)sizeof(used) && used[i]; i++)
		;
	return i;
}

static int set_nofile(pid_t pid, rlim_t cur, rlim_t max)
{
	struct rlimit rl = { cur, max };

	return prlimit(pid, RLIMIT_NOFILE, &rl, NULL);
}

/* How many times @what is in the file @fd (the lines that say it). */
static unsigned int count_lines(int fd, const char *what)
{
	static char buf[1 << 16];
	unsigned int n = 0;
	off_t off = 0;
	ssize_t r;

	while ((r = pread(fd, buf, sizeof(buf) - 1, off)) > 0) {
		char *p = buf;

		buf[r] = '\0';
		while ((p = strstr(p, what))) {
			n++;
			p += strlen(what);
		}
		off += r;
		if (r >= (ssize_t)strlen(what))	/* a match across pieces */
			off -= (off_t)strlen(what) - 1;
	}
	return n;
}

/* Step 3 for the server @argv (listening on @port, one thread). */
static void emfile(const char *name, char *const argv[], int port)
{
	char errpath[] = "/tmp/ksvc-test-examples.XXXXXX", out[1024];
	int errfd = mkostemp(errpath, O_CLOEXEC), a, w[NWAIT], i, ok, st;
	struct rlimit orig;
	char portstr[16];
	double c0, c1;
	unsigned int lines;
	pid_t pid;

	if (errfd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	unlink(errpath);
	pid = start_server(argv, port, errfd);
	a = dial(port);
	ok = a >= 0 && echoes(a, 10000);
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &orig) ||
	    set_nofile(pid, (rlim_t)lowest_free_fd(pid), orig.rlim_max))
		tap_bail("prlimit %d: %s", (int)pid, strerror(errno));
	for (i = 0; i < NWAIT; i++) {
		w[i] = dial(port);	/* in the backlog: accept fails */
		ok = ok && w[i] >= 0;
	}
	ku_sleep_ms(300);
	c0 = cpu_secs(pid);
	ku_sleep_ms(1000);
	c1 = cpu_secs(pid);
	tap_ok(ok && c0 >= 0 && c1 - c0 < 0.3,
	       "%s out of descriptors (EMFILE on every accept): %.2f s of CPU "
	       "in 1 s (want < 0.3: no spinning)", name, c1 - c0);
	tap_ok(echoes(a, 5000),
	       "%s out of descriptors: still echoes on the open connection",
	       name);
	close(a);		/* frees a descriptor: the first waiting one */
	tap_ok(echoes(w[0], 5000),
	       "%s: a connection closed: a waiting client is accepted and "
	       "served", name);
	/* The limit back; nothing closes: only the timed retry accepts.
	 * First a pause, for the accept after w[0]'s to fail (EMFILE). */
	ku_sleep_ms(300);
	set_nofile(pid, orig.rlim_cur, orig.rlim_max);
	tap_ok(echoes(w[NWAIT - 1], 5000),
	       "%s: the limit raised again: the last waiting client is served "
	       "(accepting retried without a close)", name);
	lines = count_lines(errfd, "accept");
	tap_ok(lines >= 1 && lines <= 2 * NWAIT, "%s: %u line%s about accept "
	       "errors on stderr (want 1 to %d: one per episode)", name, lines,
	       lines == 1 ? "" : "s", 2 * NWAIT);
	for (i = 0; i < NWAIT; i++)
		close(w[i]);
	snprintf(portstr, sizeof(portstr), "%d", port);
	{
		char client[PATH_MAX];
		char *cargv[] = { client, (char *)"-c", (char *)"4",
				  (char *)"-m", (char *)"100", (char *)"-w",
				  (char *)"10", (char *)"127.0.0.1", portstr,
				  NULL };

		path_of(client, sizeof(client), "examples/echo-client");
		st = run(cargv, NULL, out, sizeof(out), 60000);
		if (!tap_ok(st == 0, "%s: then echo-client 4 x 100: exit %d",
			    name, st))
			show(out);
	}
	kill(pid, SIGTERM);
	reap(pid, 10000);
	close(errfd);
}

/* Step 2: a second server on @port (taken) exits 1. */
static void taken(char *const argv[], int port)
{
	char *sargv[4], portstr[16];
	pid_t pid;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = start_server(argv, port, -1);
	sargv[0] = argv[0];
	sargv[1] = portstr;
	sargv[2] = (char *)"1";
	sargv[3] = NULL;
	expect(sargv, 1, "bind: Address already in use");
	kill(pid, SIGTERM);
	reap(pid, 10000);
}

/* Step 4: a listener that never accepts, its backlog full. */
static void never_accepts(const char *client)
{
	char out[4096], portstr[16];
	char *cargv[] = { (char *)client, (char *)"-c", (char *)"3",
			  (char *)"-m", (char *)"10", (char *)"-w",
			  (char *)"1", (char *)"127.0.0.1", portstr, NULL };
	char *wargv[] = { (char *)client, (char *)"--wait", (char *)"1",
			  (char *)"127.0.0.1", portstr, NULL };
	int port, lfd = listener(0, &port), fill, st;
	uint64_t t0;

	snprintf(portstr, sizeof(portstr), "%d", port);
	fill = dial(port);	/* the one place in the queue */
	t0 = td_now_ms();
	st = run(cargv, NULL, out, sizeof(out), 20000);
	t0 = td_now_ms() - t0;
	if (!tap_ok(fill >= 0 && st == 1 && t0 < 6000 &&
		    strstr(out, "not accepted within"),
		    "echo-client -w 1 against a server that never accepts: exit "
		    "%d in %.1f s (want 1, within 6 s), says \"not accepted "
		    "within\"", st, (double)t0 / 1000))
		show(out);
	t0 = td_now_ms();
	st = run(wargv, NULL, out, sizeof(out), 20000);
	t0 = td_now_ms() - t0;
	if (!tap_ok(st == 1 && t0 < 5000,
		    "echo-client --wait 1 against it: exit %d in %.1f s (want "
		    "1, within 5 s)", st, (double)t0 / 1000))
		show(out);
	if (fill >= 0)
		close(fill);
	close(lfd);
}

/*
 * Step 5: huge -w against a slow server (a child of ours, one
 * connection, each message echoed after 150 ms): a time-out that
 * overflowed to almost nothing fails at the client's first look, after
 * 100 ms.
 */
static void huge_w(const char *client)
{
	static const char *const ws[] = { "1e300", "2e10", "1e400" };
	char portstr[16], out[4096];
	unsigned int i;
	int st;

	for (i = 0; i < 3; i++) {
		char *cargv[] = { (char *)client, (char *)"-c", (char *)"1",
				  (char *)"-m", (char *)"3", (char *)"-w",
				  (char *)ws[i], (char *)"127.0.0.1", portstr,
				  NULL };
		int port, lfd = listener(4, &port);
		pid_t srv;

		srv = fork();
		if (srv < 0)
			tap_bail("fork");
		if (srv == 0) {
			char buf[4096];
			int c = accept(lfd, NULL, NULL);
			ssize_t n;

			while (c >= 0 && (n = read(c, buf, sizeof(buf))) > 0) {
				ku_sleep_ms(150);
				if (write(c, buf, (size_t)n) != n)
					break;
			}
			_exit(0);
		}
		close(lfd);
		snprintf(portstr, sizeof(portstr), "%d", port);
		st = run(cargv, NULL, out, sizeof(out), 30000);
		reap(srv, 5000);
		if (!tap_ok(st == 0, "echo-client -w %s against a server that "
			    "echoes after 150 ms: exit %d (want 0)", ws[i], st))
			show(out);
	}
}

/*
 * Step 7: echo-client with 16 descriptors and 30 connections to
 * ksvc-echo: the connections it cannot open are errors, and it still
 * prints its summary (its epoll instances are made first).
 */
static void client_few_fds(const char *server, const char *client)
{
	char portstr[16], out[4096];
	char *sargv[] = { (char *)server, portstr, (char *)"1", NULL };
	char *cargv[] = { (char *)client, (char *)"-c", (char *)"30",
			  (char *)"-m", (char *)"10", (char *)"-t", (char *)"2",
			  (char *)"127.0.0.1", portstr, NULL };
	struct rlimit rl, low;
	int port = free_port(), st, fd;
	pid_t pid, cpid;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = start_server(sargv, port, -1);
	if (getrlimit(RLIMIT_NOFILE, &rl))
		tap_bail("getrlimit: %s", strerror(errno));
	low = rl;
	low.rlim_cur = 16;
	/* The client inherits the low limit; ours comes back at once. */
	if (setrlimit(RLIMIT_NOFILE, &low))
		tap_bail("setrlimit: %s", strerror(errno));
	cpid = spawn(cargv, NULL, &fd, -1);
	setrlimit(RLIMIT_NOFILE, &rl);
	slurp(fd, out, sizeof(out), 30000, 0);
	close(fd);
	st = reap(cpid, 5000);
	if (!tap_ok(st == 1 && strstr(out, "30 conns x 10 msgs") &&
		    strstr(out, "Too many open files") &&
		    !strstr(out, "thread setup"),
		    "echo-client -c 30 with 16 descriptors: exit %d (want 1), "
		    "the connections it could not open reported, and its "
		    "summary", st))
		show(out);
	kill(pid, SIGTERM);
	reap(pid, 10000);
}

/* Step 6: the shim, compiled into @tmp; 0, or -1 without a compiler. */
static int make_shim(const char *tmp, char *so, size_t size)
{
	static const char src[] =
		"#define _GNU_SOURCE\n"
		"#include <stdlib.h>\n#include <unistd.h>\n"
		"#include <sys/syscall.h>\n"
		"static int lie;\n"
		"__attribute__((constructor)) static void init(void)\n"
		"{ lie = getenv(\"TIER0_SHIM_LIE\") != NULL;\n"
		"  unsetenv(\"TIER0_SHIM_LIE\"); }\n"
		"pid_t getpid(void) { return (pid_t)syscall(SYS_getpid) + lie; }\n";
	char c[PATH_MAX];
	char *cc[] = { (char *)"/bin/sh", (char *)"-c", NULL, NULL };
	char cmd[3 * PATH_MAX], out[4096];
	int fd, st;

	snprintf(c, sizeof(c), "%s/shim.c", tmp);
	snprintf(so, size, "%s/shim.so", tmp);
	fd = open(c, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, src, sizeof(src) - 1) != sizeof(src) - 1)
		tap_bail("%s: %s", c, strerror(errno));
	close(fd);
	snprintf(cmd, sizeof(cmd), "command -v cc >/dev/null || exit 99; "
		 "cc -shared -fPIC -o '%s' '%s'", so, c);
	cc[2] = cmd;
	st = run(cc, NULL, out, sizeof(out), 60000);
	if (st != 0 && st != 99)
		show(out);
	return st == 0 ? 0 : -1;
}

static void exec_check(void)
{
	char tmp[] = "/tmp/ksvc-test-examples.XXXXXX", so[PATH_MAX];
	char facts[PATH_MAX], pre[PATH_MAX + 16], out[8192];
	char *fargv[] = { facts, (char *)"--check", (char *)"--exec", NULL };
	char *env[] = { pre, (char *)"TIER0_SHIM_LIE=1",
			(char *)"ASAN_OPTIONS=verify_asan_link_order=0",
			NULL };
	int st;

	path_of(facts, sizeof(facts), "examples/tier0-facts");
	if (!mkdtemp(tmp))
		tap_bail("mkdtemp: %s", strerror(errno));
	if (make_shim(tmp, so, sizeof(so))) {
		tap_skip("no C compiler for the preload shim", "tier0-facts "
			 "--check --exec, a check failed before the exec");
		tap_skip("no C compiler for the preload shim", "tier0-facts "
			 "--check --exec with the shim, nothing failed");
	} else {
		snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", so);
		st = run(fargv, env, out, sizeof(out), 30000);
		if (!tap_ok(st == 1 && strstr(out, "getpid: libc") &&
			    !strstr(out, "exec: "),
			    "tier0-facts --check --exec, getpid wrong before "
			    "the exec: exit %d (want 1), reported, no exec",
			    st))
			show(out);
		/* Control: the shim telling the truth changes nothing. */
		env[1] = (char *)"TIER0_SHIM_QUIET=1";
		st = run(fargv, env, out, sizeof(out), 30000);
		if (!tap_ok(st == 0 && strstr(out, "exec: getpid"),
			    "tier0-facts --check --exec with the shim, nothing "
			    "wrong: exit %d (want 0), the new image ran", st))
			show(out);
		unlink(so);
	}
	snprintf(so, sizeof(so), "%s/shim.c", tmp);
	unlink(so);
	rmdir(tmp);
}

/* Steps A1 to A7 (see the top of this file). */
#define EXAMPLES_TESTS	(15 + 3 + 6 * 3 + 2 + 3 + 1 + 2)

static void examples(void)
{
	char uring[PATH_MAX], epoll[PATH_MAX], portstr[16];
	int port;

	bench_server(uring, sizeof(uring), "echo_uring");
	bench_server(epoll, sizeof(epoll), "echo_epoll");
	/* A1. Bad arguments. */
	{
		char *const bad[][5] = {
			{ server, "--port", "4294967376", NULL },
			{ server, "--port", "21140x", NULL },
			{ server, "--spin-us", "abc", "--port", "21140" },
			{ server, "--spin-us", "-1", "--port", "21140" },
			{ server, "70000", NULL },
			{ server, "21140", "0", NULL },
		};
		static const char *const why[] = {
			"port \"4294967376\": want a number in 1..65535",
			"port \"21140x\"", "spin-us \"abc\"", "spin-us \"-1\"",
			"port \"70000\"", "threads \"0\"",
		};
		char *const badc[][6] = {
			{ client, "127.0.0.1", "99999", NULL },
			{ client, "-w", "inf", "127.0.0.1", "1", NULL },
			{ client, "-w", "nan", "127.0.0.1", "1", NULL },
			{ client, "--wait", "-1", "127.0.0.1", "1", NULL },
		};
		static const char *const whyc[] = {
			"port \"99999\"", "-w \"inf\"", "-w \"nan\"",
			"--wait \"-1\"",
		};
		static const char *const badd[] = { "abc", "-1", "0", "12x" };
		char *help[] = { server, (char *)"--help", NULL }, out[4096];
		unsigned int i;
		int st;

		for (i = 0; i < 6; i++) {
			char *a[6] = { NULL };

			memcpy(a, bad[i], sizeof(bad[i]));
			expect(a, 2, why[i]);
		}
		for (i = 0; i < 4; i++)
			expect(badc[i], 2, whyc[i]);
		for (i = 0; i < 4; i++) {
			char *a[] = { demo, (char *)badd[i], NULL };

			expect(a, 2, "want a number in 1..");
		}
		/* --help: usage on stdout (stderr to /dev/null), exit 0. */
		{
			int fd, null = open("/dev/null", O_WRONLY |
					    O_CLOEXEC);
			pid_t pid;

			pid = spawn(help, NULL, &fd, null);
			close(null);
			slurp(fd, out, sizeof(out), 10000, 0);
			close(fd);
			st = reap(pid, 5000);
			tap_ok(st == 0 && strstr(out, "usage: ksvc-echo"),
			       "ksvc-echo --help: exit %d (want 0), the usage "
			       "on stdout", st);
		}
	}

	/* A2. A taken port. */
	port = free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	{
		char *sargv[] = { server, portstr, (char *)"1", NULL };
		char *uargv[] = { uring, portstr, (char *)"1", NULL };

		taken(sargv, port);
		port = free_port();
		snprintf(portstr, sizeof(portstr), "%d", port);
		if (access(uring, X_OK))
			tap_skip("build/bench/echo_uring not built (make "
				 "bench-echo-build)", "echo_uring: a taken "
				 "port");
		else
			taken(uargv, port);
	}
	/* The probe refuses nothing else (a new port: a killed io_uring
	 * server's listener can outlive it a while, held by its ring). */
	port = free_port();
	snprintf(portstr, sizeof(portstr), "%d", port);
	{
		char out[4096];
		char *sargv[] = { server, portstr, (char *)"1", NULL };
		int fd, st;
		pid_t pid = spawn(sargv, NULL, &fd, -1);

		st = wait_listening(port);
		kill(pid, SIGTERM);
		slurp(fd, out, sizeof(out), 10000, 0);
		close(fd);
		tap_ok(st == 0 && reap(pid, 10000) == 0,
		       "ksvc-echo on a port that is free: listens, exits 0 on "
		       "SIGTERM");
	}

	/* A3. Out of descriptors. */
	{
		char *sargv[] = { server, (char *)"--port", portstr,
				  (char *)"--threads", (char *)"1", NULL };
		char *uargv[] = { uring, portstr, (char *)"1", NULL };
		char *eargv[] = { epoll, portstr, (char *)"1", NULL };
		int i;

		port = free_port();
		snprintf(portstr, sizeof(portstr), "%d", port);
		emfile("ksvc-echo", sargv, port);
		for (i = 0; i < 2; i++) {
			char *const *a = i ? eargv : uargv;
			const char *name = i ? "echo_epoll" : "echo_uring";

			if (access(a[0], X_OK)) {
				int j;

				for (j = 0; j < 6; j++)
					tap_skip("not built (make "
						 "bench-echo-build)",
						 "%s out of descriptors", name);
				continue;
			}
			port = free_port();
			snprintf(portstr, sizeof(portstr), "%d", port);
			emfile(name, a, port);
		}
	}

	/* A4. A server that never accepts; A5. huge -w; A7. few
	 * descriptors; A6. tier0-facts. */
	never_accepts(client);
	huge_w(client);
	client_few_fds(server, client);
	exec_check();
}

int main(int argc, char **argv)
{
	char dir[512], *here, me[PATH_MAX], *p;

	td_args(argc, argv);
	snprintf(dir, sizeof(dir), "%s", argv[0]);
	here = dirname(dir);
	snprintf(server, sizeof(server), "%.400s/../examples/ksvc-echo", here);
	snprintf(client, sizeof(client), "%.400s/../examples/echo-client",
		 here);
	if (!realpath("/proc/self/exe", me))
		tap_bail("realpath: %s", strerror(errno));
	p = strrchr(me, '/');
	*p = '\0';			/* .../test */
	snprintf(tree, sizeof(tree), "%.3800s/..", me);
	path_of(demo, sizeof(demo), "examples/ksvc-demo");
	if (access(server, X_OK) || access(client, X_OK) ||
	    access(demo, X_OK))
		tap_skip_all("examples/ksvc-echo, echo-client or ksvc-demo is "
			     "not built next to this program (make examples)");
	tap_plan(4 + 4 + 8 + EXAMPLES_TESTS);
	td_say_where();
	signal(SIGPIPE, SIG_IGN);
	serve(NULL);
	serve("--no-tier1");
	broken(1, "flips one byte", "3", ", expected 0x", NULL);
	broken(2, "sends one byte too many", "3", " were sent", NULL);
	/* EOF, or a reset if the next message reached the closed socket. */
	broken(3, "closes the connection early", "3",
	       "server closed the connection after", "reset by peer");
	/* The client's stall time-out is -w: 1 s keeps these short. */
	broken(4, "drops the last byte of a message", "1",
	       "msg 1: 63 of 64 bytes back, nothing more within", NULL);
	/* 65 bytes in one read, or the rest of a split read shifted. */
	broken(5, "sends one byte twice", "3", " were sent", ", expected 0x");
	broken(6, "swaps two bytes", "3", ", expected 0x", NULL);
	broken(7, "stops echoing with the connection open", "1",
	       "msg 3: 0 of 64 bytes back, nothing more within", NULL);
	broken(8, "sends a byte after the end", "3",
	       "bytes after the last message", NULL);
	examples();
	tap_done();
}
