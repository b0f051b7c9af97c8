#!/bin/sh
# Entry of the scalelb agent image. Docker mounts /proc/sys read-only unless
# the container is --privileged; the agent sets ip_forward in its LB
# namespaces, so with CAP_SYS_ADMIN (and no privileged mode) /proc/sys is
# remounted read-write for this container first.
if ! sysctl -q -w net.ipv4.ip_forward=1 >/dev/null 2>&1; then
  mount -o remount,rw /proc/sys 2>/dev/null \
    || echo "entrypoint: /proc/sys is read-only and cannot be remounted: run with --privileged or --cap-add SYS_ADMIN" >&2
fi
# node flags: the agent's AGENT_NODE_FLAGS (packages/agent/src/constants.ts; a test keeps them equal)
exec node --max-semi-space-size=1 /opt/scalelb/packages/agent/bin/scalelb.js "$@"
