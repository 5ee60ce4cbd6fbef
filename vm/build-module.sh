#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# vm/build-module.sh [--clean] ksvc|ksvc-fi|splat [MAKE ARGS...]
#
# Builds a module for the guest kernel (KDIR_VM from build/kernel.env,
# or $KDIR) outside the source tree, so that kbuild's objects never land
# in the checkout:
#   ksvc     Kbuild, kernel/, include/  ->  build/kmod/ksvc/ksvc.ko
#   ksvc-fi  the same with fault injection (KSVC_FAULT_INJECT=y, for
#            test/test_fault_module)  ->  build/kmod/ksvc-fi/ksvc.ko
#   splat    test/kmod/                 ->  build/kmod/splat/ksvc_splat.ko
# Sources are copied when newer, so rebuilding is incremental; --clean
# starts from an empty directory (every file is compiled, and checked by
# sparse with C=1).  Extra arguments go to make (e.g. W=1 C=1).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
clean=
if [ "${1:-}" = --clean ]; then clean=1; shift; fi
what=${1:?usage: vm/build-module.sh [--clean] ksvc|ksvc-fi|splat [MAKE ARGS...]}
shift

if [ -z "${KDIR:-}" ]; then
	[ -f "$ROOT/build/kernel.env" ] || sh "$ROOT/scripts/deps.sh"
	. "$ROOT/build/kernel.env"
	KDIR=$KDIR_VM
fi

out=$ROOT/build/kmod/$what
[ -n "$clean" ] && rm -rf "$out"
mkdir -p "$out"
cd "$ROOT"
case $what in
ksvc)	cp -pRu Kbuild kernel include "$out/" ;;
ksvc-fi) cp -pRu Kbuild kernel include "$out/"; set -- "$@" KSVC_FAULT_INJECT=y ;;
splat)	cp -pRu test/kmod/. "$out/" ;;
*)	echo "build-module.sh: unknown module $what" >&2; exit 2 ;;
esac
# O= for kbuild is its output directory: a user-space O= handed down by
# a calling make (make bench O=build/b) must not reach it.
make -C "$KDIR" M="$out" O= "$@" modules
