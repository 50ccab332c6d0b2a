import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IngestRequest } from '@sluice/core/queue';
import { corpusPath, inlineText } from '../support/documents.js';
import { HOSTILE_DOCX, HOSTILE_HTML } from '../support/hostile-documents.js';
import { HOSTILE_PDFS } from '../support/hostile-pdfs.js';
import { mintToken } from '../support/stack.js';
import { startApiLoad } from './api-load.js';
import { API_DEPLOYMENT, loadDeploymentSpec } from './deployment-spec.js';
import { runningJobs, workerEvidence, type ExpectedDocument } from './evidence.js';
import {
  TcpLink,
  killRandomPods,
  restartChroma,
  restartRedis,
  seededRandom,
  watchReadiness,
  type FaultRecord,
  type ReadinessSample,
} from './faults.js';
import { FrontProxy } from './front-proxy.js';
import { Lab, type LabSettings } from './lab.js';
import { startRedisCluster } from './redis-cluster.js';
import type { ScenarioReport } from './report.js';
import type { RolloutResult } from './rolling-update.js';
import {
  corpusFiles,
  interleave,
  stageFiles,
  type CorpusFile,
  type CorpusSelection,
  type Submission,
} from './workload.js';

/** One scenario of the lab: a way a cluster breaks things, and the guarantees that must hold. */
export interface Scenario {
  /** CLI name (`--scenario NAME`). */
  readonly name: string;
  readonly guarantees: string;
  /** One line saying what happens. */
  readonly title: string;
  run(settings: LabSettings): Promise<ScenarioReport>;
}

/** A corpus selection's files, PDFs interleaved with the Markdown. */
async function slice(selection: CorpusSelection): Promise<CorpusFile[]> {
  const files = await corpusFiles(selection);
  const pdfs = files.filter((f) => f.docId.endsWith('.pdf'));
  return interleave(
    files.filter((f) => !f.docId.endsWith('.pdf')),
    pdfs,
  );
}

/** Guarantees of a worker RollingUpdate: every old pod exited 0 within its grace period. */
function drainViolations(rollouts: readonly RolloutResult[]): string[] {
  return rollouts.flatMap((r) =>
    r.terminations
      .filter((t) => t.code !== 0 || t.killedAfterGrace)
      .map(
        (t) =>
          `${t.pod} (${t.release}) ended with ${t.signal ?? t.code}${t.killedAfterGrace ? ' after its grace period' : ''}`,
      ),
  );
}

function rolloutNotes(rollouts: readonly RolloutResult[]): string[] {
  return rollouts.map(
    (r) =>
      `rollout ${r.from} → ${r.to}: complete after ${((r.completedAt - r.startedAt) / 1000).toFixed(1)} s, ` +
      `old pods gone after ${((r.drainedAt - r.startedAt) / 1000).toFixed(1)} s`,
  );
}

/** Scenario 1: two RollingUpdates in a row while a corpus slice is ingested. */
const rolloutTwice: Scenario = {
  name: 'rollout-twice',
  guarantees: 'G1+G2',
  title: 'ingest a corpus slice while every worker is replaced by a RollingUpdate, twice in a row',
  async run(settings) {
    const lab = await Lab.open('rollout-twice', settings);
    try {
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.corpus));
      const workers = await lab.workers();
      const rolling = (async () => {
        await sleep(lab.profile.warmupMs);
        const first = await workers.rollout(lab.workerTemplate(lab.release(1)));
        return [first, await workers.rollout(lab.workerTemplate(lab.release(2)))];
      })();
      const { accepted: submissions, refused } = await lab.feed(requests, rolling);
      const rollouts = await rolling;
      await lab.settle(submissions.map((s) => s.jobId));
      const violations = drainViolations(rollouts);
      const newest = workers.current.active()[0];
      const metrics = newest ? await (await fetch(`${newest.url}/metrics`)).text() : '';
      const buildInfo = `sluice_build_info{version="${lab.release(2)}"} 1`;
      if (!metrics.includes(buildInfo)) {
        violations.push(`the new workers' /metrics do not carry ${buildInfo}`);
      }
      const releases = workerEvidence(lab.pods()).releases;
      for (const n of [0, 1, 2]) {
        if (!releases.includes(lab.release(n)))
          violations.push(`no worker log line carries release ${lab.release(n)}`);
      }
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions,
        refused,
        expected: await lab.expected.ofAll(submissions.map((s) => s.request)),
        rollouts,
        boundRedoneWork: true,
        violations,
        notes: rolloutNotes(rollouts),
      });
    } finally {
      await lab.close();
    }
  },
};

