import { MAX_VALUE_SHAPES } from './constants.js'

/**
 * Received values rebuilt with every field inside the object. A decoder
 * makes an object as `{}` and adds its fields one by one, and V8 gives an
 * empty literal room for 4 fields inside the object: the rest go to a
 * property array of their own (16 bytes of header, and room to spare). An
 * endpoint value (7 fields) was 56 + 41 bytes where one object of 7 fields
 * is 80 (1.7 MiB at 100k endpoints, bench:memory). JSON.parse makes objects
 * the size of their fields, so a template of the value's keys, parsed, then
 * filled in, is such an object: the same keys in the same order (the value
 * encodes the same: signatures and value tags are unchanged), the same
 * field values (strings and nested objects are not copied).
 */

/** An empty object literal's in-object fields in V8. */
const IN_OBJECT_FIELDS = 4
/** Keys JSON.parse would not make plain named fields of, in order: array indices and `__proto__`. */
const SPECIAL_KEY = /^(?:\d+|__proto__)$/

/** Key list (joined by NUL) -> JSON template of an object of those keys; undefined: not rebuilt. */
const templates = new Map<string, string | undefined>()

/** `v` with its fields inside one object, when `v` is a plain object of more than 4 fields; else `v`. */
export function compactValue (v: unknown): unknown {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return v
  const keys = Object.keys(v)
  if (keys.length <= IN_OBJECT_FIELDS) return v
  const shape = keys.join('\u0000')
  let t = templates.get(shape)
  if (t === undefined) {
    if (templates.has(shape) || templates.size >= MAX_VALUE_SHAPES) return v
    t = keys.some((k) => SPECIAL_KEY.test(k)) ? undefined : `{${keys.map((k) => `${JSON.stringify(k)}:0`).join(',')}}`
    templates.set(shape, t)
    if (t === undefined) return v
  }
  const out = JSON.parse(t) as Record<string, unknown>
  const src = v as Record<string, unknown>
  for (const k of keys) out[k] = src[k]
  return out
}
