/** Default interface name of a task's veth inside its netns. */
export const TASK_IFNAME = 'eth0'
