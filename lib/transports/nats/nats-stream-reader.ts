import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type MsgHdrs } from 'nats';
import { isNotFound } from './nats-errors.js';

/** A message as a reader of the stream needs it. */
export interface StreamMessage {
  seq: number;
  subject: string;
  body: string;
  headers?: MsgHdrs;
  header(name: string): string | undefined;
}

/** Up to this many messages are read one by one (in parallel); more through an ephemeral consumer. */
const DIRECT_READ_MAX = 64;
const FETCH_CHUNK = 1000;
const FETCH_EXPIRES_MS = 5000;
/** The server removes an ephemeral reader left behind (its process died mid-read) after this long. */
const READER_INACTIVE_MS = 30_000;

function streamMessage(seq: number, subject: string, body: string, headers: MsgHdrs | undefined): StreamMessage {
  return { seq, subject, body, headers, header: (name) => headers?.get(name) || undefined };
}

/**
 * Reads the messages `stream` holds from sequence `from` through `to`, in order, and hands each to
 * `onMessage`. A few are fetched by sequence; more through an ephemeral consumer without acks,
 * whose count of pending messages ends the read at the last one instead of at a pull's timeout.
 * Returns the last sequence read (`from - 1` when there was none).
 */
export async function readStream(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  from: number,
  to: number,
  onMessage: (message: StreamMessage) => void,
): Promise<number> {
  // An empty stream says its first sequence is 0.
  from = Math.max(from, 1);
  if (to < from) return from - 1;
  if (to - from < DIRECT_READ_MAX) {
    const sequences = Array.from({ length: to - from + 1 }, (_, index) => from + index);
    const stored = await Promise.all(
      sequences.map((seq) =>
        jsm.streams.getMessage(stream, { seq }).catch((error: unknown) => {
          if (isNotFound(error)) return undefined;
          throw error;
        }),
      ),
    );
    for (const message of stored) if (message) onMessage(streamMessage(message.seq, message.subject, message.string(), message.header));
    return to;
  }
  const reader = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    mem_storage: true,
    inactive_threshold: nanos(READER_INACTIVE_MS),
  });
  let last = from - 1;
  try {
    const consumer = await js.consumers.get(stream, reader.name);
    let left = reader.num_pending;
    while (left > 0) {
      let read = 0;
      for await (const message of await consumer.fetch({ max_messages: Math.min(left, FETCH_CHUNK), expires: FETCH_EXPIRES_MS })) {
        onMessage(streamMessage(message.seq, message.subject, message.string(), message.headers));
        last = message.seq;
        read++;
        left = message.info.pending === 0 ? 0 : left - 1;
      }
      // Messages deleted while reading: nothing more to come.
      if (read === 0) break;
    }
  } finally {
    await jsm.consumers.delete(stream, reader.name).catch(() => false);
  }
  return last;
}
