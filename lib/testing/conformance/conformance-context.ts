import { afterEach, beforeEach } from 'vitest';
import type { BrokerLogger } from '../../core/broker-logger.interface.js';
import { EventBroker } from '../../core/event-broker.js';
import type { EventBrokerOptions } from '../../core/event-broker-options.interface.js';
import type { EventTransport } from '../../core/event-transport.interface.js';
import type { TransportFeatures } from './transport-features.interface.js';
import type { TransportFixture, TransportFixtureFactory } from './transport-fixture.interface.js';

/** How long anything that should happen may take: generous, so that a networked transport passes on a loaded machine. */
export const WAIT_MS = 10_000;
/** How long to watch for something that must NOT happen (a duplicate, a late delivery). */
export const QUIET_MS = 200;
export const TEST_TIMEOUT_MS = 30_000;
export const FAST_RETRY = { initialDelayMs: 5, maxDelayMs: 20, jitter: 0 };

export type BrokerSettings = Partial<Omit<EventBrokerOptions, 'transport'>>;

/** Keeps the suite quiet: transports log what they recover from, which is expected here. */
export const silentLogger: BrokerLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` for up to WAIT_MS; on timeout the error names `what` and shows `state()` as it was then. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  state?: () => unknown | Promise<unknown>,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      const shown = state ? `; state then: ${JSON.stringify(await state())}` : '';
      throw new Error(`Timed out after ${WAIT_MS} ms waiting for: ${what}${shown}`);
    }
    await pause(5);
  }
}

/** What every part of the suite works with inside one test: the transport's fixture, brokers and bare transports. */
export interface ConformanceContext {
  readonly name: string;
  readonly features: TransportFeatures;
  fixture(): TransportFixture;
  /** A broker on a new transport of this test's fixture (another process of the same service); stopped after the test. */
  broker(settings?: BrokerSettings): EventBroker;
  /** A new transport of this test's fixture, connected; closed after the test. */
  transport(): Promise<EventTransport>;
}

/** Registers the hooks that give each test a fresh fixture and clean up its brokers and transports. */
export function useConformanceContext(name: string, factory: TransportFixtureFactory, features: TransportFeatures): ConformanceContext {
  let current: TransportFixture | undefined;
  const brokers: EventBroker[] = [];
  const transports: EventTransport[] = [];

  beforeEach(async () => {
    current = await factory();
  }, TEST_TIMEOUT_MS);

  afterEach(async () => {
    try {
      await Promise.all(brokers.splice(0).map((broker) => broker.stop()));
      await Promise.all(transports.splice(0).map((transport) => transport.close()));
    } finally {
      await current?.teardown();
      current = undefined;
    }
  }, TEST_TIMEOUT_MS);

  const fixture = (): TransportFixture => {
    if (!current) throw new Error(`No ${name} transport fixture: the factory failed`);
    return current;
  };

  return {
    name,
    features,
    fixture,
    broker(settings = {}) {
      const broker = new EventBroker({
        transport: fixture().createTransport(),
        logger: silentLogger,
        retry: FAST_RETRY,
        shutdownTimeoutMs: 5_000,
        ...settings,
      });
      brokers.push(broker);
      return broker;
    },
    async transport() {
      const transport = fixture().createTransport();
      transports.push(transport);
      await transport.connect({ logger: silentLogger });
      return transport;
    },
  };
}

/** The fixture's method a declared feature needs, or an error that says which is missing. */
export function required<T>(method: T | undefined, feature: keyof TransportFeatures, fixtureMethod: string): T {
  if (method === undefined) throw new Error(`The feature ${feature} is declared, but the fixture has no ${fixtureMethod}()`);
  return method;
}
