import { Writable } from 'node:stream'
import test from 'ava'
import { componentLogger, createRootLogger } from '../../../src/logging/logger.js'

test('a level that is off writes nothing, from the root and from component loggers; turning it on applies at once', (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write: (chunk: Buffer, _enc, cb) => { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb() } })
  const root = createRootLogger({ stream })
  const log = componentLogger(root, 'x')
  t.is(log.debug('not written', { n: 1 }), log)
  root.debug('not written either')
  log.info('written', { n: 2 })
  log.warn('also written')
  t.deepEqual(lines.map((l) => [l.level, l.message, l.component]), [['info', 'written', 'x'], ['warn', 'also written', 'x']])
  t.is(lines[0]?.n, 2)
  root.level = 'debug'
  log.debug('now written', { n: 3 })
  t.deepEqual(lines.map((l) => l.message), ['written', 'also written', 'now written'])
  t.is(lines[2]?.component, 'x')
  root.level = 'error'
  log.warn('off again')
  log.error('still on')
  t.deepEqual(lines.slice(3).map((l) => l.message), ['still on'])
  // unbound, as winston's own methods allow
  const { error } = root
  error('unbound')
  t.is(lines.at(-1)?.message, 'unbound')
})
