import { headers as createHeaders, type JetStreamClient, type JetStreamManager } from 'nats';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import type { EventCodec } from '../event-codec.interface.js';
import { readStream, type StreamMessage } from './nats-stream-reader.js';
import type { NatsSubjects } from './nats-subjects.js';
import { isNotFound } from './nats-errors.js';

/**
 * Refuses to start on a stream whose history the previous layout kept in a key-value bucket:
 * instances of that version may still be running, and they would go on writing records nobody
 * reads (and stop acking once the bucket is gone).
 */
export async function refuseLegacyHistory(jsm: JetStreamManager, stream: string): Promise<void> {
  try {
    await jsm.streams.info(`KV_${stream}_HISTORY`);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  throw new EventBrokerError(
    `NATS stream ${stream} has the history bucket ${stream}_HISTORY of an earlier nestjs-event-broker, which kept a record per event beside the stream; ` +
      `this version derives the history from the stream and its consumers. Stop every instance of the earlier version ` +
      `(what they did not settle stays in the stream for this one), then delete the bucket (nats kv del ${stream}_HISTORY) and start again; ` +
      `or use a new stream name`,
  );
}

/**
 * Moves the dead letters of the previous layout (`<prefix>-dlq.<group>`, without the event's
 * sequence) to `<prefix>-dlq.<group>.<sequence>`, so that their events show as failed.
 * `sequenceOf` finds an event's sequence by id (0 when the stream no longer holds it).
 */
export async function moveLegacyDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  deadLetterStream: string,
  subjects: NatsSubjects,
  codec: EventCodec,
  sequenceOf: (id: string) => Promise<number | undefined>,
): Promise<void> {
  const legacySubject = subjects.deadLetters.replace(/>$/, '*');
  const legacy = await jsm.streams.info(deadLetterStream, { subjects_filter: legacySubject });
  if (Object.keys(legacy.state.subjects ?? {}).length === 0) return;
  const moving: StreamMessage[] = [];
  await readStream(js, jsm, deadLetterStream, legacy.state.first_seq, legacy.state.last_seq, (message) => {
    if (message.subject.split('.').length === 2) moving.push(message);
  });
  for (const letter of moving) {
    let seq: number | undefined;
    try {
      seq = await sequenceOf(codec.decode(letter.body).id);
    } catch {
      // Unreadable: its event has no id to find.
    }
    const headers = createHeaders();
    for (const name of letter.headers?.keys() ?? []) headers.set(name, letter.headers?.get(name) ?? '');
    await js.publish(`${letter.subject}.${seq ?? 0}`, letter.body, { headers, msgID: `legacy-dead-letter:${letter.seq}` });
    await jsm.streams.deleteMessage(deadLetterStream, letter.seq);
  }
}
