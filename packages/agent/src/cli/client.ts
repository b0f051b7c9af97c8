/**
 * The control API client moved to api/client.ts (it serves the CLI, the lab
 * and runtime plugins alike). This re-export stays for src/lab, which
 * imports it from here until the lab becomes its own package.
 */
export { createApiClient, type ApiClient, type ApiTarget } from '../api/client.js'
