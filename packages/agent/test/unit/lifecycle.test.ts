import test from 'ava'
import { createLifecycle, type Component, type StopReason } from '../../src/lifecycle.js'

/** A component that records every hook it runs in `log`. */
function recorder (name: string, log: string[], opts: { failStart?: boolean } = {}): Component {
  return {
    name,
    beforeStart: () => { log.push(`${name}.beforeStart`) },
    async start () {
      log.push(`${name}.start`)
      if (opts.failStart === true) throw new Error(`${name} cannot start`)
    },
    afterStart: () => { log.push(`${name}.afterStart`) },
    leave: () => { log.push(`${name}.leave`) },
    stop: (reason: StopReason) => { log.push(`${name}.stop:${reason}`) }
  }
}

test('components start in order, after every beforeStart, and stop in reverse; start and stop run once', async (t) => {
  const log: string[] = []
  const lc = createLifecycle([recorder('a', log), recorder('b', log)])
  await lc.start()
  await lc.start()
  t.is(lc.state(), 'running')
  await lc.stop()
  await lc.stop()
  t.deepEqual(log, ['a.beforeStart', 'b.beforeStart', 'a.start', 'b.start', 'a.afterStart', 'b.afterStart', 'b.stop:restart', 'a.stop:restart'])
  t.is(lc.state(), 'stopped')
})

test('leave runs every leave hook in reverse, then stops in reverse with reason leave, once', async (t) => {
  const log: string[] = []
  const lc = createLifecycle([recorder('a', log), recorder('b', log)])
  await lc.start()
  log.length = 0
  await Promise.all([lc.leave(), lc.leave()])
  await lc.stop()
  t.deepEqual(log, ['b.leave', 'a.leave', 'b.stop:leave', 'a.stop:leave'])
})

test('a failed start stops the components begun, in reverse, and throws; later ones never start', async (t) => {
  const log: string[] = []
  const c: Component = { name: 'c', start: () => { log.push('c.start') }, stop: () => { log.push('c.stop:restart') } }
  const lc = createLifecycle([recorder('a', log), recorder('b', log, { failStart: true }), c])
  await t.throwsAsync(lc.start(), { message: 'b cannot start' })
  t.deepEqual(log, ['a.beforeStart', 'b.beforeStart', 'a.start', 'b.start', 'b.stop:restart', 'a.stop:restart'])
  t.is(lc.state(), 'stopped')
  await lc.leave()
  t.is(log.length, 6, 'nothing runs after a failed start')
})
