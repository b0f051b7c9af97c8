#!/usr/bin/env bash
# Install the built agent on this host as a systemd service (after `npm run
# setup`, as root):
#   /opt/scalelb                        the agent, its packages and production dependencies
#   /usr/local/bin/scalelb              the command (agent and CLI), on the node that built it
#   /etc/systemd/system/scalelb.service the unit (packaging/systemd/scalelb.service)
#   /etc/scalelb/agent.json             the agent's config, only if there is none yet
# --root DIR installs under DIR instead of / (a package build, a test); the
# files still name /opt/scalelb and /usr/local/bin, where they will live.
# Re-running it upgrades /opt/scalelb in place (restart the service after).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=/
usage () { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || { echo "install-host: --root needs a directory" >&2; exit 2; }; ROOT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-host: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -d "$ROOT" ] || { echo "install-host: --root $ROOT is not a directory" >&2; exit 2; }
NODE=$(command -v node || true)
if [ -z "$NODE" ] || ! "$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'; then
  echo "install-host: needs Node.js >= 22 on PATH (npm run setup installs Node 24 as /usr/local/bin/node)" >&2
  exit 1
fi
PKGS="allocator gossip agent cni lab"
for p in $PKGS; do
  [ -d "packages/$p/dist" ] || { echo "install-host: packages/$p/dist is missing: run npm run setup (or npm run build) first" >&2; exit 1; }
done
mkdir -p "$ROOT/opt" "$ROOT/usr/local/bin" "$ROOT/etc/systemd/system" "$ROOT/etc/scalelb"
stage=$(mktemp -d "$ROOT/opt/.scalelb-new.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -a package.json package-lock.json node_modules "$stage/"
for p in $PKGS test-support; do
  mkdir -p "$stage/packages/$p"
  cp -a "packages/$p/package.json" "$stage/packages/$p/"
  [ -d "packages/$p/dist" ] && cp -a "packages/$p/dist" "$stage/packages/$p/"
  [ -d "packages/$p/bin" ] && cp -a "packages/$p/bin" "$stage/packages/$p/"
done
# development dependencies out (offline: it only removes)
(cd "$stage" && npm prune --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null)
rm -rf "$stage/packages/test-support" "$stage/node_modules/@scalelb/test-support"
chmod 755 "$stage"
# swap in at once: a running agent keeps the files it loaded
if [ -e "$ROOT/opt/scalelb" ]; then
  old=$(mktemp -d "$ROOT/opt/.scalelb-old.XXXXXX")
  mv "$ROOT/opt/scalelb" "$old/"
  mv "$stage" "$ROOT/opt/scalelb"
  rm -rf "$old"
else
  mv "$stage" "$ROOT/opt/scalelb"
fi
trap - EXIT
# node flags: the agent's AGENT_NODE_FLAGS (packages/agent/src/constants.ts; a test keeps them equal)
cat > "$ROOT/usr/local/bin/scalelb.new" <<WRAPPER
#!/bin/sh
exec $NODE --max-semi-space-size=1 /opt/scalelb/packages/agent/bin/scalelb.js "\$@"
WRAPPER
chmod 755 "$ROOT/usr/local/bin/scalelb.new"
mv "$ROOT/usr/local/bin/scalelb.new" "$ROOT/usr/local/bin/scalelb"
install -m 644 packaging/systemd/scalelb.service "$ROOT/etc/systemd/system/scalelb.service"
if [ ! -e "$ROOT/etc/scalelb/agent.json" ]; then
  install -m 644 packaging/systemd/agent.json "$ROOT/etc/scalelb/agent.json"
  config="$ROOT/etc/scalelb/agent.json (new)"
else
  config="$ROOT/etc/scalelb/agent.json (kept)"
fi
version=$("$NODE" -p 'require("./packages/agent/package.json").version')
cat <<DONE
installed scalelb $version: $ROOT/opt/scalelb, $ROOT/usr/local/bin/scalelb (node $NODE), $ROOT/etc/systemd/system/scalelb.service, $config
next:
  the cluster key: on the first host \`scalelb keygen --out /etc/scalelb/cluster.key --manager-out /etc/scalelb/manager.key\`,
    then copy /etc/scalelb/cluster.key (mode 0600) to every host; manager hosts also get manager.key
    ("managerKeyFile": "/etc/scalelb/manager.key" in their agent.json)
  every other host: "join": ["/ip4/<first host>/tcp/7946"] in /etc/scalelb/agent.json
  systemctl daemon-reload && systemctl enable --now scalelb && scalelb status
DONE
