#!/usr/bin/env bash
# make-python-rootfs.sh ARCH OUTDIR
#
# Builds in OUTDIR a minimal root filesystem that runs python3.11 for the
# Debian architecture ARCH (amd64, arm64 or armhf), made only from Debian
# bookworm packages (python3.11-minimal + libpython3.11-stdlib and their
# run-time dependency closure, plus /usr/bin/env taken from coreutils).
# The host's apt/dpkg state is never touched: every architecture gets its own
# private apt state under the cache dir, and the .debs are unpacked with
# `dpkg-deb -x` (no maintainer scripts run, so no .pyc files are precompiled).
#
# Environment:
#   PYCONTAINER_E2E_CACHE       cache dir (default /var/cache/pycontainer-e2e);
#                               holds $ARCH/{etc,state,cache,debs}
#   PYCONTAINER_E2E_MIRROR      Debian mirror (default: the one in the host's
#                               /etc/apt/sources.list*, else deb.debian.org)
#   PYCONTAINER_E2E_SECURITY_MIRROR  security mirror (default likewise)
#   PYCONTAINER_E2E_LISTS_MAX_AGE    minutes before the package lists are
#                               refreshed (default 1440); a failed refresh only
#                               warns if an earlier complete update exists and
#                               the needed .debs are cached (offline use)
#   PYCONTAINER_E2E_EXTRA_PKGS  extra Debian packages to add (space separated)
#   PYCONTAINER_E2E_BUILDER=1   a builder rootfs (what python:3.11 is to
#                               python:3.11-slim): adds $BUILDER_PKGS below
#                               (python3.11-dev gcc libc6-dev python3-setuptools
#                               python3-wheel python3-pip), ~270 MB, with .pyc
#                               files; its smoke test also compiles and imports a
#                               C extension
#   PYCONTAINER_E2E_KEEP_GCONV=1     keep glibc's gconv (iconv) modules
#   PYCONTAINER_E2E_STRICT_UPDATE=1  fail when an index of bookworm-security or
#                               bookworm-updates cannot be fetched (default:
#                               warn and resolve from the other suites)
#   PYCONTAINER_E2E_SKIP_VERIFY=1    skip the final smoke test
#
# Output: nothing on stdout; progress on stderr; exit 0 on success, non-zero
# with an "error:" message on failure. OUTDIR must be absent, empty, or a
# rootfs made earlier by this script (marked by OUTDIR/.pycontainer-e2e-rootfs,
# which also lists the packages used); it is then replaced.
#
# The rootfs is usr-merged (bin, sbin, lib [, lib64] -> usr/...), has
# /usr/bin/python3 -> python3.11, /usr/bin/env, /tmp (1777), /etc/passwd and
# /etc/group with root, and its absolute symlinks are rewritten as relative
# ones so they also resolve when the rootfs is used with `qemu-* -L`.
# Dropped to stay small (~30-40 MB): /usr/share/{man,info,locale,lintian},
# docs except copyright files, and glibc's gconv (iconv) modules.
#
# How to run python3 in the rootfs (ROOT = OUTDIR or an unpacked image rootfs):
#   amd64 (on an amd64 host, as root):
#       chroot "$ROOT" /usr/bin/python3 -c 'import platform; print(platform.machine())'
#     (without root: qemu-x86_64-static -L "$ROOT" "$ROOT/usr/bin/python3" ...)
#   arm64:
#       qemu-aarch64-static -L "$ROOT" "$ROOT/usr/bin/python3.11" -c '...'
#   armhf:
#       qemu-arm-static -L "$ROOT" "$ROOT/usr/bin/python3.11" -c '...'
#   (qemu-user-static 7.2 from Debian; no binfmt_misc needed.)
#   Under qemu, -L only redirects the paths the GUEST opens (the dynamic
#   loader /lib/ld-linux-*.so and the shared libraries): a guest path that
#   exists under $ROOT is used from there, anything else falls through to the
#   HOST's file. So:
#   - Give qemu the HOST path of the binary ("$ROOT/usr/bin/python3.11" or
#     the relative symlink "$ROOT/usr/bin/python3"), and do not override
#     argv[0] with a bare name (qemu -0 python3): python derives sys.prefix
#     from argv[0], searching PATH for a bare name, which yields guest paths
#     (/usr/bin/python3 -> prefix /usr) and hits the next point on armhf
#     (seen: "No module named '_ssl'"); -0 "$ROOT/usr/bin/python3" is fine.
#   - No PYTHONHOME is needed, and do NOT set PYTHONHOME=/usr: python finds
#     its stdlib from its own location (sys.prefix = "$ROOT/usr", sys.path =
#     $ROOT/usr/lib/python3.11{,/lib-dynload}), i.e. host paths that need no
#     redirection. With PYTHONHOME=/usr, the host's /usr/lib/python3/
#     dist-packages leaks into sys.path, and on armhf the stdlib breaks
#     (e.g. "No module named '_ssl'"), see next point.
#   - armhf pitfall: 32-bit glibc stats files with statx(), which qemu-arm 7.2
#     does NOT redirect under -L (open() it does). Python's import system
#     stats paths, so guest absolute paths in sys.path silently resolve to
#     the host: `python3 /app/main.py` runs main.py but `import helper` from
#     /app fails. Always pass HOST paths for the script, PYTHONPATH entries
#     and cwd: qemu-arm-static -L "$ROOT" "$ROOT/usr/bin/python3.11"
#     "$ROOT/app/main.py" (or cd "$ROOT/app" && ... -m main). arm64 redirects
#     stat too, but host paths are the safe rule for all arches.
#   - Set PYTHONDONTWRITEBYTECODE=1 to keep the rootfs unchanged (no .pyc are
#     shipped, so python otherwise writes __pycache__ dirs when it can).
#   - sys.executable / sys.prefix show host paths ($ROOT/usr/...); os.uname()
#     reports aarch64 resp. armv7l. subprocess/exec of other guest binaries
#     does not work without binfmt_misc (qemu-user does not follow execve).
set -euo pipefail

