// nestjs-event-broker/testing: what tests of apps use, under any test runner.
export { EventBrokerTestingModule } from './testing/kit/event-broker-testing.module.js';
export type { EventBrokerTestingOptions } from './testing/kit/event-broker-testing-options.interface.js';
export { TestEvents } from './testing/kit/test-events.js';
export type { WaitOptions } from './testing/kit/wait-options.interface.js';
export { WaitTimeoutError } from './testing/kit/wait-timeout.error.js';
