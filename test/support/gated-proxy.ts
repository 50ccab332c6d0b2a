import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy is holding back. */
interface HeldRequest {
  readonly method: string;
  readonly path: string;
  /** Forwards the request now, if its client is still waiting. */
  forward(): void;
}

/**
 * An HTTP proxy in front of a real server that can hold chosen requests back, the way a slow or
 * overloaded server would: a held request reaches the server only when released, and never
 * reaches it if its client gave up (closed the connection) meanwhile. This is how a test puts a
 * write "in flight" on purpose and decides when, or whether, it lands.
 */
export class GatedProxy {
  readonly #server: Server;
  readonly #target: URL;
  #hold: ((method: string, path: string) => boolean) | undefined;
  #fail:
    | { match: (method: string, path: string) => boolean; left: number; status: number; body: string }
    | undefined;
  readonly #held: HeldRequest[] = [];
  readonly #heldWaiters: (() => void)[] = [];
  /** Held requests whose client went away before they were released. */
  dropped = 0;
  /** Held requests that were released and reached the server. */
  forwarded = 0;
  /** Requests answered with an error by {@link failNext} instead of reaching the server. */
  failed = 0;

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        let clientGone = false;
        res.on('close', () => {
          if (!res.writableFinished) clientGone = true;
        });
        const forward = () => {
          const upstream = httpRequest(
            {
              host: this.#target.hostname,
              port: this.#target.port,
              method: req.method,
              path: req.url,
              headers: { ...req.headers, host: this.#target.host },
            },
            (answer: IncomingMessage) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              answer.pipe(res);
            },
          );
          upstream.on('error', () => res.destroy());
          upstream.end(body);
        };
        const method = req.method ?? 'GET';
        const path = req.url ?? '/';
        const fail = this.#fail;
        if (fail && fail.left > 0 && fail.match(method, path)) {
          fail.left -= 1;
          this.failed += 1;
          res.writeHead(fail.status, { 'content-type': 'application/json' }).end(fail.body);
          return;
        }
        if (!this.#hold?.(method, path)) {
          forward();
          return;
        }
        this.#held.push({
          method,
          path,
          forward: () => {
            if (clientGone) {
              this.dropped += 1;
              return;
            }
            this.forwarded += 1;
            forward();
          },
        });
        for (const wake of this.#heldWaiters.splice(0)) wake();
      });
    });
  }

  /** Starts a proxy to `target` on a free port. */
  static async start(target: string): Promise<GatedProxy> {
    const proxy = new GatedProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The proxy's base URL. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Holds every request from now on that `match` picks, until {@link release}. */
  holdWhen(match: (method: string, path: string) => boolean): void {
    this.#hold = match;
  }

  /**
   * Answers the next `count` requests that `match` picks with `status` and `body` itself, the way
   * a server failing now and then would; they never reach the server.
   */
  failNext(
    match: (method: string, path: string) => boolean,
    count: number,
    status: number,
    body: unknown,
  ): void {
    this.#fail = { match, left: count, status, body: JSON.stringify(body) };
  }

  /** Resolves once at least `count` requests are being held. */
  async held(count = 1): Promise<void> {
    while (this.#held.length < count) await new Promise<void>((resolve) => this.#heldWaiters.push(resolve));
  }

  /** Stops holding new requests and sends on those held whose client still waits. */
  release(): void {
    this.#hold = undefined;
    for (const request of this.#held.splice(0)) request.forward();
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Chroma's record-write routes: upsert, add, update and delete. */
export function isChromaWrite(method: string, path: string): boolean {
  return method === 'POST' && /\/collections\/[^/]+\/(upsert|add|update|delete)$/.test(path);
}

/** Chroma's similarity-query route. */
export function isChromaQuery(method: string, path: string): boolean {
  return method === 'POST' && /\/collections\/[^/]+\/query$/.test(path);
}
