#!/usr/bin/env bash
# Benchmarks pycontainer against regctl, skopeo and crane doing the same work, side by
# side, on a world it sets up itself on loopback: the Distribution registry holding a
# multi-platform base of realistic weight. Writes BENCHMARKS.md (medians and ratios).
#
#   bash bench/run.sh            # full run (~10 minutes on 2 cores)
#   RUNS=3 bash bench/run.sh     # fewer runs per measurement
#
# Needs: go, hyperfine, docker-registry, skopeo, pigz, jq, GNU time (apt-get install
# hyperfine docker-registry skopeo pigz jq time); regctl and crane are built with go.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-7}
W=$(mktemp -d /tmp/pycontainer-bench.XXXXXX)
B=$W/bin
mkdir -p "$B"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is missing (apt-get install $2)" >&2; exit 1; }; }
need hyperfine hyperfine; need docker-registry docker-registry; need skopeo skopeo; need pigz pigz; need jq jq
[ -x /usr/bin/time ] || { echo "bench: GNU time is missing (apt-get install time)" >&2; exit 1; }

echo "bench: building pycontainer, regctl and crane"
go build -o "$B/pycontainer" .
go build -o "$B/regctl" github.com/regclient/regclient/cmd/regctl
GOBIN=$B go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
go build -o "$B/pushbase" ./e2e/pushbase
export PATH=$B:$PATH
export HOME=$W/home   # regctl's and docker's configs stay in the sandbox
mkdir -p "$HOME"

PORT=5055
REG=127.0.0.1:$PORT
cat > "$W/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $W/registry}, delete: {enabled: true}}
http: {addr: $REG}
EOF
docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
for _ in $(seq 50); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.1; done
regctl registry set "$REG" --tls disabled >/dev/null

echo "bench: pushing the bases"
# python:3.11-slim weighs ~50 MB compressed per platform, in a few layers.
pushbase -registry "$REG" -repo library/python -tag 3.11-slim -synthetic 30,12,5,3 -platforms 3 >/dev/null
pushbase -registry "$REG" -repo bench/huge -tag 1 -synthetic 1024 -platforms 1 >/dev/null
BASE=$REG/library/python:3.11-slim

