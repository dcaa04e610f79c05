import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
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
  /**
   * An ioredis client (`Redis`, or `Cluster` for a Redis Cluster) to use instead of connecting; the
   * transport duplicates it for its blocking reads and never closes it.
   */
  client?: Redis | Cluster;
  /**
   * Connect to a Redis Cluster through these nodes (any of its nodes: the others are discovered),
   * with ioredis' cluster options; `username`, `password` and `tls` apply to every node. Needs
   * `partitions` of 2 or more, or a `keyPrefix` with a hash tag.
   */
  cluster?: RedisClusterOptions;
  /** Prefix of every key (default `eb`): brokers with the same prefix share streams and groups. */
  keyPrefix?: string;
  /**
   * How many streams the events are spread over (default 1), by their key (else their id): each
   * partition's keys share a hash tag, so that a Redis Cluster spreads them over its masters.
   * Events are in order per partition. Fixed once events are written under the prefix.
   */
  partitions?: number;
  /**
   * A publish resolves once this many replicas acknowledged its write (`WAIT`), and fails when
   * fewer did within `waitTimeoutMs` (default 0: once the master has it).
   */
  waitReplicas?: number;
  /** How long a publish waits for `waitReplicas` (default 1000 ms). */
  waitTimeoutMs?: number;
  /**
   * Stream entries kept once every group has consumed them (approximate, default 100 000; each
   * partition keeps its share): the streams are the history, so this is also how many events the
   * history keeps.
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

export interface RedisClusterOptions {
  nodes: { host?: string; port?: number }[];
  options?: ClusterOptions;
}
