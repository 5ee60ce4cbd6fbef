#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# Benchmark 2: echo servers side by side, with the same load client.
#
# usage: bench/echo_bench.sh [-o OUTDIR] [-r REPEATS] [-l LOADS] [-s SERVERS]
#   -o OUTDIR   where echo.csv, echo-runs.csv and echo.txt go (build/bench)
#   -r REPEATS  runs per cell; the table shows the median (3)
#   -l LOADS    loads as CONNSxMSGSxSIZE, SIZE in bytes or NK
#               (default "4x1000x64 50x1000x64 100x2000x128 20x500x4K 200x1000x64")
#   -s SERVERS  servers to run, from: ksvc uring epoll tokio go (all five)
#
# The programs come from the environment (bench/bench.mk sets them):
#   ECHO_CLIENT   examples/echo-client (required)
#   KSVC_ECHO     examples/ksvc-echo          ECHO_EPOLL  bench/echo_epoll
#   TOKIO_ECHO    bench/tokio-echo            GO_ECHO     bench/go-echo
#   ECHO_URING    bench/echo_uring: ksvc-echo's design on liburing used
#                 directly, a reference for KSVC's own cost, not one of
#                 the servers the goal compares against
# A server whose program is unset or missing is reported as missing and
# the others still run.
#
# The goal: ksvc-echo at or above the best of C epoll, tokio and Go in
# messages/s, with p99 no worse, on every load. A load gets a verdict
# only if ksvc-echo and all three of them ran ok on it; otherwise it is
# n/a, naming the servers that were missing, failed or not run. Every server is started as `PROGRAM PORT
# [THREADS]` and must listen on 127.0.0.1:PORT, echo every byte, and close
# a connection when the client closes its side.
#
# For each repeat, each load and each server (interleaved, so that drift in
# the machine's speed spreads over all servers alike; each repeat starts
# one server further along the list): pick a free port,
# start the server, wait until it accepts connections, run the client,
# record messages/s, p50 and p99 and the server's CPU time during the run
# (all threads), stop the server. Then print the tables (medians, with
# ksvc-echo against the best of the others; the same ratio run by run;
# ksvc-echo against liburing; server CPU time per message) and write
# echo.csv (medians; on ksvc-echo's lines also the best other server,
# the ratios of messages/s and p99 to it and the verdict), echo-runs.csv
# (every run), echo.txt (what was printed) and echo-logs/ (each run's
# client and server output).
#
# CPU placement (taskset): by default, on a machine with 2 or more CPUs,
# the server gets the first half of the usable CPUs and the client the
# rest; on 2 CPUs that is server on CPU 0, client on CPU 1. So the client
# never takes CPU time from the server, and every server has the same CPU
# budget whether it uses one thread or several (each picks its thread
# count from the CPUs it may run on, unless ECHO_SERVER_THREADS is set).
# Override with ECHO_SERVER_CPUS / ECHO_CLIENT_CPUS (taskset -c lists;
# "all" means no pinning; setting only one leaves the other unpinned). ECHO_CLIENT_THREADS sets the client's threads.
#
# Exit status: 1 if any run failed (wrong bytes, errors, server did not
# start); else 3 if a server asked for is missing, unless it is tokio or
# Go and bench/deps.sh --check says their packages are not installed (as
# where `make bench` runs without root): that absence is expected, is
# reported, and leaves the verdicts n/a; else 0.
set -u

here=$(cd "$(dirname "$0")" && pwd)
outdir=build/bench
repeats=3
loads="4x1000x64 50x1000x64 100x2000x128 20x500x4K 200x1000x64"
servers="ksvc uring epoll tokio go"

while getopts "o:r:l:s:h" opt; do
	case $opt in
	o) outdir=$OPTARG ;;
	r) repeats=$OPTARG ;;
	l) loads=$OPTARG ;;
	s) servers=$OPTARG ;;
	*) sed -n '4,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
case $repeats in ''|*[!0-9]*|0) echo "echo_bench: bad -r $repeats" >&2; exit 2 ;; esac

