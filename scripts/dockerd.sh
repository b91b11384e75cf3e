#!/usr/bin/env bash
# Starts and stops a private Docker daemon for the engine tests: its own socket, data root,
# exec root and pidfile under DIR, no iptables and no bridge (the tests' containers need no
# network), so it touches nothing of a daemon the machine may already run.
#
#   bash scripts/dockerd.sh start DIR   # prints DOCKER_HOST (unix://DIR/docker.sock) when ready
#   bash scripts/dockerd.sh stop DIR
#
# start also registers qemu's binfmt_misc handlers when it can (mounting binfmt_misc and
# running update-binfmts --enable), so arm64 and arm/v7 images run under emulation; that
# part only warns when it fails. Needs root (dockerd does). TIMEOUT (seconds, default 60)
# bounds the wait for the daemon to answer.
set -euo pipefail

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
TIMEOUT=${TIMEOUT:-60}

# binfmt registers qemu-user-static's handlers; failures are warnings, never fatal.
binfmt() {
	if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null ||
			echo "warning: cannot mount binfmt_misc on /proc/sys/fs/binfmt_misc; arm64 and arm/v7 images will not run under emulation" >&2
	fi
	if [ -e /proc/sys/fs/binfmt_misc/status ]; then
		if command -v update-binfmts >/dev/null 2>&1; then
			update-binfmts --enable >/dev/null 2>&1 ||
				echo "warning: update-binfmts --enable failed; some emulated platforms may not run" >&2
		else
			echo "warning: update-binfmts is not installed (apt-get install binfmt-support qemu-user-static)" >&2
		fi
	fi
	return 0
}

# alive reports whether the pidfile names a running process.
alive() {
	[ -s "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null
}

start() {
	command -v dockerd >/dev/null 2>&1 || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
	command -v docker >/dev/null 2>&1 || { echo "the docker CLI is not installed (apt-get install docker.io)" >&2; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if alive; then
		echo "a daemon already runs from $dir (pid $(cat "$dir/docker.pid"))" >&2
		exit 1
	fi
	binfmt
	local sock="$dir/docker.sock"
	dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
		--data-root "$dir/data" --exec-root "$dir/exec" -H "unix://$sock" --pidfile "$dir/docker.pid" \
		>"$dir/log" 2>&1 </dev/null &
	local pid=$! deadline=$((SECONDS + TIMEOUT))
	until docker -H "unix://$sock" info >/dev/null 2>&1; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "dockerd exited before it answered; the end of $dir/log:" >&2
			tail -n 20 "$dir/log" >&2
			exit 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "dockerd did not answer on $sock within ${TIMEOUT}s; the end of $dir/log:" >&2
			tail -n 20 "$dir/log" >&2
			kill "$pid" 2>/dev/null || true
			exit 1
		fi
		sleep 0.5
	done
	echo "unix://$sock"
}

stop() {
	if ! alive; then
		echo "no daemon runs from $dir" >&2
		return 0
	fi
	local pid deadline=$((SECONDS + TIMEOUT))
	pid=$(cat "$dir/docker.pid")
	kill "$pid"
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "dockerd (pid $pid) did not stop within ${TIMEOUT}s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
