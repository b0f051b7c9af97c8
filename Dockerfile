# The scalelb agent image. No registry is needed: the base image is built on
# this machine by docker/build-base.sh (Node.js 24 LTS as installed by
# scripts/install-node.sh, iproute2 and nftables from Debian), and the packages
# are built on the host first (`npm ci` builds dist/).
#
#   docker/build-base.sh local
#   docker build --build-arg BASE_IMAGE=scalelb-base:local -t scalelb-agent:local .
ARG BASE_IMAGE=scalelb-base:local
FROM ${BASE_IMAGE}

WORKDIR /opt/scalelb
COPY package.json ./
COPY node_modules ./node_modules
COPY packages/allocator/package.json packages/allocator/
COPY packages/allocator/dist packages/allocator/dist
COPY packages/gossip/package.json packages/gossip/
COPY packages/gossip/dist packages/gossip/dist
COPY packages/agent/package.json packages/agent/
COPY packages/agent/dist packages/agent/dist
COPY packages/agent/bin packages/agent/bin
COPY docker/entrypoint.sh /usr/local/bin/scalelb-entrypoint
COPY docker/scalelb /usr/local/bin/scalelb
# the agent's data dir (the compose file passes the same --data-dir): the CLI of
# `docker exec <agent> scalelb ...` finds the agent's socket there, api.sock
ENV SCALELB_DATA_DIR=/var/lib/scalelb

# gossip (libp2p), status server (/metrics)
EXPOSE 7946/tcp 9470/tcp
VOLUME ["/var/lib/scalelb"]
ENTRYPOINT ["/usr/local/bin/scalelb-entrypoint"]
CMD ["agent", "--help"]
