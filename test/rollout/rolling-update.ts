import { setTimeout as sleep } from 'node:timers/promises';
import { rollingUpdateBounds, type DeploymentSpec, type HttpProbeSpec } from './deployment-spec.js';
import {
  ReplicaSet,
  kubeletRestartDelay,
  type Pod,
  type PodObserver,
  type PodTemplate,
  type PodTiming,
  type ProbeTiming,
  type TerminationRecord,
} from './replica-set.js';

/**
 * Where the lab departs from a Deployment's own timings. The full form uses none; the short
 * form compresses waits that only cost time (probe periods, `minReadySeconds`, preStop).
 */
export interface TimingOverrides {
  /** Readiness and startup probe period. @defaultValue the manifest's `periodSeconds` */
  probePeriodMs?: number;
  /** @defaultValue the manifest's `minReadySeconds` */
  minReadyMs?: number;
  /** @defaultValue the manifest's preStop sleep */
  preStopMs?: number;
  /** @defaultValue the manifest's `terminationGracePeriodSeconds` */
  terminationGraceMs?: number;
  /** First crash-loop back-off after the immediate first restart. @defaultValue 10000 (the kubelet's) */
  restartBackoffMs?: number;
}

/** Options for {@link Deployment}. */
export interface DeploymentOptions {
  /** The manifest's Deployment. */
  spec: DeploymentSpec;
  /** Desired pods. @defaultValue `spec.replicas`, else 3 (the worker's count belongs to KEDA) */
  replicas?: number;
  /** The first version's pods. */
  template: PodTemplate;
  timing?: TimingOverrides;
  /** Endpoint changes and a line per event (pod created, ready, deleted, exited, …). */
  observer?: PodObserver;
  /** How often the controller reconciles. @defaultValue 100 */
  syncIntervalMs?: number;
}

/** What one RollingUpdate (or scale) did and how long it took. */
export interface RolloutResult {
  readonly from: string;
  readonly to: string;
  readonly startedAt: number;
  /** When the Deployment counted as complete: every new pod available, no old pod left. */
  readonly completedAt: number;
  /** When the last old pod had exited (drains run past completion). */
  readonly drainedAt: number;
  readonly terminations: readonly TerminationRecord[];
}

/** A rollout or scale did not finish in time. */
export class RolloutTimeoutError extends Error {
  override readonly name = 'RolloutTimeoutError';
}

/**
 * A probe in milliseconds. With a shorter period the failure threshold grows so that the time a
 * probe tolerates failing (period × threshold: 60 s for the startup probes) stays the manifest's.
 */
function probeTiming(probe: HttpProbeSpec, periodMs: number | undefined): ProbeTiming {
  const manifestPeriodMs = probe.periodSeconds * 1000;
  const period = periodMs ?? manifestPeriodMs;
  return {
    path: probe.path,
    periodMs: period,
    timeoutMs: probe.timeoutSeconds * 1000,
    successThreshold: probe.successThreshold,
    failureThreshold: Math.max(
      probe.failureThreshold,
      Math.ceil((manifestPeriodMs * probe.failureThreshold) / period),
    ),
  };
}

/** Pod timings from a Deployment, with the lab's overrides. */
export function podTiming(spec: DeploymentSpec, overrides: TimingOverrides = {}): PodTiming {
  const backoff = overrides.restartBackoffMs;
  return {
    readiness: probeTiming(spec.readinessProbe, overrides.probePeriodMs),
    startup: spec.startupProbe ? probeTiming(spec.startupProbe, overrides.probePeriodMs) : undefined,
    minReadyMs: overrides.minReadyMs ?? spec.minReadySeconds * 1000,
    preStopMs: overrides.preStopMs ?? spec.preStopSleepSeconds * 1000,
    terminationGraceMs: overrides.terminationGraceMs ?? spec.terminationGracePeriodSeconds * 1000,
    restartDelayMs: (restarts) => kubeletRestartDelay(restarts, backoff),
  };
}

