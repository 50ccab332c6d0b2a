/**
 * `@sluice/sdk/redis`: the SDK's Redis mode, straight onto the queue. `new SluiceClient({ redisUrl })`
 * loads this entry by itself; import it to load the queue client (bullmq, ioredis) up front.
 */
export { RedisTransport } from './redis-transport.js';
export type { RedisTransportOptions } from './redis-transport.js';
