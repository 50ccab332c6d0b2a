import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../support/ports.js';
import { startNode, type ServiceProcess } from '../support/processes.js';

/** What every pod of a ReplicaSet runs: one Node process, as a pod template describes it. */
export interface PodTemplate {
  /** The release marker (`SLUICE_RELEASE`): what tells the old version from the new one. */
  readonly release: string;
  /** The script `node` runs: absolute, or relative to the repository root. */
  readonly script: string;
  /** The container's environment (the port variable and `SLUICE_RELEASE` are added per pod). */
  readonly env: Readonly<Record<string, string>>;
  /** The variable that carries the port the probes reach: `HEALTH_PORT` or `PORT`. */
  readonly portVariable: string;
  /**
   * Extra environment for one pod, asked each time its container starts, e.g. a Redis URL that
   * runs through a fault proxy.
   */
  readonly podEnv?: (podName: string) => Promise<Record<string, string>> | Record<string, string>;
}

/** An HTTP probe in milliseconds, as the lab runs it. */
export interface ProbeTiming {
  readonly path: string;
  readonly periodMs: number;
  readonly timeoutMs: number;
  readonly successThreshold: number;
  readonly failureThreshold: number;
}

/** The timings of a pod's life, resolved from a Deployment (and compressed in the short form). */
export interface PodTiming {
  readonly readiness: ProbeTiming;
  /** Runs until it first succeeds; failing `failureThreshold` times in a row restarts the container. */
  readonly startup: ProbeTiming | undefined;
  /** How long a pod must stay ready before it counts as available (`minReadySeconds`). */
  readonly minReadyMs: number;
  /** The preStop hook's sleep, between deletion and SIGTERM. */
  readonly preStopMs: number;
  /** From deletion to SIGKILL (`terminationGracePeriodSeconds`, preStop included). */
  readonly terminationGraceMs: number;
  /** The kubelet's crash-loop back-off before restart number `restarts` (0-based). */
  readonly restartDelayMs: (restarts: number) => number;
}

/** Kubelet restart back-off: the first restart at once, then 10 s doubling to 5 minutes. */
export function kubeletRestartDelay(restarts: number, initialMs = 10_000): number {
  return restarts === 0 ? 0 : Math.min(300_000, initialMs * 2 ** (restarts - 1));
}

/** One answer of a probe. */
export interface ProbeResult {
  readonly at: number;
  /** The HTTP status, or 0 when the request failed or timed out. */
  readonly status: number;
}

/** How a pod's termination went. */
export interface TerminationRecord {
  readonly pod: string;
  readonly release: string;
  /** When the pod was deleted (its termination began). */
  readonly deletedAt: number;
  /** When SIGTERM was sent, after the preStop hook. */
  readonly sigtermAt: number | undefined;
  readonly exitedAt: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when it outlived the grace period and was SIGKILLed. */
  readonly killedAfterGrace: boolean;
}

/** Told when a pod starts or stops being a Service endpoint (ready and not terminating). */
export interface PodObserver {
  endpointChanged?(pod: Pod, serving: boolean): void;
  event?(line: string): void;
}

type PodPhase = 'pending' | 'running' | 'crashed' | 'terminating' | 'terminated';

/**
 * One pod: a container process with the kubelet around it. It probes the container (startup,
 * then readiness), restarts it when it dies outside a termination (crash-loop back-off), and on
 * deletion runs the preStop sleep, sends SIGTERM, and SIGKILLs it when the grace period ends.
 */
export class Pod {
  readonly name: string;
  readonly template: PodTemplate;
  readonly createdAt = Date.now();
  /** Every container the pod ran, restarts included (their logs are the lab's evidence). */
  readonly containers: ServiceProcess[] = [];
  /** Every readiness probe answer, in order. */
  readonly probes: ProbeResult[] = [];
  /** When the lab SIGKILLed a container of this pod, by container. */
  readonly kills = new Map<ServiceProcess, number>();
  /** Containers that died outside a termination (SIGKILL fault, crash). */
  restarts = 0;
  port = 0;
  #phase: PodPhase = 'pending';
  #ready = false;
  #readySince: number | undefined;
  #deletedAt: number | undefined;
  #termination: Promise<TerminationRecord> | undefined;
  readonly #timing: PodTiming;
  readonly #observer: PodObserver;
  #startupPassed = false;

  constructor(name: string, template: PodTemplate, timing: PodTiming, observer: PodObserver) {
    this.name = name;
    this.template = template;
    this.#timing = timing;
    this.#observer = observer;
  }

  /** The pod's release marker. */
  get release(): string {
    return this.template.release;
  }

  /** The container running now, if any. */
  get container(): ServiceProcess | undefined {
    const last = this.containers.at(-1);
    return last && last.child.exitCode === null && last.child.signalCode === null ? last : undefined;
  }