die() { echo "make-python-rootfs: error: $*" >&2; exit 1; }
log() { echo "make-python-rootfs: $*" >&2; }

[ $# -eq 2 ] || die "usage: $0 ARCH OUTDIR   (ARCH: amd64, arm64 or armhf)"
ARCH=$1
OUTDIR=$2

case "$ARCH" in
amd64) QEMU= ; MACHINE=x86_64 ;;
arm64) QEMU=qemu-aarch64-static ; MACHINE=aarch64 ;;
armhf) QEMU=qemu-arm-static ; MACHINE=armv7l ;;
*) die "unsupported ARCH '$ARCH' (want amd64, arm64 or armhf)" ;;
esac

for tool in apt-get apt-cache apt-config dpkg-deb flock realpath; do
	command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run on Debian/Ubuntu)"
done

# A builder: a compiler and the headers for C extensions, and pip, setuptools and wheel to
# run `python3 -m pip wheel --no-build-isolation SDIST` offline (gcc-12 pulls in cpp-12,
# binutils and the compiler's libraries; libc6-dev is only its Recommends, so named here).
BUILDER_PKGS="python3.11-dev gcc libc6-dev python3-setuptools python3-wheel python3-pip"
PKGS="python3.11-minimal libpython3.11-stdlib ${PYCONTAINER_E2E_EXTRA_PKGS:-}"
[ "${PYCONTAINER_E2E_BUILDER:-}" = 1 ] && PKGS="$PKGS $BUILDER_PKGS"
SUITE=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING missing (apt-get install debian-archive-keyring)"

CACHE=${PYCONTAINER_E2E_CACHE:-/var/cache/pycontainer-e2e}
A="$CACHE/$ARCH"
mkdir -p "$A/etc" "$A/state/lists/partial" "$A/cache/archives/partial" "$A/debs/partial" ||
	die "cannot create cache dir $A"
