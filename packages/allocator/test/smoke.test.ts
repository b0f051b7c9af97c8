import test from 'ava'
import { SNAPSHOT_FORMAT_VERSION } from '@scalelb/allocator'

test('package loads', (t) => {
  t.is(SNAPSHOT_FORMAT_VERSION, 1)
})