client=${ECHO_CLIENT:-}
if [ -z "$client" ] || [ ! -x "$client" ]; then
	echo "echo_bench: ECHO_CLIENT (examples/echo-client) is not built: '${client}'" >&2
	exit 1
fi

server_prog() {
	case $1 in
	ksvc) echo "${KSVC_ECHO:-}" ;;
	uring) echo "${ECHO_URING:-}" ;;
	epoll) echo "${ECHO_EPOLL:-}" ;;
	tokio) echo "${TOKIO_ECHO:-}" ;;
	go) echo "${GO_ECHO:-}" ;;
	*) echo "" ;;
	esac
}
server_label() {
	case $1 in
	ksvc) echo ksvc-echo ;;
	uring) echo liburing ;;
	epoll) echo "C epoll" ;;
	tokio) echo tokio ;;
	go) echo Go ;;
	*) echo "$1" ;;
	esac
}

# CPU placement.
usable=$(taskset -pc $$ 2>/dev/null | sed 's/.*: //')
ncpu=$(nproc)
if [ -z "${ECHO_SERVER_CPUS+x}" ] && [ -z "${ECHO_CLIENT_CPUS+x}" ] && [ "$ncpu" -ge 2 ]; then
	# Expand the usable list (e.g. "0-3,6") into CPU numbers.
	cpus=$(echo "$usable" | tr ',' '\n' | awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }')
	half=$((ncpu / 2))
	ECHO_SERVER_CPUS=$(echo "$cpus" | head -n "$half" | paste -sd, -)
	ECHO_CLIENT_CPUS=$(echo "$cpus" | tail -n +"$((half + 1))" | paste -sd, -)
fi
server_cpus=${ECHO_SERVER_CPUS:-all}
client_cpus=${ECHO_CLIENT_CPUS:-all}
server_pin=()
client_pin=()
[ "$server_cpus" = all ] || server_pin=(taskset -c "$server_cpus")
[ "$client_cpus" = all ] || client_pin=(taskset -c "$client_cpus")
client_args=()
[ -n "${ECHO_CLIENT_THREADS:-}" ] && client_args=(-t "$ECHO_CLIENT_THREADS")
server_threads=${ECHO_SERVER_THREADS:-}

mkdir -p "$outdir" || exit 1
csv=$outdir/echo.csv
runs=$outdir/echo-runs.csv
txt=$outdir/echo.txt
logdir=$outdir/echo-logs
rm -rf "$logdir"
mkdir -p "$logdir"

where=$("$here/where.sh")
{
	echo "Echo benchmark: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "$where"
	echo "placement: server on CPUs $server_cpus, client on CPUs $client_cpus;" \
	     "server threads ${server_threads:-per usable CPU}," \
	     "client threads ${ECHO_CLIENT_THREADS:-per usable CPU};" \
	     "median of $repeats runs per cell"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running skews the numbers)"
} | tee "$txt"

# Which servers are there. tokio and Go are expected to be missing where
# their packages are not installed (bench/deps.sh needs root); any other
# missing server is a failed build.
deps_missing=$("$here/deps.sh" --check 2>/dev/null | sed -n 's/^bench\/deps.sh: missing://p')
expected_missing() {
	case $1 in
	tokio) case " $deps_missing " in *" cargo "*|*" rustc "*|*" librust-tokio-dev "*) return 0 ;; esac ;;
	go) case " $deps_missing " in *" golang-go "*) return 0 ;; esac ;;
	esac
	return 1
}
present=""
missing=""
unexpected=""
for s in $servers; do
	p=$(server_prog "$s")
	if [ -z "$p" ] || [ ! -x "$p" ]; then
		why="not built${p:+: $p}"
		if expected_missing "$s"; then
			why="$why; expected: bench/deps.sh --check reports missing$deps_missing"
		else
			unexpected="$unexpected $s"
		fi
		echo "echo_bench: $(server_label "$s"): MISSING ($why)" | tee -a "$txt"
		missing="$missing $s"
	else
		present="$present $s"
	fi
