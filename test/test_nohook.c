// SPDX-License-Identifier: MIT
/*
 * test_nohook - a hook the kernel lacks costs the facts that need it,
 * and only those ("slower, never wrong").
 *
 * The module's nohook parameter names hooks not to attach, as if the
 * kernel had no such place.  For every hook the module lists in debugfs
 * (kprobes and tracepoints), the module is loaded again with that hook
 * left out, and:
 *   - debugfs says the groups that need it are disabled, exactly those
 *     this test expects for it (a table of its own: a hook added to the
 *     module without its line here fails);
 *   - a new instance, after REFRESH, has every other group fresh and
 *     exact, and none of those;
 * and without the sched_process_exit tracepoint (which frees the
 * records of host name writers when they exit), no record is made: a
 * child that writes a host name and exits leaves none behind.
 * At the end the module is loaded as it was, with the hooks it had.
 *
 * Needs root, the module and $KSVC_KO (the guest harness sets it).
 * Makes no library call that opens an instance of its own (accessors),
 * which would keep the module from unloading.
 */
#include <sched.h>

#include "test_tier0.h"
#include "util.h"

#define HOOKS_FILE	KU_DBG_DIR "/hooks"
#define MAX_HOOKS	64

static char names[MAX_HOOKS][128];
static int nnames;

/* The groups that need a hook, by its name less any system call prefix. */
static const struct {
	const char *name;
	unsigned int groups;
} expect[] = {
	{ "commit_creds", KSVC_FRESH_IDS },
	{ "proc_uid_map_write", KSVC_FRESH_IDS },
	{ "proc_gid_map_write", KSVC_FRESH_IDS },
	{ "sethostname", KSVC_FRESH_UTS },
	{ "setdomainname", KSVC_FRESH_UTS },
	{ "proc_do_uts_string", KSVC_FRESH_UTS },
	{ "proc_sys_poll_notify", KSVC_FRESH_UTS },
	{ "personality", KSVC_FRESH_UTS },
	{ "arm64_personality", KSVC_FRESH_UTS },
	{ "switch_task_namespaces", KSVC_FRESH_UTS },
	{ "security_task_setrlimit", KSVC_FRESH_NOFILE },
	/* These only bring bits back sooner. */
	{ "exit_mm_release", 0 },
	{ "exec_mm_release", 0 },
	{ "prlimit64", 0 },
	{ "setrlimit", 0 },
	{ "sched_process_exit", KSVC_FRESH_PPID },
	{ "task_newtask", KSVC_FRESH_ALL },
};

static int expected(const char *name, unsigned int *groups)
{
	static const char *const prefix[] = {
		"__x64_sys_", "__ia32_compat_sys_", "__ia32_sys_",
		"__arm64_sys_", "sys_",
	};
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (!strncmp(name, prefix[i], strlen(prefix[i]))) {
			name += strlen(prefix[i]);
			break;
		}
	for (i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (!strcmp(name, expect[i].name)) {
			*groups = expect[i].groups;
			return 1;
		}
	return 0;
}

/* From the hooks file: the names (@list) and the disabled groups. */
static int read_hooks(int list, unsigned int *disabled, unsigned int *writers)
{
	FILE *f = fopen(HOOKS_FILE, "r");
	char line[256], name[128];
	int got = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (list && nnames < MAX_HOOKS &&
		    (sscanf(line, "kprobe %127s", name) == 1 ||
		     sscanf(line, "tracepoint %127s", name) == 1))
			snprintf(names[nnames++], sizeof(names[0]), "%s", name);
		if (sscanf(line, "disabled groups %x", disabled) == 1)
			got |= 1;
		if (sscanf(line, "writers %u", writers) == 1)
			got |= 2;
	}
	fclose(f);
	return got == 3 ? 0 : -1;
}

static int reload(const char *ko, const char *params)
{
	int r = ku_module_unload();

	if (r) {
		tap_diag("delete_module: %s", strerror(r));
		return r;
	}
	r = ku_module_load(ko, params);
	if (r)
		tap_diag("finit_module(\"%s\"): %s", params, strerror(r));
	return r;
}

/* debugfs's record_writers: 'Y', 'N', or 0 if unreadable. */
static char record_writers(void)
{
	FILE *f = fopen(KU_DBG_DIR "/record_writers", "r");
	int c = 0;

	if (f) {
		c = fgetc(f);
		fclose(f);
	}
	return c == 'Y' || c == 'N' ? (char)c : 0;
}

/* A child in a UTS namespace of its own writes a host name and exits. */
static int child_writes_name(void)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWUTS) || sethostname("ksvc-nohook", 11))
			_exit(1);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static void one(const char *ko, const char *name, unsigned int base)
{
	unsigned int want = 0, disabled = ~0u, writers = ~0u, fresh;
	struct t0_page_snap s;
	struct t0_inst in;
	char params[160], b1[64], b2[64], b3[64];
	int known = expected(name, &want), ok;
	char rw;

	snprintf(params, sizeof(params), "nohook=%s", name);
	if (reload(ko, params))
		tap_bail("the module is gone: cannot go on");
	want |= base;
	ok = known && read_hooks(0, &disabled, &writers) == 0 &&
	     disabled == want;
	if (!known)
		tap_diag("%s: this test has no expectation for it", name);
	if (t0_inst_open(&in, 1))
		tap_bail("cannot open an instance");
	ok = ok && t0_inst_refresh(&in) == 0 &&
	     t0_page_ok(in.p, KSVC_FRESH_ALL & ~disabled, name);
	t0_read_page(in.p, &s);
	fresh = s.fresh;
	ok = ok && !(fresh & disabled);
	tap_ok(ok, "without %s: disabled %s (want %s), fresh and exact %s",
	       name, t0_groups(disabled, b1, sizeof(b1)),
	       t0_groups(want, b2, sizeof(b2)),
	       t0_groups(fresh, b3, sizeof(b3)));
	t0_inst_close(&in);

	if (strcmp(name, "sched_process_exit"))
		return;
	rw = record_writers();
	ok = child_writes_name() == 0;
	ok = ok && read_hooks(0, &disabled, &writers) == 0;
	tap_ok(ok && rw == 'N' && writers == 0,
	       "without sched_process_exit: record_writers reads N (%c), and "
	       "a child that wrote a host name and exited left no writer "
	       "record (%u)", rw ? rw : '?', writers);
}

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	unsigned int base = ~0u, after = ~0u, writers;
	int i, r;

	t0_need_module();
	if (!ko || !*ko)
		tap_skip_all("KSVC_KO is unset: the module could not be "
			     "loaded again");
	if (read_hooks(1, &base, &writers) || nnames == 0)
		tap_bail("cannot read %s", HOOKS_FILE);
	tap_plan(nnames + 2);
	tap_diag("%d hooks; disabled at a plain load: %#x", nnames, base);
	for (i = 0; i < nnames; i++)
		one(ko, names[i], base);
	r = reload(ko, "");
	r = r == 0 && read_hooks(0, &after, &writers) == 0 && after == base;
	tap_ok(r, "loaded again without nohook: disabled %#x, as at the start",
	       after);
	tap_done();
}
