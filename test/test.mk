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

# The host tests run more than the test programs: test_tier0_preload runs
# the preload shim, ksvc-run and examples/tier0-facts, test_echo the echo
# examples.
check: lib test examples
	O=$(O) test/run-host.sh
