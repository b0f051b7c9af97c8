import test from 'ava'
import { admissionBytes, createKeyring, generateSigningKeyPair } from '@scalelb/gossip'

const data = new TextEncoder().encode('networks/front v7')

test('with two manager keys (a rotation) an entry signed by either is accepted, by a third key not; a manager signs with the key it holds, which must be one of them', (t) => {
  const [k1, k2, k3] = [generateSigningKeyPair(), generateSigningKeyPair(), generateSigningKeyPair()]
  const node = generateSigningKeyPair()
  const ring = (priv?: Uint8Array): ReturnType<typeof createKeyring> => createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKeys: [k1.publicKey, k2.publicKey], ...(priv === undefined ? {} : { managerPrivateKey: priv }) })
  const worker = ring()
  t.false(worker.manager)
  t.true(worker.managerKnown)
  const old = ring(k1.privateKey)
  const next = ring(k2.privateKey)
  for (const signer of [old, next]) t.true(worker.verifyManager(data, signer.signManager(data)))
  t.true(old.verifyManager(data, next.signManager(data)), 'the old key\'s manager takes the new key\'s entries')
  t.true(next.verifyManager(data, old.signManager(data)), 'and the other way while both are listed')
  const outsider = createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: k3.publicKey, managerPrivateKey: k3.privateKey })
  t.false(worker.verifyManager(data, outsider.signManager(data)), 'a key not listed')
  t.false(worker.verifyManager(data, new Uint8Array(10)), 'a short signature')
  t.is(t.throws(() => ring(k3.privateKey))?.name, 'InvalidSigningKeyError', 'a manager key that is none of the listed ones')
  // only the new key listed: the old key's signatures are refused
  const after = createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKeys: [k2.publicKey] })
  t.false(after.verifyManager(data, old.signManager(data)))
  t.true(after.verifyManager(data, next.signManager(data)))
})

test('admission: a manager\'s signature over the node ID; a manager admits itself; where it is required a node without one, or with one for another ID or by another key, cannot make a keyring', (t) => {
  const mgr = generateSigningKeyPair()
  const other = generateSigningKeyPair()
  const node = generateSigningKeyPair()
  const manager = createKeyring({ self: 'm', privateKey: generateSigningKeyPair().privateKey, managerPublicKey: mgr.publicKey, managerPrivateKey: mgr.privateKey, admissionRequired: true })
  t.true(manager.admissionRequired)
  t.true(manager.verifyManager(admissionBytes('m'), manager.admission!), 'a manager node signs its own admission')
  const adm = manager.signManager(admissionBytes('n'))
  const worker = createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey, admission: adm, admissionRequired: true })
  t.deepEqual(worker.admission, adm)
  t.is(t.throws(() => createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey, admissionRequired: true }))?.name, 'NotAdmittedError')
  const forOther = manager.signManager(admissionBytes('x'))
  t.regex(t.throws(() => createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey, admission: forOther }))?.message ?? '', /admission.*node n/)
  const byOther = createKeyring({ self: 'o', privateKey: node.privateKey, managerPublicKey: other.publicKey, managerPrivateKey: other.privateKey }).signManager(admissionBytes('n'))
  t.is(t.throws(() => createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey, admission: byOther }))?.name, 'InvalidSigningKeyError')
  t.is(t.throws(() => createKeyring({ self: 'n', privateKey: node.privateKey, admissionRequired: true }))?.name, 'InvalidSigningKeyError', 'required without a manager key to check with')
  // not required: an admission is still carried (a cluster turning admission on needs its members' admissions first)
  const open = createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey, admission: adm })
  t.false(open.admissionRequired)
  t.deepEqual(open.admission, adm)
  t.is(createKeyring({ self: 'n', privateKey: node.privateKey, managerPublicKey: mgr.publicKey }).admission, undefined)
})
