import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pod } from './replica-set.js';

/** Options for {@link FrontProxy.start}. */
export interface FrontProxyOptions {
  /**
   * How long after a pod's termination starts (or after it turns ready) the front notices, as
   * kube-proxy and load balancers lag behind the endpoints controller. @defaultValue 1000
   */
  endpointDelayMs?: number;
}

/** One request the front could not answer well: a network error, or a 5xx status. */
export interface FrontFailure {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly backend: string | undefined;
  readonly status: number | undefined;
  readonly error: string | undefined;
}

/** What clients of the Service saw. */
export interface FrontStats {
  readonly sent: number;
  readonly failed: number;
  readonly worstLatencyMs: number;
  /** Requests per backend pod. */
  readonly byBackend: Readonly<Record<string, number>>;
  readonly failures: readonly FrontFailure[];
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/**
 * A Service in front of API pods: round-robin over the endpoints, one upstream connection per
 * request (as kube-proxy's per-connection balancing sees it), no retries. A pod becomes an
 * endpoint when it turns ready and stops being one when its termination starts, each only after
 * `endpointDelayMs`, the propagation delay of a real cluster. Counts what a client sees.
 */
export class FrontProxy {
  readonly url: string;
  readonly #server: Server;
  readonly #delayMs: number;
  readonly #endpoints = new Map<string, string>();
  readonly #byBackend = new Map<string, number>();
  readonly #failures: FrontFailure[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #next = 0;
  #sent = 0;
  #worst = 0;

  private constructor(server: Server, url: string, delayMs: number) {
    this.#server = server;
    this.url = url;
    this.#delayMs = delayMs;
    server.on('request', (req, res) => {
      const started = Date.now();
      this.#sent += 1;
      const backends = [...this.#endpoints];
      const chosen = backends.length ? backends[this.#next++ % backends.length] : undefined;
      const fail = (status: number | undefined, error: string | undefined) => {
        this.#failures.push({
          at: started,
          method: req.method ?? '',
          path: req.url ?? '',
          backend: chosen?.[0],
          status,
          error,
        });
      };
      const finish = () => (this.#worst = Math.max(this.#worst, Date.now() - started));
      if (!chosen) {
        fail(503, 'no endpoints');
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'NO_ENDPOINTS', message: 'the Service has no endpoints' } }));
        finish();
        return;
      }
      const [name, target] = chosen;
      this.#byBackend.set(name, (this.#byBackend.get(name) ?? 0) + 1);
      const upstream = httpRequest(
        `${target}${req.url ?? '/'}`,
        { method: req.method, headers: endToEnd(req.headers), agent: false },
        (answer) => {
          if ((answer.statusCode ?? 0) >= 500) fail(answer.statusCode, undefined);
          res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
          answer.pipe(res);
          answer.on('end', finish);
          answer.on('error', (err) => {
            fail(answer.statusCode, err.message);
            res.destroy(err);
          });
        },
      );
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        fail(undefined, err.code ?? err.message);
        finish();
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'BAD_GATEWAY', message: err.message } }));
        } else {
          res.destroy(err);
        }
      });
      req.pipe(upstream);
    });
  }

  /** Starts the front on a free loopback port. */
  static async start(options: FrontProxyOptions = {}): Promise<FrontProxy> {
    const server = createServer({ keepAlive: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return new FrontProxy(server, `http://127.0.0.1:${port}`, options.endpointDelayMs ?? 1000);
  }

  /** A {@link PodObserver} hook: routes to `pod` (or stops) after the propagation delay. */
  endpointChanged(pod: Pod, serving: boolean): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (serving && !pod.terminating) this.#endpoints.set(pod.name, pod.url);
      else this.#endpoints.delete(pod.name);
    }, this.#delayMs);
    this.#timers.add(timer);
  }

  /** Pods the front routes to now. */
  endpoints(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Counts so far. */
  stats(): FrontStats {
    return {
      sent: this.#sent,
      failed: this.#failures.length,
      worstLatencyMs: this.#worst,
      byBackend: Object.fromEntries(this.#byBackend),
      failures: [...this.#failures],
    };
  }

  /** Stops listening and drops its timers. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
