import type { IncomingMessage } from 'node:http';

/** Options for {@link closeAfterAnswer}. */
export interface LingerOptions {
  /** How long the rest of the body is read and discarded after the answer. @defaultValue 2000 */
  maxMs?: number;
  /** How much of it, in bytes. @defaultValue 8 MiB */
  maxBytes?: number;
}

/**
 * Arranges a "lingering close" for a request answered before its body arrived (a refused
 * upload): the caller sends its answer with `Connection: close`; then this side of the
 * connection is shut (FIN) while the rest of the body is read and discarded, for at most
 * `maxMs` and `maxBytes`, and only then is the socket destroyed.
 *
 * Why: Node ends a `Connection: close` answer with `socket.destroySoon()`, which closes the
 * socket at once; a client still sending its body then gets a TCP reset and usually reports a
 * write error (`EPIPE`, `ECONNRESET`) instead of the answer waiting in its buffer. Reading on
 * lets it finish sending and read the 413 (or 401, or 503); a client that keeps sending past the
 * bounds is still cut off. Node calls `socket.end()` when a socket has no `destroySoon`, so
 * this replaces that one method, on this one socket, with the half-close.
 */
export function closeAfterAnswer(request: IncomingMessage, options: LingerOptions = {}): void {
  const socket = request.socket;
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  socket.destroySoon = () => {
    socket.end();
    let discarded = 0;
    const destroy = () => {
      clearTimeout(timer);
      request.off('data', onData);
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > maxBytes) destroy();
    };
    const timer = setTimeout(destroy, options.maxMs ?? 2000);
    timer.unref();
    request.on('data', onData);
    request.once('end', destroy);
    request.resume();
  };
}
