import type { EventTransport } from '../../lib/index.js';

/**
 * What the conformance suite needs from one transport, for one test. The suite talks to the
 * transport only through `EventBroker` and the `EventTransport` interface; everything that knows
 * the transport's internals (servers, keys, streams, schemas) lives in its fixture.
 */
export interface TransportFixture {
  /** A new transport on this test's own backing store (unique stream/prefix/schema per test); two created by one fixture behave like two processes of one service. */
  createTransport(): EventTransport;
  /** Writes an unparseable message on the wire the way a foreign client would; absent when the transport has no wire (memory). */
  writeMalformed?(body: string): Promise<void>;
  /** Removes what the test left behind (keys, streams, schemas). */
  teardown(): Promise<void>;
}

export type TransportFixtureFactory = () => Promise<TransportFixture>;