/**
 * A Deployment and its controller over real processes. A RollingUpdate follows the Deployment
 * controller's arithmetic (`pkg/controller/deployment/rolling.go`): the new ReplicaSet grows
 * while all ReplicaSets' desired pods stay within `replicas + maxSurge`; old ReplicaSets shrink
 * while available pods stay at least `replicas - maxUnavailable`, unhealthy old pods first. A
 * terminating pod no longer counts (Kubernetes' default pod replacement policy), so the next
 * surge pod starts while the previous old one drains. With `maxSurge: 1, maxUnavailable: 0`
 * that is: start a new pod, wait until it is available, delete an old one, repeat.
 */
export class Deployment {
  readonly spec: DeploymentSpec;
  readonly replicaSets: ReplicaSet[] = [];
  readonly rollouts: RolloutResult[] = [];
  #replicas: number;
  readonly #timing: PodTiming;
  readonly #observer: PodObserver;
  readonly #syncIntervalMs: number;
  #busy = false;

  constructor(options: DeploymentOptions) {
    this.spec = options.spec;
    this.#replicas = options.replicas ?? options.spec.replicas ?? 3;
    this.#timing = podTiming(options.spec, options.timing);
    this.#observer = options.observer ?? {};
    this.#syncIntervalMs = options.syncIntervalMs ?? 100;
    this.#newReplicaSet(options.template);
  }

  /** Desired pods. */
  get replicas(): number {
    return this.#replicas;
  }

  /** The newest ReplicaSet (the current version). */
  get current(): ReplicaSet {
    const rs = this.replicaSets.at(-1);
    if (!rs) throw new Error('no ReplicaSet');
    return rs;
  }

  /** Every pod of every revision, terminated ones included. */
  pods(): Pod[] {
    return this.replicaSets.flatMap((rs) => rs.pods);
  }

  /** Pods not terminating, across revisions. */
  activePods(): Pod[] {
    return this.replicaSets.flatMap((rs) => rs.active());
  }

  /**
   * Creates the first pods and resolves once all are available.
   * @throws Error with the container's output as soon as one exits with an error code
   */
  async start(timeoutMs = 60_000): Promise<void> {
    this.current.scale(this.#replicas);
    await this.#until(
      () => this.#healthy(this.current) && this.current.available().length >= this.#replicas,
      timeoutMs,
      'the first pods',
    );
  }

