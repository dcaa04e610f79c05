import { isEventContract } from '../core/define-event.js';
import type { EventContract, EventSelector } from '../core/event-contract.interface.js';
import { matchPattern } from '../core/match-pattern.js';
import type {
  AsyncApiChannel,
  AsyncApiDocument,
  AsyncApiMessage,
  AsyncApiMultiFormatSchema,
  AsyncApiOperation,
  AsyncApiReference,
  JsonSchema,
} from './asyncapi-document.interface.js';
import type { AsyncApiOptions } from './asyncapi-options.interface.js';
import { channelAddress } from './channel-address.js';
import { ENVELOPE_SCHEMA, ENVELOPE_SCHEMA_NAME, envelopeHeaders } from './envelope-headers.js';
import type { AsyncApiSources } from './event-operation-sources.interface.js';
import { PAYLOAD_SCHEMA_FORMAT, payloadJsonSchema } from './payload-json-schema.js';
import { relocatedSchema } from './relocated-schema.js';
import { uniqueKey } from './unique-key.js';

/** The key of the one message of a pattern channel whose types the application does not know. */
const PATTERN_MESSAGE_KEY = 'event';

const isPattern = (selector: string): boolean => selector.split('.').some((segment) => segment === '*' || segment === '**');

const ref = (pointer: string): AsyncApiReference => ({ $ref: pointer });

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).toSorted(([a], [b]) => a.localeCompare(b)));
}

/** The channel of a selector: its type, or the pattern. */
const channelOf = (selector: EventSelector): string => (isEventContract(selector) ? selector.type : selector);

/** Every event type the application names, with the contract of those that have one. */
function knownTypes(sources: AsyncApiSources): Map<string, EventContract | undefined> {
  const known = new Map<string, EventContract | undefined>();
  const add = (selector: EventSelector): void => {
    if (isEventContract(selector)) {
      if (!known.get(selector.type)) known.set(selector.type, selector);
    } else if (!isPattern(selector) && !known.has(selector)) known.set(selector, undefined);
  };
  for (const { selectors } of sources.receive) selectors.forEach(add);
  for (const { event } of sources.send) add(event);
  return known;
}

function typeMessage(
  type: string,
  contract: EventContract | undefined,
  schemas: Record<string, JsonSchema | AsyncApiMultiFormatSchema>,
): AsyncApiMessage {
  const message: AsyncApiMessage = { name: type, title: type, contentType: 'application/json', headers: envelopeHeaders(type) };
  if (!contract) {
    message.description = `No contract (defineEvent) of ${type} is known here: the payload, a JSON value, is not described.`;
    return message;
  }
  const converted = payloadJsonSchema(contract);
  if ('problem' in converted) {
    message.description = `The payload is not described: ${converted.problem}.`;
    return message;
  }
  const pointer = `#/components/schemas/${type}`;
  schemas[type] = { schemaFormat: PAYLOAD_SCHEMA_FORMAT, schema: relocatedSchema(converted.schema, `${pointer}/schema`) };
  message.payload = ref(pointer);
  return message;
}

function patternChannel(pattern: string, types: readonly string[]): AsyncApiChannel {
  const { address, parameters } = channelAddress(pattern);
  const matching = types.filter((type) => matchPattern(pattern, type));
  const messages: AsyncApiChannel['messages'] =
    matching.length > 0
      ? Object.fromEntries(matching.map((type) => [type, ref(`#/components/messages/${type}`)]))
      : {
          [PATTERN_MESSAGE_KEY]: {
            name: pattern,
            title: `Any event of ${pattern}`,
            contentType: 'application/json',
            headers: ref(`#/components/schemas/${ENVELOPE_SCHEMA_NAME}`),
            description: 'No event type of this pattern is known here: the payload, a JSON value, is not described.',
          },
        };
  return {
    address,
    title: pattern,
    description: `Every event whose type matches ${pattern}; its messages are those of the types this application knows.`,
    parameters,
    messages,
  };
}

