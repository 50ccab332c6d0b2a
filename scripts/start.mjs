#!/usr/bin/env node
// `pnpm start`: the whole Sluice stack on one machine. Uses REDIS_URL / CHROMA_URL when set;
// otherwise starts redis-server (from PATH) and the Chroma server the chromadb package ships,
// with their data under ./data. Then the API and two workers. Ctrl-C stops everything in order.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.env.SLUICE_DATA_DIR ?? join(root, 'data'));
const apiPort = Number(process.env.PORT ?? 3001);
const apiMetricsPort = Number(process.env.METRICS_PORT ?? 3003);
const workerPorts = (process.env.SLUICE_WORKER_PORTS ?? '3002,3004').split(',').map(Number);
const children = [];
let stopping = false;

function log(message) {
  process.stdout.write(`[sluice] ${message}\n`);
}

function portFree(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function freePort(preferred) {
  if (await portFree(preferred)) return preferred;
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

/** Starts a child whose output is prefixed with its name; the stack stops if it dies unexpectedly. */
function start(name, command, args, env = {}) {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (stream, target) => {
    let rest = '';
    stream.setEncoding('utf8').on('data', (data) => {
      const lines = (rest + data).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) target.write(`${name.padEnd(9)}| ${line}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  const entry = {
    name,
    child,
    exited: new Promise((done) => child.once('exit', (code, signal) => done({ code, signal }))),
  };
  void entry.exited.then(({ code, signal }) => {
    if (!stopping) {
      log(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack`);
      void shutdown(1);
    }
  });
  children.push(entry);
  return entry;
}

async function waitHealthy(name, url, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not become healthy at ${url} within ${timeoutMs / 1000} s`);
}

async function stopChild(entry, graceMs) {
  if (entry.child.exitCode !== null || entry.child.signalCode !== null) return;
  entry.child.kill('SIGTERM');
  const timer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
  await entry.exited;
  clearTimeout(timer);
}

let shuttingDown;
function shutdown(code) {
  shuttingDown ??= (async () => {
    stopping = true;
    log('stopping: API and workers drain first, then Chroma and Redis');
    const services = children.filter((c) => c.name === 'api' || c.name.startsWith('worker'));
    await Promise.all(services.map((c) => stopChild(c, 30_000)));
    const stores = children.filter((c) => !services.includes(c));
    await Promise.all(stores.map((c) => stopChild(c, 10_000)));
    log('stopped');
    process.exit(code);
  })();
  return shuttingDown;
}

process.on('SIGINT', () => {
  if (stopping) {
    for (const { child } of children) child.kill('SIGKILL');
    process.exit(130);
  }
  void shutdown(0);
});
process.on('SIGTERM', () => void shutdown(0));

async function devSecret() {
  const file = join(dataDir, 'dev-jwt-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(32).toString('hex');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

async function main() {
  for (const entry of ['services/api/dist/main.js', 'services/worker/dist/main.js']) {
    if (!existsSync(join(root, entry))) {
      log(`${entry} is missing: run "pnpm build" first (pnpm start does it for you)`);
      process.exit(1);
    }
  }
  await mkdir(join(dataDir, 'uploads'), { recursive: true });

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    if (!onPath('redis-server')) {
      log('redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server;');
      log('macOS: brew install redis), or run one with "docker compose up -d redis" and set');
      log('REDIS_URL=redis://127.0.0.1:6379, then run pnpm start again.');
      process.exit(1);
    }
    await mkdir(join(dataDir, 'redis'), { recursive: true });
    const port = await freePort(Number(process.env.SLUICE_REDIS_PORT ?? 6390));
    start('redis', 'redis-server', [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      join(dataDir, 'redis'),
      '--appendonly',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
    ]);
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  let chromaUrl = process.env.CHROMA_URL;
  if (!chromaUrl) {
    await mkdir(join(dataDir, 'chroma'), { recursive: true });
    const port = await freePort(Number(process.env.SLUICE_CHROMA_PORT ?? 8000));
    // The chromadb package hides its package.json; its CLI sits beside the entry point.
    let pkg = dirname(createRequire(import.meta.url).resolve('chromadb'));
    while (!existsSync(join(pkg, 'package.json'))) pkg = dirname(pkg);
    start('chroma', process.execPath, [
      join(pkg, 'dist', 'cli.mjs'),
      'run',
      '--path',
      join(dataDir, 'chroma'),
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ]);
    chromaUrl = `http://127.0.0.1:${port}`;
    await waitHealthy('chroma', `${chromaUrl}/api/v2/heartbeat`);
  }

  const secret = process.env.AUTH_JWT_SECRET ?? (await devSecret());
  const common = {
    REDIS_URL: redisUrl,
    CHROMA_URL: chromaUrl,
    STORAGE_DIR: join(dataDir, 'uploads'),
    AUTH_JWT_SECRET: secret,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
  };
  start('api', process.execPath, ['services/api/dist/main.js'], {
    ...common,
    PORT: String(apiPort),
    METRICS_PORT: String(apiMetricsPort),
    SHUTDOWN_DELAY_MS: process.env.SHUTDOWN_DELAY_MS ?? '1000',
  });
  workerPorts.forEach((port, i) =>
    start(`worker-${i + 1}`, process.execPath, ['services/worker/dist/main.js'], {
      ...common,
      HEALTH_PORT: String(port),
    }),
  );

  await waitHealthy('api', `http://127.0.0.1:${apiPort}/api/health`);
  await Promise.all(
    workerPorts.map((port, i) => waitHealthy(`worker-${i + 1}`, `http://127.0.0.1:${port}/api/health`)),
  );
  const { createToken } = await import('@sluice/sdk');
  const token = await createToken({ secret, collections: '*', ttl: '30d' });
  const api = `http://127.0.0.1:${apiPort}`;
  process.stdout.write(
    [
      '',
      'Sluice is running.',
      `  API        ${api}`,
      `  dashboard  ${api}/admin/queues?token=${token}`,
      `  OpenAPI    ${api}/openapi.json`,
      `  metrics    http://127.0.0.1:${apiMetricsPort}/metrics (API), ${workerPorts
        .map((port) => `http://127.0.0.1:${port}/metrics`)
        .join(', ')} (workers)`,
      `  Redis      ${redisUrl}`,
      `  Chroma     ${chromaUrl}`,
      `  data       ${dataDir}`,
      '',
      'A token for every collection (30 days):',
      `  export SLUICE_API_URL=${api}`,
      `  export SLUICE_TOKEN=${token}`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  if (!stopping) {
    log(err instanceof Error ? err.message : String(err));
    void shutdown(1);
  }
});