/** Scenario 2: random SIGKILLs of workers during ingestion. */
const sigkill: Scenario = {
  name: 'sigkill',
  guarantees: 'G3',
  title: 'SIGKILL random workers at random moments during ingestion',
  async run(settings) {
    const lab = await Lab.open('sigkill', settings);
    try {
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.faultCorpus));
      const workers = await lab.workers();
      const short = lab.profile.form === 'short';
      const killing = (async () => {
        await sleep(lab.profile.warmupMs);
        return killRandomPods(workers, {
          count: short ? 3 : 6,
          intervalMs: short ? [1000, 2500] : [5000, 15_000],
          random: seededRandom(settings.seed),
          eligible: (pod) => pod.ready && pod.container !== undefined,
        });
      })();
      const { accepted, refused } = await lab.feed(requests, killing);
      const faults = await killing;
      await lab.settle(accepted.map((s) => s.jobId));
      const killed = workerEvidence(lab.pods()).interruptedByKill;
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
        rollouts: [],
        faults,
        boundRedoneWork: true,
        notes: [`${faults.length} containers SIGKILLed; ${killed} jobs were running in them`],
      });
    } finally {
      await lab.close();
    }
  },
};

/** Every file of the hostile corpus (PDF, DOCX, HTML): its docId in the lab, and its outcome. */
function hostileCorpus(): { path: string; docId: string; expected: string }[] {
  return [
    ...HOSTILE_PDFS.map(([file, expected]) => ({ dir: 'pdf/hostile', file, expected })),
    ...Object.entries(HOSTILE_DOCX).map(([file, expected]) => ({ dir: 'docx/hostile', file, expected })),
    ...Object.entries(HOSTILE_HTML).map(([file, expected]) => ({ dir: 'html/hostile', file, expected })),
  ].map(({ dir, file, expected }) => ({
    path: corpusPath(`${dir}/${file}`),
    docId: `hostile/${dir.split('/')[0]}/${file}`,
    expected,
  }));
}

/** Scenario 3: the hostile corpus mixed into a stream of good documents. */
const hostile: Scenario = {
  name: 'hostile',
  guarantees: 'G4',
  title: 'every hostile PDF, DOCX and HTML file mixed into a stream of good documents',
  async run(settings) {
    const lab = await Lab.open('hostile', settings);
    try {
      const short = lab.profile.form === 'short';
      const good = short
        ? await corpusFiles({ markdown: ['markdown/en/docs/concepts/workloads'], pdfs: ['bitcoin.pdf'] })
        : await slice(lab.profile.faultCorpus);
      const bad = hostileCorpus();
      const requests = await stageFiles(
        lab.storageDir,
        lab.collection,
        interleave(
          good,
          bad.map(({ path, docId }) => ({ path, docId })),
        ),
      );
      const workers = await lab.workers({
        // Short enough that bomb_giant.pdf times out within the scenario (as in test/worker).
        template: lab.workerTemplate(lab.release(0), {
          env: short ? { PARSE_TIMEOUT_MS: '10000', PARSE_MAX_MEMORY_MB: '512' } : {},
        }),
      });
      const { accepted, refused } = await lab.submit(requests, short ? 2000 : 30_000);
      await lab.settle(accepted.map((s) => s.jobId));
      const expectedFailures = new Map<string, string>();
      const okRequests: IngestRequest[] = [];
      for (const submission of accepted) {
        const entry = bad.find(({ docId }) => submission.request.docId === docId);
        if (entry && entry.expected !== 'ok') expectedFailures.set(submission.jobId, entry.expected);
        else okRequests.push(submission.request);
      }
      const violations = workers
        .pods()
        .filter((p) => p.restarts > 0)
        .map((p) => `${p.name}'s container died ${p.restarts} times: a hostile file took a worker down`);
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(okRequests),
        rollouts: [],
        expectedFailures,
        violations,
        notes: [`${bad.length} hostile files, ${expectedFailures.size} of them expected to fail`],
      });
    } finally {
      await lab.close();
    }
  },
};

