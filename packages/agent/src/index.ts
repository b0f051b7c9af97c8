/** @scalelb/agent (work in progress). */
export const AGENT_NAME = 'scalelb'
