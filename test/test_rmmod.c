// SPDX-License-Identifier: MIT
/*
 * test_rmmod - the module cannot be unloaded while anything of it is in
 * use: an open file, an instance, or only a mapping (fd already closed).
 * Once everything is gone (counters polled back to zero) unloading works,
 * and the module is loaded again from $KSVC_KO (finit_module) so that
 * the programs after this one still have /dev/ksvc; loaded without
 * parameters, max_user_instances is 1024, as ksvc(7) says.  Then it is
 * loaded with "max_user_instances=2" (the finit_module parameter string,
 * as insmod passes it): the parameter reads 2 and the limit holds (two
 * CREATEs, the third fails with EMFILE); unloaded and loaded without
 * parameters once more, it is 1024 again, as the programs after this one
 * expect.  test_limit only writes the parameter after the module is
 * loaded; a module that dropped the load-time value would pass it.
 *
 * Without KSVC_KO the refusals are still checked; unloading is skipped
 * (there would be no way to load the module again).
 */
#include <sys/syscall.h>

#include "util.h"

#define MODNAME	"ksvc"
#define PARAM	"/sys/module/" MODNAME "/parameters/max_user_instances"
#define LOAD_LIMIT	2

static int try_unload(void)
{
	return syscall(SYS_delete_module, MODNAME, O_NONBLOCK) < 0 ? -errno : 0;
}

/* In use: delete_module() says EWOULDBLOCK (EBUSY is for a module
 * that is still loading or already going). */
static int refused(int r)
{
	return r == -EWOULDBLOCK;
}

static const char *res(int r)
{
	return r ? strerror(-r) : "it was unloaded";
}

/* If a refusal failed, the module is gone: put it back for the others. */
static void reload_or_bail(const char *ko, int r)
{
	if (r != 0)
		return;
	if (!ko)
		tap_bail("module unloaded while in use and KSVC_KO is unset");
	r = ku_module_load(ko, "");
	if (r)
		tap_bail("module unloaded while in use; reload failed: %s",
			 strerror(r));
}

/* max_user_instances as the module reports it: a number, or -errno. */
static long param_read(char *buf, size_t len)
{
	int r = ku_read_file(PARAM, buf, len);

	buf[strcspn(buf, "\n")] = '\0';
	if (r)
		return r;
	return *buf ? strtol(buf, NULL, 10) : -EIO;
}

/*
 * Unload (waiting out instances still in their grace period) and load
 * @ko with @params; 0 or an errno.  If it was unloaded but the load
 * failed, load it without parameters for the programs after this one.
 */
static int reload(const char *ko, const char *params)
{
	int r = ku_module_unload();

	if (r)
		return r;
	r = ku_module_load(ko, params);
	if (r && *params && ku_module_load(ko, ""))
		tap_bail("the module is not loaded any more");
	if (r && !*params)
		tap_bail("the module is not loaded any more: %s", strerror(r));
	if (!ku_wait_dev())
		tap_diag(KSVC_DEVICE_PATH " did not come back within 5 s");
	return r;
}

/*
 * Loaded with max_user_instances=LOAD_LIMIT: the value is the one given
 * at load time, and CREATE obeys it.  Leaves the module loaded without
 * parameters (or, if it cannot be unloaded, with the default written).
 */