CACHE=$(realpath "$CACHE"); A="$CACHE/$ARCH"

# One build per architecture at a time (the private apt state is shared).
exec 9>"$A/lock"
flock -w 900 9 || die "timed out waiting for lock $A/lock"

# ---------------------------------------------------------------- mirror
# Use the host's Debian mirror (deb822 *.sources or one-line *.list).
host_uri() { # $1: suite to look for -> prints first URI serving it
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$1" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ }
			if ($(i+1)==s) { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$1" 'BEGIN{RS=""; FS="\n"} {
			uri=""; ok=0; deb=0
			for (j=1;j<=NF;j++) {
				if ($j ~ /^URIs:/) { split($j, a, /[ \t]+/); uri=a[2] }
				if ($j ~ /^Types:/ && $j ~ /(^|[ \t])deb([ \t]|$)/) deb=1
				if ($j ~ /^Suites:/) { n=split($j, b, /[ \t]+/); for (k=2;k<=n;k++) if (b[k]==s) ok=1 }
			}
			if (ok && deb && uri!="") { print uri; exit } }' "$f"
	done
}
MIRROR=${PYCONTAINER_E2E_MIRROR:-$(host_uri "$SUITE" | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${PYCONTAINER_E2E_SECURITY_MIRROR:-$(host_uri "$SUITE-security" | head -n1)}
SECMIRROR=${SECMIRROR:-http://deb.debian.org/debian-security}

SOURCES="$A/etc/sources.list"
cat >"$SOURCES.new" <<EOF
deb [arch=$ARCH signed-by=$KEYRING] ${MIRROR%/} $SUITE main
deb [arch=$ARCH signed-by=$KEYRING] ${MIRROR%/} $SUITE-updates main
deb [arch=$ARCH signed-by=$KEYRING] ${SECMIRROR%/} $SUITE-security main
EOF
force_update=0
if ! cmp -s "$SOURCES.new" "$SOURCES"; then mv "$SOURCES.new" "$SOURCES"; force_update=1; else rm -f "$SOURCES.new"; fi

# ---------------------------------------------------------------- private apt
# Fake dpkg status: packages that only matter to a dpkg-managed system are
# marked installed so the resolver does not pull them in (readline-common
# depends on "dpkg | install-info", which would drag in dpkg, tar, ...).
STATUS="$A/state/status"
for p in dpkg install-info debconf; do
	printf 'Package: %s\nStatus: install ok installed\nPriority: required\nSection: admin\nMaintainer: none\nArchitecture: %s\nMulti-Arch: foreign\nVersion: 99999\nDescription: placeholder (not in the rootfs)\n\n' \
		"$p" "$ARCH"
done >"$STATUS.new"
# (rewritten only on change: it is part of the resolve memo key)
if cmp -s "$STATUS.new" "$STATUS"; then rm -f "$STATUS.new"; else mv "$STATUS.new" "$STATUS"; fi

APT_OPTS=(
	-o "APT::Architecture=$ARCH" -o "APT::Architectures=$ARCH"
	-o "Dir::State=$A/state" -o "Dir::State::Lists=$A/state/lists"
	-o "Dir::State::status=$STATUS" -o "Dir::State::extended_states=$A/state/extended_states"
	-o "Dir::Cache=$A/cache" -o "Dir::Cache::archives=$A/cache/archives"
	-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
	-o "Dir::Etc::SourceList=$SOURCES" -o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=/dev/null"
	-o "APT::Install-Recommends=false" -o "APT::Install-Suggests=false"
	-o "Acquire::Languages=none" -o "APT::Get::List-Cleanup=true"
)
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")
# Fetch only the Packages indices (no DEP-11, Contents, ... from the host's
# apt.conf.d, which is otherwise honoured, e.g. for proxies).
for t in $(apt-config dump 2>/dev/null | sed -n 's/^Acquire::IndexTargets::deb::\([^:" ]*\) "";$/\1/p' | sort -u); do
	[ "$t" = Packages ] || APT_OPTS+=(-o "Acquire::IndexTargets::deb::$t::DefaultEnabled=false")
done
apt_get() { apt-get -q "${APT_OPTS[@]}" "$@"; }
apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

have_lists() { compgen -G "$A/state/lists/*_Packages*" >/dev/null; }
lists_fresh() {
	local max=${PYCONTAINER_E2E_LISTS_MAX_AGE:-1440}
	[ -e "$A/state/updated" ] && [ -z "$(find "$A/state/updated" -mmin +"$max")" ]
}
do_update() {
	local try
	rm -f "$A"/resolved*
	log "apt-get update ($ARCH, $MIRROR)"
	for try in 1 2; do
		if apt_get update >"$A/update.log" 2>&1 &&
			! grep -qE '^(E: |W: Failed to fetch)' "$A/update.log"; then
			touch "$A/state/updated"
			return 0
		fi
		[ $try = 2 ] || { log "apt-get update failed, retrying once"; sleep 3; }
	done
	# A broken/out-of-sync index of only the -updates/-security suites (seen
	# here: a mirror serving a stale bookworm-security armhf Packages.xz) is
	# tolerated when the main suite's index is fine: the closure then comes
	# from the remaining suites. PYCONTAINER_E2E_STRICT_UPDATE=1 makes it fatal.
	if [ "${PYCONTAINER_E2E_STRICT_UPDATE:-}" != 1 ] &&
		compgen -G "$A/state/lists/*_dists_${SUITE}_main_binary-${ARCH}_Packages*" >/dev/null &&
		grep -q '^E: Failed to fetch ' "$A/update.log" &&
		! grep '^E: Failed to fetch ' "$A/update.log" | grep -vqE "/dists/$SUITE-(security|updates)/"; then
		log "WARNING: some -security/-updates indexes for $ARCH could not be fetched; using what is available:"
		grep '^E: Failed to fetch ' "$A/update.log" | sed 's/^/    /' >&2
		touch "$A/state/updated"
		return 0
	fi
	# Offline use: fall back to lists from an earlier *complete* update.
	if [ -e "$A/state/updated" ] && have_lists && [ "${1:-}" != strict ]; then
		log "warning: apt-get update failed, using the cached package lists:"
		grep -E '^(E|W): ' "$A/update.log" | head -n 5 | sed 's/^/    /' >&2
		return 0
	fi
	sed 's/^/    /' "$A/update.log" >&2
	die "apt-get update for $ARCH failed (see above)"
}
if [ "$force_update" = 1 ] || ! have_lists || ! lists_fresh; then do_update; fi

# ---------------------------------------------------------------- resolve
# Let apt's resolver compute the run-time closure (Depends + Pre-Depends,
# first satisfiable alternative, virtual packages resolved to real ones,
# no Recommends/Suggests) against the empty private status.
resolve() { # sets SET ("pkg version arch" lines) and ENVDEB_LINE
	# one memo per package set: the slim and the builder rootfs alternate in .ci/run
	local out cu key memo="$A/resolved-$(cksum <<<"$PKGS" | cut -d' ' -f1)"
	key="# $(stat -c %Y "$A/state/updated" 2>/dev/null) $(cksum <"$SOURCES") $(cksum <"$STATUS") $PKGS"
	if [ -s "$memo" ] && [ "$(head -n1 "$memo")" = "$key" ]; then
		SET=$(sed '1d;$d' "$memo")
		ENVDEB_LINE=$(tail -n1 "$memo")
		return 0
	fi
	# shellcheck disable=SC2086
	out=$(apt_get -s install $PKGS 2>&1) || { echo "$out" >&2; return 1; }
	SET=$(sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([^]]*\)\]).*/\1 \2 \3/p' <<<"$out")
	grep -q '^python3.11-minimal ' <<<"$SET" || { echo "$out" >&2; return 1; }
	# /usr/bin/env comes from coreutils (only that file is unpacked; env
	# needs nothing but libc6, which is already in the set).
	cu=$(apt_cache policy coreutils | awk '/Candidate:/ {print $2}')
	[ -n "$cu" ] && [ "$cu" != "(none)" ] || { echo "no coreutils candidate" >&2; return 1; }
	ENVDEB_LINE="coreutils $cu $ARCH"
	printf '%s\n%s\n%s\n' "$key" "$SET" "$ENVDEB_LINE" >"$memo"
}
resolve || die "cannot resolve $PKGS for $ARCH"

debfile() { # pkg ver arch -> cached file name (apt-get download naming)
	echo "$A/debs/${1}_${2//:/%3a}_${3}.deb"
}

# ---------------------------------------------------------------- download
download_missing() {
	local missing=() p v a
	while read -r p v a; do
		[ -s "$(debfile "$p" "$v" "$a")" ] || missing+=("$p=$v")
	done <<<"$SET
$ENVDEB_LINE"
	[ ${#missing[@]} -eq 0 ] && return 0
	log "downloading ${#missing[@]} package(s) for $ARCH"
	rm -f "$A/debs/partial/"*.deb
	(cd "$A/debs/partial" && apt_get download "${missing[@]}") >"$A/download.log" 2>&1 || {
		sed 's/^/    /' "$A/download.log" >&2
		return 1
	}
	mv -f "$A/debs/partial/"*.deb "$A/debs/"
}
if ! download_missing; then
	# Stale lists can name versions the mirror already dropped: refresh, retry.
	log "download failed; refreshing package lists and retrying"
	do_update strict
	resolve || die "cannot resolve $PKGS for $ARCH"
	download_missing || die "downloading packages for $ARCH failed (see above)"
fi

# ---------------------------------------------------------------- unpack
OUTDIR=${OUTDIR%/}
[ -n "$OUTDIR" ] || die "OUTDIR must not be /"
mkdir -p "$(dirname "$OUTDIR")"
OUTDIR="$(realpath "$(dirname "$OUTDIR")")/$(basename "$OUTDIR")"
[ "$OUTDIR" != / ] || die "OUTDIR must not be /"
if [ -e "$OUTDIR" ] || [ -L "$OUTDIR" ]; then
	[ -d "$OUTDIR" ] && [ ! -L "$OUTDIR" ] || die "$OUTDIR exists and is not a directory"
	if [ -n "$(ls -A "$OUTDIR")" ] && [ ! -e "$OUTDIR/.pycontainer-e2e-rootfs" ]; then
		die "$OUTDIR is not empty and was not made by this script; refusing to replace it"
	fi
fi
TMP=$(mktemp -d "$OUTDIR.tmp.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
R=$TMP

log "unpacking $(wc -l <<<"$SET") packages into $OUTDIR"
while read -r p v a; do
	dpkg-deb -x "$(debfile "$p" "$v" "$a")" "$R" || die "dpkg-deb -x failed for $p $v"
done <<<"$SET"
mkdir -p "$R/usr/bin"
read -r p v a <<<"$ENVDEB_LINE"
dpkg-deb --fsys-tarfile "$(debfile "$p" "$v" "$a")" | tar -x -C "$R" ./usr/bin/env ||
	die "cannot extract /usr/bin/env from coreutils"

# usrmerge: move /bin, /sbin, /lib, /lib64, ... into /usr and link them.
for d in bin sbin lib lib32 lib64 libx32; do
	if [ -d "$R/$d" ] && [ ! -L "$R/$d" ]; then
		mkdir -p "$R/usr/$d"
		cp -a --remove-destination "$R/$d/." "$R/usr/$d/"
		rm -rf "${R:?}/$d"
	fi
	case $d in
	bin | sbin | lib) mkdir -p "$R/usr/$d" ;;
	esac
	if [ -d "$R/usr/$d" ] && [ ! -e "$R/$d" ] && [ ! -L "$R/$d" ]; then
		ln -s "usr/$d" "$R/$d"
	fi
done

# Absolute symlinks -> relative (they must not escape the rootfs under qemu -L).
while IFS= read -r -d '' l; do
	t=$(readlink "$l")
	case $t in /*) ;; *) continue ;; esac
	rel=${l#"$R"}
	new=$(realpath -m -s --relative-to="$(dirname "$rel")" "$t")
	ln -sfn "$new" "$l"
done < <(find "$R" -type l -print0)

# Trim documentation, manuals and translations (keep copyright notices).
rm -rf "$R/usr/share/man" "$R/usr/share/info" "$R/usr/share/lintian" \
	"$R/usr/share/locale" "$R/usr/share/bug"
if [ -d "$R/usr/share/doc" ]; then
	find "$R/usr/share/doc" ! -type d ! -name copyright -delete
	find "$R/usr/share/doc" -depth -type d -empty -delete
fi

# glibc's iconv modules (6-20 MB) are not used by python (its codecs are its
# own); PYCONTAINER_E2E_KEEP_GCONV=1 keeps them.
if [ "${PYCONTAINER_E2E_KEEP_GCONV:-}" != 1 ]; then
	rm -rf "$R"/usr/lib/*-linux-gnu*/gconv
fi

# A builder gets its modules' bytecode, as Debian's maintainer scripts (py3compile) would
# have written: its root filesystem is read-only while it compiles, and pip under qemu
# spends most of its time compiling its own sources without it (measured: pip wheel of a
# small C extension for arm64 takes 11 s with .pyc files, 33 s without). Compiled by the
# host's python3.11 (bytecode is the same on every architecture), recorded as /usr/...
# paths; without a host python3.11 it is skipped with a note.
if [ "${PYCONTAINER_E2E_BUILDER:-}" = 1 ]; then
	py311=
	for c in python3.11 /usr/bin/python3.11 python3; do
		if command -v "$c" >/dev/null 2>&1 &&
			[ "$("$c" -c 'import sys; print(sys.version_info[:2] == (3, 11))' 2>/dev/null)" = True ]; then
			py311=$(command -v "$c")
			break
		fi
	done
	if [ -n "$py311" ]; then
		# (a few files are not Python 3, e.g. lib2to3's test data: their errors are ignored)
		"$py311" -m compileall -q -s "$R" -p / "$R/usr/lib/python3.11" "$R/usr/lib/python3/dist-packages" >/dev/null 2>&1 || true
		log "precompiled $(find "$R/usr/lib/python3.11" "$R/usr/lib/python3/dist-packages" -name '*.pyc' | wc -l) .pyc files with $py311"
	else
		log "note: no python3.11 on this host: the builder rootfs has no .pyc files (pip is ~3x slower under qemu)"
	fi
fi

# Minimal system files.
[ -e "$R/usr/bin/python3" ] || ln -s python3.11 "$R/usr/bin/python3"
[ -x "$R/usr/bin/python3.11" ] || die "usr/bin/python3.11 missing after unpacking"
mkdir -p "$R/tmp" "$R/root" "$R/etc" "$R/var/tmp" "$R/dev" "$R/proc" "$R/sys" "$R/run"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"
[ -e "$R/etc/passwd" ] || echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
[ -e "$R/etc/group" ] || echo 'root:x:0:' >"$R/etc/group"
chmod 0644 "$R/etc/passwd" "$R/etc/group"
{
	echo "# rootfs made by pycontainer e2e/make-python-rootfs.sh; ARCH=$ARCH"
	echo "# package version arch"
	echo "$SET"
	echo "$ENVDEB_LINE (only /usr/bin/env)"
} >"$R/.pycontainer-e2e-rootfs"

# ---------------------------------------------------------------- verify
# verify_builder: gcc runs, and compiles a C extension that python imports, under
# chroot (as root): natively for amd64 on x86_64, else through a registered binfmt_misc
# qemu handler (gcc execs cc1, as, collect2 and ld: qemu-user's -L cannot follow those).
verify_builder() {
	local handler= out chroot
	case $ARCH in arm64) handler=qemu-aarch64 ;; armhf) handler=qemu-arm ;; esac
	if [ "$(id -u)" -ne 0 ] || ! command -v chroot >/dev/null; then
		log "note: the compiler smoke test needs root (chroot); skipped"
		return 0
	elif [ "$ARCH" = amd64 ] && [ "$(uname -m)" != x86_64 ]; then
		log "note: the compiler smoke test runs amd64 on an x86_64 host only; skipped"
		return 0
	elif [ -n "$handler" ] && ! grep -qx enabled "/proc/sys/fs/binfmt_misc/$handler" 2>/dev/null; then
		log "note: no enabled binfmt_misc handler $handler (apt-get install qemu-user-static binfmt-support); compiler smoke test skipped"
		return 0
	fi
	chroot=$(command -v chroot)
	mkdir -p "$R/tmp/smoke"
	cat >"$R/tmp/smoke/smoke.c" <<-'EOF'
	#define PY_SSIZE_T_CLEAN
	#include <Python.h>
	static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(6 * 7); }
	static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
	static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_smoke", NULL, -1, methods};
	PyMODINIT_FUNC PyInit__smoke(void) { return PyModule_Create(&mod); }
	EOF
	if ! out=$(env -i PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 "$chroot" "$R" /usr/bin/gcc --version 2>&1); then
		echo "$out" >&2
		die "compiler smoke test: gcc --version failed"
	fi
	log "compiler: $(head -n1 <<<"$out")"
	if ! out=$(env -i PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 TMPDIR=/tmp/smoke "$chroot" "$R" /usr/bin/gcc -shared -fPIC -O2 \
			-I/usr/include/python3.11 -o /tmp/smoke/_smoke.so /tmp/smoke/smoke.c 2>&1 &&
		env -i PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 "$chroot" "$R" /usr/bin/python3 -c \
			'import sys, platform; sys.path.insert(0, "/tmp/smoke"); import _smoke; print(_smoke.answer(), platform.machine())' 2>&1); then
		echo "$out" >&2
		rm -rf "$R/tmp/smoke"
		die "compiler smoke test: compiling or importing a C extension failed"
	fi
	rm -rf "$R/tmp/smoke"
	[ "$out" = "42 $MACHINE" ] || die "compiler smoke test: unexpected output '$out' (want '42 $MACHINE')"
	log "compiler smoke test ok: a C extension built in the rootfs prints $out"
}
if [ "${PYCONTAINER_E2E_SKIP_VERIFY:-}" != 1 ]; then
	CODE='import platform, sys, json, os; print(sys.version_info[:2], platform.machine(), json.dumps(os.sep))'
	run=()
	host=$(uname -m)
	if [ "$ARCH" = amd64 ]; then
		if [ "$host" = x86_64 ] && [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
			run=("$(command -v chroot)" "$R" /usr/bin/python3)
		fi
	elif command -v "$QEMU" >/dev/null; then
		run=("$(command -v "$QEMU")" -L "$R" "$R/usr/bin/python3.11")
	fi
	if [ ${#run[@]} -eq 0 ]; then
		log "note: no way to run $ARCH binaries here (need ${QEMU:-root+chroot on x86_64}); smoke test skipped"
	else
		if ! out=$(cd "$R" && env -i PATH=/usr/bin:/bin PYTHONDONTWRITEBYTECODE=1 "${run[@]}" -c "$CODE" 2>&1); then
			echo "$out" >&2
			die "smoke test failed: ${run[*]} -c ..."
		fi
		case $out in
		"(3, 11) $MACHINE "*) log "smoke test ok: $out" ;;
		*) die "smoke test: unexpected output '$out' (want python 3.11 on $MACHINE)" ;;
		esac
	fi
	if [ -e "$R/usr/bin/gcc" ]; then verify_builder; fi
fi

# ---------------------------------------------------------------- publish
if [ -d "$OUTDIR" ]; then
	rm -rf "$OUTDIR"
fi
mv "$TMP" "$OUTDIR"
trap - EXIT
log "done: $OUTDIR ($(du -sh "$OUTDIR" | cut -f1))"
