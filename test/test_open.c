// SPDX-License-Identifier: MIT
/*
 * test_open - libksvc's setup calls against the real module: ksvc_open()
 * defaults and layout, ksvc_notify() through the kernel, ksvc_refresh(),
 * the eventfd modes, the ANON / ANON_FALLBACK flags when the module is
 * there, argument errors that never reach the kernel, error paths in
 * kernel mode that leave no instance and no descriptor behind, and
 * ksvc_close() in a forked child.
 */
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "util.h"

static int ring_matches(const struct ksvc_ring *r, __u32 magic, __u32 n,
			__u32 esize)
{
	const struct ksvc_ring_hdr *h = r->hdr;

	return h && h->magic == magic && h->entries == n && r->entries == n &&
	       r->mask == n - 1 && h->mask == n - 1 && r->entry_size == esize &&
	       h->entry_size == esize &&
	       r->map_size == ring_pages(n, esize) * PAGE_SIZE &&
	       h->ring_size == r->map_size &&
	       r->slots == (unsigned char *)h + KSVC_RING_HDR_SIZE;
}

int main(void)
{
	struct ku_counts base;
	struct ksvc *k;
	struct ksvc_open_params p;
	int err, fds, efd, ok, status;
	__u64 v;
	pid_t pid;

	ku_require_module();
	tap_plan(18);
	base = ku_counts();
	fds = ku_count_fds(NULL);

	err = ksvc_open(&k, NULL);
	if (!tap_ok(err == 0 && k->mode == KSVC_MODE_KERNEL,
		    "ksvc_open(NULL): a kernel-backed instance (%s)",
		    err ? ksvc_strerror(err) : "ok"))
		tap_bail("no instance");
	tap_ok(k->fd >= 0 && (fcntl(k->fd, F_GETFD) & FD_CLOEXEC) &&
	       (fcntl(k->fd, F_GETFL) & O_ACCMODE) == O_RDWR,
	       "the device is open O_RDWR|O_CLOEXEC");
	tap_ok(ring_matches(&k->sq, KSVC_SUBMIT_RING_MAGIC, 256, 64) &&
	       ring_matches(&k->cq, KSVC_COMPLETE_RING_MAGIC, 512, 32) &&
	       k->shared->magic == KSVC_SHARED_MAGIC,
	       "defaults 256/512; the handle's geometry matches the kernel's "
	       "headers");
	tap_ok((k->features & (KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH)) ==
		       (KSVC_FEAT_NOTIFY | KSVC_FEAT_REFRESH) &&
	       k->owner == getpid() && k->owns_eventfd && k->eventfd >= 0,
	       "features from the kernel (%#x), owner, own eventfd", k->features);
	tap_ok(ku_dbg_read(KU_INSTANCES) == base.instances + 1 &&
	       ku_dbg_read(KU_PAGES) == base.pages + ku_instance_pages(256, 512),
	       "the module counts one instance of %ld pages",
	       ku_instance_pages(256, 512));

	v = 0;
	err = ksvc_notify(k);
	tap_ok(err == 0 && read(k->eventfd, &v, sizeof(v)) == 8 && v == 1,
	       "ksvc_notify goes through the kernel to the library's eventfd");
	err = ksvc_refresh(k);
	tap_ok(err == 0 && k->shared->pid == getpid(),
	       "ksvc_refresh succeeds; the shared page has our pid");
	{
		struct ksvc_entry e = { .corr_id = 5 }, g;
		struct ksvc_completion c = { .corr_id = 6, .result = -2 }, cg;

		ok = ksvc_sq_push(&k->sq, &e) == 0 && ksvc_sq_pop(&k->sq, &g) == 0 &&
		     g.corr_id == 5 && ksvc_cq_push(&k->cq, &c) == 0 &&
		     ksvc_cq_pop(&k->cq, &cg) == 0 && cg.result == -2;
		tap_ok(ok, "the ring helpers work on the handle's rings");
	}

	/* ksvc_close in a forked child leaves the parent's instance alone. */
	pid = fork();
	if (pid == 0) {
		ksvc_close(k);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	{
		struct ksvc_entry e = { .corr_id = 7 }, g;

		ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
		     ksvc_sq_push(&k->sq, &e) == 0 &&
		     ksvc_sq_pop(&k->sq, &g) == 0 && g.corr_id == 7 &&
		     ksvc_notify(k) == 0 &&
		     ku_dbg_read(KU_INSTANCES) == base.instances + 1;
		tap_ok(ok, "ksvc_close in a forked child leaves the parent's "
		       "instance working");
	}
	ksvc_close(k);
	tap_ok(ku_counts_wait(base) && ku_count_fds(NULL) == fds,
	       "ksvc_close: instance freed, no descriptor left");

	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p = (struct ksvc_open_params){ 16, 16, KSVC_OPEN_EVENTFD_GIVEN, efd };
	err = ksvc_open(&k, &p);
	v = 0;
	ok = err == 0 && k->eventfd >= 0 && k->eventfd != efd &&
	     !k->owns_eventfd &&
	     ksvc_notify(k) == 0 && read(efd, &v, sizeof(v)) == 8 && v == 1;
	if (!err)
		ksvc_close(k);
	tap_ok(ok && fcntl(efd, F_GETFD) >= 0, "EVENTFD_GIVEN: the kernel "
	       "signals the caller's eventfd, which survives ksvc_close");
	close(efd);

	ku_counts_wait(base);	/* the last instance's RCU grace period */
	p = (struct ksvc_open_params){ 16, 16, KSVC_OPEN_ANON, -1 };
	err = ksvc_open(&k, &p);
	ok = err == 0 && k->mode == KSVC_MODE_ANON && k->fd == -1 &&
	     ku_dbg_read(KU_INSTANCES) == base.instances;
	if (!err)
		ksvc_close(k);
	tap_ok(ok, "KSVC_OPEN_ANON gives anonymous memory even with the module");
	p = (struct ksvc_open_params){ 16, 16, KSVC_OPEN_ANON_FALLBACK, -1 };
	err = ksvc_open(&k, &p);
	ok = err == 0 && k->mode == KSVC_MODE_KERNEL;
	if (!err)
		ksvc_close(k);
	tap_ok(ok, "KSVC_OPEN_ANON_FALLBACK uses the module when it is there");

	ku_counts_wait(base);	/* the last instance's RCU grace period */
	p = (struct ksvc_open_params){ 100, 16, 0, -1 };
	err = ksvc_open(&k, &p);
	tap_ok(err == -EINVAL && ku_counts_eq(ku_counts(), base) &&
	       ku_count_fds(NULL) == fds, "bad sizes are refused by the library: "
	       "-EINVAL, no instance, no descriptor");

	ku_counts_wait(base);	/* the last instance's RCU grace period */
	/* Unwinding in kernel mode: room for the eventfd but not the device. */
	{
		struct rlimit old, rl;
		int probe = dup(0);

		close(probe);
		getrlimit(RLIMIT_NOFILE, &old);
		rl = old;
		rl.rlim_cur = (rlim_t)probe + 1;
		setrlimit(RLIMIT_NOFILE, &rl);
		err = ksvc_open(&k, NULL);
		setrlimit(RLIMIT_NOFILE, &old);
		tap_ok(err == -EMFILE && ku_count_fds(NULL) == fds &&
		       ku_counts_eq(ku_counts(), base),
		       "open of /dev/ksvc failing (EMFILE) closes the eventfd "
		       "already made (%d)", err);
	}
#if defined(__SANITIZE_ADDRESS__)
	tap_skip("AddressSanitizer reserves address space",
		 "a failing mmap after CREATE frees the instance");
#else
	{
		/* Room for the 2 MiB submit ring, not the 1 MiB completion
		 * ring: CREATE succeeds, the second mmap fails. */
		FILE *f = fopen("/proc/self/status", "re");
		char line[256];
		unsigned long vm_kb = 0;
		struct rlimit old, rl;

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "VmSize: %lu kB", &vm_kb) == 1)
				break;
		if (f)
			fclose(f);
		getrlimit(RLIMIT_AS, &old);
		rl = old;
		rl.rlim_cur = (vm_kb + 2048 + 512) * 1024;
		setrlimit(RLIMIT_AS, &rl);
		p = (struct ksvc_open_params){ 32768, 32768, 0, -1 };
		err = ksvc_open(&k, &p);
		setrlimit(RLIMIT_AS, &old);
		tap_ok(err == -ENOMEM && ku_count_fds(NULL) == fds &&
		       ku_counts_wait(base),
		       "a failing mmap after CREATE: -ENOMEM, the instance is "
		       "freed and no descriptor is left (%d)", err);
	}
#endif
	{
		const char *s = ksvc_strerror(-EACCES);

		tap_ok(s && strstr(s, "another process"),
		       "ksvc_strerror(-EACCES) explains the ownership rule");
	}
	tap_ok(ku_counts_wait(base), "counters back to %ld/%ld",
	       base.instances, base.pages);
	tap_done();
}
