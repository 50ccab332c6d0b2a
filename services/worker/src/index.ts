export { startWorker } from './worker-service.js';
export type { StartWorkerOptions } from './worker-service.js';
export { registerDocumentHandlers } from './document-handlers.js';
export type { DocumentHandlerOptions } from './document-handlers.js';
