// SPDX-License-Identifier: GPL-2.0
/*
 * instance.c - allocation and teardown of KSVC instances.
 *
 * Every page user space can map is allocated zeroed and charged to the
 * memory cgroup of the process that runs KSVC_IOC_CREATE (KSVC_GFP).
 * The kernel writes the ring geometry once, here, before the instance is
 * published, and never reads a ring again.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/eventfd.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "ksvc.h"

/* The ABI is written in 4 KiB pages. */
static_assert(PAGE_SIZE == KSVC_PAGE_SIZE);

/*
 * Everything user space can make us allocate: charged to its memory
 * cgroup, and when the cgroup (or the machine) is out of memory the
 * request fails with ENOMEM instead of waking the OOM killer or
 * printing an allocation-failure splat.
 */
#define KSVC_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/* The last instance id given out (64 bits: never wraps). */
static atomic64_t ksvc_last_id = ATOMIC64_INIT(0);

/* Frees instances after an RCU grace period, in process context. */
static struct workqueue_struct *ksvc_free_wq;

static void ksvc_region_free(struct ksvc_region *r)
{
	unsigned int i;

	if (!r->pages)
		return;
	for (i = 0; i < r->nr_pages; i++)
		if (r->pages[i]) {
			__free_page(r->pages[i]);
			atomic_long_dec(&ksvc_nr_pages);
		}
	kvfree(r->pages);
	r->pages = NULL;
}

static int ksvc_region_alloc(struct ksvc_instance *inst, struct ksvc_region *r,
			     unsigned int nr_pages, u64 offset)
{
	unsigned int i;

	r->inst = inst;
	r->offset = offset;
	r->nr_pages = nr_pages;
	r->pages = ksvc_should_fail("kvcalloc") ? NULL :
		   kvcalloc(nr_pages, sizeof(*r->pages), KSVC_GFP);
	if (!r->pages)
		return -ENOMEM;
	for (i = 0; i < nr_pages; i++) {
		r->pages[i] = ksvc_should_fail("alloc_page") ? NULL :
			      alloc_page(KSVC_GFP | __GFP_ZERO);
		if (!r->pages[i])
			return -ENOMEM;	/* caller frees what was allocated */
		/*
		 * Counted as each page comes and goes: an unwind that
		 * forgot one shows in debugfs and at unload.
		 */
		atomic_long_inc(&ksvc_nr_pages);
	}
	return 0;
}

static void ksvc_ring_init(struct ksvc_region *r, u32 magic, u32 entries,
			   u32 entry_size)
{
	struct ksvc_ring_hdr *hdr = page_address(r->pages[0]);

	hdr->magic = magic;
	hdr->entries = entries;
	hdr->mask = entries - 1;
	hdr->entry_size = entry_size;
	hdr->entries_offset = KSVC_RING_HDR_SIZE;
	hdr->ring_size = r->nr_pages << PAGE_SHIFT;
}

static void ksvc_instance_free(struct ksvc_instance *inst)
{
	ksvc_t0_free(inst);
	ksvc_region_free(&inst->sq);
	ksvc_region_free(&inst->cq);
	ksvc_region_free(&inst->sp);
	if (inst->evfd)
		eventfd_ctx_put(inst->evfd);
	put_pid(inst->tgid);
	mmdrop(inst->mm);
	kfree(inst);
}

/*
 * ksvc_instance_create - allocate and initialise an instance for the
 * calling process.  Takes ownership of @evfd (may be NULL) whatever
 * happens.  The instance is not yet visible to anyone.
 */
struct ksvc_instance *ksvc_instance_create(const struct ksvc_create_params *p,
					   struct eventfd_ctx *evfd)
{
	struct ksvc_instance *inst;
	int ret;

