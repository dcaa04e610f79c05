import type { Redis, RedisOptions } from 'ioredis';
import type { EventCodec } from '../event-codec.interface.js';

export interface RedisTransportOptions {
  /** `redis://[user:password@]host:port/db` or `rediss://` for TLS. */
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** `true` for TLS with default settings, or Node's TLS options. */
  tls?: boolean | RedisOptions['tls'];
  /** An ioredis client to use instead of connecting; the transport duplicates it and never closes it. */
  client?: Redis;
  /** Prefix of every key (default `eb`): brokers with the same prefix share streams and groups. */
  keyPrefix?: string;
  /**
   * Stream entries kept once every group has consumed them (approximate, default 100 000): the
   * stream is the history, so this is also how many events the history keeps.
   */
  maxLen?: number;
  /** A delivery not settled within this time is taken over by another consumer (default 30 000 ms). */
  ackTimeoutMs?: number;
  /** Longest wait of one blocking read (default 5000 ms); also bounds how late a claim is seen. */
  blockMs?: number;
  /**
   * How long an event stays in the history at most, once every group has consumed it (default 7
   * days); also how long its id is remembered, so that a second publish of it is a no-op.
   */
  retentionMs?: number;
  /** Dead letters kept per group (approximate, default 10 000). */
  maxDeadLetters?: number;
  /** How often the stream is trimmed (default 10 000 ms). */
  trimIntervalMs?: number;
  /** How events are written to and read from the stream (default CloudEvents JSON in the `event` field). */
  codec?: EventCodec;
}
