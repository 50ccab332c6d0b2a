import { apiEnvSchema, parseEnv, workerEnvSchema } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  composeValidator,
  durationSeconds,
  healthcheckCommand,
  interpolate,
  interpolatedVariables,
  loadCompose,
  parseDotenv,
  serviceEnv,
  type ComposeService,
} from './support/compose.js';
import {
  ABORT_GRACE_MS,
  API_DRAIN_MARGIN_MS,
  WORKER_EXIT_MARGIN_MS,
  imageViolations,
  redisServerViolations,
} from './support/policies.js';
import { readRepoFile } from './support/repo.js';
import { PROBE_PATHS } from './support/sluice.js';

const { text, data, compose } = loadCompose();
const validate = composeValidator();

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
}

const api = service('api');
const worker = service('worker');
const apiConfig = parseEnv(apiEnvSchema, serviceEnv(api));
const workerConfig = parseEnv(workerEnvSchema, serviceEnv(worker));

/** Problems as `path: message` lines, which read well in a failed assertion. */
function described(problems: readonly { path: string; message: string }[]): string[] {
  return problems.map((p) => `${p.path}: ${p.message}`);
}

/** A copy of the parsed file with one change, for the negative schema tests. */
function mutated(change: (copy: { services: Record<string, Record<string, unknown>> }) => void): unknown {
  const copy = structuredClone(data) as { services: Record<string, Record<string, unknown>> };
  change(copy);
  return copy;
}

describe('docker-compose.yml against the Compose specification', () => {
  it('is valid', () => {
    expect(validate(data)).toEqual([]);
  });

  it('rejects a key typo in a service', () => {
    const typo = mutated(({ services }) => {
      const w = services.worker ?? {};
      w.healtcheck = w.healthcheck;
      delete w.healthcheck;
    });
    expect(described(validate(typo))).toContainEqual(
      expect.stringMatching(/^\/services\/worker: .*healtcheck/),
    );
  });

  it('rejects a key typo inside a healthcheck, a bad depends_on condition and a bad duration', () => {
    const broken = mutated(({ services }) => {
      const check = services.api?.healthcheck as Record<string, unknown>;
      check.intervall = check.interval;
      const dependsOn = services.api?.depends_on as Record<string, { condition: string }>;
      if (dependsOn.redis) dependsOn.redis.condition = 'service_ready';
      if (services.worker) services.worker.stop_grace_period = 'a while';
    });
    const problems = described(validate(broken));
    expect(problems).toContainEqual(expect.stringMatching(/^\/services\/api\/healthcheck: .*intervall/));
    expect(problems).toContainEqual(
      expect.stringMatching(/^\/services\/api\/depends_on\/redis\/condition: .*allowed values/),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/^\/services\/worker\/stop_grace_period: .*"duration"/),
    );
  });

  it('rejects an unknown top-level key', () => {
    expect(validate({ ...(data as object), service: {} })).toContainEqual({
      path: '/',
      message: 'must NOT have additional properties: service',
    });
  });
});