function channelMessages(channelId: string, channel: AsyncApiChannel): AsyncApiReference[] {
  return Object.keys(channel.messages).map((key) => ref(`#/channels/${channelId}/messages/${key}`));
}

function describeTransport(transport: string): string {
  return transport === 'memory' ? 'the memory transport: events stay in this process, so there is no server' : `the ${transport} transport`;
}

/**
 * The AsyncAPI 3.0 document of an application's events. Each event type is a channel whose address
 * is the type, with one message: the envelope as headers, the payload as the JSON Schema of its
 * contract. Each pattern of a handler is a channel whose address has a parameter per wildcard and
 * whose messages are those of the known types it matches. Each subscription of a handler is a
 * receive operation per channel (its group and retry policy as `x-group` and `x-retry`), each type a
 * method publishes a send operation. The transport is the server.
 */
export function buildAsyncApiDocument(sources: AsyncApiSources, options: Omit<AsyncApiOptions, 'path'> = {}): AsyncApiDocument {
  const known = knownTypes(sources);
  const types = [...known.keys()].toSorted();
  const schemas: AsyncApiDocument['components']['schemas'] = { [ENVELOPE_SCHEMA_NAME]: ENVELOPE_SCHEMA };
  const messages: AsyncApiDocument['components']['messages'] = {};
  const channels: AsyncApiDocument['channels'] = {};
  for (const [type, contract] of known) {
    messages[type] = typeMessage(type, contract, schemas);
    channels[type] = { address: type, title: type, messages: { [type]: ref(`#/components/messages/${type}`) } };
  }
  for (const { selectors } of sources.receive) {
    for (const selector of selectors) {
      const id = channelOf(selector);
      if (!channels[id]) channels[id] = patternChannel(id, types);
    }
  }

  const operations: AsyncApiDocument['operations'] = {};
  for (const { handler, group, selectors, retry, concurrency, fromBeginning, ordered } of sources.receive) {
    const ids = [...new Set(selectors.map(channelOf))];
    for (const channelId of ids) {
      const operation: AsyncApiOperation = {
        action: 'receive',
        channel: ref(`#/channels/${channelId}`),
        messages: channelMessages(channelId, channels[channelId]),
        title: handler,
        summary: `${handler} handles ${channelId} in the group ${group}.`,
        'x-group': group,
        'x-retry': { ...retry },
      };
      if (concurrency !== undefined) operation['x-concurrency'] = concurrency;
      if (fromBeginning) operation['x-from-beginning'] = true;
      if (ordered) operation['x-ordered'] = true;
      operations[uniqueKey(operations, ids.length > 1 ? `${handler}.${channelId}` : handler)] = operation;
    }
  }
  const sent = new Map<string, number>();
  for (const { publisher } of sources.send) sent.set(publisher, (sent.get(publisher) ?? 0) + 1);
  for (const { publisher, event } of sources.send) {
    const channelId = channelOf(event);
    operations[uniqueKey(operations, (sent.get(publisher) ?? 0) > 1 ? `${publisher}.${channelId}` : publisher)] = {
      action: 'send',
      channel: ref(`#/channels/${channelId}`),
      messages: channelMessages(channelId, channels[channelId]),
      title: publisher,
      summary: `${publisher} publishes ${channelId}.`,
    };
  }

  const servers = options.servers ?? sources.servers;
  return {
    asyncapi: '3.0.0',
    info: {
      title: options.title ?? sources.serviceName,
      version: options.version ?? '1.0.0',
      description: options.description ?? `The events of ${sources.serviceName}, over ${describeTransport(sources.transport)}.`,
    },
    defaultContentType: 'application/json',
    ...(Object.keys(servers).length > 0 ? { servers } : {}),
    channels: sorted(channels),
    operations: sorted(operations),
    components: { schemas: sorted(schemas), messages: sorted(messages) },
  };
}
