#!/usr/bin/env node
// Runs the native TypeScript 7 compiler. The `typescript` package name is held
// by TypeScript 6 because typescript-eslint needs its JavaScript API; TS 7 is
// installed under the alias `typescript-native` and its `tsc` is called here.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const tsc = join(dirname(require.resolve('typescript-native/package.json')), 'bin', 'tsc')
const r = spawnSync(process.execPath, [tsc, ...process.argv.slice(2)], { stdio: 'inherit' })
process.exit(r.status ?? 1)
