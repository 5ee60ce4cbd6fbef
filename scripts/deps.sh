#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# scripts/deps.sh - install what KSVC needs on Debian 12 and pick the
# Debian 6.12 kernel that the QEMU guest boots.
#
# Idempotent: when every package is present it does not touch apt.
# Writes build/kernel.env (sourced by the other scripts):
#   KVER_VM   kernel release of the guest, e.g. 6.12.117+deb12-amd64
#   KDIR_VM   its headers (the kbuild tree external modules build against)
#   VMLINUZ   its kernel image
#
# Environment: KSVC_KVER=<release> forces one kernel release instead of
# the newest 6.12 one.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENV_FILE="$ROOT/build/kernel.env"

export DEBIAN_FRONTEND=noninteractive

# Packages the build, the tests and the VM need (the kernel pair aside).
# build-essential brings gcc, g++ and make; perl runs checkpatch.pl,
# linux-source-6.12 provides it; xz-utils unpacks it; valgrind runs one
# dispatcher test (test_dispatch_vg); pkg-config, man-db and groff-base
# check what make install installs (test/install.sh); clang builds user
# space a second time, for its warnings; libasan8, libubsan1 and libtsan2
# are gcc's sanitizer runtimes (SAN=1, TSAN=1); gcc-multilib compiles the
# ABI header for 32-bit and x32 processes, where its layout checks must
# hold too.
PKGS="build-essential gcc g++ make qemu-system-x86 busybox-static cpio kmod
sparse dkms liburing-dev gzip perl xz-utils linux-source-6.12 valgrind
pkg-config man-db groff-base clang libasan8 libubsan1 libtsan2 procps
gcc-multilib"

say() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
	command -v sudo >/dev/null 2>&1 || SUDO=
else
	SUDO=
fi

installed() {	# installed PKG: true if dpkg has PKG fully installed
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

APT_UPDATED=
apt_update() {
	[ -n "$APT_UPDATED" ] && return 0
	say "apt-get update"
	$SUDO apt-get update -q >/dev/null || die "apt-get update failed"
	APT_UPDATED=1
}

apt_install() {
	apt_update
	say "installing: $*"
	$SUDO apt-get install -y -q --no-install-recommends "$@" ||
		die "apt-get install $* failed"
}

has_candidate() {	# has_candidate PKG: apt can install PKG
	c=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
	[ -n "$c" ] && [ "$c" != "(none)" ]
}

# A kernel release is usable when its image and its headers are on disk.
kernel_ready() {
	[ -f "/boot/vmlinuz-$1" ] &&
		[ -f "/usr/src/linux-headers-$1/Makefile" ]
}

# Newest installed 6.12 amd64 release with image and headers, or nothing.
installed_kernel() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
		'linux-headers-6.12.*-amd64' 2>/dev/null |
	sed -n 's/^ii  *linux-headers-\(6\.12\.[0-9][^-]*-amd64\)$/\1/p' |
	sort -rV | while read -r v; do
		if { installed "linux-image-$v-unsigned" ||
		     installed "linux-image-$v"; } && kernel_ready "$v"; then
			echo "$v"
			break
		fi
	done
}

# Newest 6.12 plain-amd64 release for which apt has both the unsigned
# image and the headers.
available_kernel() {
	apt-cache pkgnames linux-image-6.12. 2>/dev/null |
	sed -n 's/^linux-image-\(6\.12\.[0-9][^-]*-amd64\)-unsigned$/\1/p' |
	sort -rV | while read -r v; do
		if has_candidate "linux-image-$v-unsigned" &&
		   has_candidate "linux-headers-$v"; then
			echo "$v"
			break
		fi
	done
}

# ---- the packages -----------------------------------------------------
missing=
for p in $PKGS; do
	installed "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	apt_install $missing
else
	say "all packages present"
fi

# install_kernel VER: the unsigned image and the headers of VER.  Where
# the signed image of VER is installed (it conflicts with the unsigned
# one and boots the same kernel), keep it and add the headers only.
install_kernel() {
	if installed "linux-image-$1"; then
		apt_install "linux-headers-$1"
	else
		apt_install "linux-image-$1-unsigned" "linux-headers-$1"
	fi
}

# ---- the guest kernel ---------------------------------------------------
if [ -n "${KSVC_KVER:-}" ]; then
	KVER=$KSVC_KVER
	kernel_ready "$KVER" || install_kernel "$KVER"
else
	KVER=$(installed_kernel)
	if [ -z "$KVER" ]; then
		apt_update
		KVER=$(available_kernel)
		[ -n "$KVER" ] || die "apt has no linux-image-6.12.*-amd64-unsigned with matching headers"
		install_kernel "$KVER"
	fi
fi
kernel_ready "$KVER" || die "kernel $KVER: /boot/vmlinuz-$KVER or /usr/src/linux-headers-$KVER missing"
say "guest kernel $KVER"

mkdir -p "$ROOT/build"
tmp="$ENV_FILE.tmp.$$"
cat >"$tmp" <<EOF
# written by scripts/deps.sh
KVER_VM=$KVER
KDIR_VM=/usr/src/linux-headers-$KVER
VMLINUZ=/boot/vmlinuz-$KVER
EOF
mv -f "$tmp" "$ENV_FILE"
say "wrote ${ENV_FILE#"$ROOT"/}"