# The demo app, and an app of 200 MB in 10,000 files (Python sources, repeated).
APP=$W/app; mkdir -p "$APP"; cp examples/cross-platform-demo/{app.py,pyproject.toml} "$APP/"
BIG=$W/bigapp; mkdir -p "$BIG"
python3 - "$BIG" <<'EOF'
import os, sys, sysconfig, glob
out = sys.argv[1]
src = [p for p in glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True) if os.path.getsize(p) > 4000]
data = [open(p, "rb").read() for p in src]
per = 200 * 1024 * 1024 // 10000
for i in range(10000):
    d = os.path.join(out, "pkg%03d" % (i // 100)); os.makedirs(d, exist_ok=True)
    buf = b""
    j = i
    while len(buf) < per:
        buf += data[j % len(data)]; j += 7
    with open(os.path.join(d, "mod%05d.py" % i), "wb") as f: f.write(buf[:per])
open(os.path.join(out, "main.py"), "w").write("print('big')\n")
EOF

JSON=$W/json; mkdir -p "$JSON"
hf() { # name, then hyperfine arguments
	local name=$1; shift
	hyperfine --style basic --runs "$RUNS" --export-json "$JSON/$name.json" "$@" >"$W/hf-$name.log" 2>&1 || { cat "$W/hf-$name.log"; exit 1; }
}
median() { jq -r ".results[$2].median" "$JSON/$1.json"; }

export PYCONTAINER_CACHE=$W/cache
PC="pycontainer build --progress plain --context $APP --base-image $BASE"

echo "bench: (a) cold build of one platform vs pulling the base"
hf a --prepare "rm -rf $W/cache $W/out $W/pull && mkdir -p $W/pull" \
	-n pycontainer "$PC --platform linux/amd64 --output $W/out/a" \
	-n regctl "regctl image copy --platform linux/amd64 $BASE ocidir://$W/pull/regctl:t" \
	-n skopeo "skopeo copy -q --src-tls-verify=false --override-arch amd64 --override-os linux docker://$BASE oci:$W/pull/skopeo:t" \
	-n crane "crane pull --insecure --platform linux/amd64 --format oci $BASE $W/pull/crane"

echo "bench: (b) three platforms vs one"
hf b --prepare "rm -rf $W/cache $W/out" \
	-n one "$PC --platform linux/amd64 --output $W/out/b" \
	-n three "$PC --platform linux/amd64,linux/arm64,linux/arm/v7 --output $W/out/b"

echo "bench: (c) warm rebuilds"
$PC --platform linux/amd64 --output $W/out/c >/dev/null 2>&1
hf c -n unchanged "$PC --platform linux/amd64 --output $W/out/c" \
	-n one-file-changed --prepare "echo '# edit' \$RANDOM >> $APP/app.py" "$PC --platform linux/amd64 --output $W/out/c"

echo "bench: (d) app layer of 200 MB in 10,000 files"
pycontainer build --progress plain --context "$BIG" --base-image "$BASE" --platform linux/amd64 --output "$W/out/d" >/dev/null 2>&1
hf d --prepare "rm -rf $W/out/d" \
	-n pycontainer "pycontainer build --progress plain --pull never --context $BIG --base-image $BASE --platform linux/amd64 --output $W/out/d" \
	-n "tar|gzip-6" "tar -C $BIG -cf - . | gzip -6 > $W/big.tar.gz" \
	-n "tar|pigz" "tar -C $BIG -cf - . | pigz > $W/big.tar.pigz"
pycontainer build --progress plain --pull never --context "$BIG" --base-image "$BASE" --platform linux/amd64 --output "$W/out/d" >/dev/null 2>&1
APP_LAYER=$(jq -r '.manifests[0].digest' "$W/out/d/index.json" | cut -d: -f2)
APP_LAYER=$(jq -r '.layers[-1].digest' "$W/out/d/blobs/sha256/$APP_LAYER" | cut -d: -f2)
SIZE_PC=$(stat -c %s "$W/out/d/blobs/sha256/$APP_LAYER")
SIZE_GZ=$(stat -c %s "$W/big.tar.gz"); SIZE_PIGZ=$(stat -c %s "$W/big.tar.pigz")

echo "bench: (e) push three platforms"
$PC --platform linux/amd64,linux/arm64,linux/arm/v7 --output "$W/out/e" >/dev/null 2>&1
hf e -n empty-repository "$PC --platform linux/amd64,linux/arm64,linux/arm/v7 --output $W/out/e --push --tag $REG/bench/push-\$(date +%s%N):1" \
	-n already-there "$PC --platform linux/amd64,linux/arm64,linux/arm/v7 --output $W/out/e --push --tag $REG/bench/pushed:1" \
	-n build-only "$PC --platform linux/amd64,linux/arm64,linux/arm/v7 --output $W/out/e"

echo "bench: (f) peak memory with a 1 GiB layer"
/usr/bin/time -f '%M %e' -o "$W/rss" pycontainer build --progress plain --no-cache --context "$APP" --base-image "$REG/bench/huge:1" --platform linux/amd64 --output "$W/out/f" >/dev/null 2>&1
read -r RSS_KB F_SECS < "$W/rss"

echo "bench: (g) the TUI against plain progress (go benchmark)"
# Nine processes, each timing plain then tui twice and keeping the second of each: with
# -count 9 in one process Go runs all of plain before all of tui, and a machine whose
# load drifts over those minutes skews the ratio; the first run in a process pays for
# its warm-up (a heap grown around the 200 MB registry), which only plain would carry.
G=$(for _ in $(seq 9); do
	go test -run '^$' -bench BuildLargeLayer -benchtime 4x -count 2 ./internal/cli 2>/dev/null |
		awk '/BuildLargeLayer/{split($1,a,"/"); sub(/-[0-9]+$/,"",a[2]); last[a[2]]=$3} END{for (k in last) print k, last[k]}'
done)
g_median() { echo "$G" | awk -v k="$1" '$1==k{print $2}' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]/1e9}'; }
G_PLAIN=$(g_median plain); G_TUI=$(g_median tui)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
ms() { awk -v s="$1" 'BEGIN{printf "%.0f ms", s*1000}'; }
fastest_pull=$(printf '%s\n' "$(median a 1)" "$(median a 2)" "$(median a 3)" | sort -n | head -1)

{
echo "# Benchmarks"
echo
echo "Generated by \`bash bench/run.sh\` on $(date -u +%Y-%m-%d). Medians of $RUNS runs (hyperfine), same machine, same run."
echo
echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr); Go $(go env GOVERSION); registry: Distribution $(docker-registry --version 2>/dev/null | awk '{print $3}') on loopback; base: 3 platforms × 4 layers, 50 MB of incompressible data each."
echo
echo "| measurement | pycontainer | comparison | ratio | target |"
echo "|---|---|---|---|---|"
echo "| (a) cold build, 1 platform, vs fastest pull of the base | $(ms "$(median a 0)") | regctl $(ms "$(median a 1)"), skopeo $(ms "$(median a 2)"), crane $(ms "$(median a 3)") | $(ratio "$(median a 0)" "$fastest_pull")× | ≤ 1.0× |"
echo "| (b) 3 platforms vs 1, cold | $(ms "$(median b 1)") | 1 platform $(ms "$(median b 0)") | $(ratio "$(median b 1)" "$(median b 0)")× | ≤ 1.6× |"
echo "| (c) warm rebuild, nothing changed | $(ms "$(median c 0)") | | | ≤ 150 ms |"
echo "| (c) warm rebuild, one file changed | $(ms "$(median c 1)") | | | ≤ 500 ms |"
echo "| (d) 200 MB / 10,000-file app layer (whole build) | $(ms "$(median d 0)"), $((SIZE_PC/1000000)) MB | tar\\|gzip -6 $(ms "$(median d 1)"), $((SIZE_GZ/1000000)) MB; tar\\|pigz $(ms "$(median d 2)"), $((SIZE_PIGZ/1000000)) MB | $(ratio "$(median d 1)" "$(median d 0)")× faster than gzip | ≥ 1.5× at no larger size |"
echo "| (e) push 3 platforms to an empty repository | $(ms "$(median e 0)") | build alone $(ms "$(median e 2)") | | |"
echo "| (e) push 3 platforms already there | $(ms "$(median e 1)") | build alone $(ms "$(median e 2)") | push part $(ms "$(awk -v a="$(median e 1)" -v b="$(median e 2)" 'BEGIN{print a-b}')") | ≤ 200 ms |"
echo "| (f) peak RSS moving a 1 GiB layer | $((RSS_KB/1024)) MB in ${F_SECS}s | | | ≤ 100 MB |"
echo "| (g) TUI vs plain, 200 MB layer (go test -bench BuildLargeLayer) | $(ms "$G_TUI") | plain $(ms "$G_PLAIN") | $(ratio "$G_TUI" "$G_PLAIN")× | ≤ 1.05× |"
echo
echo "Notes: (a) the other tools only copy the base; pycontainer also builds the app layer, config and"
echo "manifest. (c) and (d) run with a warm cache; (d) is a whole build with \`--pull never\`, so it"
echo "includes walking the context and writing the layout. (e) includes a warm build; the push part"
echo "is the difference to the build alone. (f) is GNU time's maximum resident set size."
} > BENCHMARKS.md
cat BENCHMARKS.md
