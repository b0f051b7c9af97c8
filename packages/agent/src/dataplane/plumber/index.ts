/** Task plumbing: a task netns plugged into (or out of) its network's bridge. */
export { attachTaskNetns, detachTaskNetns, addBridgedVeth, removeBridgedVeth, type AttachTaskInit, type DetachTaskInit, type BridgedVethInit } from './attach.js'
export { TASK_IFNAME } from './constants.js'
export { DSR_ROUTE_TABLE, DSR_RULE_PREF, dsrTaskTable, plumbTaskDsr, unplumbTaskDsr, type TaskDsr } from './dsr.js'
