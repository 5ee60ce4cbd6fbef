#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Build tokio-echo offline from Debian's crate registry.
#
# usage: bench/tokio-echo/build.sh WORKDIR OUTPUT
#
# librust-tokio-dev (bench/deps.sh) installs tokio and its dependencies as
# crate sources under /usr/share/cargo/registry. A private CARGO_HOME in
# WORKDIR replaces crates.io with that directory and forbids network
# access, so cargo never downloads anything. The sources are copied to
# WORKDIR first, so that Cargo.lock and target/ stay out of the source
# tree. CARGO and RUSTC default to Debian's /usr/bin/cargo and
# /usr/bin/rustc (a rustup toolchain earlier in PATH is not used);
# DEBIAN_CRATES overrides the registry directory.
set -eu

[ $# -eq 2 ] || { echo "usage: $0 WORKDIR OUTPUT" >&2; exit 2; }
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1" "$(dirname "$2")"
work=$(cd "$1" && pwd)
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
cargo=${CARGO:-/usr/bin/cargo}
rustc=${RUSTC:-/usr/bin/rustc}
registry=${DEBIAN_CRATES:-/usr/share/cargo/registry}

for f in "$cargo" "$rustc"; do
	[ -x "$f" ] || { echo "tokio-echo: $f missing (bench/deps.sh installs cargo and rustc)" >&2; exit 1; }
done
ls -d "$registry"/tokio-1.* >/dev/null 2>&1 ||
	{ echo "tokio-echo: no tokio crate in $registry (bench/deps.sh installs librust-tokio-dev)" >&2; exit 1; }

mkdir -p "$work/cargo-home" "$work/src/src"
cat >"$work/cargo-home/config.toml" <<EOT
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$registry"

[net]
offline = true
EOT
cp "$src/Cargo.toml" "$work/src/"
cp "$src"/src/*.rs "$work/src/src/"

cd "$work/src"
CARGO_HOME="$work/cargo-home" CARGO_TARGET_DIR="$work/target" RUSTC="$rustc" \
	"$cargo" build --release --offline --quiet
cp "$work/target/release/tokio-echo" "$out"
