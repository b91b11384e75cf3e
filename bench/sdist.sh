#!/usr/bin/env bash
# Compiles a small C extension (e2e/testdata/fastanswer, an sdist) with --allow-sdist for
# each platform, in Debian builder images pushed to a loopback Distribution registry, and
# prints a markdown table row per platform: the compile's median time (the sdist_compiled
# event's elapsed time; the builder's root filesystem is unpacked before, so it is the
# compile alone), natively or under qemu. bench/run.sh includes it; alone:
#
#   PYCONTAINER_E2E_ROOTFS=/var/cache/pycontainer-e2e/rootfs bash bench/sdist.sh
#
# Needs the slim and builder root filesystems e2e/make-python-rootfs.sh makes (.ci/run
# does), docker-registry, python3 (to make the sdist) and jq; prints nothing and exits 0
# when they are missing, saying why on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
ROOT=${PYCONTAINER_E2E_ROOTFS:-}
skip() { echo "bench/sdist.sh: skipped: $1" >&2; exit 0; }
[ -n "$ROOT" ] || skip "PYCONTAINER_E2E_ROOTFS is not set"
for a in amd64 arm64 armhf; do
	[ -d "$ROOT/$a" ] && [ -d "$ROOT/builder-$a" ] || skip "$ROOT lacks $a/ or builder-$a/ (e2e/make-python-rootfs.sh)"
done
command -v docker-registry >/dev/null || skip "docker-registry is missing"
W=$(mktemp -d /tmp/pycontainer-sdist-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; for a in amd64 arm64 armhf; do umount "$W/builders/$a" 2>/dev/null || true; done; rm -rf "$W"' EXIT
go build -o "$W/pycontainer" . && go build -o "$W/pushbase" ./e2e/pushbase

REG=127.0.0.1:5057
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %s}\n' "$W/registry" "$REG" >"$W/registry.yml"
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
for _ in $(seq 50); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
"$W/pushbase" -registry "$REG" -rootfs "$ROOT" -tag 3.11-slim >/dev/null
# pushbase reads ROOT/{amd64,arm64,armhf}: the builders are bound there under those names.
mkdir -p "$W/builders"
for a in amd64 arm64 armhf; do mkdir -p "$W/builders/$a" && mount --bind "$ROOT/builder-$a" "$W/builders/$a"; done
"$W/pushbase" -registry "$REG" -rootfs "$W/builders" -tag 3.11 >/dev/null

mkdir -p "$W/app" "$W/wheelhouse"
cp -r e2e/testdata/fastanswer "$W/src"
(cd "$W/src" && python3 setup.py -q sdist -d "$W/wheelhouse" >/dev/null 2>&1)
printf 'import fastanswer\nprint(fastanswer.answer())\n' >"$W/app/app.py"
printf 'fastanswer==1.0\n' >"$W/app/requirements.txt"
printf '[project]\nname = "sdist-bench"\nversion = "0"\n' >"$W/app/pyproject.toml"
export PYCONTAINER_CACHE=$W/cache

for p in linux/amd64 linux/arm64 linux/arm/v7; do
	times=()
	for i in $(seq 0 "$RUNS"); do # run 0 unpacks the builder's root filesystem and is not counted
		rm -rf "$W/cache/built-wheels"
		(cd "$W/app" && "$W/pycontainer" build --base-image "$REG/library/python:3.11-slim" --platform "$p" \
			--include-deps --allow-sdist --no-index --find-links "$W/wheelhouse" --progress json --output "$W/out") >"$W/events" 2>/dev/null
		t=$(jq -r 'select(.type == "sdist_compiled") | .elapsed_ns' "$W/events")
		how=$(jq -r 'select(.type == "sdist_compiling") | .how' "$W/events")
		[ "$i" -gt 0 ] && times+=("$t")
	done
	median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{v[NR]=$1} END{printf "%.1f", v[int((NR+1)/2)]/1e9}')
	echo "| (k) compile fastanswer (a C extension) for $p, $how | ${median} s | | | |"
done
