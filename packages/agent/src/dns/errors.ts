/** The resolver's sockets could not be opened in a sandbox (the helper failed, timed out or was cancelled). */
export class DnsBindError extends Error {
  override name = 'DnsBindError'
}
