# Every test/*.c is one test program, test/<name>, linked with libksvc.
# test/host.list names the ones `make check` runs on the host; the VM
# harness runs the ones in test/vm.list inside the guest.

TEST_SRCS	:= $(wildcard test/*.c)
TEST_PROGS	:= $(patsubst test/%.c,$(O)/test/%,$(TEST_SRCS))
TEST_HDRS	:= $(wildcard test/*.h)

.PHONY: test check
test: $(TEST_PROGS)

$(O)/test/%: test/%.c $(TEST_HDRS) $(LIB_HDRS) $(LIBKSVC)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -Itest $< -o $@ $(LIBKSVC) $(USER_LDFLAGS) $(LIB_LIBS)

# test_compat32 talks to the device from a 32-bit process: built -m32
# -static, without libksvc (64-bit only) and without sanitizers.  Where
# $(CC) cannot link a static 32-bit program, a script that skips the
# whole program stands in for it.
COMPAT32_PROG	:= $(O)/test/test_compat32
test: $(COMPAT32_PROG)

$(COMPAT32_PROG): test/compat32/test_compat32.c test/tap.h include/ksvc_uapi.h
	@mkdir -p $(dir $@)
	@if echo 'int main(void) { return 0; }' | \
	    $(CC) -m32 -static -x c - -o $@.probe 2>/dev/null; then \
		rm -f $@.probe; \
		$(CC) -m32 -static -std=c11 -O2 -g -Wall -Wextra -Werror \
			-D_GNU_SOURCE -Iinclude -Itest $< -o $@; \
	else \
		rm -f $@.probe; \
		printf '#!/bin/sh\necho "1..0 # SKIP no 32-bit toolchain"\n' >$@; \
		chmod +x $@; \
	fi

# The host tests run more than the test programs: test_tier0_preload runs
# the preload shim, ksvc-run and examples/tier0-facts, test_echo the echo
# examples.
check: lib test examples
	O=$(O) test/run-host.sh

# test_fault_lib fails libksvc's resource calls one at a time: it links
# with -Wl,--wrap for each function below, so that libksvc.a's calls to
# it reach the test's __wrap_ function (and the test's own calls too;
# liburing's and libc's internal ones do not).
FAULT_WRAPS	:= malloc calloc aligned_alloc free mmap munmap mprotect \
		   open eventfd fcntl ioctl pthread_create sigaction \
		   timer_create io_uring_queue_init_params io_uring_queue_init \
		   io_uring_get_probe_ring memfd_create syscall
comma		:= ,
$(O)/test/test_fault_lib: test/test_fault_lib.c $(TEST_HDRS) $(LIB_HDRS) $(LIBKSVC)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -Itest $< -o $@ $(LIBKSVC) $(USER_LDFLAGS) \
		$(LIB_LIBS) $(addprefix -Wl$(comma)--wrap=,$(FAULT_WRAPS))
