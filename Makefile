# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# make               build ksvc.ko for the running kernel (KDIR=... for another)
# make lib           build libksvc.a and libksvc-preload.so
# make test          build every test program
# make examples      build the example programs
# make check         build lib, test and examples and run the host tests
#                    (no module needed)
# make bench         run the benchmarks
# make dkms-install  install the module through DKMS (KVER=... for another kernel)
# make dkms-remove   remove it again
# make dkms-source   only copy its sources (DKMS_SOURCETREE=/usr/src)
# make install       install libksvc: headers, libksvc.a, ksvc.pc, the
#                    preload shim, ksvc-run and the man pages
#                    (PREFIX=/usr/local, DESTDIR=; see install.mk)
# make uninstall     remove what make install installed
# make clean         remove what the build made (below O=, and ksvc.ko)
# make help          print this
#
# User-space outputs go below $(O) (default: the source tree itself);
# SAN=1 adds AddressSanitizer and UndefinedBehaviorSanitizer, e.g.
#   make test SAN=1 O=build/san
# TSAN=1 builds with ThreadSanitizer instead (test/tsan.list), e.g.
#   make lib test examples TSAN=1 O=build/tsan
#
# Modules: KVER defaults to the running kernel; KDIR to its build tree.
# O= is for user space only: the module is always built in the tree.
# Where that tree is missing (a machine without its own kernel headers),
# point KDIR at installed headers, e.g.
#   make KDIR=/usr/src/linux-headers-6.12.117+deb12-amd64

KVER	?= $(shell uname -r)
KDIR	?= /lib/modules/$(KVER)/build
PACKAGE_NAME	:= ksvc
PACKAGE_VERSION	:= $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)

O	?= .
# An empty O= is the tree, as no O= is (not the root directory).
ifeq ($(strip $(O)),)
override O := .
endif
CC	?= cc
SAN	?=
TSAN	?=
OPT	?= -O2
USER_CFLAGS := -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	       -Iinclude -pthread
ifeq ($(SAN),1)
USER_CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all \
	       -fno-omit-frame-pointer
USER_LDFLAGS += -fsanitize=address,undefined
endif
# -Wno-tsan: GCC warns that ThreadSanitizer does not model fences.  Ours
# order atomic accesses among themselves (a wake-up flag against a count)
# or the kernel's writes to the shared page, which it cannot see anyway.
ifeq ($(TSAN),1)
ifeq ($(SAN),1)
$(error SAN=1 and TSAN=1 cannot be combined)
endif
USER_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer \
	       $(if $(filter clang%,$(notdir $(CC))),,-Wno-tsan)
USER_LDFLAGS += -fsanitize=thread
endif
USER_LDFLAGS += -pthread

.PHONY: all module modules lib test check bench clean modules-clean \
	dkms-source dkms-install dkms-remove install uninstall help
.DEFAULT_GOAL := module

# make -j clean lib: clean and the build would run side by side, and the
# build would lose.  With clean among the goals, the goals run one after
# the other, in the order given.
ifneq ($(filter clean,$(MAKECMDGOALS)),)
.NOTPARALLEL:
endif

all: module lib test examples

module modules:
	@if [ ! -d "$(KDIR)" ]; then \
	  echo "No kernel build tree at $(KDIR)."; \
	  echo "Install the headers of kernel $(KVER) (Debian/Ubuntu: linux-headers-$(KVER))"; \
	  echo "or point KDIR at an installed one, e.g. make KDIR=/usr/src/linux-headers-<version>."; \
	  exit 1; fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) O= modules

