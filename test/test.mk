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

check: test
	O=$(O) test/run-host.sh
