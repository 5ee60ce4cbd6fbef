#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# scripts/demo.sh - README command 1: install what is missing, build,
# boot Debian's 6.12 kernel in QEMU, load ksvc.ko, run the demo
# (vm/demo.sh: examples/ksvc-demo, then the ksvc-echo server with its
# load client), unload the module and check the guest's kernel log.
# Exit status: 0 only if every step worked.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2

echo "==== installing what is missing (scripts/deps.sh)"
sh scripts/deps.sh || exit 1
echo "==== building, booting the guest, running the demo (vm/run.sh --demo)"
sh vm/run.sh --demo
