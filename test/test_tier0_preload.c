// SPDX-License-Identifier: MIT
/*
 * test_tier0_preload - libksvc-preload.so and ksvc-run with unmodified
 * programs.
 *
 * `id`, `uname -a`, `sh -c 'echo $$ $PPID'` and examples/tier0-facts
 * run without the shim, with LD_PRELOAD, and through ksvc-run; their
 * output must be identical.  Each run is the second process of a new pid
 * namespace, so that pids are the same in every run.  With
 * KSVC_PRELOAD_STATS=1 the shim reports how the calls were answered:
 * where /dev/ksvc exists the page must have answered (that proves the
 * shim is in the way and Tier 0 works); where it does not, every call
 * must have been a syscall and nothing else may change.  Also: the shim
 * in a forked child, beside a vfork child (whose _exit() must not touch
 * the parent's counters), across exec, and ksvc-run from an installed
 * layout.
 *
 * Finds the shim at <root>/lib/libksvc-preload.so, tier0-facts at
 * <root>/examples/tier0-facts, where <root> is the directory above this
 * program's, and ksvc-run at <root>/tools/ksvc-run or, for a build
 * directory, in tools/ of a directory above (KSVC_TEST_RUNNER=path
 * overrides).
 */
#include <dirent.h>
#include <limits.h>
#include <link.h>
#include <sched.h>
#include <sys/stat.h>

#include "test_tier0.h"

extern char **environ;

