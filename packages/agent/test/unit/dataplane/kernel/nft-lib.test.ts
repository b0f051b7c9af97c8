import test from 'ava'
import { parseGeneration } from '../../../../src/dataplane/kernel/nft-lib.js'

/** A netlink message: header (len, type, flags, seq, pid), nfgenmsg, then attributes. */
function message (type: number, attrs: Array<{ type: number, value: Buffer }>): Buffer {
  const body = Buffer.concat(attrs.map((a) => {
    const len = 4 + a.value.length
    const b = Buffer.alloc((len + 3) & ~3)
    b.writeUInt16LE(len, 0)
    b.writeUInt16LE(a.type, 2)
    a.value.copy(b, 4)
    return b
  }))
  const m = Buffer.alloc(20 + body.length)
  m.writeUInt32LE(m.length, 0)
  m.writeUInt16LE(type, 4)
  body.copy(m, 20)
  return m
}

function u32be (n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n, 0)
  return b
}

test('the generation is the NFTA_GEN_ID attribute of a NEWGEN answer, after the other attributes', (t) => {
  const m = message((10 << 8) | 15, [{ type: 2, value: u32be(4321) }, { type: 1, value: u32be(987654) }, { type: 3, value: Buffer.from('nft\0') }])
  t.is(parseGeneration(m, 'gen'), 987654)
})

test('a netlink error, a short answer and an answer without the attribute are KernelCommandErrors naming what was read', (t) => {
  const err = Buffer.alloc(36)
  err.writeUInt32LE(36, 0)
  err.writeUInt16LE(2, 4)
  err.writeInt32LE(-1, 16)
  t.throws(() => parseGeneration(err, 'gen of ns1'), { name: 'KernelCommandError', message: /gen of ns1.*netlink error 1/ })
  t.throws(() => parseGeneration(Buffer.alloc(6), 'gen'), { name: 'KernelCommandError', message: /6 bytes/ })
  t.throws(() => parseGeneration(message((10 << 8) | 15, [{ type: 2, value: u32be(1) }]), 'gen'), { message: /without NFTA_GEN_ID/ })
  // a zero-length attribute does not loop forever
  const bad = message((10 << 8) | 15, [])
  const withZero = Buffer.concat([bad, Buffer.alloc(8)])
  withZero.writeUInt32LE(withZero.length, 0)
  t.throws(() => parseGeneration(withZero, 'gen'), { message: /without NFTA_GEN_ID/ })
})
