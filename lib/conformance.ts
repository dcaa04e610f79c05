// nestjs-event-broker/conformance: the suite every transport passes. It registers Vitest tests.
export { runTransportConformance } from './testing/conformance/transport-conformance.js';
export type { TransportFeatures } from './testing/conformance/transport-features.interface.js';
export type {
  FixtureTransaction,
  ForeignEvent,
  TransportFixture,
  TransportFixtureFactory,
} from './testing/conformance/transport-fixture.interface.js';
