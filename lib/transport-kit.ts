// nestjs-event-broker/transport-kit: the parts every transport shares, for writing one of your own.
export { assertPattern } from './core/match-pattern.js';
export { DEFAULT_TRANSPORT_CONTEXT } from './transports/default-transport-context.js';
export { formatDeadLetterId, parseDeadLetterId, unknownDeadLetter } from './transports/dead-letter-id.js';
export { assertEventFilter, DEFAULT_LIST_LIMIT, matchesFilter, newestWindow } from './transports/event-filter.js';
export { ForwardingTransport } from './transports/forwarding-transport.js';
export { GroupConsumer, type GroupConsumerOptions, type HandedOut } from './transports/group-consumer.js';
export { inlineDelivery, type InlineSettler } from './transports/inline-delivery.js';
export { LiveTail } from './transports/live-tail.js';
export type { ReceivedMessage } from './transports/received-message.interface.js';
export { RunningConsumers } from './transports/running-consumers.js';
export { SettleOnce, type Settlement } from './transports/settle-once.js';
export { unknownEvent } from './transports/unknown-event.js';
export { UNREADABLE_MESSAGE_TYPE, unreadableMessageEvent } from './transports/unreadable-message-event.js';
export { WriteBatcher } from './transports/write-batcher.js';
