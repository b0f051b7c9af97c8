/** A scope name is not `cluster` or `network:<id>` (id: 1-64 of [A-Za-z0-9._-]). */
export class InvalidScopeError extends Error {
  override name = 'InvalidScopeError'
  constructor (readonly scope: unknown) {
    super(`invalid scope: ${String(scope).slice(0, 80)} (want "cluster" or "network:<id>")`)
  }
}

/** A table name or key is empty, too long or not a string. */
export class InvalidKeyError extends Error {
  override name = 'InvalidKeyError'
  constructor (readonly field: 'table' | 'key', reason: string) {
    super(`invalid ${field}: ${reason}`)
  }
}

/** A value cannot be replicated (type, depth, size). */
export class InvalidValueError extends Error {
  override name = 'InvalidValueError'
  constructor (readonly reason: string) {
    super(`invalid value: ${reason}`)
  }
}

/** A write to a scope this node has not joined. */
export class NotInScopeError extends Error {
  override name = 'NotInScopeError'
  constructor (readonly scope: string) {
    super(`not a member of scope ${scope}: call joinScope first`)
  }
}

/** A write to the reserved cluster-scope `scopes` table, which the tables maintain themselves. */
export class ReservedTableError extends Error {
  override name = 'ReservedTableError'
  constructor (readonly table: string) {
    super(`table ${table} of scope cluster is maintained by joinScope/leaveScope`)
  }
}

/** A local write to a key owned by another node, or to a key nobody may write (the authority policy). */
export class NotOwnerError extends Error {
  override name = 'NotOwnerError'
  constructor (readonly scope: string, readonly table: string, readonly key: string, readonly reason: string) {
    super(`cannot write ${scope}/${table}/${key}: ${reason}`)
  }
}