static void test_load_param(const char *ko)
{
	char params[64], buf[32] = "";
	int fd[LOAD_LIMIT + 1], n, i, err = 0, r;
	struct ku_counts full = { -1, -1 };
	long v;

	snprintf(params, sizeof(params), "max_user_instances=%d", LOAD_LIMIT);
	r = reload(ko, params);
	tap_ok(r == 0, "unloaded, and finit_module(%s, \"%s\") loads it (%s)",
	       ko, params, r ? strerror(r) : "ok");
	if (r) {
		tap_skip("not loaded with the parameter", "the parameter reads "
			 "what was given at load time");
		tap_skip("not loaded with the parameter", "the load-time limit "
			 "is enforced");
	} else {
		v = param_read(buf, sizeof(buf));
		tap_ok(v == LOAD_LIMIT, "loaded with %s, " PARAM " reads %d "
		       "(%s)", params, LOAD_LIMIT,
		       v < 0 ? strerror((int)-v) : buf);

		for (n = 0; n <= LOAD_LIMIT; n++) {
			fd[n] = ku_open_create(16, 16, -1);
			if (fd[n] < 0) {
				err = fd[n];
				break;
			}
			if (n == LOAD_LIMIT - 1)
				full = ku_counts();
		}
		tap_ok(n == LOAD_LIMIT && err == -EMFILE &&
		       ku_counts_eq(ku_counts(), full) &&
		       full.instances == LOAD_LIMIT,
		       "the same user creates %d instances and the next "
		       "CREATE fails with EMFILE, creating nothing (%d of %d "
		       "succeeded; %s)", LOAD_LIMIT, n, LOAD_LIMIT + 1,
		       err ? strerror(-err) : "no error");
		for (i = 0; i < n; i++)
			close(fd[i]);
	}

	if (!ku_counts_wait((struct ku_counts){ 0, 0 }))
		tap_diag("counters did not reach 0 after closing them");
	r = reload(ko, "");
	if (r && ku_write_file(PARAM, "1024\n"))
		tap_diag("cannot write the default to " PARAM);
	v = param_read(buf, sizeof(buf));
	tap_ok(r == 0 && v == 1024, "all closed, unloaded and loaded again "
	       "without parameters (%s): max_user_instances is 1024 again "
	       "(%s)", r ? strerror(r) : "ok", v < 0 ? strerror((int)-v) : buf);
}

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	struct ku_inst in;
	void *keep;
	int fd, r, err;

	ku_require_module();
	if (ko && !*ko)
		ko = NULL;
	tap_plan(12);

	fd = ku_open();
	if (fd < 0)
		tap_bail("open: %s", strerror(-fd));
	r = try_unload();
	tap_ok(refused(r), "delete_module refused while a /dev/ksvc file is "
	       "open (%s)", res(r));
	reload_or_bail(ko, r);
	close(fd);

	err = ku_inst_open(&in, 16, 16, -1);
	if (err)
		tap_bail("instance: %s", strerror(-err));
	r = try_unload();
	tap_ok(refused(r), "delete_module refused while an instance exists, "
	       "mapped (%s)", res(r));
	reload_or_bail(ko, r);

	/* Keep only the submit ring mapping. */
	keep = in.map[KU_SQ];
	in.map[KU_SQ] = NULL;
	ku_inst_close(&in);
	ku_sleep_ms(200);
	r = try_unload();
	tap_ok(refused(r), "delete_module refused while only a mapping remains "
	       "(fd closed) (%s)", res(r));
	reload_or_bail(ko, r);
	tap_ok(((struct ksvc_ring_hdr *)keep)->magic == KSVC_SUBMIT_RING_MAGIC,
	       "the mapping is intact after the refused unload");
	munmap(keep, ku_region_size(KU_SQ, 16, 16));

	if (!ko) {
		tap_skip("KSVC_KO is unset: the module could not be loaded again",
			 "delete_module succeeds once everything is closed");
		tap_skip("KSVC_KO is unset", "finit_module loads it again");
		tap_skip("KSVC_KO is unset", "max_user_instances defaults to "
			 "1024");
		tap_skip("KSVC_KO is unset", "/dev/ksvc is back and works");
		tap_skip("KSVC_KO is unset", "finit_module with "
			 "max_user_instances=2");
		tap_skip("KSVC_KO is unset", "the parameter reads what was "
			 "given at load time");
		tap_skip("KSVC_KO is unset", "the load-time limit is "
			 "enforced");
		tap_skip("KSVC_KO is unset", "loaded without parameters, the "
			 "default is back");
		tap_done();
	}

	if (!ku_counts_wait((struct ku_counts){ 0, 0 }))
		tap_diag("counters did not reach 0: something else holds an "
			 "instance");
	r = try_unload();
	tap_ok(r == 0, "everything closed and freed: delete_module succeeds "
	       "(%s)", r ? strerror(-r) : "ok");
	if (r)
		tap_bail("could not unload");
	tap_diag("/dev/ksvc after unload: %s",
		 access(KSVC_DEVICE_PATH, F_OK) ? "gone" : "still there");

	r = ku_module_load(ko, "");
	if (!tap_ok(r == 0, "finit_module(%s) loads it again (%s)", ko,
		    r ? strerror(r) : "ok"))
		tap_bail("the module is not loaded any more");

	ku_wait_dev();
	{
		char buf[32] = "";

		r = ku_read_file("/sys/module/" MODNAME
				 "/parameters/max_user_instances", buf,
				 sizeof(buf));
		int ok = r == 0 && strcmp(buf, "1024\n") == 0;

		buf[strcspn(buf, "\n")] = '\0';
		tap_ok(ok, "loaded without parameters, max_user_instances is "
		       "its documented default, 1024 (%s)",
		       r ? strerror(-r) : buf);
	}
	err = ku_inst_open(&in, 16, 16, -1);
	tap_ok(err == 0 && ku_dbg_read(KU_INSTANCES) == 1 &&
	       ku_dbg_read(KU_PAGES) == ku_instance_pages(16, 16),
	       "/dev/ksvc is back, an instance can be created and mapped, the "
	       "fresh module counts it (%s)", err ? strerror(-err) : "ok");
	if (!err)
		ku_inst_close(&in);
	ku_counts_wait((struct ku_counts){ 0, 0 });

	test_load_param(ko);
	tap_done();
}
