/**
 * @scalelb/lab: `scalelb lab up|status|down`, a local multi-host cluster. As
 * root each host is a network namespace on an underlay bridge, running its own
 * agent; without root the same cluster runs on 127.0.0.1 with the memory
 * programmer. The agent CLI loads this package on demand for `scalelb lab`;
 * the e2e tests and cluster benchmarks use the functions below.
 * @packageDocumentation
 */
export { runLab, defaultLabStateDir } from './cli.js'
export { labUp, labDown, labStatus, labLeftovers, freePort, hostGet, saveLab, type LabUpInit, type LabStatus, type LabHostStatus, type LabDownReport } from './lab.js'
export { loadLabState, type LabState, type LabHost, type LabMode, type LabProcess, type LabHelper } from './state.js'
export { LabError, LabStateError, LabTimeoutError, LabUsageError } from './errors.js'
export { runDemo, type DemoInit, type DemoReport } from './demo.js'
export { startAgent, resolveAgentCommand, aliveMembers, aliveMembersFromMetrics, waitMembers, waitFor, type LabWaitOptions, sampleValue, metricsUrl, httpGetIn } from './agents.js'
export { stopProcess, isRunning, spawnDetached, type ProcRef } from './procs.js'
export { run as labRun, inNetns } from './exec.js'
export { isRoot } from '@scalelb/agent'
export { labPartition, labLoss, labHeal, addUnderlayHelper, CHAOS_TABLE } from './chaos.js'
export { startTask, serveInNetns, stopTaskServer, deleteTaskNetns, probe, answered, labScripts, taskNetnsName, type LabTaskRef, type StartTaskInit, type ProbeTarget, type ProbeResult } from './workload.js'
export * as labApi from './control.js'
export { createPlainNetns } from './underlay.js'