/** Which pods answered readiness with a failure between `from` and `to`. */
function notReadyDuring(
  samples: readonly ReadinessSample[],
  from: number,
  to: number,
): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const s of samples) {
    if (s.at < from || s.at > to || (s.status >= 200 && s.status < 400)) continue;
    seen.set(s.pod, [...(seen.get(s.pod) ?? []), s.status]);
  }
  return seen;
}

/** Scenario 4: Redis restarted, Chroma restarted and one worker's Redis link cut, mid-ingest. */
const dependencies: Scenario = {
  name: 'dependencies',
  guarantees: 'G5',
  title: 'Redis restarted (AOF), Chroma restarted and one worker cut off from Redis, all mid-ingest',
  async run(settings) {
    // A Redis and a Chroma of the scenario's own, to restart.
    const lab = await Lab.open('dependencies', settings, { redis: 'dedicated', chroma: 'dedicated' });
    try {
      const redis = lab.stack.redisServer!;
      const chroma = lab.stack.chromaServer!;
      const short = lab.profile.form === 'short';
      const downMs = short ? 2500 : 10_000;
      const link = await TcpLink.start(redis.url);
      lab.defer(() => link.close());
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.faultCorpus));
      const cutPod = `${lab.workerSpec.name}-1-1`;
      const workers = await lab.workers({
        template: lab.workerTemplate(lab.release(0), {
          podEnv: (pod): Record<string, string> => (pod === cutPod ? { REDIS_URL: link.url() } : {}),
        }),
      });
      const stopWatching = watchReadiness(() => workers.activePods());
      const faults: FaultRecord[] = [];
      const violations: string[] = [];
      const notes: string[] = [];
      const recovered = async (after: string) => {
        const started = Date.now();
        while (!workers.activePods().every((p) => p.ready)) {
          if (Date.now() - started > 60_000) {
            violations.push(`the workers were not all ready again 60 s after the ${after}`);
            return;
          }
          await sleep(100);
        }
        notes.push(`every worker ready again ${Date.now() - started} ms after the ${after} ended`);
      };
      const injecting = (async () => {
        await sleep(lab.profile.warmupMs);
        faults.push(await restartRedis(redis, downMs));
        await recovered('Redis restart');
        await sleep(short ? 1000 : 5000);
        faults.push(await restartChroma(chroma, downMs));
        await recovered('Chroma restart');
        await sleep(short ? 1000 : 5000);
        // Longer than the lock and a stalled check: the cut-off worker's jobs stall and move on.
        faults.push(await link.cut('blackhole', short ? 4000 : 20_000));
        await recovered('Redis link cut');
      })();
      const { accepted, refused } = await lab.feed(requests, injecting);
      await injecting;
      await lab.settle(accepted.map((s) => s.jobId));
      const samples = await stopWatching();
      for (const fault of faults) {
        const failing = notReadyDuring(samples, fault.at, fault.at + (fault.downMs ?? 0));
        const answers = [...failing.values()].flat();
        if (fault.kind !== 'redis-cut' && !answers.includes(503)) {
          violations.push(`no worker answered readiness 503 while ${fault.kind} was in progress`);
        }
        if (fault.kind === 'redis-cut' && !failing.get(cutPod)?.includes(503)) {
          violations.push(`${cutPod} did not answer readiness 503 while cut off from Redis`);
        }
        notes.push(
          `${fault.kind}: readiness failures ${[...failing].map(([pod, s]) => `${pod} ${s.length}× (${[...new Set(s)].join('/')})`).join(', ') || 'none'}`,
        );
      }
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
        rollouts: [],
        faults,
        retriesAllowed: true,
        violations,
        notes,
      });
    } finally {
      await lab.close();
    }
  },
};

