// SPDX-License-Identifier: MIT
/*
 * test_race - threads race CREATE, mmap, munmap, NOTIFY/REFRESH and close
 * on a small set of shared descriptors for a while (KSVC_RACE_SECONDS,
 * default 5).  Descriptors are replaced under the others' feet with
 * dup2() (atomic) and sometimes closed outright and reopened.  Every call
 * must end with one of its documented results, every mapping that
 * succeeds must be the region it claims to be, and at the end, with
 * everything unmapped and closed, the counters must be back at base.
 * The harness checks the guest's kernel log afterwards.
 */
#include <dirent.h>

#include "util.h"

#define NSLOTS		4
#define NTHREADS	6
#define MAXMAPS		32
#define SQN		64	/* 2 pages */
#define CQN		256	/* 3 pages */

static int slot_fd[NSLOTS];	/* fixed descriptor numbers */
static volatile int stop;

enum { OP_CREATE, OP_MMAP, OP_MUNMAP, OP_IOCTL, OP_REPLACE, OP_CLOSE, OP_N };
static const char *const op_name[OP_N] = {
	"CREATE", "mmap", "munmap", "NOTIFY/REFRESH", "dup2 replace",
	"close+reopen",
};

struct mapping {
	void *p;
	size_t len;
	int region;
};

struct worker {
	uint64_t rng;
	uint64_t ops[OP_N];
	uint64_t ok[OP_N];
	uint64_t unexpected[OP_N];
	int first_bad_op, first_bad_err;
	uint64_t bad_maps;
	struct mapping maps[MAXMAPS];
	int nmaps;
};

static void bad(struct worker *w, int op, int err)
{
	if (w->unexpected[op]++ == 0 && w->first_bad_err == 0) {
		w->first_bad_op = op;
		w->first_bad_err = err;
	}
}

static void drop_map(struct worker *w, int i)
{
	munmap(w->maps[i].p, w->maps[i].len);
	w->maps[i] = w->maps[--w->nmaps];
}

/* A fresh file at the slot's number, replacing whatever is there. */
static void replace_slot(struct worker *w, int s)
{
	int nfd = ku_open();

	if (nfd < 0) {
		bad(w, OP_REPLACE, nfd);
		return;
	}
	if (nfd != slot_fd[s]) {
		/* EBUSY: the number is being allocated by another thread's
		 * open() right now (dup2(2)); try again. */
		while (dup2(nfd, slot_fd[s]) < 0) {
			if (errno != EBUSY) {
				bad(w, OP_REPLACE, -errno);
				break;
			}
			sched_yield();
		}
		close(nfd);
	}
}

static int check_mapping(void *p, int region)
{
	if (region == KU_SHARED)
		return ((const struct ksvc_shared_page *)p)->magic ==
		       KSVC_SHARED_MAGIC;
	{
		struct ksvc_ring_hdr *h = p;
		__u32 n = region == KU_SQ ? SQN : CQN;
		size_t len = ku_region_size((enum ku_region)region, SQN, CQN);
		volatile unsigned char *last = (unsigned char *)p + len - 1;

		if (h->magic != (region == KU_SQ ? KSVC_SUBMIT_RING_MAGIC :
						    KSVC_COMPLETE_RING_MAGIC) ||
		    h->entries != n || h->ring_size != len)
			return 0;
		*last = (unsigned char)(*last + 1);	/* writable, in range */
		return 1;
	}
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	while (!stop) {
		uint64_t r = ku_rand(&w->rng);
		int s = (int)(r % NSLOTS), fd = slot_fd[s], pick = (int)((r >> 8) % 100);
		int op, err = 0;

		op = pick < 20 ? OP_CREATE : pick < 50 ? OP_MMAP :
		     pick < 70 ? OP_MUNMAP : pick < 82 ? OP_IOCTL :
		     pick < 97 ? OP_REPLACE : OP_CLOSE;
		w->ops[op]++;
		switch (op) {
		case OP_CREATE:
			err = ku_create(fd, SQN, CQN, -1);
			if (err == 0 || err == -EBUSY)
				w->ok[op]++;
			else if (err != -EBADF)
				bad(w, op, err);
			break;
		case OP_MMAP: {
			int region = (int)((r >> 16) % KU_NREGIONS);
			int wrong = (r >> 20) % 16 == 0;
			size_t len = ku_region_size((enum ku_region)region, SQN, CQN);
			void *p;

			if (wrong)
				len += PAGE_SIZE;
			p = ku_mmap(fd, len, region == KU_SHARED ? PROT_READ :
				    PROT_READ | PROT_WRITE, MAP_SHARED,
				    ku_region_off((enum ku_region)region), &err);
			if (p) {
				w->ok[op]++;
				if (wrong || !check_mapping(p, region))
					w->bad_maps++;
				if (w->nmaps == MAXMAPS)
					drop_map(w, 0);
				w->maps[w->nmaps++] = (struct mapping){ p, len, region };
			} else if (err != -EINVAL && err != -EBADF) {
				/* EINVAL: no instance yet (or wrong size);
				 * EBADF: the slot was closed just now. */
				bad(w, op, err);
			}
			break;
		}
		case OP_MUNMAP:
			if (w->nmaps) {
				int i = (int)((r >> 16) % (uint64_t)w->nmaps);

				if (!check_mapping(w->maps[i].p, w->maps[i].region))
					w->bad_maps++;
				drop_map(w, i);
				w->ok[op]++;
			}
			break;
		case OP_IOCTL:
			err = ku_ioctl0(fd, (r >> 16) & 1 ? KSVC_IOC_NOTIFY :
							  KSVC_IOC_REFRESH);
			if (err == 0 || err == -ENOENT)
				w->ok[op]++;
			else if (err != -EINVAL && err != -EBADF)
				bad(w, op, err);
			break;
		case OP_REPLACE:
			replace_slot(w, s);
			w->ok[op]++;
			break;
		case OP_CLOSE:
			/* Leaves the number free for a moment: others get
			 * EBADF, or another thread's open() takes it. */
			close(fd);
			replace_slot(w, s);
			w->ok[op]++;
			break;
		}
		if ((r >> 40) % 64 == 0)
			sched_yield();
	}
	while (w->nmaps) {
		if (!check_mapping(w->maps[0].p, w->maps[0].region))
			w->bad_maps++;
		drop_map(w, 0);
	}
	return NULL;
}

