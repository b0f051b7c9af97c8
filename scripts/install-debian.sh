#!/usr/bin/env bash
# Install the Debian packages the agent and its tests need, those missing only
# (run as root; used by scripts/setup.sh and .ci/run):
# - nftables, iproute2: the kernel data plane; iputils-ping, util-linux
#   (prlimit), curl: the kernel tests; prometheus (promtool): the metrics test;
# - docker.io, docker-compose, podman, containernetworking-plugins: the
#   compose, Docker plugin and CNI (podman) tests; busybox-static is the root
#   file system of their images (no registry); bind9-dnsutils (dig): DNS tests.
# Packages do not start their services here (a system dockerd would install
# iptables rules under the tests; the prometheus package would start one):
# invoke-rc.d and deb-systemd-invoke obey policy-rc.d, ours lives only for
# the install.
set -euo pipefail
need=()
command -v nft >/dev/null 2>&1            || need+=(nftables)
command -v ip >/dev/null 2>&1             || need+=(iproute2)
command -v bridge >/dev/null 2>&1         || need+=(iproute2)
command -v promtool >/dev/null 2>&1       || need+=(prometheus)
command -v curl >/dev/null 2>&1           || need+=(curl)
command -v ping >/dev/null 2>&1           || need+=(iputils-ping)
command -v prlimit >/dev/null 2>&1        || need+=(util-linux)
command -v dockerd >/dev/null 2>&1        || need+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v podman >/dev/null 2>&1         || need+=(podman)
[ -x /usr/lib/cni/portmap ]               || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1       || need+=(iptables)
[ -x /bin/busybox ]                       || need+=(busybox-static)
command -v dig >/dev/null 2>&1            || need+=(bind9-dnsutils)
[ "${#need[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "not root: skipping Debian packages ${need[*]} (install them with sudo for the kernel data plane and the container tests)" >&2
  exit 0
fi
echo "apt-get install ${need[*]}"
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
trap 'if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
