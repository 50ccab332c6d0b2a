import { apiEnvSchema, parseEnv, workerEnvSchema } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  composeValidator,
  durationSeconds,
  healthcheckCommand,
  interpolate,
  interpolatedVariables,
  loadCompose,
  operatorDotenv,
  parseDotenv,
  serviceEnv,
  type ComposeService,
} from './support/compose.js';
import {
  apiShutdownBudgetMs,
  byteSize,
  imageViolations,
  redisImageViolations,
  redisServerViolations,
  workerShutdownBudgetMs,
} from './support/policies.js';
import { existsSync } from 'node:fs';
import { readRepoFile, repoPath } from './support/repo.js';
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
const example = parseDotenv(readRepoFile('.env.example'));
const dotenv = operatorDotenv(example);
const apiConfig = parseEnv(apiEnvSchema, serviceEnv(api, dotenv));
const workerConfig = parseEnv(workerEnvSchema, serviceEnv(worker, dotenv));

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

  it('rule 2: runs a patched Redis with AOF, noeviction, a password from .env and maxmemory at 60-70 % of its limit', () => {
    const redis = service('redis');
    const args = (redis.command ?? []).map((a) => interpolate(a, dotenv));
    const limit = redis.mem_limit === undefined ? undefined : byteSize(redis.mem_limit);
    expect(redisServerViolations(args, limit)).toEqual([]);
    expect(redisImageViolations(redis.image)).toEqual([]);
    expect(args[args.indexOf('--requirepass') + 1]).toBe(dotenv.REDIS_PASSWORD);
    // Mutated: no memory limit, or no password.
    expect(redisServerViolations(args, undefined)).toEqual(['Redis has no memory limit']);
    expect(() => (redis.command ?? []).map((a) => interpolate(a, {}))).toThrow(/REDIS_PASSWORD/);
  });

  it('rule 9: reads .env as an optional env_file and builds our images, never pulls them', () => {
    for (const s of [api, worker]) {
      expect(s.env_file).toEqual([{ path: '.env', required: false }]);
      expect(s.pull_policy).toBe('build');
    }
    // Every variable of .env reaches the containers, not only the ones named in `environment`.
    expect(serviceEnv(worker, { ...dotenv, PARSE_MAX_MEMORY_MB: '512' }).PARSE_MAX_MEMORY_MB).toBe('512');
  });

  it('rule 9: names no file that is not in the repository, but the optional .env', () => {
    const paths = [
      ...[api, worker].map((s) => s.build?.dockerfile ?? ''),
      ...[api, worker].map((s) => s.build?.context ?? ''),
      ...[api, worker].flatMap((s) =>
        (s.env_file ?? []).filter((f) => f.required !== false).map((f) => f.path),
      ),
    ];
    expect(paths.filter((p) => !existsSync(repoPath(p)))).toEqual([]);
    expect(existsSync(repoPath('deploy/Dockerfiles'))).toBe(false);
  });

  it('runs two workers, and names no container of a scaled service', () => {
    expect(worker.deploy?.replicas).toBe(2);
    const scaled = Object.entries(compose.services).filter(
      ([, s]) => (s.deploy?.replicas ?? s.scale ?? 1) > 1,
    );
    expect(scaled.filter(([, s]) => s.container_name !== undefined)).toEqual([]);
  });

  it('rule 4: gives the workers a stop grace period over DRAIN_TIMEOUT_MS + abort grace + SHUTDOWN_MARGIN_MS + margin', () => {
    const graceMs = durationSeconds(worker.stop_grace_period ?? '10s') * 1000;
    expect(graceMs).toBeGreaterThanOrEqual(workerShutdownBudgetMs(workerConfig.DRAIN_TIMEOUT_MS));
    // Mutated: raising DRAIN_TIMEOUT_MS in .env without the grace period breaks it.
    const raised = parseEnv(workerEnvSchema, serviceEnv(worker, { ...dotenv, DRAIN_TIMEOUT_MS: '60000' }));
    expect(graceMs).toBeLessThan(workerShutdownBudgetMs(raised.DRAIN_TIMEOUT_MS));
  });

  it("rule 4: gives the API a stop grace period over SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + margin (Docker's 10 s is not)", () => {
    const graceMs = durationSeconds(api.stop_grace_period ?? '10s') * 1000;
    expect(graceMs).toBeGreaterThanOrEqual(
      apiShutdownBudgetMs(0, apiConfig.SHUTDOWN_DELAY_MS, apiConfig.SHUTDOWN_TIMEOUT_MS),
    );
    expect(durationSeconds('10s') * 1000).toBeLessThan(
      apiShutdownBudgetMs(0, apiConfig.SHUTDOWN_DELAY_MS, apiConfig.SHUTDOWN_TIMEOUT_MS),
    );
    const raised = parseEnv(apiEnvSchema, serviceEnv(api, { ...dotenv, SHUTDOWN_TIMEOUT_MS: '30000' }));
    expect(graceMs).toBeLessThan(
      apiShutdownBudgetMs(0, raised.SHUTDOWN_DELAY_MS, raised.SHUTDOWN_TIMEOUT_MS),
    );
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

  it("sets in `environment` only variables the services read (.env is shared: each ignores the other's)", () => {
    const own = (s: ComposeService) => Object.keys(serviceEnv({ ...s, env_file: [] }, dotenv));
    expect(own(api).filter((k) => !apiKeys.includes(k))).toEqual([]);
    expect(own(worker).filter((k) => !workerKeys.includes(k))).toEqual([]);
  });

  it('would catch a misspelt variable', () => {
    const misspelt = { ...worker, environment: { ...worker.environment, DRAIN_TIMEOUT: '1000' } };
    expect(
      Object.keys(serviceEnv({ ...misspelt, env_file: [] }, dotenv)).filter((k) => !workerKeys.includes(k)),
    ).toEqual(['DRAIN_TIMEOUT']);
  });

  it('documents every interpolated variable in .env.example, and only variables the services read', () => {
    expect(interpolatedVariables(text).filter((name) => !(name in example))).toEqual([]);
    expect(Object.keys(example).filter((k) => !apiKeys.includes(k) && !workerKeys.includes(k))).toEqual([]);
  });

  it('rule 1: refuses to start without .env, or with .env.example as it is; starts once the secrets are set', () => {
    expect(() => serviceEnv(api)).toThrow(/AUTH_JWT_SECRET/);
    expect(() => serviceEnv(api, example)).toThrow(/AUTH_JWT_SECRET/);
    expect(() => serviceEnv(service('redis'), example)).toThrow(/REDIS_PASSWORD/);
    expect(() => parseEnv(apiEnvSchema, serviceEnv(api, dotenv))).not.toThrow();
    expect(() => parseEnv(workerEnvSchema, serviceEnv(worker, dotenv))).not.toThrow();
    expect(apiConfig.REDIS_PASSWORD).toBe(dotenv.REDIS_PASSWORD);
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
