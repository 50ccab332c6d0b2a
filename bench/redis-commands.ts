/**
 * Counts the commands Redis receives, per client connection, with `MONITOR` on a Redis of the
 * benchmark's own (MONITOR sees every client, so a shared server would mix in other tests' work).
 * Each command a client sends counts once (an `EVALSHA` is one command, a `MULTI … EXEC` block is
 * its commands plus `MULTI` and `EXEC`); the commands a Lua script runs inside Redis are counted
 * apart, as `lua`. Connections are told apart by the name they gave Redis (`CLIENT SETNAME`),
 * read with `CLIENT LIST` when counting stops, while they are still open.
 */
import { Redis } from 'ioredis';

/** Who sent a command, by the name of its connection. */
export type RedisClientKind = 'worker' | 'sdk' | 'lua' | 'other';

/**
 * The SDK names its connections `sluice-sdk` and `sluice-sdk-events`, and BullMQ names the
 * SDK's QueueEvents connection `<prefix>:<queue>:qe`; the worker names its own `sluice-worker`,
 * and BullMQ its blocking connection `<prefix>:<queue>`. Unnamed connections are the benchmark's.
 */
export function clientKind(name: string): RedisClientKind {
  if (name.startsWith('sluice-sdk') || name.endsWith(':qe')) return 'sdk';
  return name ? 'worker' : 'other';
}

/** What {@link RedisCommandMonitor.stop} counted. */
export interface RedisCommandCounts {
  /** Commands by kind of sender. */
  total: Record<RedisClientKind, number>;
  /** Commands by connection name (`lua` for those run by scripts, `(unnamed)`), then by command. */
  byConnection: Record<string, Record<string, number>>;
}

/** A running `MONITOR`; {@link RedisCommandMonitor.stop} ends it and returns the counts. */
export class RedisCommandMonitor {
  readonly #client: Redis;
  readonly #monitor: Redis;
  /** Command counts by source address (`ip:port`, or `lua`). */
  readonly #bySource = new Map<string, Map<string, number>>();

  private constructor(client: Redis, monitor: Redis) {
    this.#client = client;
    this.#monitor = monitor;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const command = String(args[0]).toLowerCase();
      let counts = this.#bySource.get(source);
      if (!counts) this.#bySource.set(source, (counts = new Map<string, number>()));
      counts.set(command, (counts.get(command) ?? 0) + 1);
    });
  }

  /** Starts counting on the Redis at `url`. */
  static async start(url: string): Promise<RedisCommandMonitor> {
    const client = new Redis(url, { lazyConnect: true });
    await client.connect();
    const monitor = await client.monitor();
    return new RedisCommandMonitor(client, monitor);
  }

  /** Stops counting and attributes the counts to the connections still open. */
  async stop(): Promise<RedisCommandCounts> {
    const list = (await this.#client.client('LIST')) as string;
    this.#monitor.disconnect();
    this.#client.disconnect();
    const nameOf = new Map<string, string>();
    for (const line of list.trim().split('\n')) {
      const fields = new Map(
        line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      nameOf.set(fields.get('addr') ?? '', fields.get('name') ?? '');
    }
    const total: Record<RedisClientKind, number> = { worker: 0, sdk: 0, lua: 0, other: 0 };
    const byConnection: Record<string, Record<string, number>> = {};
    for (const [source, counts] of this.#bySource) {
      const name = source === 'lua' ? 'lua' : (nameOf.get(source) ?? '');
      const kind = source === 'lua' ? 'lua' : clientKind(name);
      const entry = (byConnection[name || '(unnamed)'] ??= {});
      for (const [command, n] of counts) {
        // The counting connection's own CLIENT LIST is not the system's.
        if (kind === 'other' && command === 'client') continue;
        entry[command] = (entry[command] ?? 0) + n;
        total[kind] += n;
      }
    }
    return { total, byConnection };
  }
}
