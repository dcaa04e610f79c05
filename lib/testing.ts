// nestjs-event-broker/testing: what tests of apps and of transports use. The conformance suite needs vitest.
export { EventBrokerTestingModule } from './testing/kit/event-broker-testing.module.js';
export type { EventBrokerTestingOptions } from './testing/kit/event-broker-testing-options.interface.js';
export { TestEvents } from './testing/kit/test-events.js';
export type { WaitOptions } from './testing/kit/wait-options.interface.js';
export { WaitTimeoutError } from './testing/kit/wait-timeout.error.js';
export { runTransportConformance } from './testing/conformance/transport-conformance.js';
export type { TransportFeatures } from './testing/conformance/transport-features.interface.js';
export type {
  FixtureTransaction,
  ForeignEvent,
  TransportFixture,
  TransportFixtureFactory,
} from './testing/conformance/transport-fixture.interface.js';
