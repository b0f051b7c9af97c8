/** Constants of the scalelb CNI plugin. */

/** The CNI spec version this plugin implements (and answers VERSION with). */
export const CNI_SPEC_VERSION = '1.0.0'

/**
 * Versions of the CNI spec whose configurations and results the plugin
 * takes and writes: 0.3.x and 0.4.0 results carry `version` in each IP,
 * 1.0.0 not; CHECK exists from 0.4.0 on.
 */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0']

/** The commands the plugin answers (CNI_COMMAND). GC (spec 1.1) is refused as unsupported. */
export const CNI_COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS'] as const

/** The key of CNI_ARGS that overrides the configuration's `service`; an empty value makes the container an endpoint only. */
export const SERVICE_ARG = 'SCALELB_SERVICE'

/** Environment variable naming the agent's control socket when the configuration has no `socket` key (the agent's own variable). */
export const SOCKET_ENV = 'SCALELB_API_SOCKET'

/**
 * Error codes of the CNI spec ("Error" section): 1-99 are the spec's own,
 * 100 and up plugin-specific.
 */
export const CNI_ERR = {
  /** The configuration's cniVersion is one the plugin does not support. */
  INCOMPATIBLE_VERSION: 1,
  /** Container unknown or gone: the runtime need not clean up. */
  UNKNOWN_CONTAINER: 3,
  /** A CNI_* environment variable is missing or invalid (the message names it). */
  INVALID_ENV: 4,
  /** Reading stdin failed. */
  IO: 5,
  /** The configuration is not JSON (or not an object). */
  DECODE: 6,
  /** The configuration is JSON but a key is wrong (the message names it): includes an unknown network or service. */
  INVALID_CONFIG: 7,
  /** Transient: the agent cannot be reached or did not answer in time; the runtime may retry. */
  TRY_AGAIN: 11,
  /** STATUS (spec 1.1): the plugin cannot serve ADD now (the agent is not reachable). */
  NOT_AVAILABLE: 50
} as const

/** scalelb's own error codes (100 and up, as the spec reserves them for plugins). */
export const SCALELB_ERR = {
  /** The container is attached already with other parameters (service, netns, network or interface). */
  CONFLICT: 100,
  /** CHECK found the attachment other than the result says. */
  CHECK_FAILED: 101,
  /** The agent refused or failed the call for another reason (its message is passed on). */
  AGENT: 102,
  /** A bug of the plugin. */
  INTERNAL: 999
} as const

/** A CNI container ID (spec: a letter or digit, then letters, digits, `_`, `.`, `-`). */
export const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/
