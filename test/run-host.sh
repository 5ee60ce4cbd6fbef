#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# test/run-host.sh - run the host tests (test/host.list) and summarise.
#
# Usage: [O=DIR] test/run-host.sh [-o STREAM] [-l LIST] [PROGRAM...]
#
#   O        where the programs were built (make test O=DIR), default "."
#   -o FILE  also write the TAP stream (with section markers) to FILE
#   -l LIST  run the entries of LIST instead of test/host.list
#            (test/tsan.list for a TSAN=1 build)
#   PROGRAM  run these list entries (e.g. test/test_ring) instead of the list
#
# test/host.list: one program per line, relative to the tree
# (e.g. "test/test_ring"), optionally preceded by "timeout=SECONDS"
# (default 600) and followed by arguments (split on white space).
# Blank lines and lines starting with "#" are ignored.
#
# Each program runs from the top of the tree with stdin from /dev/null;
# its stdout and stderr form its section of the stream.  Processes it
# leaves behind are killed, and fail it (status 125).  The last line is
# "N passed, N failed[, N skipped]"; the exit status is non-zero if
# anything failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
O=${O:-.}
STREAM=
LIST=test/host.list
while [ $# -gt 0 ]; do
	case $1 in
	-o) STREAM=$2; shift 2 ;;
	-l) LIST=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "run-host.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done

if [ $# -eq 0 ] && [ ! -r "$LIST" ]; then
	echo "run-host.sh: cannot read $LIST" >&2
	exit 2
fi
if [ "$O" = . ]; then tag=host; else tag="host[$O]"; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ksvc-host.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
# A trap that does not exit lets sh carry on: leave on a signal.
trap 'exit 130' INT
trap 'exit 143' TERM
out=$tmp/stream
: >"$out"
: >"$tmp/expected"

if [ $# -gt 0 ]; then
	for p in "$@"; do echo "$p"; done >"$tmp/list"
else
	sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$LIST" >"$tmp/list"
fi

while read -r line; do
	# shellcheck disable=SC2086
	set -- $line
	limit=600
	case $1 in timeout=*) limit=${1#timeout=}; shift ;; esac
	[ $# -gt 0 ] || continue
	prog=$1; shift
	name="$tag: $prog${*:+ $*}"
	echo "$name" >>"$tmp/expected"
	{
		echo "# ksvc-begin: $name"
		if [ -x "$O/$prog" ]; then
			# In a process group of its own (timeout makes one),
			# its output to a file: a process it leaves behind
			# cannot hold the stream open, and is reported (as
			# a failure) and killed.
			timeout -k 10 "$limit" "$O/$prog" "$@" </dev/null \
				>"$tmp/prog.out" 2>&1 &
			pid=$!
			wait "$pid"
			st=$?
			cat "$tmp/prog.out"
			left=$(pgrep -g "$pid" | tr '\n' ' ')
			if [ -n "$left" ]; then
				echo "# left processes behind: $left(killed)"
				kill -KILL "-$pid" 2>/dev/null
				[ "$st" = 0 ] && st=125
			fi
		else
			echo "# $O/$prog does not exist (not built?)"
			st=127
		fi
		if [ "$st" = 124 ]; then
			echo "# timed out after $limit s"
			echo "# ksvc-end: $st timeout"
		else
			echo "# ksvc-end: $st"
		fi
	} | tee -a "$out"
done <"$tmp/list"

[ -n "$STREAM" ] && cp "$out" "$STREAM"
echo "== $tag summary"
sh "$ROOT/scripts/tap-summary" -e "$tmp/expected" "$out"
