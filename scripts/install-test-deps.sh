#!/usr/bin/env bash
# The Debian packages the tests use, on a fresh Debian 12 machine (as root):
# prometheus brings promtool and a real Prometheus server for the metrics tests;
# nftables/libnftables1 and iptables are what the nftables and iptables checks
# look for; iproute2 lets tests list links and namespaces; util-linux has setpriv,
# unshare and nsenter; strace counts the runners a launched check starts
# (test/launcher.test.ts).
# test/container.test.ts builds and runs the image: podman with runc (crun
# 1.8.1 refuses a hybrid cgroup layout; without recommends, so no criu comes
# with runc) and debootstrap for the base image it makes when none is cached.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends prometheus nftables libnftables1 iptables iproute2 util-linux procps strace \
  podman runc debootstrap
# chromium: test/status-page-browser.test.ts renders the status page headless.
apt-get install -y --no-install-recommends chromium
# Debian's criu, runc, crun and containerd for the runtime checks' tests: unpacked under /var/cache/criu-readiness-test, never installed.
"$(dirname "$0")/debian-criu.sh" criu runc crun containerd >/dev/null
