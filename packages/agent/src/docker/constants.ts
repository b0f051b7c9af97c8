/** Constants of the Docker network + IPAM plugin and the Docker event follower. */

/** Where dockerd looks for plugin sockets: a socket `<name>.sock` here is the plugin `<name>`. */
export const DEFAULT_DOCKER_PLUGIN_SOCKET = '/run/docker/plugins/scalelb.sock'

/** The Docker Engine API socket the label follower reads events from. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

/** Content type of every plugin protocol answer (Docker plugin API v1.2). */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'

/** A plugin request body larger than this is refused (Docker's bodies are a few hundred bytes). */
export const MAX_PLUGIN_BODY_BYTES = 1024 * 1024

/** The IPAM address space name both defaults answer with (scalelb has one space: its networks' subnets). */
export const ADDRESS_SPACE = 'scalelb'

/** Prefix of the pool IDs the IPAM driver hands out: `scalelb/<subnet>`. */
export const POOL_ID_PREFIX = 'scalelb/'

/** Request option libnetwork sets when it asks for a network's gateway address. */
export const GATEWAY_REQUEST_TYPE = 'com.docker.network.gateway'

/** Key of the driver options (`docker network create -o`) in CreateNetwork's Options. */
export const DRIVER_OPTIONS_KEY = 'com.docker.network.generic'

/** Driver option (`-o scalelb.network=NAME`) naming the scalelb network when it differs from the Docker network's name. */
export const NETWORK_NAME_OPTION = 'scalelb.network'

/** Prefix of the interface Docker creates in the container from ours (`eth` + index). */
export const CONTAINER_IFNAME_PREFIX = 'eth'

/** Owner recorded in the allocator for an address the IPAM driver handed out and no task holds yet. */
export const IPAM_OWNER = 'docker-ipam'

/** Container label: the service the container is a backend of. */
export const SERVICE_LABEL = 'scalelb.service'

/** Container label: ports of the service (`80:8080/tcp,53/udp`), used to create it when it does not exist. */
export const PORT_LABEL = 'scalelb.port'

/** Docker Engine API version the follower speaks (20.10 serves 1.41; older versions are accepted by newer daemons). */
export const ENGINE_API_VERSION = 'v1.41'

/** First reconnect delay to dockerd after the event stream ended or failed. */
export const RECONNECT_MIN_MS = 200

/** Reconnect delay cap: dockerd down for long is retried this often. */
export const RECONNECT_MAX_MS = 10_000

/** One Engine API call (list, inspect) gives up after this long. */
export const ENGINE_CALL_TIMEOUT_MS = 10_000

/** A single event line larger than this is a broken stream (events are ~1 KiB). */
export const MAX_EVENT_LINE_BYTES = 1024 * 1024

/** File in the data dir holding the plugin's Docker network and endpoint records. */
export const PLUGIN_STATE_FILE = 'docker-plugin.json'

/** A plugin call (Join waits for the data plane, RequestAddress maybe for a donation) gives up after this long; dockerd's own plugin timeout is longer. */
export const PLUGIN_CALL_TIMEOUT_MS = 30_000
