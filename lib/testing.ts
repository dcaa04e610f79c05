// nestjs-event-broker/testing: what tests of apps and of transports use. Needs vitest.
export { runTransportConformance } from './testing/conformance/transport-conformance.js';
export type { TransportFeatures } from './testing/conformance/transport-features.interface.js';
export type {
  FixtureTransaction,
  ForeignEvent,
  TransportFixture,
  TransportFixtureFactory,
} from './testing/conformance/transport-fixture.interface.js';