/** Scenario 5: a RollingUpdate of the API under steady HTTP load through the front. */
const apiRollout: Scenario = {
  name: 'api-rollout',
  guarantees: 'G6',
  title: 'RollingUpdate of the API under steady uploads, status and query requests through a Service',
  async run(settings) {
    const lab = await Lab.open('api-rollout', settings);
    try {
      const short = lab.profile.form === 'short';
      const apiSpec = loadDeploymentSpec(API_DEPLOYMENT);
      // Longer than the short form's 1 s preStop: requests still arrive once SIGTERM came, and
      // the API's own SHUTDOWN_DELAY_MS has to keep serving them.
      const front = await FrontProxy.start({ endpointDelayMs: short ? 1500 : 1000 });
      lab.defer(() => front.close());
      await lab.workers({ replicas: short ? 2 : lab.profile.workerReplicas });
      const apis = await lab.apis({ observer: front });
      const deadline = Date.now() + 30_000;
      while (front.endpoints().length < apis.replicas && Date.now() < deadline) await sleep(100);
      // Documents a clean run can index: the load counts any answer but 202 to an upload as failed.
      const candidates = await corpusFiles({ markdown: lab.profile.corpus.markdown, pdfs: [] });
      const staged = await stageFiles(lab.storageDir, lab.collection, candidates);
      const indexable = new Set(
        (await lab.expected.ofAll(staged)).filter((d) => !d.failure).map((d) => d.docId),
      );
      const files = candidates.filter((f) => indexable.has(f.docId)).slice(0, short ? 40 : 400);
      const stopLoad = startApiLoad({
        url: front.url,
        token: mintToken({ collections: [lab.collection] }),
        collection: lab.collection,
        files,
        clients: short ? 3 : 6,
      });
      await sleep(short ? 1000 : 5000);
      const rollout = await apis.rollout(lab.apiTemplate(apiSpec, `${apiSpec.version}-r1`));
      await sleep(short ? 500 : 5000);
      const load = await stopLoad();
      const requestsByDoc = new Map(staged.map((r) => [r.docId, r]));
      const submissions: Submission[] = [...load.accepted].map(([docId, jobId]) => ({
        request: requestsByDoc.get(docId)!,
        jobId,
        acceptedAt: 0,
      }));
      await lab.settle(submissions.map((s) => s.jobId));
      const proxy = front.stats();
      const violations = [
        ...drainViolations([rollout]),
        ...load.failures
          .slice(0, 5)
          .map(
            (f) =>
              `${f.kind} failed at +${((f.at - rollout.startedAt) / 1000).toFixed(1)} s of the rollout: ${f.status ?? ''} ${f.error ?? ''}`,
          ),
        ...(load.failed > 5 ? [`… ${load.failed - 5} more failed requests`] : []),
        ...(proxy.failed && !load.failed ? [`the front saw ${proxy.failed} failed requests`] : []),
      ];
      if (Object.keys(proxy.byBackend).filter((name) => name.startsWith(`${apiSpec.name}-2-`)).length === 0) {
        violations.push('no request reached a new API pod');
      }
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions,
        refused: 0,
        expected: await lab.expected.ofAll(submissions.map((s) => s.request)),
        rollouts: [rollout],
        api: { sent: load.sent, failed: load.failed, worstLatencyMs: load.worstLatencyMs },
        violations,
        notes: [
          ...rolloutNotes([rollout]),
          `requests by kind: ${JSON.stringify(load.byKind)}; by API pod: ${JSON.stringify(proxy.byBackend)}`,
        ],
      });
    } finally {
      await lab.close();
    }
  },
};