static char root[PATH_MAX], shim[PATH_MAX], facts[PATH_MAX], runner[PATH_MAX];
static char asan_rt[PATH_MAX];	/* this test's sanitizer runtime */
static int shim_asan;		/* the shim needs it loaded first */
static char layout[PATH_MAX];	/* temporary build-tree layout, if made */
static int have_dev;

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int find_asan(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (info->dlpi_name && strstr(info->dlpi_name, "/libasan.so")) {
		snprintf(asan_rt, sizeof(asan_rt), "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

static void locate(void)
{
	char exe[PATH_MAX], dir[PATH_MAX], *s;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int up;

	if (n <= 0)
		tap_bail("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = 0;
	s = strrchr(exe, '/');
	*s = 0;				/* <root>/test */
	s = strrchr(exe, '/');
	if (s == exe)
		strcpy(root, "/");
	else {
		*s = 0;
		snprintf(root, sizeof(root), "%s", exe);
	}
	snprintf(shim, sizeof(shim), "%s/lib/libksvc-preload.so",
		 strcmp(root, "/") ? root : "");
	snprintf(facts, sizeof(facts), "%s/examples/tier0-facts",
		 strcmp(root, "/") ? root : "");
	snprintf(dir, sizeof(dir), "%s", root);
	runner[0] = 0;
	s = getenv("KSVC_TEST_RUNNER");	/* tools/ksvc-run elsewhere */
	if (s && is_file(s) && strlen(s) < sizeof(runner)) {
		memcpy(runner, s, strlen(s) + 1);
		up = 4;
	} else {
		up = 0;
	}
	for (; up < 4; up++) {
		char cand[PATH_MAX + 32];

		snprintf(cand, sizeof(cand), "%s/tools/ksvc-run",
			 strcmp(dir, "/") ? dir : "");
		if (is_file(cand) && strlen(cand) < sizeof(runner)) {
			memcpy(runner, cand, strlen(cand) + 1);
			break;
		}
		if (strcmp(dir, "/") == 0)
			break;
		s = strrchr(dir, '/');
		if (!s)
			break;
		if (s == dir)
			s[1] = 0;	/* on to "/" */
		else
			*s = 0;
	}
}

/* Was the shim built with AddressSanitizer (does it need libasan)? */
static int shim_needs_asan(void)
{
	static char buf[4 << 20];
	size_t n;
	FILE *f = fopen(shim, "rb");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return memmem(buf, n, "libasan.so", 10) != NULL;
}

/*
 * ksvc-run looks for the shim in ../lib next to itself.  When the script
 * found is not beside the built shim (a build with O=dir keeps the script
 * in the source tree), lay out <tmp>/tools/ksvc-run and
 * <tmp>/lib/libksvc-preload.so as in a build tree and use that copy.
 */
static void prepare_runner(void)
{
	char want[PATH_MAX + 32], tmpl[] = "/tmp/ksvc-run-tree.XXXXXX";
	char path[PATH_MAX + 64], cmd[3 * PATH_MAX];
	char *dir;

	snprintf(want, sizeof(want), "%s/tools/ksvc-run",
		 strcmp(root, "/") ? root : "");
	if (!runner[0] || strcmp(want, runner) == 0)
		return;
	dir = mkdtemp(tmpl);
	if (!dir) {
		runner[0] = 0;
		return;
	}
	snprintf(layout, sizeof(layout), "%s", dir);
	snprintf(path, sizeof(path), "%s/tools", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lib", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lib/libksvc-preload.so", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/tools/ksvc-run'", runner, dir);
	if (symlink(shim, path) != 0 || system(cmd) != 0) {
		runner[0] = 0;
		return;
	}
	snprintf(runner, sizeof(runner), "%s/tools/ksvc-run", dir);
}

/* ------------------------------------------------------------------ */
/* Running a program                                                   */
/* ------------------------------------------------------------------ */

struct out {
	char o[16384];
	char e[8192];
	int status;		/* exit status, 128+signal, -1 */
};

enum { PRELOAD = 1, STATS = 2, PIDNS = 4 };

static char *dup_env(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *s = malloc(n);

	if (!s)
		tap_bail("malloc");
	snprintf(s, n, "%s=%s", k, v);
	return s;
}

static size_t env_own;	/* make_env(): entries from here on are ours */

static void free_env(char **env)
{
	size_t i;

	for (i = env_own; env[i]; i++)
		free(env[i]);
	free(env);
}

/* The environment for a run: ours, without the shim's variables. */
static char **make_env(int flags)
{
	size_t n = 0, i, j = 0;
	char **env, pre[2 * PATH_MAX + 2];

	while (environ[n])
		n++;
	env = calloc(n + 8, sizeof(*env));
	if (!env)
		tap_bail("calloc");
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "KSVC_PRELOAD_STATS=", 19) &&
		    strncmp(environ[i], "ASAN_OPTIONS=", 13))
			env[j++] = environ[i];
	env_own = j;
	/*
	 * Sanitizer builds: a sanitized tier0-facts must accept a preload
	 * ahead of its runtime, and a sanitized shim needs the runtime
	 * loaded before it.
	 */
	if (asan_rt[0])
		env[j++] = dup_env("ASAN_OPTIONS", "detect_leaks=0:"
				   "verify_asan_link_order=0");
	if (shim_asan && asan_rt[0]) {
		if (flags & PRELOAD)
			snprintf(pre, sizeof(pre), "%s %s", asan_rt, shim);
		else
			snprintf(pre, sizeof(pre), "%s", asan_rt);
		env[j++] = dup_env("LD_PRELOAD", pre);
	} else if (flags & PRELOAD) {
		env[j++] = dup_env("LD_PRELOAD", shim);
	}
	if (flags & STATS)
		env[j++] = dup_env("KSVC_PRELOAD_STATS", "1");
	env[j] = NULL;
	return env;
}

static void drain(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while ((r = read(fd, buf + got, len - 1 - got)) > 0) {
		got += (size_t)r;
		if (got == len - 1)
			break;
	}
	buf[got] = 0;
	close(fd);
}

/*
 * Run @argv with @flags; with PIDNS, as pid 2 of a new pid namespace
 * (pid 1 waits for it), so that $$ and getpid() are the same each run.
 */
static void run(char *const argv[], int flags, struct out *out)
{
	int po[2], pe[2];
	char **env = make_env(flags);
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if (pipe(po) || pipe(pe))
		tap_bail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		close(po[1]);
		close(pe[1]);
		if (flags & PIDNS) {
			pid_t init, prog;

			if (unshare(CLONE_NEWPID) != 0) {
				dprintf(2, "unshare(CLONE_NEWPID): %s\n",
					strerror(errno));
				_exit(126);
			}
			init = fork();
			if (init < 0)
				_exit(126);
			if (init > 0)
				_exit(t0_wait(init));
			/* pid 1 */
			prog = fork();
			if (prog < 0)
				_exit(126);
			if (prog > 0)
				_exit(t0_wait(prog));
		}
		execve(argv[0], argv, env);
		dprintf(2, "execve %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	drain(po[0], out->o, sizeof(out->o));
	drain(pe[0], out->e, sizeof(out->e));
	out->status = t0_wait(pid);
	free_env(env);
}

/* ------------------------------------------------------------------ */
/* Stats lines                                                         */
/* ------------------------------------------------------------------ */

#define NFN 8
static const char *const fn[NFN] = {
	"getpid", "getppid", "getuid", "getgid", "geteuid", "getegid",
	"uname", "getrlimit",
};

struct stats {
	long pid;
	unsigned long page[NFN], sys[NFN];
};

/* Parse up to @max "ksvc-preload:" lines from @err. */
static int parse_stats(const char *err, struct stats *st, int max)
{
	const char *p = err;
	int n = 0, i;

	while (n < max && (p = strstr(p, "ksvc-preload: pid=")) != NULL) {
		const char *eol = strchr(p, '\n');

		memset(&st[n], 0, sizeof(st[n]));
		st[n].pid = strtol(p + 18, NULL, 10);
		for (i = 0; i < NFN; i++) {
			char key[32];
			const char *k;

			snprintf(key, sizeof(key), " %s=", fn[i]);
			k = strstr(p, key);
			if (!k || (eol && k > eol))
				return -1;
			if (sscanf(k + strlen(key), "%lu/%lu", &st[n].page[i],
				   &st[n].sys[i]) != 2)
				return -1;
		}
		n++;
		p = eol ? eol : p + 1;
	}
	return n;
}

/*
 * Did the calls in @mask (bit i: fn[i]) go where they should: from the
 * page with /dev/ksvc, by syscall without?
 */
static int stats_ok(const struct stats *st, unsigned mask, const char *what)
{
	int i, ok = 1;

	for (i = 0; i < NFN; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (have_dev && st->page[i] == 0) {
			tap_diag("%s: %s: no call answered from the page "
				 "(%lu by syscall)", what, fn[i], st->sys[i]);
			ok = 0;
		}
		if (!have_dev && (st->page[i] != 0 || st->sys[i] == 0)) {
			tap_diag("%s: %s: page %lu, syscall %lu without "
				 "/dev/ksvc", what, fn[i], st->page[i],
				 st->sys[i]);
			ok = 0;
		}
	}
	return ok;
}

static void show(const char *what, const struct out *o)
{
	tap_diag("%s: status %d", what, o->status);
	if (o->o[0])
		tap_diag("%s: stdout: %.300s", what, o->o);
	if (o->e[0])
		tap_diag("%s: stderr: %.300s", what, o->e);
}

/* ------------------------------------------------------------------ */

struct prog {
	const char *name;
	char *argv[6];
	unsigned mask;		/* functions the page must have answered */
};

#define M(i) (1u << (i))

/*
 * How many results each function below reports, whatever happens: the
 * plan, and the skips that stand in for them when tier0-facts is
 * missing, are counted from these.
 */
#define PROGRAM_TESTS		4	/* test_program() */
#define FORK_EXEC_TESTS		3	/* test_fork_exec() */
#define INSTALLED_TESTS		2	/* test_installed_layout() */

static void test_program(struct prog *p)
{
	struct out base, pre, stat, viarun;
	struct stats st[4];
	char *rargv[8];
	int n, i;

	run(p->argv, PIDNS, &base);
	if (!tap_ok(base.status == 0 && base.o[0],
		    "%s: runs without the shim", p->name)) {
		show(p->name, &base);
		for (i = 1; i < PROGRAM_TESTS; i++)
			tap_ok(0, "%s: not run", p->name);
		return;
	}

	run(p->argv, PIDNS | PRELOAD, &pre);
	if (!tap_ok(pre.status == 0 && strcmp(pre.o, base.o) == 0 &&
		    pre.e[0] == 0,
		    "%s: same output with LD_PRELOAD, nothing on stderr",
		    p->name)) {
		show("without", &base);
		show("with", &pre);
	}

	run(p->argv, PIDNS | PRELOAD | STATS, &stat);
	n = parse_stats(stat.e, st, 4);
	if (!tap_ok(stat.status == 0 && strcmp(stat.o, base.o) == 0 &&
		    n == 1 && stats_ok(&st[0], p->mask, p->name),
		    "%s: same output with KSVC_PRELOAD_STATS=1, and the %s "
		    "answered", p->name, have_dev ? "page" : "syscalls"))
		show("with stats", &stat);
	else
		tap_diag("%s: %.*s", p->name, (int)strcspn(stat.e, "\n"),
			 stat.e);

	if (!runner[0]) {
		tap_ok(0, "%s: through ksvc-run # tools/ksvc-run not found",
		       p->name);
		return;
	}
	rargv[0] = runner;
	for (i = 0; p->argv[i] && i < 6; i++)
		rargv[i + 1] = p->argv[i];
	rargv[i + 1] = NULL;
	run(rargv, PIDNS | STATS, &viarun);
	n = parse_stats(viarun.e, st, 4);
	if (!tap_ok(viarun.status == 0 && strcmp(viarun.o, base.o) == 0 &&
		    n == 1 && stats_ok(&st[0], p->mask, p->name),
		    "%s: same output through ksvc-run (%s), shim in the way",
		    p->name, runner))
		show("ksvc-run", &viarun);
}

/*
 * With KSVC_PRELOAD_STATS=1 the shim keeps a copy of stderr at the lowest
 * free descriptor from 3 for its line at exit.  A program that closes
 * that number and opens a file of its own there must not find the line
 * in its file.
 */
static void test_stats_fd_reused(void)
{
	char path[] = "/tmp/ksvc-stats-XXXXXX", cmd[128], buf[256];
	char *sargv[] = { (char *)"/bin/sh", (char *)"-c", cmd, NULL };
	struct out o;
	ssize_t n = -1;
	int fd = mkstemp(path);

	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	snprintf(cmd, sizeof(cmd), "exec 3>&-; exec 3>%s; echo data >&3",
		 path);
	run(sargv, PRELOAD | STATS, &o);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	unlink(path);
	buf[n > 0 ? n : 0] = 0;
	tap_ok(o.status == 0 && n == 5 && memcmp(buf, "data\n", 5) == 0,
	       "KSVC_PRELOAD_STATS=1: a program that reuses the shim's copy "
	       "of stderr keeps the stats line out of its file (%zd bytes, "
	       "the first line \"%.*s\")", n, (int)strcspn(buf, "\n"), buf);
}

static void test_fork_exec(void)
{
	char *fargv[] = { facts, (char *)"--check", (char *)"--fork",
			  (char *)"--thread", NULL };
	char *vargv[] = { facts, (char *)"--check", (char *)"--vfork", NULL };
	char *eargv[] = { facts, (char *)"--check", (char *)"--exec", NULL };
	struct out o;
	struct stats st[4];
	const char *ppid;
	int n;

	run(fargv, PRELOAD | STATS, &o);
	n = parse_stats(o.e, st, 4);
	if (!tap_ok(o.status == 0 && n == 2 && st[0].pid != st[1].pid &&
		    stats_ok(&st[0], 0xff, "fork, first") &&
		    stats_ok(&st[1], 0xff, "fork, second"),
		    "tier0-facts --fork --thread: parent, thread and child "
		    "right, each process answered by its own %s",
		    have_dev ? "page" : "syscalls"))
		show("fork", &o);

	run(vargv, PRELOAD | STATS, &o);
	n = parse_stats(o.e, st, 4);
	ppid = strstr(o.o, "after-vfork: getpid ");
	if (!tap_ok(o.status == 0 && n == 1 && ppid &&
		    st[0].pid == strtol(ppid + 20, NULL, 10) &&
		    stats_ok(&st[0], 0xff, "vfork"),
		    "tier0-facts --vfork: the vfork child's _exit() leaves the "
		    "counters alone; the parent reports its own, once"))
		show("vfork", &o);

	run(eargv, PRELOAD | STATS, &o);
	n = parse_stats(o.e, st, 4);
	if (!tap_ok(o.status == 0 && n == 1 && strstr(o.o, "exec: getpid") &&
		    stats_ok(&st[0], 0xff, "after exec"),
		    "tier0-facts --exec: the new image is right and uses its "
		    "own %s", have_dev ? "page" : "syscalls"))
		show("exec", &o);
}

/* ksvc-run copied into <tmp>/bin, the shim linked into <tmp>/lib. */
static void test_installed_layout(void)
{
	char tmpl[] = "/tmp/ksvc-run-test.XXXXXX", path[PATH_MAX + 64];
	char link[PATH_MAX + 64], *dir = mkdtemp(tmpl);
	char *argv[] = { path, facts, NULL }, *bare[] = { path, NULL };
	char *fargv[] = { facts, NULL };
	struct out base, o;
	struct stats st[2];
	int ok = 0, n;

	if (!dir || !runner[0]) {
		tap_ok(0, "ksvc-run from an installed layout # no tmp dir or "
		       "no ksvc-run");
		tap_ok(0, "ksvc-run without arguments");
		return;
	}
	snprintf(path, sizeof(path), "%s/bin", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/lib", dir);
	mkdir(path, 0755);
	snprintf(link, sizeof(link), "%s/lib/libksvc-preload.so", dir);
	if (symlink(shim, link) == 0) {
		char cmd[3 * PATH_MAX];

		snprintf(path, sizeof(path), "%s/bin/ksvc-run", dir);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", runner, path);
		ok = system(cmd) == 0;
	}
	/* And a symlink to it from elsewhere, as in /usr/local/bin. */
	snprintf(link, sizeof(link), "%s/ksvc-run", dir);
	if (ok && symlink(path, link) != 0)
		ok = 0;
	run(fargv, PIDNS, &base);
	snprintf(path, sizeof(path), "%s/ksvc-run", dir);
	run(argv, PIDNS | STATS, &o);
	n = parse_stats(o.e, st, 2);
	if (!tap_ok(ok && base.status == 0 && o.status == 0 &&
		    strcmp(o.o, base.o) == 0 && n == 1 &&
		    stats_ok(&st[0], 0xff, "installed"),
		    "ksvc-run from an installed layout (bin/ + lib/, called "
		    "through a symlink)"))
		show("installed", &o);
	run(bare, 0, &o);
	tap_ok(o.status == 2 && strstr(o.e, "usage"),
	       "ksvc-run without arguments: usage, status 2 (%d)", o.status);

	snprintf(link, sizeof(link), "rm -rf '%s'", dir);
	if (system(link) != 0)
		tap_diag("cannot remove %s", dir);
}

int main(void)
{
	struct prog progs[] = {
		{ "id", { (char *)"/usr/bin/id", NULL },
		  M(2) | M(3) | M(4) | M(5) },
		{ "uname -a", { (char *)"/usr/bin/uname", (char *)"-a", NULL },
		  M(6) },
		{ "sh -c 'echo $$ $PPID'", { (char *)"/bin/sh", (char *)"-c",
		  (char *)"echo $$ $PPID", NULL }, M(0) | M(1) },
		{ "tier0-facts", { facts, (char *)"--check", NULL }, 0xff },
	};
	struct stat st;
	size_t i;

	if (geteuid() != 0)
		tap_skip_all("needs root (runs programs in new pid namespaces)");
	locate();
	have_dev = stat(KSVC_DEVICE_PATH, &st) == 0;
	if (!is_file(shim))
		tap_skip_all("libksvc-preload.so not built (make lib)");
	prepare_runner();
	dl_iterate_phdr(find_asan, NULL);
	shim_asan = shim_needs_asan();
	tap_plan((int)(sizeof(progs) / sizeof(progs[0])) * PROGRAM_TESTS +
		 FORK_EXEC_TESTS + INSTALLED_TESTS + 1);
	tap_diag("shim %s; ksvc-run %s; %s", shim, runner[0] ? runner : "-",
		 have_dev ? "/dev/ksvc present" : "no /dev/ksvc: fallback");
	if (shim_asan)
		tap_diag("sanitizer runtime preloaded first: %s", asan_rt);
	for (i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (strcmp(progs[i].name, "tier0-facts") == 0 && !is_file(facts)) {
			int k;

			for (k = 0; k < PROGRAM_TESTS; k++)
				tap_skip("examples/tier0-facts not built "
					 "(make examples)", "tier0-facts");
			continue;
		}
		test_program(&progs[i]);
	}
	test_stats_fd_reused();
	if (is_file(facts)) {
		test_fork_exec();
		test_installed_layout();
	} else {
		int k;

		for (k = 0; k < FORK_EXEC_TESTS + INSTALLED_TESTS; k++)
			tap_skip("examples/tier0-facts not built "
				 "(make examples)", "fork/exec/installed");
	}
	if (layout[0]) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", layout);
		if (system(cmd) != 0)
			tap_diag("cannot remove %s", layout);
	}
	tap_done();
}
