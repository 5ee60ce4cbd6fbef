# libksvc: every lib/*.c except the preload shim goes into libksvc.a;
# libksvc-preload.so is built from lib/preload*.c plus the library
# objects compiled position-independent.

LIB_SRCS	:= $(filter-out lib/preload%.c,$(wildcard lib/*.c))
LIB_OBJS	:= $(patsubst %.c,$(O)/build/obj/%.o,$(LIB_SRCS))
LIB_PIC_OBJS	:= $(patsubst %.c,$(O)/build/pic/%.o,$(LIB_SRCS))
PRELOAD_SRCS	:= $(wildcard lib/preload*.c)
PRELOAD_OBJS	:= $(patsubst %.c,$(O)/build/pic/%.o,$(PRELOAD_SRCS))
LIB_HDRS	:= $(wildcard include/*.h lib/*.h)
LIBKSVC		:= $(O)/lib/libksvc.a
LIBKSVC_PRELOAD	:= $(O)/lib/libksvc-preload.so
LIB_LIBS	:= -luring

.PHONY: lib
lib: $(LIBKSVC) $(if $(PRELOAD_SRCS),$(LIBKSVC_PRELOAD))

$(O)/build/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -c $< -o $@

$(O)/build/pic/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -fPIC -c $< -o $@

$(LIBKSVC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The shim runs inside programs without a sanitizer runtime (whose own
# start-up would call getrlimit/getpid through it before it is ready), so
# it is never instrumented; the same code is sanitized through libksvc.a.
PRELOAD_CFLAGS	:= $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(USER_CFLAGS)) -fPIC
PRELOAD_SO_OBJS	:= $(patsubst %.c,$(O)/build/preload/%.o,$(PRELOAD_SRCS) lib/tier0.c)

$(O)/build/preload/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(PRELOAD_CFLAGS) -c $< -o $@

$(LIBKSVC_PRELOAD): $(PRELOAD_SO_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ -pthread

# ksvc-run finds the shim at ../lib/ relative to itself: give each build
# directory its own copy.
KSVC_RUN	:= $(O)/tools/ksvc-run
ifneq ($(abspath $(O)),$(abspath .))
lib: $(KSVC_RUN)
$(KSVC_RUN): tools/ksvc-run
	@mkdir -p $(dir $@)
	cp $< $@
endif
