import type { EventTransport, TransactionClient } from '../../core/event-transport.interface.js';

/** A database transaction of the fixture's own, for `publish(event, { tx })`. */
export interface FixtureTransaction {
  client: TransactionClient;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** An event as another program writes it: the attributes of a CloudEvents 1.0 document. */
export interface ForeignEvent {
  id: string;
  source: string;
  type: string;
  data: unknown;
  userid?: string;
}

/**
 * What the conformance suite needs from one transport, for one test. The suite talks to the
 * transport only through `EventBroker` and the `EventTransport` interface; everything that knows
 * the transport's internals (servers, keys, streams, schemas) lives in its fixture.
 */
export interface TransportFixture {
  /**
   * A new transport on this test's own backing store (unique stream/prefix/schema per test); two
   * created by one fixture behave like two processes of one service. A transport that lives in one
   * process only gives every caller the same instance.
   */
  createTransport(): EventTransport;
  /** Writes `event` where the transport reads, the way another program would. Needed for the feature `foreignProducers`. */
  writeForeign?(event: ForeignEvent): Promise<void>;
  /** Writes an unreadable message where the transport reads. Needed for the feature `malformedMessages`. */
  writeMalformed?(body: string): Promise<void>;
  /** Opens a transaction in the database the transport writes to. Needed for the feature `transactional`. */
  beginTransaction?(): Promise<FixtureTransaction>;
  /** Removes what the test left behind (keys, streams, schemas). */
  teardown(): Promise<void>;
}

export type TransportFixtureFactory = () => Promise<TransportFixture>;
