// SPDX-License-Identifier: MIT
/*
 * test_perms - who may reach what the module exposes.
 *
 *  - /dev/ksvc is a character device of mode 0666: any user may open it
 *    (each instance is its opener's own);
 *  - the debugfs files are root's: instances, pages and hooks 0400,
 *    record_writers 0600;
 *  - the module parameters: max_user_instances 0644, nohook 0444;
 *  - as user nobody: /dev/ksvc opens and CREATE works, the debugfs files
 *    and a write of max_user_instances fail with EACCES.
 */
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define DBG	"/sys/kernel/debug/ksvc/"
#define PARAMS	"/sys/module/ksvc/parameters/"
#define NOBODY	65534

static int mode_is(const char *path, mode_t type, mode_t want)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		tap_diag("%s: %s", path, strerror(errno));
		return 0;
	}
	if ((st.st_mode & S_IFMT) != type || (st.st_mode & 07777) != want ||
	    st.st_uid != 0) {
		tap_diag("%s: mode %o uid %u, want %o uid 0", path,
			 (unsigned int)st.st_mode, (unsigned int)st.st_uid,
			 (unsigned int)(type | want));
		return 0;
	}
	return 1;
}

/* As nobody: bit i of the exit status = check i failed. */
static int as_nobody(void)
{
	static const char *const dbg[] = {
		DBG "instances", DBG "pages", DBG "hooks", DBG "record_writers",
	};
	struct ksvc_create_params p;
	unsigned int i;
	int st = 0, fd;

	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return 0x40;
	fd = open("/dev/ksvc", O_RDWR);
	memset(&p, 0, sizeof(p));
	p.submit_ring_entries = KSVC_MIN_ENTRIES;
	p.complete_ring_entries = KSVC_MIN_ENTRIES;
	p.eventfd = -1;
	if (fd < 0 || ioctl(fd, KSVC_IOC_CREATE, &p) != 0)
		st |= 1;
	if (fd >= 0)
		close(fd);
	for (i = 0; i < sizeof(dbg) / sizeof(dbg[0]); i++) {
		fd = open(dbg[i], O_RDONLY);
		if (fd >= 0 || errno != EACCES)
			st |= 2;
		if (fd >= 0)
			close(fd);
	}
	fd = open(PARAMS "max_user_instances", O_WRONLY);
	if (fd >= 0 || errno != EACCES)
		st |= 4;
	if (fd >= 0)
		close(fd);
	return st;
}

int main(void)
{
	struct ku_counts base;
	int ok, st;
	pid_t pid;

	ku_require_module();
	tap_plan(6);
	base = ku_counts();

	tap_ok(mode_is("/dev/ksvc", S_IFCHR, 0666), "/dev/ksvc: a character "
	       "device, mode 0666, owned by root");
	ok = mode_is(DBG "instances", S_IFREG, 0400) &&
	     mode_is(DBG "pages", S_IFREG, 0400) &&
	     mode_is(DBG "hooks", S_IFREG, 0400) &&
	     mode_is(DBG "record_writers", S_IFREG, 0600);
	tap_ok(ok, "debugfs: instances, pages, hooks 0400, record_writers "
	       "0600, root's");
	ok = mode_is(PARAMS "max_user_instances", S_IFREG, 0644) &&
	     mode_is(PARAMS "nohook", S_IFREG, 0444);
	tap_ok(ok, "parameters: max_user_instances 0644, nohook 0444");

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		tap_bail("fork: %s", strerror(errno));
	if (pid == 0)
		_exit(as_nobody());
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		st = 0x40;
	else
		st = WEXITSTATUS(st);
	if (st)
		tap_diag("child status %#x", st);
	tap_ok(st < 0x40 && !(st & 1), "as nobody: /dev/ksvc opens and "
	       "CREATE works");
	tap_ok(st < 0x40 && !(st & 6), "as nobody: the debugfs files and a "
	       "write of max_user_instances are refused (EACCES)");
	tap_ok(ku_counts_wait(base), "no instance left");
	return tap_done();
}
