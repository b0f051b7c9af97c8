#!/usr/bin/env -S node --max-semi-space-size=1
// The `scalelb` command (agent + CLI). Build first: npm run build
// The node flags are the agent's AGENT_NODE_FLAGS (src/constants.ts; a test keeps them equal).
import '../dist/cli/bin.js'
