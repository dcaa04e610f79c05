import { Module, type DynamicModule } from '@nestjs/common';
import { EventBroker } from '../../core/event-broker.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertKnownOptions } from '../../core/known-options.js';
import { EventBrokerModule } from '../../nest/event-broker.module.js';
import { MemoryTransport } from '../../transports/memory/memory-transport.js';
import { TESTING_OPTION_NAMES, type EventBrokerTestingOptions } from './event-broker-testing-options.interface.js';
import { ObservedTransport } from './observed-transport.js';
import { TestEvents } from './test-events.js';
import { DEFAULT_WAIT_TIMEOUT_MS, TESTING_RETRY } from './testing-defaults.js';

function testEvents(broker: EventBroker, waitTimeoutMs: number): TestEvents {
  if (!(broker.transport instanceof ObservedTransport))
    throw new EventBrokerError(
      'TestEvents needs the broker of EventBrokerTestingModule.forRoot(): another EventBrokerModule is imported too',
    );
  return new TestEvents(broker, broker.transport, waitTimeoutMs);
}

/**
 * `EventBrokerModule` for tests: each app gets a memory transport of its own, retries a few
 * milliseconds apart, and `TestEvents`, which sees what is published and waits for outcomes.
 */
@Module({})
export class EventBrokerTestingModule {
  static forRoot(options: EventBrokerTestingOptions = {}): DynamicModule {
    assertKnownOptions('EventBrokerTestingModule', options, TESTING_OPTION_NAMES);
    const { waitTimeoutMs = DEFAULT_WAIT_TIMEOUT_MS, memory, retry, ...moduleOptions } = options;
    if (!Number.isFinite(waitTimeoutMs) || waitTimeoutMs <= 0)
      throw new EventBrokerError(
        `EventBrokerTestingModule option waitTimeoutMs must be a positive number of milliseconds, got ${waitTimeoutMs}`,
      );
    return {
      module: EventBrokerTestingModule,
      global: true,
      imports: [
        EventBrokerModule.forRootAsync({
          useFactory: () => ({
            ...moduleOptions,
            retry: { ...TESTING_RETRY, ...retry },
            transport: new ObservedTransport(new MemoryTransport(memory)),
          }),
        }),
      ],
      providers: [{ provide: TestEvents, useFactory: (broker: EventBroker) => testEvents(broker, waitTimeoutMs), inject: [EventBroker] }],
      exports: [TestEvents],
    };
  }
}
