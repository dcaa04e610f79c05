import { EventBrokerError } from '../../core/event-broker.errors.js';
import { quote } from '../../core/quote-input.js';

/** Where NATS is when the `servers` option does not say. */
export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';

/**
 * The URLs of the `servers` option: a list, or one string of URLs separated by commas (how
 * `NATS_URL` names a cluster, as the nats CLI reads it). nats.js would parse such a string as one
 * URL and connect to its last server only: it is split here, so that the client knows every server.
 */
export function natsServerUrls(servers: string | readonly string[] = DEFAULT_NATS_SERVER): string[] {
  const urls = [servers]
    .flat()
    .flatMap((entry) => (typeof entry === 'string' ? entry.split(',') : [entry]))
    .map((url) => (typeof url === 'string' ? url.trim() : url));
  if (urls.length === 0 || urls.some((url) => typeof url !== 'string' || url === '')) {
    throw new EventBrokerError(
      `NatsTransport option servers must be a URL, several separated by commas, or a list of URLs, got ${quote(servers)}`,
    );
  }
  return urls;
}
