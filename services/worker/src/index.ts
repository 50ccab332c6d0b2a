export { startWorker } from './worker-service.js';
export type { StartWorkerOptions } from './worker-service.js';
