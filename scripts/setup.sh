#!/usr/bin/env bash
# One-command setup on a fresh Debian 12 machine: Node.js 24 LTS when the
# machine's node is older than 22 (scripts/install-node.sh, as root), the
# Debian packages of the agent and its tests (scripts/install-debian.sh),
# then npm ci (which builds every package through the root `prepare` script).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-node.sh
# the node it installs is /usr/local/bin/node: put that first where PATH finds an older one
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null \
  || export PATH="/usr/local/bin:$PATH"
hash -r
echo "setup: node $(node --version)"
bash scripts/install-debian.sh
npm ci --no-audit --no-fund