done

# A port nothing listens on (a failed connect through bash's /dev/tcp),
# in $port. Not in a subshell, so that the next call moves on.
next_port=$((20000 + RANDOM % 30000))
free_port() {
	while :; do
		port=$next_port
		next_port=$((next_port + 1))
		[ $next_port -gt 60000 ] && next_port=20000
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return
		fi
	done
}

# Wait until the server (pid $1) accepts connections on $port: 0 when it
# does, 1 if it exits or 10 s pass.
wait_server() {
	local pid=$1
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 1
		"$client" --wait 0.2 127.0.0.1 "$port" 2>/dev/null && return 0
	done
	return 1
}

# Never leave a server behind, also when interrupted.
server_pid=""
# shellcheck disable=SC2317 # called through the trap
on_exit() {
	[ -n "$server_pid" ] && stop_server "$server_pid"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

load_args() {	# CxMxS -> "-c C -m M -s S"
	local IFS=x
	# shellcheck disable=SC2086 # split on x
	set -- $1
	echo "-c $1 -m $2 -s $3"
}

stop_server() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# CPU time the server has used so far (all its threads), in ns: the
# run-queue accounting in /proc/PID/task/*/schedstat, or else utime+stime
# in clock ticks.
server_cpu_ns() {
	local pid=$1 t
	t=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { if (NR) printf "%.0f", s }')
	if [ -z "$t" ]; then
		t=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.0f", ($12 + $13) * 1e9 / hz }' /proc/"$pid"/stat 2>/dev/null)
	fi
	echo "$t"
}

# One run: sets $line to the client's CSV line plus the server's CPU time
# during the run (ns), or to nothing if the client printed nothing. Runs in
# this shell (not in $(...)), so that free_port moves on between runs.
run_one() {	# server load rep
	local s=$1 load=$2 rep=$3 prog pid log rc try cpu0 cpu1
	prog=$(server_prog "$s")
	log=$logdir/$s-$load-$rep.log
	line=""
	: >"$log"
	for try in 1 2 3; do
		free_port
		# shellcheck disable=SC2086
		"${server_pin[@]}" "$prog" "$port" $server_threads >"$log.server" 2>&1 &
		pid=$!
		server_pid=$pid
		wait_server "$pid" && break
		# The server failed to start, or lost a race for the port.
		echo "server not listening on port $port (try $try)" >>"$log"
		stop_server "$pid"
		pid=""
		server_pid=""
	done
	if [ -z "$pid" ]; then
		echo "server did not start; its output:" >>"$log"
		cat "$log.server" >>"$log"
		return 1
	fi
	cpu0=$(server_cpu_ns "$pid")
	# shellcheck disable=SC2046
	line=$(timeout 600 "${client_pin[@]}" "$client" --csv -w 10 "${client_args[@]}" \
		$(load_args "$load") 127.0.0.1 "$port" 2>>"$log")
	rc=$?
	cpu1=$(server_cpu_ns "$pid")
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "server died during the run; its output:" >>"$log"
		cat "$log.server" >>"$log"
		rc=1
	fi
	stop_server "$pid"
	server_pid=""
	[ -n "$line" ] && line="$line,$(( ${cpu1:-0} - ${cpu0:-0} ))"
	return $rc
}

echo "server,load,run,conns,msgs,size,threads,messages,errors,seconds,msgs_per_s,p50_us,p99_us,max_us,server_cpu_ns,status" >"$runs"
# The words after the first from the N-th on (N mod their number), then
# the ones before it: each repeat starts one server further on.
rotate() {	# N WORD...
	local n=$1
	shift
	[ $# -gt 0 ] || return 0
	local a=("$@")
	n=$((n % $#))
	echo "${a[@]:n}" "${a[@]:0:n}"
}

failed=0
for rep in $(seq "$repeats"); do
	for load in $loads; do
		# shellcheck disable=SC2086 # split the list
		for s in $(rotate $((rep - 1)) $present); do
			run_one "$s" "$load" "$rep"
			rc=$?
			status=ok
			if [ $rc -ne 0 ] || [ -z "$line" ]; then
				status=failed
				failed=1
				echo "echo_bench: $(server_label "$s") $load run $rep FAILED:" >&2
				sed 's/^/    /' "$logdir/$s-$load-$rep.log" >&2
			fi
			[ -n "$line" ] || line=",,,,,,,,,,,"
			echo "$s,$load,$rep,$line,$status" >>"$runs"
			printf '  %-10s %-13s run %s: %s\n' "$(server_label "$s")" "$load" "$rep" \
				"$(echo "$line" | awk -F, -v st="$status" '{ if (st != "ok") print "FAILED"; else printf "%.0f msgs/s, p50 %.1f us, p99 %.1f us, server CPU %.2f us/msg\n", $8, $9, $10, $12 / 1000 / $5 }')"
		done
	done
done

# Medians per cell -> echo.csv; the tables -> stdout and echo.txt.
awk -F, -v loads="$loads" -v servers="$servers" -v present="$present" -v reps="$repeats" '
function median(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)	# insertion sort, n is small
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	if (n == 0) return ""
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function label(s) {
	return s == "ksvc" ? "ksvc-echo" : s == "uring" ? "liburing" : s == "epoll" ? "C epoll" : s == "tokio" ? "tokio" : s == "go" ? "Go" : s
}
# Why load l has no verdict: the opponents (and ksvc-echo) not ok on it,
# each with what happened to it; "" if all ran ok.
function why_na(l,    i, o, st, w) {
	w = ""
	for (i = 1; i <= nopp; i++) {
		o = OPP[i]; st = ST[o, l]
		if (!(o in sel)) st = "not run"
		else if (st == "failed") st = "FAILED"
		if (st != "ok") w = w (w == "" ? "" : ", ") label(o) " " st
	}
	return w
}
function lsize(l,    p, sz) {	# 20x500x4K -> "20 x 500 x 4 KiB"
	split(l, p, "x"); sz = p[3]
	if (sz ~ /[kK]$/) sz = substr(sz, 1, length(sz) - 1) " KiB"; else sz = sz " B"
	return p[1] " x " p[2] " x " sz
}
NR == 1 { next }
{
	key = $1 SUBSEP $2
	if ($16 == "ok") {
		rate[key] = rate[key] " " $11; p50[key] = p50[key] " " $12; p99[key] = p99[key] " " $13
		if (!(key in p99max) || $13 + 0 > p99max[key]) p99max[key] = $13 + 0
		runrate[$1, $2, $3] = $11
		if ($15 != "" && $8 > 0) cpu[key] = cpu[key] " " $15 / 1000 / $8
		nok[key]++
	} else nfail[key]++
	err[key] += $9
}
END {
	nl = split(loads, L, " "); ns = split(servers, S, " ")
	for (i = 1; i <= ns; i++) { here[S[i]] = index(" " present " ", " " S[i] " ") > 0; sel[S[i]] = 1 }
	# The opponents of the goal; ksvc-echo is checked with them.
	nopp = split("ksvc epoll tokio go", OPP, " ")
	for (j = 1; j <= nl; j++) {
		l = L[j]
		for (i = 1; i <= ns; i++) {
			s = S[i]; key = s SUBSEP l
			R[key] = A[key] = B[key] = C[key] = ""
			if (!here[s]) st = "missing"
			else if (nfail[key] > 0 || nok[key] == 0) st = "failed"
			else {
				st = "ok"
				R[key] = median(rate[key]); A[key] = median(p50[key]); B[key] = median(p99[key])
				C[key] = median(cpu[key])
			}
			ST[key] = st
		}
		# The goal on this load: ksvc-echo against the best of the
		# three (liburing is the reference for the cost of KSVC, not
		# an opponent).
		best = 0; bestp99 = 0; bests = ""
		for (i = 2; i <= nopp; i++) {
			key = OPP[i] SUBSEP l
			if (ST[key] == "ok" && R[key] + 0 > best) { best = R[key] + 0; bestp99 = B[key] + 0; bests = OPP[i] }
		}
		key = "ksvc" SUBSEP l; w = why_na(l)
		VBEST[l] = VRAT[l] = VP99[l] = ""
		if (!here["ksvc"]) VERD[l] = "n/a"
		else if (w == "" && best > 0 && bestp99 > 0) {
			VBEST[l] = bests; VRAT[l] = R[key] / best; VP99[l] = B[key] / bestp99
			met = R[key] + 0 >= best && B[key] + 0 <= bestp99
			VERD[l] = met ? "met" : "NOT met"
			nmet += met; njudged++
		} else {
			VERD[l] = "n/a"; VWHY[l] = w == "" ? "no rate" : w
			nna++
		}
	}

	# echo.csv: the verdict columns on the ksvc rows only.
	print "server,load,conns,msgs,size,runs,msgs_per_s,p50_us,p99_us,server_cpu_us_per_msg,errors,status," \
		"best_other,msgs_ratio,p99_ratio,verdict,p99_max_us" > csvfile
	for (j = 1; j <= nl; j++) {
		l = L[j]; split(l, p, "x")
		sz = p[3]; if (sz ~ /[kK]$/) sz = substr(sz, 1, length(sz) - 1) * 1024
		for (i = 1; i <= ns; i++) {
			s = S[i]; key = s SUBSEP l
			printf "%s,%s,%s,%s,%s,%d,%s,%s,%s,%s,%d,%s,", s, l, p[1], p[2], sz, nok[key],
				R[key], A[key], B[key], C[key] == "" ? "" : sprintf("%.3f", C[key]), err[key], ST[key] > csvfile
			if (s == "ksvc")
				printf "%s,%s,%s,%s,", VBEST[l], VRAT[l] == "" ? "" : sprintf("%.4f", VRAT[l]),
					VP99[l] == "" ? "" : sprintf("%.4f", VP99[l]), VERD[l] > csvfile
			else
				printf ",,,," > csvfile
			printf "%s\n", ST[key] == "ok" ? p99max[key] : "" > csvfile
		}
	}

	printf "\nmessages/s, p50/p99 round trip (us); each the median of %d runs (p99: of the p99 of each run;\n", reps
	printf "the highest of them is p99_max_us in echo.csv)\n"
	printf "%-26s", "load (conns x msgs x size)"
	for (i = 1; i <= ns; i++) printf "  %-24s", label(S[i])
	if (here["ksvc"]) printf "  %s", "ksvc / best other: msgs/s, p99"
	printf "\n"
	for (j = 1; j <= nl; j++) {
		l = L[j]
		printf "%-26s", lsize(l)
		for (i = 1; i <= ns; i++) {
			s = S[i]; key = s SUBSEP l
			if (ST[key] == "missing") cell = "missing"
			else if (ST[key] == "failed") cell = "FAILED (" nfail[key] + 0 "/" reps " runs)"
			else cell = sprintf("%7.0f %6.1f/%-8.1f", R[key], A[key], B[key])
			printf "  %-24s", cell
		}
		if (here["ksvc"] && VERD[l] != "n/a")
			printf "  %.2fx, %.2fx (vs %s): goal %s", VRAT[l], VP99[l], label(VBEST[l]), VERD[l]
		else if (here["ksvc"])
			printf "  n/a (%s)", VWHY[l]
		printf "\n"
	}
	if (here["ksvc"]) {
		print "goal: ksvc-echo at or above the best other server (C epoll, tokio, Go) in msgs/s, with p99 no worse, on every load;"
		print "      a load is judged only if ksvc-echo and all three ran ok on it, else n/a"
		if (nna) verdict = sprintf("no verdict: n/a on %d of %d loads", nna, nl) \
			(njudged ? sprintf(" (met on %d of the %d judged)", nmet, njudged) : "")
		else if (nmet == nl) verdict = sprintf("met on all %d loads", nl)
		else verdict = sprintf("NOT met (met on %d of %d loads)", nmet, nl)
	} else
		verdict = "no verdict: ksvc-echo " (("ksvc" in sel) ? "missing" : "not run")
	print "echo_bench: goal: " verdict

	# Each run of a load starts every server in turn, seconds apart: the
	# pairs below are as near side by side as this benchmark gets, and
	# show whether a difference between the medians is one the runs agree
	# on or drift in the speed of the machine between runs.
	if (here["ksvc"] && reps > 1) {
		printf "\nksvc-echo / the best of C epoll, tokio and Go in the same run, run by run (msgs/s)\n"
		printf "%-26s  %-14s  %s\n", "load (conns x msgs x size)", "runs ahead", "ratio: median (lowest .. highest)"
		for (j = 1; j <= nl; j++) {
			l = L[j]; list = ""; n = 0; ahead = 0; lo = ""; hi = ""
			for (r = 1; r <= reps; r++) {
				# only runs where ksvc-echo and all three ran ok
				best = 0; all = 1
				for (i = 1; i <= nopp; i++) {
					s = OPP[i]
					if (!((s, l, r) in runrate)) { all = 0; break }
					if (s != "ksvc" && runrate[s, l, r] + 0 > best) best = runrate[s, l, r] + 0
				}
				if (!all || best <= 0) continue
				x = runrate["ksvc", l, r] / best
				list = list " " x; n++
				if (x >= 1) ahead++
				if (lo == "" || x < lo) lo = x
				if (hi == "" || x > hi) hi = x
			}
			printf "%-26s", lsize(l)
			if (n) printf "  %-14s  %.2fx (%.2fx .. %.2fx)\n", ahead " of " n, median(list), lo, hi
			else printf "  n/a (no run where ksvc-echo, C epoll, tokio and Go all ran ok)\n"
		}
	}

	if (here["ksvc"] && here["uring"]) {
		printf "\nThe cost of KSVC itself: ksvc-echo / liburing (the same server on io_uring directly)\n"
		printf "%-26s  %-10s  %-10s  %s\n", "load (conns x msgs x size)", "msgs/s", "p99", "CPU per message"
		for (j = 1; j <= nl; j++) {
			l = L[j]; k = "ksvc" SUBSEP l; u = "uring" SUBSEP l
			printf "%-26s", lsize(l)
			if (ST[k] == "ok" && ST[u] == "ok" && R[u] > 0 && B[u] > 0)
				printf("  %-10s  %-10s  %s\n", sprintf("%.2fx", R[k] / R[u]), sprintf("%.2fx", B[k] / B[u]),
					(C[k] != "" && C[u] + 0 > 0) ? sprintf("%.2fx", C[k] / C[u]) : "?")
			else
				printf "  n/a\n"
		}
	}

	printf "\nserver CPU time per message (us, all server threads; lower is better)\n"
	printf "%-26s", "load (conns x msgs x size)"
	for (i = 1; i <= ns; i++) printf "  %-10s", label(S[i])
	printf "\n"
	for (j = 1; j <= nl; j++) {
		l = L[j]
		printf "%-26s", lsize(l)
		for (i = 1; i <= ns; i++) {
			key = S[i] SUBSEP L[j]
			printf "  %-10s", ST[key] != "ok" ? ST[key] : C[key] == "" ? "?" : sprintf("%.2f", C[key])
		}
		printf "\n"
	}
}' csvfile="$csv" "$runs" | tee -a "$txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$txt"

echo "echo_bench: wrote $csv (medians), $runs (every run), $txt"
if [ $failed -ne 0 ]; then
	echo "echo_bench: some runs FAILED (logs in $logdir)" >&2
	exit 1
fi
if [ -n "$unexpected" ]; then
	echo "echo_bench: MISSING, not built:$unexpected" | tee -a "$txt" >&2
	exit 3
fi
[ -n "$missing" ] && echo "echo_bench: missing (expected, packages not installed):$missing" | tee -a "$txt"
exit 0
