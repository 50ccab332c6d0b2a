import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestChroma } from '../support/chroma.js';
import type { TestRedis } from '../support/redis.js';
import type { Pod } from './replica-set.js';
import type { Deployment } from './rolling-update.js';

/** A fault the lab injected, for the report. */
export interface FaultRecord {
  readonly at: number;
  readonly kind: 'sigkill' | 'redis-restart' | 'chroma-restart' | 'redis-cut';
  readonly target: string;
  /** How long the dependency or link was down, when it applies. */
  readonly downMs?: number;
}

/** A seeded pseudo-random generator (mulberry32), so that a run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options for {@link killRandomPods}. */
export interface RandomKillOptions {
  /** How many containers to SIGKILL. */
  count: number;
  /** Pause before each kill, drawn uniformly from this range. */
  intervalMs: readonly [min: number, max: number];
  random: () => number;
  /** Only pods this accepts are candidates. @defaultValue ready pods */
  eligible?: (pod: Pod) => boolean;
  /** Stop early when this aborts. */
  signal?: AbortSignal;
}

/**
 * SIGKILLs the container of a random eligible pod at random moments (an OOM kill or a crash);
 * the pod's kubelet restarts it. Returns what it killed.
 */
export async function killRandomPods(
  deployment: Deployment,
  options: RandomKillOptions,
): Promise<FaultRecord[]> {
  const killed: FaultRecord[] = [];
  const eligible = options.eligible ?? ((pod: Pod) => pod.ready);
  const [min, max] = options.intervalMs;
  while (killed.length < options.count && !options.signal?.aborted) {
    await sleep(min + options.random() * (max - min));
    const candidates = deployment.activePods().filter(eligible);
    const victim = candidates[Math.floor(options.random() * candidates.length)];
    if (victim?.killContainer()) killed.push({ at: Date.now(), kind: 'sigkill', target: victim.name });
  }
  return killed;
}

/** Stops Redis (SIGTERM; its AOF keeps what it acknowledged), keeps it down `downMs`, starts it again. */
export async function restartRedis(redis: TestRedis, downMs: number): Promise<FaultRecord> {
  if (!redis.kill || !redis.revive)
    throw new Error('this Redis cannot be restarted: start it with startRedisProcess');
  const at = Date.now();
  await redis.kill();
  await sleep(downMs);
  await redis.revive();
  return { at, kind: 'redis-restart', target: redis.url, downMs: Date.now() - at };
}

/** Stops Chroma (its data stays), keeps it down `downMs`, starts it again. */
export async function restartChroma(chroma: TestChroma, downMs: number): Promise<FaultRecord> {
  if (!chroma.kill || !chroma.revive)
    throw new Error('this Chroma cannot be restarted: use startChroma({ dedicated: true })');
  const at = Date.now();
  await chroma.kill();
  await sleep(downMs);
  await chroma.revive();
  return { at, kind: 'chroma-restart', target: chroma.url, downMs: Date.now() - at };
}

/**
 * How a link fails: `reset` closes every connection and refuses new ones (a peer that went
 * away); `blackhole` keeps the connections but passes no byte either way (a partition: nothing
 * tells the client, its commands just hang), then lets everything through again.
 */
export type LinkFault = 'reset' | 'blackhole';

/**
 * A TCP relay between one process and a dependency (Redis), so that one pod's connection can be
 * cut while the others keep theirs.
 */
export class TcpLink {
  readonly port: number;
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<[Socket, Socket]>();
  #mode: 'open' | LinkFault = 'open';

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    this.port = (server.address() as AddressInfo).port;
    server.on('connection', (client) => this.#accept(client));
  }

  /** Starts a relay on a free loopback port to `target` (`redis://host:port`). */
  static async start(target: string): Promise<TcpLink> {
    const url = new URL(target);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpLink(server, { host: url.hostname, port: Number(url.port || 6379) });
  }

  /** The URL a process uses to reach the dependency through the relay. */
  url(protocol = 'redis'): string {
    return `${protocol}://127.0.0.1:${this.port}`;
  }

  /** Cuts the link for `downMs`, then restores it. */
  async cut(mode: LinkFault, downMs: number): Promise<FaultRecord> {
    const at = Date.now();
    this.#mode = mode;
    for (const [client, upstream] of this.#pairs) {
      if (mode === 'reset') {
        client.destroy();
        upstream.destroy();
      } else {
        client.pause();
        upstream.pause();
      }
    }
    await sleep(downMs);
    this.#mode = 'open';
    for (const [client, upstream] of this.#pairs) {
      client.resume();
      upstream.resume();
    }
    return { at, kind: 'redis-cut', target: `${mode} ${this.url()}`, downMs };
  }

  /** Closes the relay and every connection through it. */
  async close(): Promise<void> {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#mode === 'reset') {
      client.destroy();
      return;
    }
    const upstream = createConnection(this.#target);
    const pair: [Socket, Socket] = [client, upstream];
    this.#pairs.add(pair);
    if (this.#mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** One readiness answer seen by {@link watchReadiness}. */
export interface ReadinessSample {
  readonly pod: string;
  readonly at: number;
  /** The HTTP status, or 0 when the request failed or timed out. */
  readonly status: number;
}

/**
 * Polls `/api/health` of every running pod every `intervalMs` (with the manifest's 3 s probe
 * timeout), independently of the kubelet's probe period, so that a short outage cannot fall
 * between two probes. Stop it to get the samples.
 */
export function watchReadiness(
  pods: () => readonly Pod[],
  { intervalMs = 200, timeoutMs = 3000 } = {},
): () => Promise<ReadinessSample[]> {
  const samples: ReadinessSample[] = [];
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const loop = (async () => {
    while (!stopped) {
      for (const pod of pods()) {
        if (!pod.container || pod.terminating) continue;
        const at = Date.now();
        const probe = fetch(`${pod.url}/api/health`, { signal: AbortSignal.timeout(timeoutMs) })
          .then(async (res) => {
            await res.arrayBuffer();
            samples.push({ pod: pod.name, at, status: res.status });
          })
          .catch(() => void samples.push({ pod: pod.name, at, status: 0 }))
          .finally(() => inFlight.delete(probe));
        inFlight.add(probe);
      }
      await sleep(intervalMs);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    await Promise.all(inFlight);
    return samples.sort((a, b) => a.at - b.at);
  };
}
