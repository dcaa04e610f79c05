import { AssertionError } from 'node:assert';
import type { BrokerEvent } from '../../core/broker-event.interface.js';
import type { EventBroker } from '../../core/event-broker.js';
import { EventBrokerError } from '../../core/event-broker.errors.js';
import { assertPattern, matchPattern } from '../../core/match-pattern.js';
import type { DeliveryProgress } from './delivery-progress.interface.js';
import type { ObservedTransport } from './observed-transport.js';
import { matchesPartially } from './partial-match.js';
import { DEFAULT_WAIT_TIMEOUT_MS, PUBLISH_CHECK_POLL_MS } from './testing-defaults.js';
import type { WaitOptions } from './wait-options.interface.js';
import { WaitTimeoutError } from './wait-timeout.error.js';

function isFinal(event: BrokerEvent | null): event is BrokerEvent {
  return event !== null && (event.status === 'completed' || event.status === 'failed');
}

function describeProgress({ group, attempt, state, lastError }: DeliveryProgress): string {
  return state === 'in flight'
    ? `group ${group} has attempt ${attempt} in flight`
    : `group ${group} waits for a retry after attempt ${attempt} failed: ${lastError}`;
}

function describePublished(event: BrokerEvent): string {
  return `${event.type} ${JSON.stringify(event.payload)}`;
}

/**
 * What the broker of a test app published and how its handlers fared, without polling: the
 * kit's transport reports every publish and settlement. Get it from the app
 * (`app.get(TestEvents)`) of `EventBrokerTestingModule.forRoot()`.
 */
export class TestEvents {
  constructor(
    private readonly broker: EventBroker,
    private readonly transport: ObservedTransport,
    private readonly waitTimeoutMs = DEFAULT_WAIT_TIMEOUT_MS,
  ) {}

  /** The events published so far whose type matches `pattern` (all of them without one), oldest first, as published. */
  published(pattern?: string): BrokerEvent[] {
    if (pattern !== undefined) assertPattern(pattern);
    const events = this.transport.publishedEvents();
    return pattern === undefined ? events : events.filter((event) => matchPattern(pattern, event.type));
  }

  /**
   * The first event published whose type matches `pattern` and whose payload has everything
   * `partialPayload` has (as `toMatchObject` sees it); an `AssertionError` that lists what was
   * published instead when there is none.
   */
  expectPublished(pattern: string, partialPayload?: unknown): BrokerEvent {
    const candidates = this.published(pattern);
    const match = candidates.find((event) => partialPayload === undefined || matchesPartially(event.payload, partialPayload));
    if (match) return match;
    const wanted =
      partialPayload === undefined
        ? `an event matching ${pattern}`
        : `an event matching ${pattern} with a payload like ${JSON.stringify(partialPayload)}`;
    const all = this.published();
    const instead =
      candidates.length > 0
        ? `published ${pattern}: ${candidates.map(describePublished).join('; ')}`
        : all.length > 0
          ? `published: ${all.map((event) => event.type).join(', ')}`
          : 'nothing was published';
    throw new AssertionError({
      message: `Expected ${wanted}; ${instead}`,
      actual: candidates.map((event) => event.payload),
      expected: partialPayload,
    });
  }

  /**
   * Resolves with the event as the history has it once it is `completed` (every group handled
   * it) or `failed` (a group dead-lettered it); waits for it to be published if it was not yet.
   */
  waitFor(eventId: string, options: WaitOptions = {}): Promise<BrokerEvent> {
    return this.until(
      async () => {
        const event = await this.transport.get(eventId);
        return isFinal(event) ? event : undefined;
      },
      options,
      (waited) => this.describeEvent(eventId, waited),
    );
  }

  /** As `waitFor`, for the first event published whose type matches `pattern`. */
  waitForType(pattern: string, options: WaitOptions = {}): Promise<BrokerEvent> {
    assertPattern(pattern);
    const first = (): BrokerEvent | undefined => this.published(pattern)[0];
    return this.until(
      async () => {
        const published = first();
        const event = published ? await this.transport.get(published.id) : null;
        return isFinal(event) ? event : undefined;
      },
      options,
      async (waited) => {
        const published = first();
        if (published) return this.describeEvent(published.id, waited);
        const types = this.published().map((event) => event.type);
        return `No event matching ${pattern} was published within ${waited} ms (${types.length > 0 ? `published: ${types.join(', ')}` : 'nothing was published'})`;
      },
    );
  }

  /** Resolves once no publish is in progress and no group has a delivery queued, in flight or waiting for a retry. */
  async drain(options: WaitOptions = {}): Promise<void> {
    await this.until(
      async () => ((await this.pendingWork()).length === 0 ? true : undefined),
      options,
      async (waited) => {
        return `Not drained after ${waited} ms: ${(await this.pendingWork()).join('; ')}`;
      },
    );
  }

  /** What keeps the broker busy: publishes in progress, groups with deliveries, and the events they hold. */
  private async pendingWork(): Promise<string[]> {
    const work: string[] = [];
    const publishing = this.broker.publishesInProgress;
    if (publishing > 0) work.push(`${publishing} publish${publishing === 1 ? '' : 'es'} in progress`);
    const { groups } = await this.transport.stats();
    for (const [group, { pending, inFlight }] of Object.entries(groups)) {
      if (pending > 0 || inFlight > 0) work.push(`group ${group} has ${pending} queued or waiting for a retry and ${inFlight} in flight`);
    }
    if (work.length === 0) return work;
    const types = new Map(this.transport.publishedEvents().map((event) => [event.id, event.type]));
    for (const id of this.transport.unsettledEventIds()) {
      work.push(`event ${id} (${types.get(id) ?? 'type unknown'}): ${this.transport.progressOf(id).map(describeProgress).join(', ')}`);
    }
    return work;
  }

  private async describeEvent(eventId: string, waited: number): Promise<string> {
    const event = await this.transport.get(eventId);
    if (!event) {
      const published = this.transport.publishedEvents().some((recorded) => recorded.id === eventId);
      return published
        ? `Event ${eventId} is no longer in the history (the memory transport keeps its maxEvents newest)`
        : `Event ${eventId} was not published within ${waited} ms`;
    }
    const progress = this.transport.progressOf(eventId);
    const where = progress.length > 0 ? progress.map(describeProgress).join('; ') : 'no handler has taken it yet';
    return `Event ${eventId} (${event.type}) is still ${event.status} after ${waited} ms: ${where}`;
  }

  /**
   * Resolves with what `check` finds once it finds something, re-checking after every change the
   * transport reports; after the timeout, fails with what `explain` says of the wait.
   */
  private async until<T>(
    check: () => Promise<T | undefined>,
    { timeoutMs = this.waitTimeoutMs }: WaitOptions,
    explain: (waited: number) => Promise<string>,
  ): Promise<T> {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new EventBrokerError(`TestEvents option timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.transport.changed.notifications;
      const found = await check();
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WaitTimeoutError(await explain(timeoutMs));
      // A publish its contract refuses never reaches the transport: while one is checked, look again soon.
      const wakeUp = this.broker.publishesInProgress > 0 ? Math.min(remaining, PUBLISH_CHECK_POLL_MS) : remaining;
      if (this.transport.changed.notifications === seen) await this.transport.changed.wait(undefined, wakeUp);
    }
  }
}
