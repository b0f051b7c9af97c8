/** Docker network + IPAM plugin and container label membership (`scalelb agent --docker-plugin`). */
export { createDockerComponent, type DockerComponentInit } from './component.js'
export { createDockerEngine, type DockerEngine } from './engine.js'
export { createDockerHost, type DockerHost, type DockerHostInit } from './host.js'
export { createKernelLinks, createMemoryLinks } from './link.js'
export { createDockerPlugin, type DockerPlugin, type DockerPluginHost, type DockerLinks } from './plugin.js'
export { createPluginServer, type PluginServer } from './server.js'
export { DockerEngineError, DockerPluginError, PluginRequestError } from './errors.js'
export * from './constants.js'
