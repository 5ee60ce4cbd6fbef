# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# make bench         install the benchmark-only packages (bench/deps.sh),
#                    build every benchmark and run them all (bench/run.sh),
#                    then the bench programs again in the QEMU guest with
#                    ksvc.ko loaded (bench/run-vm.sh)
# make bench-vm      only the guest part
# make bench-build   only build
# make bench-echo    build and run only the echo benchmark
#
# Every bench/bench_*.c is one benchmark program, built to
# $(O)/build/bench/bench_<name> and linked with libksvc (no Makefile edit
# needed for a new one); bench/run.sh runs them in name order, then the
# echo benchmark. Outputs (text, CSV) go to $(O)/build/bench/.
#
# The echo benchmark's programs: examples/echo-client (the load client,
# built here), bench/echo_epoll.c, bench/echo_uring.c (ksvc-echo's design
# on liburing directly: the reference for KSVC's own cost), bench/tokio-echo (Rust, built offline
# from Debian's crate registry), bench/go-echo (Go standard library only)
# and examples/ksvc-echo (built by examples/examples.mk) when its source
# exists. A server that fails to build is reported missing by the
# benchmark instead of stopping the build.

BENCH_DIR	:= $(O)/build/bench
BENCH_SRCS	:= $(sort $(wildcard bench/bench_*.c))
BENCH_PROGS	:= $(patsubst bench/%.c,$(BENCH_DIR)/%,$(BENCH_SRCS))
BENCH_HDRS	:= $(wildcard bench/*.h)

ECHO_CLIENT	:= $(O)/examples/echo-client
ECHO_EPOLL	:= $(BENCH_DIR)/echo_epoll
ECHO_URING	:= $(BENCH_DIR)/echo_uring
TOKIO_ECHO	:= $(BENCH_DIR)/tokio-echo
GO_ECHO		:= $(BENCH_DIR)/go-echo
KSVC_ECHO	:= $(if $(wildcard examples/ksvc-echo.c),$(O)/examples/ksvc-echo)

# Debian's toolchains, not whatever else is first in PATH (e.g. rustup's).
BENCH_CARGO	?= /usr/bin/cargo
BENCH_RUSTC	?= /usr/bin/rustc
BENCH_GO	?= /usr/bin/go

ECHO_ENV	= ECHO_CLIENT=$(ECHO_CLIENT) ECHO_EPOLL=$(ECHO_EPOLL) \
		  TOKIO_ECHO=$(TOKIO_ECHO) GO_ECHO=$(GO_ECHO) \
		  KSVC_ECHO=$(KSVC_ECHO) ECHO_URING=$(ECHO_URING)

.PHONY: bench bench-build bench-echo bench-echo-build bench-deps bench-progs \
	bench-vm

bench-deps:
	@bench/deps.sh || echo "bench: benchmark packages missing; what needs them will be reported missing"

# Build with -k and go on: what did not build is reported by the run
# (a program as failed, an echo server as missing), and the rest runs.
bench: bench-deps
	@$(MAKE) --no-print-directory -k bench-build || \
	  echo "bench: some parts did not build (above); running the rest"
	@st=0; $(ECHO_ENV) bench/run.sh $(BENCH_DIR) $(BENCH_PROGS) || st=1; \
	  echo "== in the QEMU guest, with ksvc.ko (bench/run-vm.sh)"; \
	  bench/run-vm.sh $(BENCH_DIR) || st=1; exit $$st

bench-echo: bench-deps
	@$(MAKE) --no-print-directory -k bench-echo-build || \
	  echo "bench: some parts did not build (above); running the rest"
	$(ECHO_ENV) bench/echo_bench.sh -o $(BENCH_DIR) $(ECHO_BENCH_ARGS)

bench-build: $(BENCH_PROGS) bench-echo-build
	@:

# The programs in C: the bench_* programs and the two C echo servers
# (test/test_echo runs the servers too; scripts/test.sh builds this).
bench-progs: $(BENCH_PROGS) $(ECHO_EPOLL) $(ECHO_URING)
	@:

# The same programs inside the QEMU guest with ksvc.ko loaded (the module
# cannot be loaded into this machine's kernel); TCG timings, ratios only.
bench-vm:
	bench/run-vm.sh $(BENCH_DIR)

bench-echo-build: $(ECHO_CLIENT) $(ECHO_EPOLL) $(ECHO_URING) $(KSVC_ECHO) \
		  $(TOKIO_ECHO) $(GO_ECHO)
	@:

$(BENCH_DIR)/bench_%: bench/bench_%.c $(BENCH_HDRS) $(LIB_HDRS) $(LIBKSVC)
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) -Ibench $< -o $@ $(LIBKSVC) $(USER_LDFLAGS) $(LIB_LIBS)

$(ECHO_CLIENT): examples/echo-client.c
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $< -o $@ $(USER_LDFLAGS)

$(ECHO_EPOLL): bench/echo_epoll.c bench/echo_args.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $< -o $@ $(USER_LDFLAGS)

$(ECHO_URING): bench/echo_uring.c bench/echo_args.h
	@mkdir -p $(dir $@)
	$(CC) $(USER_CFLAGS) $< -o $@ $(USER_LDFLAGS) $(LIB_LIBS)

# Rust and Go: a failed build leaves no program, which the echo benchmark
# reports as missing; make goes on.
$(TOKIO_ECHO): bench/tokio-echo/Cargo.toml $(wildcard bench/tokio-echo/src/*.rs) \
	       bench/tokio-echo/build.sh
	@mkdir -p $(dir $@)
	@echo "  CARGO   $@ (offline, Debian's crate registry)"
	@CARGO=$(BENCH_CARGO) RUSTC=$(BENCH_RUSTC) \
	  bench/tokio-echo/build.sh $(BENCH_DIR)/tokio $@ || \
	  { rm -f $@; echo "bench: tokio-echo did not build; the echo benchmark will list it as missing"; }

$(GO_ECHO): bench/go-echo/main.go
	@mkdir -p $(dir $@) $(BENCH_DIR)/go
	@echo "  GO      $@ (standard library only, no modules)"
	@if [ -x $(BENCH_GO) ]; then \
	  cd $(BENCH_DIR)/go && \
	  env GO111MODULE=off GOFLAGS= GOPROXY=off GOTOOLCHAIN=local \
	      CGO_ENABLED=0 GOPATH=$(abspath $(BENCH_DIR)/go/path) \
	      GOCACHE=$(abspath $(BENCH_DIR)/go/cache) \
	      HOME=$(abspath $(BENCH_DIR)/go) \
	      $(BENCH_GO) build -o $(abspath $@) $(abspath bench/go-echo/main.go) || \
	  { rm -f $(abspath $@); echo "bench: go-echo did not build; the echo benchmark will list it as missing"; }; \
	else echo "bench: $(BENCH_GO) missing (bench/deps.sh installs golang-go); go-echo will be listed as missing"; fi
