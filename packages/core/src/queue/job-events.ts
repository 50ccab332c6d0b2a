import { QueueEvents } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { INGEST_QUEUE } from '../contract/document-jobs.js';
import { createRedisConnection } from './redis-connection.js';

/** What happened to a job: it reported progress, or it ended. */
export type JobEventKind = 'progress' | 'completed' | 'failed';

/** Options for {@link JobEvents}. */
export interface JobEventsOptions {
  /** The connection whose server holds the queue (used to find where to start reading). */
  connection: Redis | Cluster;
  /** Where and how to open the blocking connection the events are read on. */
  redisUrl: string;
  redisPassword?: string | undefined;
  prefix: string;
  connectionName: string;
  /** Told about connection errors (ioredis reconnects by itself). */
  onError?: (err: Error) => void;
}

type Listener = (kind: JobEventKind) => void;

/**
 * The ingest queue's events, per job, for many listeners over one blocking connection: the API's
 * server-sent events and the SDK's waits. Listeners are told *that* something happened to a job;
 * they read its state themselves, so a missed or repeated notice never leaves them wrong.
 *
 * Opened on the first subscription; reading starts at the newest event that exists then, so
 * that nothing between subscribing and the first blocking read is lost.
 */
export class JobEvents {
  readonly #o: JobEventsOptions;
  readonly #listeners = new Map<string, Set<Listener>>();
  #events: Promise<QueueEvents> | undefined;
  #eventsConnection: Redis | Cluster | undefined;

  constructor(options: JobEventsOptions) {
    this.#o = options;
  }

  /**
   * Calls `listener` on every event of `jobId` from now on; resolves once listening, with the
   * function that stops it.
   */
  async subscribe(jobId: string, listener: Listener): Promise<() => void> {
    let set = this.#listeners.get(jobId);
    if (!set) this.#listeners.set(jobId, (set = new Set()));
    set.add(listener);
    const unsubscribe = () => {
      const current = this.#listeners.get(jobId);
      current?.delete(listener);
      if (current?.size === 0) this.#listeners.delete(jobId);
    };
    try {
      await this.#open();
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  /** Wakes every listener (e.g. to re-read after a reconnect). */
  notifyAll(kind: JobEventKind): void {
    for (const set of [...this.#listeners.values()]) for (const listener of [...set]) listener(kind);
  }

  async close(): Promise<void> {
    const events = await this.#events?.catch(() => undefined);
    this.#events = undefined;
    await events?.close();
    this.#eventsConnection?.disconnect();
  }

  #open(): Promise<QueueEvents> {
    this.#events ??= this.#start().catch((err: unknown) => {
      this.#events = undefined;
      throw err;
    });
    return this.#events;
  }

  async #start(): Promise<QueueEvents> {
    const { prefix } = this.#o;
    const newest = await this.#o.connection.xrevrange(
      `${prefix}:${INGEST_QUEUE}:events`,
      '+',
      '-',
      'COUNT',
      1,
    );
    const connection = createRedisConnection({
      url: this.#o.redisUrl,
      password: this.#o.redisPassword,
      role: 'worker',
      connectionName: this.#o.connectionName,
    });
    if (this.#o.onError) connection.on('error', this.#o.onError);
    this.#eventsConnection = connection;
    const events = new QueueEvents(INGEST_QUEUE, {
      connection,
      prefix,
      lastEventId: newest[0]?.[0] ?? '0-0',
    });
    if (this.#o.onError) events.on('error', this.#o.onError);
    const notify =
      (kind: JobEventKind) =>
      ({ jobId }: { jobId: string }) => {
        for (const listener of [...(this.#listeners.get(jobId) ?? [])]) listener(kind);
      };
    events.on('progress', notify('progress'));
    events.on('completed', notify('completed'));
    events.on('failed', notify('failed'));
    return events;
  }
}
