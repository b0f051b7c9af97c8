#!/usr/bin/env bash
# Build scalelb's container base images without any registry: a root
# filesystem assembled from this machine's own binaries (Node.js 24 LTS as
# scripts/install-node.sh installs it, Debian packages iproute2, nftables,
# util-linux, procps, prometheus) and their shared libraries, loaded with
# `docker import`.
#
#   docker/build-base.sh [TAG]      (default TAG: local)
#
# makes  scalelb-base:TAG        node, ip, bridge, nft, nsenter, sysctl, mount, sh
#        scalelb-prometheus:TAG  Debian's prometheus binary, sh
# Then: docker-compose build --build-arg BASE_IMAGE=scalelb-base:TAG
set -euo pipefail
tag="${1:-local}"
case "$tag" in (*[!A-Za-z0-9_.-]*|'') echo "build-base: bad tag '$tag'" >&2; exit 2;; esac
command -v docker >/dev/null || { echo "build-base: docker is not installed" >&2; exit 1; }
# the image runs the node found here: Node >= 22 (24 LTS), the one the project supports
node_bin="$(command -v node || true)"
node_major="$("${node_bin:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$node_major" -lt 22 ]; then
  echo "build-base: node ${node_bin:-(none)} is older than 22; run 'sudo bash scripts/install-node.sh' first (Node 24 LTS)" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/scalelb-rootfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# copy_bin ROOT PATH...: each binary plus every shared library ldd names (and the loader)
copy_bin() {
  local root="$1"; shift
  local f lib
  for f in "$@"; do
    [ -e "$f" ] || { echo "build-base: $f is missing (install its Debian package)" >&2; exit 1; }
    f="$(readlink -f "$f")"
    install -D -m 0755 "$f" "$root$f"
    for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}'); do
      [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    done
  done
}

# skel ROOT: directories and the few /etc files programs expect
skel() {
  local root="$1"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,run/netns,var/lib,proc,sys,dev,root,lib64}
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  [ -d /etc/iproute2 ] && cp -a /etc/iproute2 "$root/etc/"
  copy_bin "$root" /bin/dash
  ln -sf "$(readlink -f /bin/dash)" "$root/bin/sh"
  # glibc resolves names through these (Prometheus is static Go, node is not)
  for lib in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
    [ -e "$lib" ] && install -D -m 0644 "$(readlink -f "$lib")" "$root$lib" && ln -sf "$(readlink -f "$lib")" "$root$lib" 2>/dev/null || true
  done
}

# link_cmds ROOT NAME...: /usr/bin/NAME -> the copied binary (PATH lookup inside the image)
link_cmds() {
  local root="$1"; shift
  local n real
  for n in "$@"; do
    real="$(readlink -f "$(command -v "$n")")"
    [ "$real" = "/usr/bin/$n" ] || ln -sf "$real" "$root/usr/bin/$n"
  done
}

base="$work/base"
skel "$base"
copy_bin "$base" "$node_bin" "$(command -v ip)" "$(command -v bridge)" "$(command -v nft)" "$(command -v nsenter)" "$(command -v sysctl)" "$(command -v mount)"
link_cmds "$base" node ip bridge nft nsenter sysctl mount
tar -C "$base" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["node"]' \
  -m "scalelb base: node $("$node_bin" --version) + iproute2 + nftables from $(hostname)" - "scalelb-base:$tag" >/dev/null
echo "built scalelb-base:$tag"

prom="$work/prom"
skel "$prom"
copy_bin "$prom" "$(command -v prometheus)"
link_cmds "$prom" prometheus
mkdir -p "$prom/etc/prometheus" "$prom/prometheus"
tar -C "$prom" -c . | docker import \
  -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENTRYPOINT ["/usr/bin/prometheus"]' \
  -c 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=0.0.0.0:9090"]' \
  -m "scalelb prometheus: Debian's prometheus from $(hostname)" - "scalelb-prometheus:$tag" >/dev/null
echo "built scalelb-prometheus:$tag"
