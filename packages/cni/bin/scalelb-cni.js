#!/usr/bin/env node
// The `scalelb-cni` CNI plugin, exec'd by a container runtime. Build first: npm run build
import '../dist/main.js'
