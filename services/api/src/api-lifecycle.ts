/** The API's shutdown phases, as `/api/health` and the request hooks see them. */
export type ApiPhase = 'serving' | 'draining' | 'closing' | 'closed';

/**
 * Where the API is on its way out. `draining`: readiness answers 503 so load balancers stop
 * sending, every route still serves, and every answer closes its connection. `closing`: the
 * listener is closed; requests that still arrive on kept-alive connections get 503
 * `SHUTTING_DOWN` (probes excepted) while requests in flight finish.
 */
export class ApiLifecycle {
  #phase: ApiPhase = 'serving';

  /** The current phase. */
  get phase(): ApiPhase {
    return this.#phase;
  }

  /** Whether readiness must answer 503 (any phase after `serving`). */
  get draining(): boolean {
    return this.#phase !== 'serving';
  }

  /** Whether new requests are refused. */
  get closing(): boolean {
    return this.#phase === 'closing' || this.#phase === 'closed';
  }

  /** Moves forward to `phase`; never back. */
  advance(phase: ApiPhase): void {
    const order: ApiPhase[] = ['serving', 'draining', 'closing', 'closed'];
    if (order.indexOf(phase) > order.indexOf(this.#phase)) this.#phase = phase;
  }
}