  /** The base URL of the container's port. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Whether the pod was deleted (its termination began). */
  get terminating(): boolean {
    return this.#deletedAt !== undefined;
  }

  /** Whether the termination is over. */
  get terminated(): boolean {
    return this.#phase === 'terminated';
  }

  /** Ready per its readiness probe and not terminating. */
  get ready(): boolean {
    return this.#ready && !this.terminating;
  }

  /** Ready for at least `minReadyMs`, so the Deployment counts it as available. */
  available(now = Date.now()): boolean {
    return this.ready && this.#readySince !== undefined && now - this.#readySince >= this.#timing.minReadyMs;
  }

  /** When the pod last became ready. */
  get readySince(): number | undefined {
    return this.ready ? this.#readySince : undefined;
  }

  /** Starts the first container and the probes. */
  async launch(): Promise<void> {
    this.port = await freePort();
    if (this.terminating) return;
    await this.#startContainer();
    void this.#probeLoop();
  }

  /**
   * SIGKILLs the running container, as an OOM kill or a node-level crash would. The pod stays;
   * the kubelet restarts the container after its back-off.
   * @returns false when no container was running
   */
  killContainer(): boolean {
    const container = this.container;
    if (!container || this.terminating) return false;
    this.kills.set(container, Date.now());
    container.signal('SIGKILL');
    return true;
  }

  /**
   * Deletes the pod as the API server and kubelet do: it stops being an endpoint at once, the
   * preStop hook sleeps, SIGTERM follows, and SIGKILL when `terminationGraceMs` (counted from
   * deletion) runs out. Resolves when the container is gone; calling again returns the same.
   */
  delete(): Promise<TerminationRecord> {
    this.#termination ??= this.#terminate();
    return this.#termination;
  }

  async #terminate(): Promise<TerminationRecord> {
    const deletedAt = Date.now();
    this.#deletedAt = deletedAt;
    const wasServing = this.#ready;
    this.#phase = 'terminating';
    if (wasServing) this.#observer.endpointChanged?.(this, false);
    this.#observer.event?.(`${this.name} deleted`);
    const container = this.container;
    if (!container) {
      this.#phase = 'terminated';
      return this.#record(deletedAt, undefined, deletedAt, null, null, false);
    }
    let killedAfterGrace = false;
    const grace = setTimeout(() => {
      killedAfterGrace = true;
      this.#observer.event?.(`${this.name} outlived its grace period: SIGKILL`);
      container.signal('SIGKILL');
    }, this.#timing.terminationGraceMs);
    let sigtermAt: number | undefined;
    const exitedEarly = await Promise.race([
      container.exited.then(() => true),
      sleep(this.#timing.preStopMs).then(() => false),
    ]);
    if (!exitedEarly) {
      sigtermAt = Date.now();
      container.signal('SIGTERM');
    }
    const { code, signal } = await container.exited;
    clearTimeout(grace);
    this.#phase = 'terminated';
    const record = this.#record(deletedAt, sigtermAt, Date.now(), code, signal, killedAfterGrace);
    this.#observer.event?.(
      `${this.name} exited ${signal ?? code} ${((record.exitedAt - deletedAt) / 1000).toFixed(1)} s after deletion`,
    );
    return record;
  }

