import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import test from 'ava'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/dataplane')

/** Layers of src/dataplane, bottom first: a file may import from its own layer or a lower one only. */
const LAYERS: Record<string, number> = { spec: 0, kernel: 1, lb: 2, overlay: 2, ingress: 2, programmer: 3, plumber: 3, reconciler: 4, '.': 5 }

function files (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [])
}

function layerOf (file: string): string {
  const rel = relative(ROOT, file)
  return rel.includes('/') ? rel.split('/')[0] : '.'
}

test('dataplane: no folder imports from a higher layer (spec < kernel < lb, overlay, ingress < programmer, plumber < reconciler < wiring)', t => {
  const found = files(ROOT)
  t.true(found.length > 20, 'the data plane sources were found')
  const wrong: string[] = []
  for (const file of found) {
    const from = layerOf(file)
    t.not(LAYERS[from], undefined, `${relative(ROOT, file)} is in a folder with no layer`)
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), m[1])
      if (!target.startsWith(ROOT + '/')) continue
      const to = layerOf(target)
      if (LAYERS[to] > LAYERS[from]) wrong.push(`${relative(ROOT, file)} -> ${relative(ROOT, target)}`)
    }
  }
  t.deepEqual(wrong, [])
})
