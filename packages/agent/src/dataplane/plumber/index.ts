/** Task plumbing: a task netns plugged into (or out of) its network's bridge. */
export { attachTaskNetns, detachTaskNetns, type AttachTaskInit, type DetachTaskInit } from './attach.js'
export { TASK_IFNAME } from './constants.js'