	inst = ksvc_should_fail("kzalloc") ? NULL :
	       kzalloc(sizeof(*inst), KSVC_GFP);
	if (!inst) {
		if (evfd)
			eventfd_ctx_put(evfd);
		return ERR_PTR(-ENOMEM);
	}
	inst->evfd = evfd;
	inst->id = atomic64_inc_return(&ksvc_last_id);
	inst->sq_entries = p->submit_ring_entries;
	inst->cq_entries = p->complete_ring_entries;
	inst->mm = current->mm;
	mmgrab(inst->mm);
	inst->tgid = get_pid(task_tgid(current));
	spin_lock_init(&inst->t0_lock);
	spin_lock_init(&inst->sharer_lock);
	INIT_LIST_HEAD(&inst->sharers);
	INIT_LIST_HEAD(&inst->all);
	INIT_HLIST_NODE(&inst->by_tgid);
	INIT_HLIST_NODE(&inst->by_mm);
	INIT_HLIST_NODE(&inst->by_parent);

	ret = ksvc_region_alloc(inst, &inst->sq,
				ksvc_ring_pages(inst->sq_entries,
						sizeof(struct ksvc_entry)),
				KSVC_OFF_SUBMIT_RING);
	if (ret)
		goto err;
	ret = ksvc_region_alloc(inst, &inst->cq,
				ksvc_ring_pages(inst->cq_entries,
						sizeof(struct ksvc_completion)),
				KSVC_OFF_COMPLETE_RING);
	if (ret)
		goto err;
	ret = ksvc_region_alloc(inst, &inst->sp, 1, KSVC_OFF_SHARED_PAGE);
	if (ret)
		goto err;

	ksvc_ring_init(&inst->sq, KSVC_SUBMIT_RING_MAGIC, inst->sq_entries,
		       sizeof(struct ksvc_entry));
	ksvc_ring_init(&inst->cq, KSVC_COMPLETE_RING_MAGIC, inst->cq_entries,
		       sizeof(struct ksvc_completion));
	inst->page = page_address(inst->sp.pages[0]);
	ksvc_t0_init_page(inst);

	atomic_long_inc(&ksvc_nr_instances);
	return inst;

err:
	ksvc_instance_free(inst);
	return ERR_PTR(ret);
}

/* Free an instance that was never published (a failed CREATE). */
void ksvc_instance_destroy(struct ksvc_instance *inst)
{
	atomic_long_dec(&ksvc_nr_instances);
	ksvc_instance_free(inst);
}

static void ksvc_instance_free_work(struct work_struct *work)
{
	struct ksvc_instance *inst =
		container_of(to_rcu_work(work), struct ksvc_instance, free_work);

	ksvc_instance_destroy(inst);
}

/*
 * The file is going away: take the instance out of the Tier 0 registry
 * and free it once no hook can still be looking at it.
 */
void ksvc_instance_release(struct ksvc_instance *inst)
{
	ksvc_t0_unregister(inst);
	INIT_RCU_WORK(&inst->free_work, ksvc_instance_free_work);
	queue_rcu_work(ksvc_free_wq, &inst->free_work);
}

/* The owner is the creating thread group, in its original address space. */
bool ksvc_instance_owned_by_current(const struct ksvc_instance *inst)
{
	return current->mm == inst->mm && task_tgid(current) == inst->tgid;
}

int ksvc_instance_init(void)
{
	ksvc_free_wq = ksvc_should_fail("alloc_workqueue") ? NULL :
		       alloc_workqueue("ksvc_free", WQ_UNBOUND, 0);
	return ksvc_free_wq ? 0 : -ENOMEM;
}

void ksvc_instance_exit(void)
{
	/* Wait for queue_rcu_work() callbacks, then for the work itself. */
	rcu_barrier();
	destroy_workqueue(ksvc_free_wq);
	/*
	 * Every file and mapping held a module reference, so every instance
	 * is freed by now: anything counted is a leak.  Say it where the
	 * test harness looks (the next load starts counting from zero).
	 */
	WARN(atomic_long_read(&ksvc_nr_instances) ||
	     atomic_long_read(&ksvc_nr_pages),
	     "ksvc: %ld instances and %ld pages not freed at unload\n",
	     atomic_long_read(&ksvc_nr_instances),
	     atomic_long_read(&ksvc_nr_pages));
}