# What kbuild leaves in the tree (make modules): ksvc.ko and its
# intermediates at the top, the objects in kernel/.  Removed by name, so
# that clean works without a kernel build tree as well, and never through
# kbuild's own clean, which deletes every .o, .a and .ko below the tree
# (libksvc.a, the other O= builds, the guest's module in build/kmod).
KBUILD_OUTPUTS	= $(foreach d,. kernel,$(wildcard $(d)/*.o $(d)/.*.o $(d)/*.ko \
		    $(d)/*.mod $(d)/*.mod.c $(d)/.*.cmd $(d)/*.symtypes \
		    $(d)/*.dwo $(d)/*.su)) Module.symvers modules.order

modules-clean:
	rm -f $(KBUILD_OUTPUTS)
	rm -rf .tmp_versions

# The comment at the top of this file, without its first line (the
# licence) and the comment markers.
help:
	@sed -n -e '1d' -e '2{/^#$$/d;}' -e '/^#/!q' -e 's/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# Each part of the tree adds its own rules.
include lib/lib.mk
include test/test.mk
include examples/examples.mk
-include bench/bench.mk
include install.mk

# DKMS: the sources go to $(DKMS_SOURCETREE)/ksvc-<version>, which dkms
# add enters in its tree.  DKMS_TREE (default: dkms's own, /var/lib/dkms)
# and DKMS_SOURCETREE select private ones, e.g. to try this out.
# dkms-install may run again (another KVER, or new sources): the version
# is added once, and a build already there for $(KVER) is removed first,
# so that the sources just copied are the ones built.
DKMS		?= dkms
DKMS_TREE	?=
DKMS_SOURCETREE	?= /usr/src
DKMS_CMD	= $(strip $(DKMS) $(if $(DKMS_TREE),--dkmstree $(DKMS_TREE)) \
		  --sourcetree $(DKMS_SOURCETREE))
DKMS_SRC	= $(DKMS_SOURCETREE)/$(PACKAGE_NAME)-$(PACKAGE_VERSION)
DKMS_MV		= -m $(PACKAGE_NAME) -v $(PACKAGE_VERSION)
# What DKMS builds from, and nothing else (no objects of an in-tree
# build): dkms.conf runs kbuild itself, which reads Kbuild, so the
# Makefile (and the files it includes) stays behind.  scripts/test.sh
# copies the same files, through make dkms-source.
DKMS_FILES	= dkms.conf Kbuild $(wildcard kernel/*.[ch]) $(wildcard include/*.h)

# The sources alone, into $(DKMS_SRC).
dkms-source:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp --parents $(DKMS_FILES) $(DKMS_SRC)/

dkms-install:
	@command -v $(firstword $(DKMS)) >/dev/null || { echo "dkms is not installed (apt-get install dkms)"; exit 1; }
	@$(MAKE) --no-print-directory dkms-source
	$(if $(DKMS_TREE),mkdir -p $(DKMS_TREE))
	@if $(DKMS_CMD) status $(DKMS_MV) -k $(KVER) | grep -q -F ', $(KVER),'; then \
	  echo "$(DKMS_CMD) remove $(DKMS_MV) -k $(KVER)"; \
	  $(DKMS_CMD) remove $(DKMS_MV) -k $(KVER) || exit 1; fi
	@if [ -n "$$($(DKMS_CMD) status $(DKMS_MV))" ]; then \
	  echo "$(PACKAGE_NAME)/$(PACKAGE_VERSION) is in the DKMS tree already: not added again"; \
	else \
	  echo "$(DKMS_CMD) add $(DKMS_MV)"; \
	  $(DKMS_CMD) add $(DKMS_MV) || exit 1; fi
	$(DKMS_CMD) build $(DKMS_MV) -k $(KVER)
	$(DKMS_CMD) install $(DKMS_MV) -k $(KVER)

# Every kernel's build and install, then the sources; nothing to do for
# what is not there.
dkms-remove:
	@command -v $(firstword $(DKMS)) >/dev/null || { echo "dkms is not installed (apt-get install dkms)"; exit 1; }
	@if [ -n "$$($(DKMS_CMD) status $(DKMS_MV))" ]; then \
	  echo "$(DKMS_CMD) remove $(DKMS_MV) --all"; \
	  $(DKMS_CMD) remove $(DKMS_MV) --all || exit 1; \
	else \
	  echo "$(PACKAGE_NAME)/$(PACKAGE_VERSION) is not in the DKMS tree"; fi
	rm -rf $(DKMS_SRC)

# User space: what the build made below $(O), and nothing outside it.
# The module is built in the tree whatever O= says (modules-clean).
clean: modules-clean
	rm -rf $(O)/build
	rm -f $(TEST_PROGS) $(COMPAT32_PROG) $(EXAMPLE_PROGS) $(LIBKSVC) $(LIBKSVC_PRELOAD)
ifneq ($(abspath $(O)),$(abspath .))
	rm -f $(KSVC_RUN)
	@for d in test examples lib tools; do \
	  if [ -d $(O)/$$d ]; then rmdir $(O)/$$d 2>/dev/null || :; fi; done
endif
