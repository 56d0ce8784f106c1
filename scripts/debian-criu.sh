#!/bin/sh
# Debian's own criu (and runc, crun, containerd), for the runtime tests:
# downloaded with apt-get and unpacked under /var/cache/criu-readiness-test,
# never installed, so that no criu lands on anyone's PATH. Idempotent: a
# package already unpacked is not fetched again. Prints "PACKAGE DIR" lines.
# Usage: scripts/debian-criu.sh [PACKAGE...]   (default: criu)
# Needs root (apt-get, the cache dir) and a reachable Debian mirror.
set -eu
CACHE=${CRIU_READINESS_TEST_CACHE:-/var/cache/criu-readiness-test}
[ "$#" -gt 0 ] || set -- criu
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "debian-criu.sh: apt-get and dpkg-deb are needed" >&2; exit 2; }
mkdir -p "$CACHE/debs"
# The shared libraries each links against (their Depends), harmless to
# install; runc and containerd need only libc and libseccomp.
libs_of() {
  case "$1" in
    criu) echo "libprotobuf-c1 libnet1 libnl-3-200 libbsd0 libgnutls30 libnftables1" ;;
    crun) echo "libyajl2 libcap2 libseccomp2 libsystemd0" ;;
    *) echo "libseccomp2" ;;
  esac
}
for pkg in "$@"; do
  deb=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    (cd "$CACHE/debs" && apt-get download -q "$pkg" >&2)
    deb=$(ls "$CACHE/debs/${pkg}_"*.deb | head -n 1)
  fi
  version=$(dpkg-deb -f "$deb" Version | sed 's/^[0-9]*://; s/[-+~].*//')
  dir="$CACHE/$pkg-$version"
  if [ ! -f "$dir/.unpacked" ]; then
    rm -rf "$dir"
    dpkg-deb -x "$deb" "$dir"
    touch "$dir/.unpacked"
  fi
  missing=""
  for lib in $(libs_of "$pkg"); do dpkg -s "$lib" >/dev/null 2>&1 || missing="$missing $lib"; done
  [ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
  echo "$pkg $dir"
done
