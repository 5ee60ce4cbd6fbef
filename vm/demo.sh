#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# vm/demo.sh - the demo, run inside the test guest by /init (as /demo.sh)
# with ksvc.ko loaded; its output is the test channel.  Each step is a
# section whose result is its exit status (see scripts/tap-summary):
#   1. examples/ksvc-demo: creates an instance, prints its Tier 0 facts
#      beside the real syscalls' answers, passes entries through both rings
#   2. examples/ksvc-echo + examples/echo-client: the TCP echo server on
#      KSVC and its load client, over loopback
# A step whose program is not built fails, with a message.
cd /

PORT=${KSVC_DEMO_PORT:-7777}

step() {	# step NAME COMMAND...: run COMMAND as a plain section
	name=$1; shift
	echo "# ksvc-begin-plain: demo: $name"
	"$@"
	st=$?
	echo "# ksvc-end: $st"
	return $st
}

missing() {	# missing NAME WHY: a step that cannot run fails
	echo "# ksvc-begin-plain: demo: $1"
	echo "$2"
	echo "# ksvc-end: 1"
}

# The servers' convention (see bench/echo_bench.sh): `SERVER PORT`,
# listening on 127.0.0.1:PORT.
echo_demo() {
	examples/ksvc-echo "$PORT" &
	srv=$!
	if ! examples/echo-client --wait 30 127.0.0.1 "$PORT"; then
		echo "ksvc-echo did not start listening on 127.0.0.1:$PORT"
		kill $srv 2>/dev/null
		wait $srv
		return 1
	fi
	examples/echo-client -c 8 -m 1000 -s 64 127.0.0.1 "$PORT"
	cst=$?
	# It stops cleanly on SIGTERM, with status 0.
	kill -TERM $srv 2>/dev/null
	wait $srv
	sst=$?
	[ $sst = 0 ] || echo "ksvc-echo exited with status $sst on SIGTERM"
	[ $cst = 0 ] || return $cst
	return $sst
}

if [ -x examples/ksvc-demo ]; then
	step ksvc-demo examples/ksvc-demo
else
	missing ksvc-demo "examples/ksvc-demo is not built"
fi

if [ -x examples/ksvc-echo ] && [ -x examples/echo-client ]; then
	step "ksvc-echo with echo-client" echo_demo
else
	missing "ksvc-echo with echo-client" "examples/ksvc-echo or examples/echo-client is not built"
fi