  #record(
    deletedAt: number,
    sigtermAt: number | undefined,
    exitedAt: number,
    code: number | null,
    signal: NodeJS.Signals | null,
    killedAfterGrace: boolean,
  ): TerminationRecord {
    return {
      pod: this.name,
      release: this.release,
      deletedAt,
      sigtermAt,
      exitedAt,
      code,
      signal,
      killedAfterGrace,
    };
  }

  async #startContainer(): Promise<void> {
    if (this.terminating) return;
    const extra = (await this.template.podEnv?.(this.name)) ?? {};
    if (this.terminating) return;
    const container = startNode(this.template.script, {
      ...this.template.env,
      ...extra,
      [this.template.portVariable]: String(this.port),
      SLUICE_RELEASE: this.template.release,
    });
    this.containers.push(container);
    this.#phase = 'running';
    this.#startupPassed = this.#timing.startup === undefined;
    void container.exited.then(() => this.#onExit(container));
  }

  #onExit(container: ServiceProcess): void {
    if (this.terminating || container !== this.containers.at(-1)) return;
    this.#setReady(false);
    this.#phase = 'crashed';
    const delay = this.#timing.restartDelayMs(this.restarts);
    this.restarts += 1;
    this.#observer.event?.(
      `${this.name} container died (${container.child.signalCode ?? container.child.exitCode}); restart in ${delay} ms`,
    );
    void sleep(delay).then(async () => {
      if (!this.terminating) await this.#startContainer();
    });
  }

  #setReady(ready: boolean): void {
    if (ready === this.#ready) return;
    this.#ready = ready;
    this.#readySince = ready ? Date.now() : undefined;
    if (!this.terminating) this.#observer.endpointChanged?.(this, ready);
    this.#observer.event?.(`${this.name} ${ready ? 'ready' : 'not ready'}`);
  }

  async #probe(timing: ProbeTiming): Promise<number> {
    try {
      const res = await fetch(`${this.url}${timing.path}`, { signal: AbortSignal.timeout(timing.timeoutMs) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0;
    }
  }

  async #probeLoop(): Promise<void> {
    let successes = 0;
    let failures = 0;
    while (!this.terminated) {
      if (this.#phase !== 'running' && this.#phase !== 'terminating') {
        successes = 0;
        failures = 0;
        await sleep(50);
        continue;
      }
      if (!this.#startupPassed && this.#timing.startup) {
        const startup = this.#timing.startup;
        const status = await this.#probe(startup);
        if (status >= 200 && status < 400) {
          this.#startupPassed = true;
          continue;
        }
        failures += 1;
        if (failures >= startup.failureThreshold) {
          this.#observer.event?.(`${this.name} failed its startup probe: restarting the container`);
          failures = 0;
          this.container?.signal('SIGKILL');
        }
        await sleep(startup.periodMs);
        continue;
      }
      const readiness = this.#timing.readiness;
      const status = await this.#probe(readiness);
      this.probes.push({ at: Date.now(), status });
      if (status >= 200 && status < 400) {
        failures = 0;
        successes += 1;
        if (successes >= readiness.successThreshold) this.#setReady(true);
      } else {
        successes = 0;
        failures += 1;
        if (failures >= readiness.failureThreshold) this.#setReady(false);
      }
      await sleep(readiness.periodMs);
    }
  }
}

/**
 * Pods of one template (one "version"), kept at a desired count as a ReplicaSet controller
 * does: missing pods are created, surplus pods deleted in Kubernetes' order of preference
 * (not yet running, then not ready, then ready for the shortest time, then most restarted,
 * then newest). Terminating pods no longer count towards the desired number.
 */
export class ReplicaSet {
  readonly name: string;
  readonly template: PodTemplate;
  /** Every pod this ReplicaSet ever created. */
  readonly pods: Pod[] = [];
  #replicas = 0;
  #created = 0;
  readonly #timing: PodTiming;
  readonly #observer: PodObserver;
  readonly #terminations: Promise<TerminationRecord>[] = [];

  constructor(name: string, template: PodTemplate, timing: PodTiming, observer: PodObserver) {
    this.name = name;
    this.template = template;
    this.#timing = timing;
    this.#observer = observer;
  }

  /** The desired count (`spec.replicas`). */
  get replicas(): number {
    return this.#replicas;
  }

  /** Pods not terminating. */
  active(): Pod[] {
    return this.pods.filter((p) => !p.terminating);
  }

  /** Active pods that are available (ready for `minReadyMs`). */
  available(now = Date.now()): Pod[] {
    return this.active().filter((p) => p.available(now));
  }

  /** Sets the desired count and creates or deletes pods to reach it. */
  scale(replicas: number): void {
    if (replicas !== this.#replicas)
      this.#observer.event?.(`${this.name} scaled ${this.#replicas} → ${replicas}`);
    this.#replicas = replicas;
    const active = this.active();
    for (let i = active.length; i < replicas; i++) {
      this.#created += 1;
      const pod = new Pod(`${this.name}-${this.#created}`, this.template, this.#timing, this.#observer);
      this.pods.push(pod);
      this.#observer.event?.(`${pod.name} created`);
      void pod.launch();
    }
    if (active.length > replicas) {
      for (const pod of rankForDeletion(active).slice(0, active.length - replicas)) {
        this.#terminations.push(pod.delete());
      }
    }
  }

  /** Waits until every pod deleted so far has exited. */
  async terminations(): Promise<TerminationRecord[]> {
    return Promise.all(this.#terminations);
  }

  /** SIGKILLs every container, for cleanup; no grace. */
  async kill(): Promise<void> {
    await Promise.all(
      this.pods.map(async (pod) => {
        const running = pod.container;
        const termination = pod.delete();
        running?.signal('SIGKILL');
        await termination;
      }),
    );
  }
}

/** Kubernetes' preference for which pods a scale-down deletes first. */
function rankForDeletion(pods: Pod[]): Pod[] {
  const key = (p: Pod) => [
    p.container ? 1 : 0,
    p.ready ? 1 : 0,
    -(p.readySince ?? 0),
    -p.restarts,
    -p.createdAt,
  ];
  return [...pods].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const d = (ka[i] ?? 0) - (kb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
}
