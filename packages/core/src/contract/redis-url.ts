import { SluiceError } from './errors.js';

/** The parts of a Redis URL. */
export interface ParsedRedisUrl {
  protocol: string;
  username: string | undefined;
  password: string | undefined;
  /** `host:port[,host:port…]` */
  hosts: string;
  /** What follows the first `/` after the hosts: a db number, or a Sentinel master name. */
  path: string;
}

/**
 * Splits a Redis URL by hand: WHATWG `URL` rejects the host lists of Cluster and Sentinel URLs
 * (`redis+cluster://a:7000,b:7001`).
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const match = /^([a-z+]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(?:\/([^?#]*))?/i.exec(url);
  if (!match) throw new SluiceError('CONFIG_INVALID', `REDIS_URL: not a Redis URL: ${url}`);
  const [, protocol = '', userinfo, hosts = '', path = ''] = match;
  const colon = userinfo?.indexOf(':') ?? -1;
  const decode = (part: string | undefined) => (part ? decodeURIComponent(part) : undefined);
  return {
    protocol: protocol.toLowerCase(),
    username: decode(colon >= 0 ? userinfo?.slice(0, colon) : userinfo),
    password: decode(colon >= 0 ? userinfo?.slice(colon + 1) : undefined),
    hosts,
    path,
  };
}

/** Whether a URL names a Redis Cluster. */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:/.test(url);
}

/**
 * Whether a key prefix is a Redis Cluster hash tag such as `{sluice}`, which keeps all of a
 * queue's keys in one slot.
 */
export function isHashTagPrefix(prefix: string): boolean {
  return /^\{[^}]+\}/.test(prefix);
}