/** A version of a Markdown text: one paragraph dropped, one revision paragraph appended. */
function versionOf(text: string, docId: string, version: number): string {
  const paragraphs = text.split(/\n{2,}/);
  const dropped = (version * 7) % Math.max(1, paragraphs.length);
  const kept = paragraphs.filter((_, i) => version === 0 || i !== dropped);
  const words = Array.from(
    { length: 40 + version * 25 },
    (_, i) => `rev${version}w${(i * 31 + version) % 97}`,
  );
  return `${kept.join('\n\n')}\n\nRevision ${version} of ${docId}: ${words.join(' ')}\n`;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Scenario 6: changing versions of the same documents uploaded repeatedly during a worker rollout. */
const versions: Scenario = {
  name: 'versions',
  guarantees: 'G7',
  title: 'repeated uploads of changing versions of the same documents during a worker rollout',
  async run(settings) {
    const lab = await Lab.open('versions', settings);
    try {
      const short = lab.profile.form === 'short';
      const files = (await corpusFiles({ markdown: lab.profile.corpus.markdown, pdfs: [] })).slice(
        0,
        short ? 6 : 40,
      );
      const rounds = short ? 5 : 6;
      const texts = await Promise.all(
        files.map(async (f) => (await readFile(f.path, 'utf8')).slice(0, 60_000)),
      );
      const workers = await lab.workers();
      const submissions: Submission[] = [];
      let refused = 0;
      const last = new Map<string, IngestRequest>();
      const versionOfHash = new Map<string, number>();
      const submitting = (async () => {
        for (let version = 0; version < rounds; version++) {
          // Each round in a different order, so that versions of a document race on different workers.
          const order = shuffled(
            files.map((_, i) => i),
            seededRandom(settings.seed + version),
          );
          const round = order.map((i) =>
            inlineText(lab.collection, files[i]!.docId, versionOf(texts[i]!, files[i]!.docId, version)),
          );
          const { accepted, refused: r } = await lab.submit(round, short ? 600 : 4000);
          submissions.push(...accepted);
          refused += r;
          for (const request of round) {
            last.set(request.docId, request);
            versionOfHash.set(request.contentHash, version);
          }
          await sleep(short ? 300 : 3000);
        }
      })();
      await sleep(short ? 800 : 5000);
      const rollout = await workers.rollout(lab.workerTemplate(lab.release(1)));
      await submitting;
      await lab.settle(submissions.map((s) => s.jobId));
      const expected: ExpectedDocument[] = await lab.expected.ofAll([...last.values()]);
      const violations = drainViolations([rollout]);
      // What GET /v1/collections/{c}/documents answers: the version the workers recorded as
      // indexed, else the one the chunks' metadata suggests (services/api document-routes.ts).
      const indexed = new Map(
        [...(await lab.documents.indexedRecords(lab.collection))].map(([docId, r]) => [docId, r.contentHash]),
      );
      const listed = new Map(
        (await lab.store.listDocuments(lab.collection)).map((d) => [d.docId, d.contentHash]),
      );
      const versionNames = new Map(
        submissions.map((s) => [
          s.request.contentHash,
          `v${versionOfHash.get(s.request.contentHash) ?? '?'}`,
        ]),
      );
      const name = (hash: string | undefined) =>
        hash ? (versionNames.get(hash) ?? hash.slice(0, 12)) : 'none';
      // Submissions of one document are rounds apart, so the last one accepted is the last one sent.
      const lastJob = new Map(submissions.map((s) => [s.request.docId, s.jobId]));
      for (const [docId, request] of last) {
        const latest = await lab.documents.latest(lab.collection, docId);
        if (latest?.jobId !== lastJob.get(docId)) {
          violations.push(
            `${docId}: the latest submission recorded is job ${latest?.jobId ?? 'none'}, not the last one sent (${lastJob.get(docId)}, ${name(request.contentHash)})`,
          );
        }
        const reported = indexed.get(docId) ?? listed.get(docId);
        if (reported !== request.contentHash) {
          violations.push(
            `${docId}: GET /v1/collections/{c}/documents reports version ${name(reported)}, not ${name(request.contentHash)} ` +
              `(the last submitted and the one whose chunks are stored); the indexed version is ${indexed.has(docId) ? name(indexed.get(docId)) : 'never recorded'}`,
          );
        }
      }
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions,
        refused,
        expected,
        rollouts: [rollout],
        violations,
        notes: [...rolloutNotes([rollout]), `${files.length} documents × ${rounds} versions`],
      });
    } finally {
      await lab.close();
    }
  },
};

