#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Print where a benchmark runs: kernel, host or virtual machine (and
# whether it is emulated, where timings are not hardware timings), CPU
# model and count. One "where:" line, then a warning line if emulated.

kernel=$(uname -r)
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)
[ -n "$cpu" ] || cpu=$(uname -m)
online=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
usable=$(nproc 2>/dev/null || echo "?")

vm=""
if command -v systemd-detect-virt >/dev/null 2>&1; then
	vm=$(systemd-detect-virt --vm 2>/dev/null)
	ct=$(systemd-detect-virt --container 2>/dev/null)
fi
[ "$vm" = none ] && vm=""
if [ -z "$vm" ] && grep -qw hypervisor /proc/cpuinfo; then
	vm="unknown hypervisor"
fi
emulated=""
case "$vm" in
qemu) emulated=1 ;;		# QEMU without KVM: TCG
esac
case "$cpu" in
*QEMU*) [ "$vm" = kvm ] || emulated=1 ;;
esac

if [ -n "$emulated" ]; then
	what="QEMU guest under TCG emulation"
elif [ -n "$vm" ]; then
	what="virtual machine ($vm, hardware virtualisation)"
else
	what="host (no hypervisor)"
fi
if [ -n "${ct:-}" ] && [ "$ct" != none ]; then
	what="$what, in a $ct container"
fi

echo "where: $what; kernel $kernel; CPU $cpu; $online CPUs online, $usable usable"
if [ -n "$emulated" ]; then
	echo "where: WARNING: emulated CPU; timings are not hardware timings, only ratios within this run mean anything"
fi