describe('compose services', () => {
  it('pins every image to a version', () => {
    for (const [name, s] of Object.entries(compose.services))
      expect(imageViolations(s.image), name).toEqual([]);
  });

  it('starts the API and the workers only once Redis and Chroma are healthy', () => {
    for (const s of [api, worker]) {
      expect(s.depends_on).toEqual({
        redis: { condition: 'service_healthy' },
        chroma: { condition: 'service_healthy' },
      });
    }
    for (const name of ['redis', 'chroma']) expect(service(name).healthcheck?.test, name).toBeTruthy();
  });

  it('runs Redis with AOF and noeviction', () => {
    expect(redisServerViolations(service('redis').command ?? [])).toEqual([]);
  });

  it('runs two workers, and names no container of a scaled service', () => {
    expect(worker.deploy?.replicas).toBe(2);
    const scaled = Object.entries(compose.services).filter(
      ([, s]) => (s.deploy?.replicas ?? s.scale ?? 1) > 1,
    );
    expect(scaled.filter(([, s]) => s.container_name !== undefined)).toEqual([]);
  });

  it('gives the workers a stop grace period over DRAIN_TIMEOUT_MS + abort grace + margin', () => {
    const graceMs = durationSeconds(worker.stop_grace_period ?? '10s') * 1000;
    expect(graceMs).toBeGreaterThan(workerConfig.DRAIN_TIMEOUT_MS + ABORT_GRACE_MS + WORKER_EXIT_MARGIN_MS);
    // Raising DRAIN_TIMEOUT_MS in .env without the grace period would break this:
    const raised = parseEnv(workerEnvSchema, serviceEnv(worker, { DRAIN_TIMEOUT_MS: '60000' }));
    expect(graceMs).toBeLessThanOrEqual(raised.DRAIN_TIMEOUT_MS + ABORT_GRACE_MS + WORKER_EXIT_MARGIN_MS);
  });

  it("gives the API a stop grace period over SHUTDOWN_DELAY_MS + margin (Docker's default 10 s is not)", () => {
    const graceMs = durationSeconds(api.stop_grace_period ?? '10s') * 1000;
    expect(graceMs).toBeGreaterThanOrEqual(apiConfig.SHUTDOWN_DELAY_MS + API_DRAIN_MARGIN_MS);
    expect(durationSeconds('10s') * 1000).toBeLessThan(apiConfig.SHUTDOWN_DELAY_MS + API_DRAIN_MARGIN_MS);
  });

  it('hardens our containers: read-only root, writable /tmp, no capabilities, no privilege escalation', () => {
    for (const s of [api, worker]) {
      expect(s.read_only).toBe(true);
      expect(s.tmpfs).toContain('/tmp');
      expect(s.cap_drop).toEqual(['ALL']);
      expect(s.security_opt).toContain('no-new-privileges:true');
    }
  });

  it('shares one named uploads volume between the API and the workers, at STORAGE_DIR', () => {
    expect(Object.keys(compose.volumes ?? {})).toContain('uploads');
    expect(api.volumes).toContain(`uploads:${apiConfig.STORAGE_DIR}`);
    expect(worker.volumes).toContain(`uploads:${workerConfig.STORAGE_DIR}`);
  });

  it('publishes the API port the API listens on, on loopback only', () => {
    expect(api.ports).toEqual([`127.0.0.1:${apiConfig.PORT}:${apiConfig.PORT}`]);
  });
});

describe('compose environment', () => {
  const apiKeys = Object.keys(apiEnvSchema.shape);
  const workerKeys = Object.keys(workerEnvSchema.shape);

  it('sets only variables the services read', () => {
    expect(Object.keys(serviceEnv(api)).filter((k) => !apiKeys.includes(k))).toEqual([]);
    expect(Object.keys(serviceEnv(worker)).filter((k) => !workerKeys.includes(k))).toEqual([]);
  });

  it('would catch a misspelt variable', () => {
    const misspelt = { ...worker, environment: { ...worker.environment, DRAIN_TIMEOUT: '1000' } };
    expect(Object.keys(serviceEnv(misspelt)).filter((k) => !workerKeys.includes(k))).toEqual([
      'DRAIN_TIMEOUT',
    ]);
  });

  it('documents every interpolated variable in .env.example, and only variables the services read', () => {
    const example = parseDotenv(readRepoFile('.env.example'));
    expect(interpolatedVariables(text).filter((name) => !(name in example))).toEqual([]);
    expect(Object.keys(example).filter((k) => !apiKeys.includes(k) && !workerKeys.includes(k))).toEqual([]);
  });

  it('starts with the values of .env.example as well as with no .env at all', () => {
    const example = parseDotenv(readRepoFile('.env.example'));
    expect(() => parseEnv(apiEnvSchema, serviceEnv(api, example))).not.toThrow();
    expect(() => parseEnv(workerEnvSchema, serviceEnv(worker, example))).not.toThrow();
    expect(apiConfig.AUTH_JWT_SECRET?.length ?? 0).toBeGreaterThanOrEqual(32);
  });

  it('interpolates as Compose does', () => {
    const variables = { SET: 'x', EMPTY: '' };
    expect(interpolate('${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET} $$SET $SET', variables)).toBe(
      'x d  d  $SET x',
    );
    expect(() => interpolate('${UNSET:?set it}', variables)).toThrow(/set it/);
    expect(interpolatedVariables('a ${A:-1} $$B $C')).toEqual(['A', 'C']);
  });
});

describe('compose healthchecks', () => {
  it('probes the readiness path on the port each service listens on', () => {
    const apiCommand = JSON.stringify(healthcheckCommand(api));
    const workerCommand = JSON.stringify(healthcheckCommand(worker));
    expect(apiCommand).toContain(`http://127.0.0.1:${apiConfig.PORT}${PROBE_PATHS.readiness}'`);
    expect(workerCommand).toContain(`http://127.0.0.1:${workerConfig.HEALTH_PORT}${PROBE_PATHS.readiness}'`);
  });
});
