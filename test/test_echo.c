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
 */
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "test_dispatch.h"
#include "util.h"

static char server[512], client[512];

static int free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		tap_bail("free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/*
 * Start @argv with its stdout (and its stderr too if @both) on a pipe;
 * the read end in *@out.
 */
static pid_t spawn(char *const argv[], int *out, int both)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		tap_bail("pipe2");
	pid = fork();
	if (pid < 0)
		tap_bail("fork");
	if (pid == 0) {
		dup2(p[1], 1);
		if (both)
			dup2(p[1], 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out = p[0];
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
	pid = spawn(argv, &fd, both);
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
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct run r;
	pid_t srv;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(lfd, 4) || getsockname(lfd, (struct sockaddr *)&a, &len))
		tap_bail("broken server socket: %s", strerror(errno));
	srv = fork();
	if (srv < 0)
		tap_bail("fork");
	if (srv == 0)
		broken_server(lfd, how);
	close(lfd);
	run_client(ntohs(a.sin_port), "1", "20", "64", w, &r, 1, 15000);
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
	pid = spawn(sargv, &fd, 0);
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

int main(int argc, char **argv)
{
	char dir[512], *here;

	td_args(argc, argv);
	snprintf(dir, sizeof(dir), "%s", argv[0]);
	here = dirname(dir);
	snprintf(server, sizeof(server), "%.400s/../examples/ksvc-echo", here);
	snprintf(client, sizeof(client), "%.400s/../examples/echo-client",
		 here);
	if (access(server, X_OK) || access(client, X_OK))
		tap_skip_all("examples/ksvc-echo or examples/echo-client is "
			     "not built next to this program (make examples)");
	tap_plan(4 + 4 + 8);
	td_say_where();
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
	tap_done();
}
