import type { ConnectionOptions, NatsConnection } from 'nats';
import type { EventCodec } from '../event-codec.interface.js';
import type { NatsSubjectLayout } from './nats-subjects.js';

export interface NatsTransportOptions {
  /** One server or several (default `nats://127.0.0.1:4222`). */
  servers?: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** The content of a `.creds` file (JWT and NKey seed). */
  creds?: string;
  /** `true` for TLS with default settings, or nats.js TLS options. */
  tls?: boolean | ConnectionOptions['tls'];
  /** A connection to use instead of connecting; the transport never closes it. */
  connection?: NatsConnection;
  /**
   * The JetStream stream of events (default `EVENTS`; with `partitions`, `<stream>_P<p>`); its dead
   * letters go to `<stream>_DLQ`.
   */
  stream?: string;
  /**
   * First token of every subject (default `events`): subjects are `<prefix>.<source>.<type>`
   * (`<prefix>.p<p>.<source>.<type>` with `partitions`).
   */
  subjectPrefix?: string;
  /**
   * `prefix.source.type` (default), or `type`: the subject is the event type, which starts with
   * `<subjectPrefix>.` (the layout of services that publish `auth.user.created` into `auth.>`).
   */
  subjectLayout?: NatsSubjectLayout;
  /** How events are written to and read from messages (default CloudEvents JSON). */
  codec?: EventCodec;
  /** A delivery not acked within this time is redelivered (consumer `ack_wait`, default 30 000 ms). */
  ackWaitMs?: number;
  /**
   * The consumer's `max_deliver` (default unlimited). The broker dead-letters after its last
   * retry; a limit must stay above `maxRetries + 1`, or the server drops what is left silently.
   */
  maxDeliver?: number;
  /** Longest wait of one pull (default 5000 ms, at least 1000). */
  fetchExpiresMs?: number;
  /** Stream replicas (default 1). */
  replicas?: number;
  /** Events are kept this long in the stream and the history (default 7 days). */
  maxAgeMs?: number;
  /** Size limit of the stream in bytes (default none). */
  maxBytes?: number;
  /** Dead letters kept per stream (default 10 000). */
  maxDeadLetters?: number;
  /** A publish retried with the same event id within this window is stored once (default 2 min). */
  duplicateWindowMs?: number;
  /**
   * How many streams the events are spread over (default 1): with n > 1, `<stream>_P0` …
   * `<stream>_P<n-1>`, subjects `<prefix>.p<p>.<source>.<type>`; an event goes to partition
   * `fnv1a32(key ?? id) % n`. On a cluster each stream has a leader of its own: the partitions
   * spread the writes and deliveries over the servers. The count cannot change under existing
   * data, and needs the default `subjectLayout`.
   */
  partitions?: number;
}
