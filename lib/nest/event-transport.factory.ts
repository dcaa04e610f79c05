import { EventBrokerError } from '../core/event-broker.errors.js';
import type { EventTransport } from '../core/event-transport.interface.js';
import { quote } from '../core/quote-input.js';
import { NAMED_TRANSPORTS, TRANSPORT_NAMES, type TransportName } from '../transports/named-transports.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';

/**
 * The transport the module options name, or the instance they give, behind the outbox if asked.
 * A transport's client library (ioredis, nats, pg) is loaded only when that transport is used.
 */
export async function createTransport(options: EventBrokerModuleOptions): Promise<EventTransport> {
  const transport = await namedTransport(options);
  if (!options.outbox || transport.transactional) return transport;
  const { OutboxTransport } = await import('../transports/outbox/outbox-transport.js');
  return new OutboxTransport(transport, options.outbox);
}

function namedTransport(options: EventBrokerModuleOptions): Promise<EventTransport> {
  const transport = options.transport ?? 'memory';
  if (typeof transport !== 'string') return Promise.resolve(transport);
  if (!Object.hasOwn(NAMED_TRANSPORTS, transport)) {
    const names = TRANSPORT_NAMES.map((name) => `'${name}'`).join(', ');
    throw new EventBrokerError(`Unknown transport ${quote(transport)}: use ${names} or pass an EventTransport instance`);
  }
  const create = NAMED_TRANSPORTS[transport as TransportName] as (transportOptions: unknown) => Promise<EventTransport>;
  return create(options[transport as TransportName]);
}