/** Scenario 7: workers scaled from 3 to 1 mid-ingest. */
const scaleDown: Scenario = {
  name: 'scale-down',
  guarantees: 'G1+G2',
  title: 'scale the workers from 3 to 1 mid-ingest (SIGTERM to the removed ones)',
  async run(settings) {
    const lab = await Lab.open('scale-down', settings);
    try {
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.faultCorpus));
      const workers = await lab.workers({ replicas: 3 });
      const scaling = (async () => {
        await sleep(lab.profile.warmupMs);
        // Mid-ingest: every worker holds a job when two of them are told to go.
        const deadline = Date.now() + 15_000;
        while (!workers.activePods().every((p) => runningJobs(p).size > 0) && Date.now() < deadline) {
          await sleep(50);
        }
        return workers.scale(1);
      })();
      const { accepted, refused } = await lab.feed(requests, scaling);
      const scaled = await scaling;
      await lab.settle(accepted.map((s) => s.jobId));
      const violations = drainViolations([scaled]);
      if (scaled.terminations.length !== 2)
        violations.push(`${scaled.terminations.length} pods were removed, not 2`);
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
        rollouts: [scaled],
        boundRedoneWork: true,
        violations,
      });
    } finally {
      await lab.close();
    }
  },
};

/** Scenario 8: scenario 1's slice on a three-master Redis Cluster, with one rollout. */
const redisCluster: Scenario = {
  name: 'redis-cluster',
  guarantees: 'G1+G2',
  title: "scenario 1's slice on a three-master Redis Cluster (prefix {…}), with one RollingUpdate",
  async run(settings) {
    const cluster = await startRedisCluster(3);
    const lab = await Lab.open('redis-cluster', settings, {
      redis: cluster.url,
      stop: [() => cluster.stop()],
    });
    try {
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.faultCorpus));
      const workers = await lab.workers();
      const rolling = (async () => {
        await sleep(lab.profile.warmupMs);
        return workers.rollout(lab.workerTemplate(lab.release(1)));
      })();
      const { accepted, refused } = await lab.feed(requests, rolling);
      const rollout = await rolling;
      await lab.settle(accepted.map((s) => s.jobId));
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
        rollouts: [rollout],
        boundRedoneWork: true,
        violations: drainViolations([rollout]),
        notes: [...rolloutNotes([rollout]), `Redis Cluster ${cluster.url}, prefix ${lab.prefix}`],
      });
    } finally {
      await lab.close();
    }
  },
};

/** Every scenario, in the issue's order. */
/** Scenario 9: a long Chroma outage mid-ingest. */
const outage: Scenario = {
  name: 'outage',
  guarantees: 'G9',
  title:
    'Chroma down for a long time mid-ingest (10 minutes in the full form): no job fails, none spends an attempt',
  async run(settings) {
    const lab = await Lab.open('outage', settings, { chroma: 'dedicated' });
    try {
      const chroma = lab.stack.chromaServer!;
      const short = lab.profile.form === 'short';
      const downMs = short ? 15_000 : 600_000;
      const requests = await stageFiles(lab.storageDir, lab.collection, await slice(lab.profile.faultCorpus));
      const workers = await lab.workers();
      const stopWatching = watchReadiness(() => workers.activePods());
      const faults: FaultRecord[] = [];
      const injecting = (async () => {
        await sleep(lab.profile.warmupMs);
        faults.push(await restartChroma(chroma, downMs));
      })();
      const { accepted, refused } = await lab.feed(requests, injecting);
      await injecting;
      await lab.settle(accepted.map((s) => s.jobId));
      const samples = await stopWatching();
      const violations: string[] = [];
      const fault = faults[0]!;
      const failing = notReadyDuring(samples, fault.at, fault.at + (fault.downMs ?? 0));
      if (![...failing.values()].flat().includes(503)) {
        violations.push('no worker answered readiness 503 while Chroma was down');
      }
      return await lab.report({
        scenario: this.name,
        guarantees: this.guarantees,
        submissions: accepted,
        refused,
        expected: await lab.expected.ofAll(accepted.map((s) => s.request)),
        rollouts: [],
        faults,
        // Not allowed: an outage is no fault of the jobs, so it must spend no attempt.
        retriesAllowed: false,
        violations,
        notes: [`Chroma down ${Math.round(downMs / 1000)} s`],
      });
    } finally {
      await lab.close();
    }
  },
};

export const SCENARIOS: readonly Scenario[] = [
  rolloutTwice,
  sigkill,
  hostile,
  dependencies,
  apiRollout,
  versions,
  scaleDown,
  redisCluster,
  outage,
];

/** The scenario named `name`. @throws Error listing the names when there is none */
export function scenarioNamed(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found) throw new Error(`no scenario ${name}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return found;
}
