# Every examples/<name>.c is one program, $(O)/examples/<name>, linked
# with libksvc.

EXAMPLE_SRCS	:= $(wildcard examples/*.c)
EXAMPLE_PROGS	:= $(patsubst examples/%.c,$(O)/examples/%,$(EXAMPLE_SRCS))

.PHONY: examples
examples: $(EXAMPLE_PROGS)

$(O)/examples/%: examples/%.c $(LIB_HDRS) $(LIBKSVC)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $< -o $@ $(LIBKSVC) $(USER_LDFLAGS) $(LIB_LIBS)
