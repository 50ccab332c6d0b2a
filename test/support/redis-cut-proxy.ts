/**
 * A TCP proxy in front of Redis that can cut a connection right after a chosen command has been
 * handed to Redis, and before the next: the fault point for "two commands, one step" tests. It
 * reads the RESP arrays clients send, so it cuts between commands, never inside one.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface RedisCutProxy {
  /** `redis://127.0.0.1:<port>`, to give the client under test. */
  readonly url: string;
  /**
   * Arms the proxy: the next `command` (any connection, any case) is passed to Redis, then that
   * connection is closed (Redis sees the end of the stream after it) and the proxy disarms.
   */
  cutAfter(command: string): void;
  /**
   * While on, new connections are closed at once: with it, a cut stands for the client's process
   * dying there (no reconnect resends what was cut off).
   */
  refuseNew(on: boolean): void;
  /** How many connections it has cut. */
  readonly cuts: number;
  /**
   * Resolves once a cut is complete: Redis has closed its side, which it does only after running
   * every command it received before the end of the stream.
   */
  cut(): Promise<void>;
  close(): Promise<void>;
}

/** The length of the first complete RESP array of bulk strings in `buf`, and its first element. */
function firstCommand(buf: Buffer): { length: number; name: string } | undefined {
  if (buf.length === 0 || buf[0] !== 0x2a /* '*' */) return undefined;
  const lineEnd = (from: number) => {
    const at = buf.indexOf('\r\n', from);
    return at < 0 ? undefined : at;
  };
  let end = lineEnd(0);
  if (end === undefined) return undefined;
  const count = Number(buf.subarray(1, end).toString());
  let at = end + 2;
  let name = '';
  for (let i = 0; i < count; i++) {
    end = lineEnd(at);
    if (end === undefined) return undefined;
    const size = Number(buf.subarray(at + 1, end).toString());
    const start = end + 2;
    if (buf.length < start + size + 2) return undefined;
    if (i === 0) name = buf.subarray(start, start + size).toString();
    at = start + size + 2;
  }
  return { length: at, name };
}

export async function startRedisCutProxy(target: string): Promise<RedisCutProxy> {
  const { hostname, port } = new URL(target);
  let armed: string | undefined;
  let cuts = 0;
  let onCut: () => void = () => undefined;
  const cutDone = new Promise<void>((resolve) => (onCut = resolve));
  let refusing = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: hostname, port: Number(port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Whole commands only; an inline or partial one waits for more bytes.
      for (let command = firstCommand(pending); command; command = firstCommand(pending)) {
        upstream.write(pending.subarray(0, command.length));
        pending = pending.subarray(command.length);
        if (armed !== undefined && command.name.toUpperCase() === armed) {
          armed = undefined;
          cuts += 1;
          // Redis reads what was written, then the end of the stream; the client sees a reset.
          upstream.once('close', onCut);
          upstream.end();
          client.destroy();
          // Read on to Redis's end of the stream (unpiped, the socket would pause and never close).
          upstream.unpipe(client);
          upstream.resume();
          return;
        }
      }
      if (pending.length > 0 && pending[0] !== 0x2a) {
        upstream.write(pending);
        pending = Buffer.alloc(0);
      }
    });
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cutAfter: (command) => {
      armed = command.toUpperCase();
    },
    refuseNew: (on) => {
      refusing = on;
    },
    cut: () => cutDone,
    get cuts() {
      return cuts;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
