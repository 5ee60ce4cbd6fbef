// SPDX-License-Identifier: GPL-2.0
/*
 * mmap.c - mapping the three regions of an instance.
 *
 * Each region is mapped whole, MAP_SHARED, by the owner only.  Pages are
 * inserted on fault (so MADV_DONTNEED, mremap and partial munmap all
 * keep working on the same kernel pages), never copied into a child
 * (VM_DONTCOPY; and should madvise(MADV_DOFORK) undo that, the child's
 * copy is cut off from the pages) and never grown (VM_DONTEXPAND).  The shared page is
 * never writable: mmap with PROT_WRITE and a later mprotect() to
 * writable both fail with EPERM; no region is ever executable.
 */
#include <linux/mm.h>

#include "compat.h"
#include "ksvc.h"

static struct ksvc_region *ksvc_vma_region(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

/*
 * A VMA is duplicated: split, moved by mremap(), or copied into a child
 * by fork() after madvise(MADV_DOFORK).  Only the owner's address space
 * may reach the pages; a copy elsewhere faults with SIGBUS.
 */
static void ksvc_vm_open(struct vm_area_struct *vma)
{
	struct ksvc_region *r = ksvc_vma_region(vma);

	if (r && vma->vm_mm != r->inst->mm)
		vma->vm_private_data = NULL;
}

static vm_fault_t ksvc_vm_fault(struct vm_fault *vmf)
{
	struct ksvc_region *r = ksvc_vma_region(vmf->vma);
	pgoff_t index;
	struct page *page;

	if (!r)
		return VM_FAULT_SIGBUS;
	/* vm_pgoff can only stay inside the region, but never trust it. */
	index = vmf->pgoff - (r->offset >> PAGE_SHIFT);
	if (vmf->pgoff < (r->offset >> PAGE_SHIFT) || index >= r->nr_pages)
		return VM_FAULT_SIGBUS;
	page = r->pages[index];
	get_page(page);
	vmf->page = page;
	return 0;
}

/* Called by mprotect(); the shared page may never become writable. */
static int ksvc_vm_mprotect_shared(struct vm_area_struct *vma,
				   unsigned long start, unsigned long end,
				   unsigned long newflags)
{
	return (newflags & VM_WRITE) ? -EPERM : 0;
}

static const struct vm_operations_struct ksvc_ring_vm_ops = {
	.open		= ksvc_vm_open,
	.fault		= ksvc_vm_fault,
};

static const struct vm_operations_struct ksvc_shared_vm_ops = {
	.open		= ksvc_vm_open,
	.fault		= ksvc_vm_fault,
	.mprotect	= ksvc_vm_mprotect_shared,
};

static struct ksvc_region *ksvc_find_region(struct ksvc_instance *inst,
					    unsigned long pgoff)
{
	u64 offset = (u64)pgoff << PAGE_SHIFT;

	if (offset == KSVC_OFF_SUBMIT_RING)
		return &inst->sq;
	if (offset == KSVC_OFF_COMPLETE_RING)
		return &inst->cq;
	if (offset == KSVC_OFF_SHARED_PAGE)
		return &inst->sp;
	return NULL;
}

int ksvc_mmap(struct ksvc_instance *inst, struct vm_area_struct *vma)
{
	struct ksvc_region *r;

	if (!ksvc_instance_owned_by_current(inst) || vma->vm_mm != inst->mm)
		return -EACCES;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	r = ksvc_find_region(inst, vma->vm_pgoff);
	if (!r)
		return -EINVAL;
	if (vma->vm_end - vma->vm_start != (unsigned long)r->nr_pages << PAGE_SHIFT)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (r == &inst->sp && (vma->vm_flags & VM_WRITE))
		return -EPERM;

	/*
	 * VM_MAYWRITE stays on the shared page so that mprotect() reaches
	 * ->mprotect and gets EPERM; FOLL_FORCE cannot write through it either
	 * because a shared mapping is never COW.
	 */
	ksvc_vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND);
	ksvc_vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_private_data = r;
	vma->vm_ops = r == &inst->sp ? &ksvc_shared_vm_ops : &ksvc_ring_vm_ops;
	return 0;
}
