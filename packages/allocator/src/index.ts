/** @scalelb/allocator: pure address allocation (work in progress). */
export const SNAPSHOT_FORMAT_VERSION = 1
