import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../contract/redis-url.js';
import { createRedisConnection } from './redis-connection.js';

describe('parseRedisUrl', () => {
  it('reads a standalone URL with credentials and a database', () => {
    expect(parseRedisUrl('rediss://app:p%40ss@cache.example:6380/2')).toEqual({
      protocol: 'rediss:',
      username: 'app',
      password: 'p@ss',
      hosts: 'cache.example:6380',
      path: '2',
    });
  });

  it('reads the host lists of Cluster and Sentinel URLs, which WHATWG URL rejects', () => {
    expect(() => new URL('redis+cluster://127.0.0.1:7000,127.0.0.1:7001')).toThrow();
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7000,127.0.0.1:7001')).toMatchObject({
      protocol: 'redis+cluster:',
      hosts: '127.0.0.1:7000,127.0.0.1:7001',
    });
    expect(parseRedisUrl('redis+sentinel://:secret@s1:26379,s2:26379/mymaster')).toMatchObject({
      password: 'secret',
      hosts: 's1:26379,s2:26379',
      path: 'mymaster',
    });
  });

  it('refuses what is not a Redis URL', () => {
    expect(() => parseRedisUrl('not a url')).toThrow(/REDIS_URL/);
  });
});

describe('createRedisConnection', () => {
  it('builds a Cluster client from a multi-host cluster URL without connecting', () => {
    const cluster = createRedisConnection({
      url: 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001',
      role: 'worker',
    });
    expect(cluster).toBeInstanceOf(Cluster);
    cluster.disconnect();
    const single = createRedisConnection({ url: 'redis://127.0.0.1:1/3', role: 'producer' });
    expect(single).toBeInstanceOf(Redis);
    expect((single as Redis).options).toMatchObject({
      host: '127.0.0.1',
      port: 1,
      db: 3,
      maxRetriesPerRequest: 1,
    });
    single.disconnect();
  });
});
