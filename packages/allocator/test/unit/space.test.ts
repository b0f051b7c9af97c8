import test from 'ava'
import { createNodeAllocator, type NodeAllocator } from '@scalelb/allocator'

function trio (subnet: string): NodeAllocator[] {
  const nodes = ['a', 'b', 'c'].map((self) => createNodeAllocator({ self }))
  const [a, ...rest] = nodes as [NodeAllocator, ...NodeAllocator[]]
  const tokens = a.createNetwork('n', [subnet], 0)
  for (const x of rest) {
    x.addNetwork('n', [subnet])
    x.mergeTokens('n', tokens, 0)
  }
  return nodes
}

function share (from: NodeAllocator, to: NodeAllocator[], tokens: ReturnType<NodeAllocator['tokens']>): void {
  for (const x of to) if (x !== from) x.mergeTokens('n', tokens, 0)
}

test('a /30 fills to its last address: a one-address range is donated whole, from node to node', (t) => {
  const nodes = trio('10.0.0.0/30')
  const [a, b, c] = nodes as [NodeAllocator, NodeAllocator, NodeAllocator]
  const toB = a.donate('n', 'b', 0)
  t.truthy(toB, 'a /30 owner with two free addresses gives one')
  share(a, nodes, toB ?? [])
  const ipB = b.allocate('n', 'task', 0)
  t.is(a.usage('n', 0).free, 1)
  const toC = a.donate('n', 'c', 0)
  t.truthy(toC, 'the owner of a single free address gives it')
  share(a, nodes, toC ?? [])
  const ipC = c.allocate('n', 'task', 0)
  t.not(ipB, ipC)
  t.is(a.usage('n', 0).free, 0)
  t.is(a.donate('n', 'b', 0), undefined, 'nothing free: nothing to give')
  t.is(a.usage('n', 0).owned + b.usage('n', 0).owned + c.usage('n', 0).owned, 4)
})

test('usage digests agree across replicas that hold the same ring, and differ once an owner\'s ranges change', (t) => {
  const nodes = trio('10.0.0.0/28')
  const [a, b, c] = nodes as [NodeAllocator, NodeAllocator, NodeAllocator]
  const before = a.usage('n', 0).digest
  t.is(c.ringSpace('n').owners.find((o) => o.id === 'a')?.digest, before)
  const w = a.donate('n', 'b', 0) ?? []
  t.not(a.usage('n', 0).digest, before)
  t.not(c.ringSpace('n').owners.find((o) => o.id === 'a')?.digest, a.usage('n', 0).digest, 'c has not heard of the donation: a\'s published usage is stale for c')
  share(a, nodes, w)
  t.is(c.ringSpace('n').owners.find((o) => o.id === 'a')?.digest, a.usage('n', 0).digest)
  t.is(c.ringSpace('n').owners.find((o) => o.id === 'b')?.digest, b.usage('n', 0).digest)
  t.deepEqual(c.ringSpace('n'), b.ringSpace('n'))
  t.is(c.ringSpace('n').usable, 14)
  t.true(c.ringSpace('n').complete)
  const fresh = createNodeAllocator({ self: 'd' })
  fresh.addNetwork('n', ['10.0.0.0/28'])
  t.false(fresh.ringSpace('n').complete, 'no token yet: the ring covers nothing')
})

test('usage counts free and cooling addresses; a release without cooldown frees at once', (t) => {
  const a = createNodeAllocator({ self: 'a', reuseCooldownMs: 1000 })
  a.createNetwork('n', ['10.0.0.0/29'], 0)
  const x = a.allocate('n', 'task', 0)
  const y = a.allocate('n', 'task', 0)
  t.like(a.usage('n', 0), { free: 4, cooling: 0, owned: 8, nextFreeAt: undefined })
  a.release('n', x, 10)
  t.like(a.usage('n', 10), { free: 4, cooling: 1, nextFreeAt: 1010 })
  a.release('n', y, 20, { cooldown: false })
  t.like(a.usage('n', 20), { free: 5, cooling: 1 })
  t.like(a.usage('n', 1010), { free: 6, cooling: 0, nextFreeAt: undefined })
})
