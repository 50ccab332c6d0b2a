import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { apiEnvSchema, parseEnv, workerEnvSchema } from '@sluice/core';
import { describe, expect, inject, it } from 'vitest';
import {
  healthcheckCommand,
  loadCompose,
  operatorDotenv,
  parseDotenv,
  serviceEnv,
  type ComposeService,
} from './support/compose.js';
import { readRepoFile } from './support/repo.js';
import { startHealthServer } from './support/health-server.js';

/*
 * docker-compose.yml's healthchecks, run as Docker runs them, against real servers: the Redis
 * and Chroma of the test run, and @sluice/core's health server (what the worker serves on
 * HEALTH_PORT; the API's /api/health answers the same way).
 */

const { compose } = loadCompose();

function service(name: string): ComposeService {
  const found = compose.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
}

const api = service('api');
const worker = service('worker');
const dotenv = operatorDotenv(parseDotenv(readRepoFile('.env.example')));
const apiConfig = parseEnv(apiEnvSchema, serviceEnv(api, dotenv));
const workerConfig = parseEnv(workerEnvSchema, serviceEnv(worker, dotenv));

/**
 * Runs a healthcheck the way Docker does and resolves with its exit code. Asynchronously: the
 * server it probes may live in this process.
 */
function runHealthcheck(command: { argv: string[] } | { shell: string }): Promise<number | null> {
  const [file = '', ...args] = 'argv' in command ? command.argv : ['sh', '-c', command.shell];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { timeout: 10_000, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code));
  });
}

describe('compose healthchecks, run against real servers', () => {
  it.each([
    ['api', api, apiConfig.PORT],
    ['worker', worker, workerConfig.HEALTH_PORT],
  ])('the %s healthcheck passes on 200 and fails on 503 (draining)', async (_name, s, port) => {
    const server = await startHealthServer();
    try {
      const command = healthcheckCommand(s);
      const retarget = (c: typeof command) =>
        'argv' in c
          ? { argv: c.argv.map((a) => a.replace(`127.0.0.1:${port}`, `127.0.0.1:${server.port}`)) }
          : c;
      expect(await runHealthcheck(retarget(command))).toBe(0);
      server.setDraining(true);
      expect(await runHealthcheck(retarget(command))).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('the Chroma healthcheck passes against a real Chroma and fails when nothing listens', async () => {
    const chroma = new URL(inject('chromaUrl'));
    const command = healthcheckCommand(service('chroma'));
    if (!('argv' in command))
      throw new Error('expected an exec-form healthcheck: the image has no sh features it needs');
    expect(command.argv.slice(0, 2)).toEqual(['bash', '-c']);
    const at = (host: string, port: string) => ({
      argv: command.argv.map((a) => a.replace('/dev/tcp/127.0.0.1/8000', `/dev/tcp/${host}/${port}`)),
    });
    expect(await runHealthcheck(at(chroma.hostname, chroma.port))).toBe(0);
    expect(await runHealthcheck(at('127.0.0.1', String(await closedPort())))).not.toBe(0);
  });

  it.skipIf(spawnSync('redis-cli', ['--version']).error !== undefined)(
    'the Redis healthcheck passes against a real Redis and fails when nothing listens',
    async () => {
      const redis = new URL(inject('redisUrl'));
      // The test's Redis has no password; REDISCLI_AUTH (set in the redis service) is empty here.
      const command = healthcheckCommand(service('redis'));
      if (!('shell' in command)) throw new Error('expected a CMD-SHELL healthcheck');
      const at = (host: string, port: string) => ({
        shell: command.shell.replace('-h 127.0.0.1 -p 6379', `-h ${host} -p ${port}`),
      });
      expect(await runHealthcheck(at(redis.hostname, redis.port || '6379'))).toBe(0);
      expect(await runHealthcheck(at('127.0.0.1', String(await closedPort())))).not.toBe(0);
    },
  );
});

/** A local port that nothing listens on (bound, read, released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
