// SPDX-License-Identifier: MIT
/*
 * test_rmmod - the module cannot be unloaded while anything of it is in
 * use: an open file, an instance, or only a mapping (fd already closed).
 * Once everything is gone (counters polled back to zero) unloading works,
 * and the module is loaded again from $KSVC_KO (finit_module) so that
 * the programs after this one still have /dev/ksvc; loaded without
 * parameters, max_user_instances is 1024, as ksvc(7) says.
 *
 * Without KSVC_KO the refusals are still checked; unloading is skipped
 * (there would be no way to load the module again).
 */
#include <sys/syscall.h>

#include "util.h"

#define MODNAME	"ksvc"

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

int main(void)
{
	const char *ko = getenv("KSVC_KO");
	struct ku_inst in;
	void *keep;
	int fd, r, err;

	ku_require_module();
	if (ko && !*ko)
		ko = NULL;
	tap_plan(8);

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
	tap_done();
}
