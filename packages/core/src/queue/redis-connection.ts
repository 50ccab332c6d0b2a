import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { SluiceError } from '../contract/errors.js';
import { parseRedisUrl } from '../contract/redis-url.js';

/**
 * `worker`: long-lived blocking connections for BullMQ workers and queue events; commands wait
 * through outages (`maxRetriesPerRequest: null`, as BullMQ requires).
 * `producer`: connections that enqueue on behalf of a caller; a command fails fast while Redis
 * is away, so the caller gets an error instead of a hang.
 */
export type RedisRole = 'worker' | 'producer';

/** Options for {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  /**
   * `redis://[user:pass@]host:port[/db]`, `rediss://…` for TLS,
   * `redis+cluster://host:port,host:port` (or `rediss+cluster://`) for a Redis Cluster,
   * `redis+sentinel://host:port,host:port/masterName` for Sentinel.
   */
  url: string;
  role: RedisRole;
  /** Connection name shown by `CLIENT LIST`. */
  connectionName?: string;
  /** The password when the URL carries none (`REDIS_PASSWORD`, from a Secret). @defaultValue none */
  password?: string | undefined;
  /** Receives reconnect warnings and connection errors; silent without it. */
  logger?: Logger;
}

/** Backoff between reconnects: 100 ms doubling to 5 s, with jitter, forever. */
export function reconnectDelay(attempt: number): number {
  const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 10));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableOfflineQueue: true }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
}

function hostsOf(list: string): { host: string; port: number }[] {
  return list.split(',').map((entry) => {
    const [host, port] = entry.split(':');
    return { host: host || '127.0.0.1', port: Number(port || 6379) };
  });
}

/**
 * The one factory for Redis connections: standalone, TLS, Cluster and Sentinel, reconnecting with
 * backoff. Every BullMQ queue, worker and event stream in Sluice gets its connection here. With a
 * logger, connection errors are logged as warnings (and never crash the process as unhandled
 * `error` events).
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis | Cluster {
  const connection = openConnection(options);
  const { logger } = options;
  if (logger) connection.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis error'));
  return connection;
}

function openConnection(options: RedisConnectionOptions): Redis | Cluster {
  const parsed = parseRedisUrl(options.url);
  const tls = parsed.protocol.startsWith('rediss') ? {} : undefined;
  const auth = { username: parsed.username, password: parsed.password ?? options.password };
  const base: RedisOptions = {
    ...roleOptions(options.role),
    ...auth,
    ...(tls ? { tls } : {}),
    connectionName: options.connectionName,
    retryStrategy: (attempt) => {
      options.logger?.warn({ attempt }, 'redis connection lost, reconnecting');
      return reconnectDelay(attempt);
    },
  };

  switch (parsed.protocol) {
    case 'redis+cluster:':
    case 'rediss+cluster:': {
      const clusterOptions: ClusterOptions = {
        redisOptions: base,
        enableOfflineQueue: base.enableOfflineQueue ?? true,
        clusterRetryStrategy: (attempt) => reconnectDelay(attempt),
      };
      return new Cluster(hostsOf(parsed.hosts), clusterOptions);
    }
    case 'redis+sentinel:': {
      if (!parsed.path)
        throw new SluiceError('CONFIG_INVALID', 'REDIS_URL: a Sentinel URL needs /masterName');
      return new Redis({ ...base, sentinels: hostsOf(parsed.hosts), name: parsed.path });
    }
    case 'redis:':
    case 'rediss:': {
      const [host] = hostsOf(parsed.hosts);
      return new Redis({ ...base, ...host, db: Number(parsed.path || 0) });
    }
    default:
      throw new SluiceError('CONFIG_INVALID', `REDIS_URL: unsupported protocol ${parsed.protocol}`);
  }
}

/**
 * Reads the server's `maxmemory-policy` (from `INFO memory`, which managed Redis services allow
 * even where `CONFIG` is disabled) and warns unless it is `noeviction`: any other policy may
 * silently evict queued jobs under memory pressure.
 * @returns the policy, or undefined when it could not be read
 */
export async function checkEvictionPolicy(
  redis: Redis | Cluster,
  logger: Logger,
): Promise<string | undefined> {
  try {
    const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
    let policy: string | undefined;
    for (const node of nodes) {
      const info = await node.info('memory');
      policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
      if (policy && policy !== 'noeviction') {
        logger.warn(
          { maxmemoryPolicy: policy },
          'Redis maxmemory-policy is not noeviction: queued jobs may be evicted under memory pressure',
        );
        return policy;
      }
    }
    return policy;
  } catch (err) {
    logger.warn({ err }, 'could not read Redis maxmemory-policy');
    return undefined;
  }
}
