#!/usr/bin/env node
// The `scalelb` command (agent + CLI). Build first: npm run build
import '../dist/cli/bin.js'
