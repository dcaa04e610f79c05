import type { IncomingMessage } from 'node:http';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * The sample lets only this machine see its dashboard: enough for a demo, but not behind a proxy on
 * the same host (every request would come from it). A real app passes its auth guard instead.
 */
export function fromThisMachine(request: IncomingMessage): boolean {
  return LOOPBACK.has(request.socket.remoteAddress ?? '');
}
