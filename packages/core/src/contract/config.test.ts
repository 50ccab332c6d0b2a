import { describe, expect, it } from 'vitest';
import { SluiceError } from './errors.js';
import { apiEnvSchema, parseEnv, workerEnvSchema } from './config.js';

function configError(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a configuration error');
}

describe('parseEnv', () => {
  it('applies SPEC defaults and freezes the result', () => {
    const config = parseEnv(workerEnvSchema, {});
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      SLUICE_PREFIX: 'sluice',
      CHROMA_URL: 'http://127.0.0.1:8000',
      STORAGE_DIR: './data/uploads',
      WORKER_CONCURRENCY: 16,
      DRAIN_TIMEOUT_MS: 20000,
      EMBEDDINGS: 'hash',
      PARSE_TIMEOUT_MS: 120000,
      HEALTH_PORT: 3002,
      LOG_LEVEL: 'info',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('names the variable, its value and what is allowed', () => {
    const err = configError(() => parseEnv(workerEnvSchema, { WORKER_CONCURRENCY: 'many' }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain('WORKER_CONCURRENCY="many"');
    const enumErr = configError(() => parseEnv(workerEnvSchema, { EMBEDDINGS: 'bert' }));
    expect(enumErr.message).toContain('EMBEDDINGS="bert"');
    expect(enumErr.message).toMatch(/hash.*openai/);
  });

  it('rejects a Redis URL of another scheme', () => {
    expect(configError(() => parseEnv(workerEnvSchema, { REDIS_URL: 'http://x' })).message).toContain(
      'REDIS_URL',
    );
  });

  it('requires the OpenAI settings when EMBEDDINGS=openai', () => {
    const err = configError(() => parseEnv(workerEnvSchema, { EMBEDDINGS: 'openai' }));
    expect(err.message).toContain('EMBEDDINGS_URL');
    expect(err.message).toContain('EMBEDDINGS_MODEL');
  });

  it('refuses an API without a JWT secret unless auth is disabled, and hides secrets', () => {
    expect(configError(() => parseEnv(apiEnvSchema, {})).message).toContain('AUTH_JWT_SECRET');
    expect(parseEnv(apiEnvSchema, { AUTH_DISABLED: 'true' }).AUTH_DISABLED).toBe(true);
    const short = configError(() => parseEnv(apiEnvSchema, { AUTH_JWT_SECRET: 'short-secret' }));
    expect(short.message).toContain('AUTH_JWT_SECRET=(hidden)');
    expect(short.message).not.toContain('short-secret');
  });

  it('requires a hash-tag prefix on Redis Cluster', () => {
    const url = 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001';
    expect(configError(() => parseEnv(workerEnvSchema, { REDIS_URL: url })).message).toContain(
      'SLUICE_PREFIX',
    );
    expect(parseEnv(workerEnvSchema, { REDIS_URL: url, SLUICE_PREFIX: '{sluice}' }).SLUICE_PREFIX).toBe(
      '{sluice}',
    );
  });

  it('treats empty strings as unset', () => {
    expect(parseEnv(workerEnvSchema, { WORKER_CONCURRENCY: '' }).WORKER_CONCURRENCY).toBe(16);
  });
});
