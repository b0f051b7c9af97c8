import { Packr } from 'msgpackr'
import type { NodeId } from '../types.js'

/**
 * Admission: a manager's signature over a node ID, which a cluster may
 * require of every member (the cluster key file says so).
 *
 * The pre-shared key lets anyone who holds it reach the cluster, and a node
 * key is made by anyone, offline: without admission, the holder of a copied
 * cluster key joins as a new member, and a revoked member comes back under a
 * new node key. With admission required, a member's `alive` is accepted only
 * with its admission, checked against the cluster's manager public keys; so
 * only the holder of a manager key can let a node in, and revoking its ID
 * keeps it out for good.
 *
 * The signature covers the ID alone, so it is carried beside the member's own
 * signature and relayed unchanged by anyone; it states nothing but "this ID
 * may be a member". Domain-tagged: a manager key signs table entries too.
 */
export const ADMISSION_SIG_DOMAIN = 'scalelb/admission/1'

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false })

/** The bytes a manager signs to admit node `id`: msgpack `[domain, id]`. */
export function admissionBytes (id: NodeId): Uint8Array {
  return packr.pack([ADMISSION_SIG_DOMAIN, id])
}
