#!/bin/sh
# tools/fetch-faces.sh - fetches the demo's default face set: the example
# faces of dlib (Debian's `dlib` source package), through apt's own source
# mechanism, and caches them.
#
#   examples/johns/<person>/*.jpg   5 people x 11 aligned 150x150 photos
#   examples/faces/*.jpg + training_with_face_landmarks.xml
#                                   faces in photos with dlib's 68 landmarks
#
# How: a temporary sources list of `deb-src` entries derived from this
# machine's configured Debian sources (no host is named here), `apt-get
# update` into a private lists folder, `apt-get source --print-uris dlib` for
# the upstream tarball's URI and SHA-256, then apt's own download helper,
# which checks that SHA-256. Nothing in the system's apt state changes.
#
# Usage: tools/fetch-faces.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/fx/demo-faces.
# Prints the folder holding `johns/` and `faces/` on its last line.
set -eu

cache="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/fx/demo-faces}"
done_mark="$cache/examples/.complete"
if [ -f "$done_mark" ]; then
    echo "$cache/examples"
    exit 0
fi

say() { echo "fetch-faces: $*" >&2; }
die() { echo "fetch-faces: error: $*" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs a Debian-based system (or pass your own faces with --data DIR)"
[ -x /usr/lib/apt/apt-helper ] || die "/usr/lib/apt/apt-helper not found (package apt); cannot download"
command -v tar >/dev/null 2>&1 || die "tar not found"
command -v bzip2 >/dev/null 2>&1 || die "bzip2 not found: apt-get install bzip2"

mkdir -p "$cache" || die "cannot create the cache folder $cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX") || die "cannot create a temporary folder in $cache"
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial"

# deb-src entries from the configured sources: deb822 files (Types: deb ->
# Types: deb-src) and one-line lists (deb URI ... -> deb-src URI ...).
n=0
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    sed -e 's/^Types:.*$/Types: deb-src/' "$f" > "$work/sources/src$n.sources"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    sed -n -e 's/^[[:space:]]*deb[[:space:]]\{1,\}/deb-src /p' "$f" > "$work/sources/src$n.list"
done
[ "$n" -gt 0 ] || die "no apt sources are configured (/etc/apt/sources.list[.d]); cannot find the dlib source package"

apt_opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$work/sources \
-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"
say "reading the Debian source index (private copy under $work)"
# shellcheck disable=SC2086
apt-get -q $apt_opts update >"$work/update.log" 2>&1 || {
    cat "$work/update.log" >&2
    die "apt-get update of the deb-src lists failed (see above)"
}
# shellcheck disable=SC2086
apt-get -q $apt_opts source --print-uris dlib >"$work/uris" 2>"$work/uris.err" || {
    cat "$work/uris.err" >&2
    die "apt-get source --print-uris dlib failed: is the 'main' component of a Debian release configured?"
}
# The line of the upstream tarball (not the models tarball, not debian/):
# 'URI' FILE SIZE SHA256:HASH
line=$(grep -E "^'[^']*' dlib_[^ ]*\.orig\.tar\.[a-z0-9]+ " "$work/uris" | grep -v 'orig-' | head -n 1)
[ -n "$line" ] || die "no upstream tarball of dlib in the source index: $(cat "$work/uris")"
uri=$(echo "$line" | cut -d"'" -f2)
file=$(echo "$line" | cut -d' ' -f2)
size=$(echo "$line" | cut -d' ' -f3)
hash=$(echo "$line" | cut -d' ' -f4)
case "$hash" in SHA256:*) ;; *) die "apt gave no SHA-256 for $file ($hash)";; esac
say "downloading $file ($size bytes), checked against $hash"
/usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$uri" "$work/$file" "$hash" >"$work/dl.log" 2>&1 || {
    cat "$work/dl.log" >&2
    die "downloading $file failed"
}
say "unpacking examples/johns and examples/faces"
top=$(tar tf "$work/$file" 2>/dev/null | head -n 1 | cut -d/ -f1)
[ -n "$top" ] || die "$file: not a readable tar archive"
tar -xf "$work/$file" -C "$work" "$top/examples/johns" "$top/examples/faces" ||
    die "$file has no examples/johns or examples/faces"
rm -rf "$cache/examples"
mv "$work/$top/examples" "$cache/examples"
echo "$file $hash" > "$cache/examples/SOURCE"
touch "$done_mark"
echo "$cache/examples"
