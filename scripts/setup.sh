#!/usr/bin/env bash
# One-command setup on a fresh Debian 12 machine: Node.js 24 LTS when the
# machine's node is older than 22 (scripts/install-node.sh, as root), the
# kernel tools the agent calls (nftables, iproute2), Prometheus' promtool for
# the metrics test, then npm ci (which builds every package through the root
# `prepare` script).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node.sh
# the node it installs is /usr/local/bin/node: put that first where PATH finds an older one
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null \
  || export PATH="/usr/local/bin:$PATH"
hash -r
echo "setup: node $(node --version)"
need=()
command -v nft >/dev/null 2>&1      || need+=(nftables)
command -v ip >/dev/null 2>&1       || need+=(iproute2)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v ping >/dev/null 2>&1     || need+=(iputils-ping)
command -v prlimit >/dev/null 2>&1  || need+=(util-linux)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
  else
    echo "setup: not root, skipping Debian packages ${need[*]} (install them with sudo for the kernel data plane)" >&2
  fi
fi
npm ci --no-audit --no-fund