  /**
   * Replaces every pod by one of `template` with a RollingUpdate, resolving when the Deployment is
   * complete and every old pod has exited.
   * @throws RolloutTimeoutError after `timeoutMs`
   */
  async rollout(template: PodTemplate, timeoutMs = 300_000): Promise<RolloutResult> {
    return this.#exclusive(async () => {
      const from = this.current.template.release;
      const startedAt = Date.now();
      const next = this.#newReplicaSet(template);
      this.#observer.event?.(`rollout ${from} → ${template.release}`);
      await this.#until(
        () => this.#healthy(next) && this.#reconcile(next),
        timeoutMs,
        `the rollout to ${template.release}`,
      );
      const completedAt = Date.now();
      const terminations = (
        await Promise.all(this.replicaSets.filter((rs) => rs !== next).map((rs) => rs.terminations()))
      ).flat();
      const fresh = terminations.filter((t) => t.deletedAt >= startedAt);
      const result: RolloutResult = {
        from,
        to: template.release,
        startedAt,
        completedAt,
        drainedAt: Math.max(completedAt, ...fresh.map((t) => t.exitedAt)),
        terminations: fresh,
      };
      this.rollouts.push(result);
      return result;
    });
  }

  /**
   * Changes the desired count (a `kubectl scale` or an autoscaler). A scale-down deletes the
   * surplus pods, which get the same graceful termination as in a rollout; resolves once they
   * have exited and the remaining ones are available.
   */
  async scale(replicas: number, timeoutMs = 120_000): Promise<RolloutResult> {
    return this.#exclusive(async () => {
      const startedAt = Date.now();
      const release = this.current.template.release;
      this.#replicas = replicas;
      this.current.scale(replicas);
      await this.#until(() => this.current.available().length >= replicas, timeoutMs, `scale to ${replicas}`);
      const completedAt = Date.now();
      const terminations = (await this.current.terminations()).filter((t) => t.deletedAt >= startedAt);
      return {
        from: release,
        to: release,
        startedAt,
        completedAt,
        drainedAt: Math.max(completedAt, ...terminations.map((t) => t.exitedAt)),
        terminations,
      };
    });
  }

  /** SIGKILLs every pod, for cleanup. */
  async kill(): Promise<void> {
    await Promise.all(this.replicaSets.map((rs) => rs.kill()));
  }

  /**
   * A Deployment whose new pods crash-loop would never progress (Kubernetes reports
   * `ProgressDeadlineExceeded` after 10 minutes); the lab stops at the first crash instead and
   * shows why. Containers the lab SIGKILLed end by a signal and do not count.
   */
  #healthy(rs: ReplicaSet): boolean {
    for (const pod of rs.pods) {
      const crashed = pod.containers.find((c) => c.child.exitCode !== null && c.child.exitCode !== 0);
      if (crashed && !pod.terminating) {
        throw new Error(
          `${pod.name} (${pod.release}) exited with code ${crashed.child.exitCode} before it was ready:\n` +
            crashed.output().split('\n').slice(-15).join('\n'),
        );
      }
    }
    return true;
  }

  #newReplicaSet(template: PodTemplate): ReplicaSet {
    const rs = new ReplicaSet(
      `${this.spec.name}-${this.replicaSets.length + 1}`,
      template,
      this.#timing,
      this.#observer,
    );
    this.replicaSets.push(rs);
    return rs;
  }

  /** One pass of the Deployment controller; true once the rollout to `next` is complete. */
  #reconcile(next: ReplicaSet): boolean {
    const now = Date.now();
    const old = this.replicaSets.filter((rs) => rs !== next);
    const { maxSurge, maxUnavailable } = rollingUpdateBounds(this.spec, this.#replicas);
    const desiredTotal = () => this.replicaSets.reduce((sum, rs) => sum + rs.replicas, 0);

    // Scale up the new ReplicaSet within the surge.
    if (next.replicas < this.#replicas) {
      const room = this.#replicas + maxSurge - desiredTotal();
      if (room > 0) next.scale(Math.min(this.#replicas, next.replicas + room));
    }

    // Scale down old ReplicaSets without dropping below the minimum available.
    const minAvailable = this.#replicas - maxUnavailable;
    const newUnavailable = next.replicas - next.available(now).length;
    const maxScaledDown = desiredTotal() - minAvailable - newUnavailable;
    if (maxScaledDown > 0) {
      // Old pods that are not available cost no availability: they go first.
      let cleaned = 0;
      for (const rs of old) {
        const cut = Math.min(maxScaledDown - cleaned, rs.replicas - rs.available(now).length);
        if (cut > 0) {
          rs.scale(rs.replicas - cut);
          cleaned += cut;
        }
      }
      const availableNow = this.replicaSets.reduce((sum, rs) => sum + rs.available(now).length, 0);
      let scaleDown = availableNow - minAvailable;
      for (const rs of old) {
        if (scaleDown <= 0) break;
        const cut = Math.min(scaleDown, rs.replicas);
        if (cut > 0) {
          rs.scale(rs.replicas - cut);
          scaleDown -= cut;
        }
      }
    }

    return (
      next.replicas === this.#replicas &&
      next.available(now).length >= this.#replicas &&
      old.every((rs) => rs.replicas === 0 && rs.active().length === 0)
    );
  }

  async #until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline)
        throw new RolloutTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(this.#syncIntervalMs);
    }
  }

  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#busy) throw new Error(`${this.spec.name}: a rollout or scale is already running`);
    this.#busy = true;
    try {
      return await work();
    } finally {
      this.#busy = false;
    }
  }
}
