import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { connect, type NatsConnection } from 'nats';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBroker, EventBrokerModule, EventPublisher, goEnvelopeCodec, OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import { GO_ENVELOPE } from '../support/go-envelope.js';
import { deleteStreams, NATS_URL } from '../support/nats.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The Go services of seed 001 publish their JSON envelope on `auth.user.created` into a stream of
 * `auth.>`; a Nest app reads and writes the same subjects with the NATS transport's `type` layout.
 */
describe('the Go services’ event envelope on NATS', () => {
  const schema = `auth-${randomUUID().slice(0, 8)}`;
  const stream = `EBTEST_GO_${schema.slice(5)}`;
  let connection: NatsConnection;
  let app: INestApplicationContext | undefined;
  const handled: BrokerEvent[] = [];

  @Injectable()
  class UserEventsListener {
    @OnEvent(`${schema}.user.*`, { group: 'go-interop', retry: { maxRetries: 0 } })
    onUserEvent(event: BrokerEvent): void {
      handled.push(event);
    }
  }

  async function startApp(): Promise<INestApplicationContext> {
    @Module({
      imports: [
        EventBrokerModule.forRoot({
          transport: 'nats',
          nats: {
            servers: NATS_URL,
            stream,
            subjectPrefix: schema,
            subjectLayout: 'type',
            codec: goEnvelopeCodec({ schema, service: 'billing-service' }),
            ackWaitMs: 5000,
          },
        }),
      ],
      providers: [UserEventsListener],
    })
    class BillingModule {}
    app = await NestFactory.createApplicationContext(BillingModule, { logger: false });
    await app.init();
    return app;
  }

  beforeEach(async () => {
    connection = await connect({ servers: NATS_URL });
  });

  afterEach(async () => {
    await app?.close();
    await connection.close();
    await deleteStreams(stream);
  });

  it('hands an envelope a Go service published to an @OnEvent handler, and dead-letters a message that is no envelope', async () => {
    const started = await startApp();
    const js = connection.jetstream();
    const envelope = { ...GO_ENVELOPE, id: randomUUID() };

    await js.publish(`${schema}.user.updated`, 'not an envelope');
    await js.publish(`${schema}.user.created`, JSON.stringify(envelope));

    await waitFor(() => handled.length === 1, 'the Go envelope reached the handler', 10_000);
    expect(handled[0]).toMatchObject({
      id: envelope.id,
      type: `${schema}.user.created`,
      payload: envelope.data,
      metadata: { origin: 'auth-service', organization_id: 'org-123' },
    });
    const transport = started.get(EventBroker).transport;
    await waitFor(
      async () => (await transport.deadLetters({ group: 'go-interop' })).length === 1,
      'the unreadable message was dead-lettered',
    );
    const [deadLetter] = await transport.deadLetters({ group: 'go-interop' });
    expect(deadLetter.error).toMatch(/Unreadable message .* on .*\.user\.updated: Malformed event envelope: not JSON/);
  });

  it('publishes events as the Go envelope on the subject the Go subscribers read', async () => {
    const goSubscriber = connection.subscribe(`${schema}.user.*`, { max: 1 });
    const started = await startApp();

    const event = await started
      .get(EventPublisher)
      .publish(`${schema}.user.deleted`, { user_id: 3 }, { metadata: { organization_id: 'org-9' } });

    for await (const message of goSubscriber) {
      expect(message.subject).toBe(`${schema}.user.deleted`);
      expect(message.json()).toMatchObject({
        id: event.id,
        type: 'user.deleted',
        source: 'billing-service',
        organization_id: 'org-9',
        timestamp: event.createdAt.toISOString(),
        data: { user_id: 3 },
      });
    }
    await waitFor(() => handled.some((seen) => seen.id === event.id), 'our own handler got the event back from the stream', 10_000);
  });
});
