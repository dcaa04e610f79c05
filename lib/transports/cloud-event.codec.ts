import type { BrokerEvent, EventMetadata } from '../core/broker-event.interface.js';
import { assertEventSource, createEvent, isEventKey } from '../core/create-event.js';
import { errorMessage } from '../core/error-message.js';
import { InvalidEventError } from '../core/event-broker.errors.js';
import { payloadJsonOf } from '../core/payload-validation.js';
import type { EventCodec } from './event-codec.interface.js';
import { printable, quote } from '../core/quote-input.js';

/** A CloudEvents 1.0 document in structured JSON mode: how events travel on durable transports. */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: 'application/json';
  data: unknown;
  [extension: string]: unknown;
}

/** CloudEvents attribute names: lower-case letters and digits (at most 20 by the spec's advice). */
const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;
const CONTEXT_ATTRIBUTES = new Set(['specversion', 'id', 'source', 'type', 'time', 'datacontenttype', 'dataschema', 'subject', 'data']);
/** Extension attributes this package sets itself; `partitionkey` is the Partitioning extension's. */
const OWN_EXTENSIONS = new Set(['userid', 'sessionid', 'instanceid', 'ebmetadata', 'partitionkey']);

/**
 * The CloudEvents form of `event`. Its key is the `partitionkey` attribute of the Partitioning
 * extension. Metadata entries whose keys are valid attribute names (such as `traceparent`) become
 * extension attributes; the others travel in `ebmetadata` as a JSON string.
 */
export function toCloudEvent(event: BrokerEvent): CloudEvent {
  const cloudEvent: CloudEvent = {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.createdAt.toISOString(),
    datacontenttype: 'application/json',
    data: event.payload,
    instanceid: event.instanceId,
  };
  if (event.userId !== undefined) cloudEvent.userid = event.userId;
  if (event.sessionId !== undefined) cloudEvent.sessionid = event.sessionId;
  if (event.key !== undefined) cloudEvent.partitionkey = event.key;
  const other: EventMetadata = {};
  for (const [key, value] of Object.entries(event.metadata)) {
    if (ATTRIBUTE_NAME.test(key) && !CONTEXT_ATTRIBUTES.has(key) && !OWN_EXTENSIONS.has(key)) cloudEvent[key] = value;
    else other[key] = value;
  }
  if (Object.keys(other).length > 0) cloudEvent.ebmetadata = JSON.stringify(other);
  return cloudEvent;
}

function fail(problem: string, cause?: unknown): never {
  throw new InvalidEventError(`Malformed CloudEvent: ${problem}`, { cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseMetadata(document: Record<string, unknown>): EventMetadata {
  const metadata: EventMetadata = {};
  if (document.ebmetadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = typeof document.ebmetadata === 'string' ? JSON.parse(document.ebmetadata) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!isRecord(parsed)) fail('ebmetadata must be a JSON object in a string');
    Object.assign(metadata, parsed);
  }
  for (const [key, value] of Object.entries(document)) {
    if (CONTEXT_ATTRIBUTES.has(key) || OWN_EXTENSIONS.has(key)) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      fail(`extension attribute ${key} must be a string, number or boolean`);
    }
    metadata[key] = value;
  }
  return metadata;
}

/**
 * The event's key from `partitionkey`. Other producers (Kafka-style numeric keys) and rows written
 * before keys existed (where `partitionkey` was plain metadata) carry values that are no valid key:
 * such a value must not make the whole message unreadable, so it stays in the metadata where
 * metadata allows it, and the event has no key.
 */
function keyOf(partitionkey: unknown, metadata: EventMetadata): string | undefined {
  if (isEventKey(partitionkey)) return partitionkey;
  const allowed = typeof partitionkey === 'string' || typeof partitionkey === 'number' || typeof partitionkey === 'boolean';
  // A `partitionkey` inside ebmetadata was metadata on purpose: the attribute does not replace it.
  if (allowed && !('partitionkey' in metadata)) metadata.partitionkey = partitionkey;
  return undefined;
}

/**
 * The event a CloudEvents JSON document (written by this package or by any other producer)
 * stands for. Throws an `InvalidEventError` that names what is wrong.
 */
export function fromCloudEvent(json: string): BrokerEvent {
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch (error) {
    fail(`not JSON (${printable(errorMessage(error))})`, error);
  }
  if (!isRecord(document)) fail('not a JSON object');
  if (document.specversion !== '1.0') fail(`specversion must be "1.0", got ${quote(document.specversion)}`);
  if (typeof document.id !== 'string' || document.id === '') fail('id must be a non-empty string');
  if (document.datacontenttype !== undefined && document.datacontenttype !== 'application/json') {
    fail(`datacontenttype must be application/json, got ${quote(document.datacontenttype)}`);
  }
  const createdAt = document.time === undefined ? new Date() : new Date(String(document.time));
  if (Number.isNaN(createdAt.getTime())) fail(`time ${quote(document.time)} is not a timestamp`);
  const { userid, sessionid, instanceid, partitionkey } = document;
  if (userid !== undefined && typeof userid !== 'string' && typeof userid !== 'number') fail('userid must be a string or number');
  if (sessionid !== undefined && typeof sessionid !== 'string') fail('sessionid must be a string');
  const metadata = parseMetadata(document);
  const key = keyOf(partitionkey, metadata);
  try {
    assertEventSource(document.source);
    return createEvent({
      id: document.id,
      source: document.source,
      type: document.type as string,
      payload: document.data === undefined ? null : document.data,
      createdAt,
      userId: userid,
      sessionId: sessionid,
      key,
      instanceId: typeof instanceid === 'string' ? instanceid : '',
      metadata,
    });
  } catch (error) {
    if (error instanceof InvalidEventError && !error.message.startsWith('Malformed')) fail(error.message, error);
    throw error;
  }
}

/** The default codec: CloudEvents 1.0 in structured JSON mode. */
export const cloudEventCodec: EventCodec = {
  encode: (event) => {
    const cloudEvent = toCloudEvent(event);
    if (event.payload === undefined) return JSON.stringify(cloudEvent);
    // The payload's JSON text is known from its check at publish: written as is, not serialised again.
    const { data: _payload, ...attributes } = cloudEvent;
    return `${JSON.stringify(attributes).slice(0, -1)},"data":${payloadJsonOf(event)}}`;
  },
  decode: fromCloudEvent,
};