/* Close every /dev/ksvc descriptor this process still has. */
static int close_all_ksvc(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0, fds[4096], i, cnt = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) && cnt < 4096) {
		char path[300], link[64];
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, KSVC_DEVICE_PATH) == 0)
			fds[cnt++] = atoi(de->d_name);
	}
	closedir(d);
	for (i = 0; i < cnt; i++)
		if (close(fds[i]) == 0)
			n++;
	return n;
}

int main(void)
{
	static struct worker w[NTHREADS];
	struct ku_counts base;
	pthread_t t[NTHREADS];
	unsigned long secs = ku_env_uint("KSVC_RACE_SECONDS", 5, 86400);
	uint64_t total[OP_N] = { 0 }, okc[OP_N] = { 0 }, unexpected = 0, bad_maps = 0;
	int i, op, closed;

	ku_require_module();
	tap_plan(5);
	base = ku_counts();

	for (i = 0; i < NSLOTS; i++) {
		slot_fd[i] = ku_open();
		if (slot_fd[i] < 0)
			tap_bail("open: %s", strerror(-slot_fd[i]));
	}
	for (i = 0; i < NTHREADS; i++) {
		w[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		pthread_create(&t[i], NULL, worker_fn, &w[i]);
	}
	ku_sleep_ms((unsigned int)secs * 1000);
	stop = 1;
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);

	for (i = 0; i < NTHREADS; i++) {
		for (op = 0; op < OP_N; op++) {
			total[op] += w[i].ops[op];
			okc[op] += w[i].ok[op];
			unexpected += w[i].unexpected[op];
		}
		bad_maps += w[i].bad_maps;
		if (w[i].first_bad_err)
			tap_diag("thread %d: first unexpected result: %s -> %s", i,
				 op_name[w[i].first_bad_op],
				 strerror(-w[i].first_bad_err));
	}
	for (op = 0; op < OP_N; op++)
		tap_diag("%-15s %8llu calls, %8llu succeeded", op_name[op],
			 (unsigned long long)total[op],
			 (unsigned long long)okc[op]);

	tap_ok(okc[OP_CREATE] > 0 && okc[OP_MMAP] > 0 && okc[OP_MUNMAP] > 0 &&
	       okc[OP_REPLACE] > 0,
	       "%d threads raced CREATE, mmap, munmap, ioctls and close on %d "
	       "shared descriptors for %lu s, every kind succeeding sometimes",
	       NTHREADS, NSLOTS, secs);
	tap_ok(unexpected == 0, "every call ended with a documented result "
	       "(%llu did not)", (unsigned long long)unexpected);
	tap_ok(bad_maps == 0, "every mapping was the region asked for, right "
	       "size, readable and writable until unmapped (%llu bad)",
	       (unsigned long long)bad_maps);

	closed = close_all_ksvc();
	tap_ok(closed >= 0 && closed <= NSLOTS,
	       "no stray /dev/ksvc descriptors: %d closed at the end", closed);
	tap_ok(ku_counts_wait(base), "everything unmapped and closed: counters "
	       "back to %ld/%ld", base.instances, base.pages);
	tap_done();
}
