#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Install the Debian packages that only the benchmarks need (`make bench`
# runs this; CI does not). scripts/deps.sh installs what building and
# testing KSVC needs; this adds the opponents of the echo benchmark:
#   cargo, rustc, librust-tokio-dev   the tokio echo server, built offline
#                                     from Debian's crate registry
#                                     (/usr/share/cargo/registry)
#   golang-go                         the Go echo server (standard library only)
# Nothing else is downloaded at build time.
#
# Usage: bench/deps.sh [--check]
#   --check   only report what is missing (exit 1 if anything is)
set -eu

PKGS="cargo rustc librust-tokio-dev golang-go"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "bench/deps.sh: benchmark packages present ($PKGS)"
	exit 0
fi
if [ "${1:-}" = "--check" ]; then
	echo "bench/deps.sh: missing:$missing"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "bench/deps.sh: missing:$missing; run as root (or: apt-get install$missing)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "bench/deps.sh: installing$missing"
# Try without refreshing the package lists first; refresh if that fails.
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing; then
	apt-get update
	apt-get install -y --no-install-recommends $missing
fi
