// Our broker inside a Nest app (EventBrokerModule + @OnEvent + EventPublisher) next to what a Nest
// user of @nestjs/microservices does instead: ClientProxy.emit to a microservice whose controller
// has an @EventPattern handler. Both sides run in this process, over the same Redis or NATS server.
import { randomUUID } from 'node:crypto';
import { Controller, Injectable, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, EventPattern, Payload, type NatsOptions, type RedisOptions } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { EventBrokerModule, EventPublisher, OnEvent, type EventTransport } from 'nestjs-event-broker';
import { payload, throughput, TimedOut, until, type Measurement } from './measure.js';

/** The settings of the run that calls these, so that both sides are bounded as the other rows are. */
export interface PeerRun {
  count: number;
  window: number;
}

/** Put in the target column: the two sides do not promise the same thing, so no target applies. */
export const AT_MOST_ONCE_NOTE = 'none (theirs: at-most-once pub/sub, no persistence, no ack)';

// A dropped message would otherwise hold the run for the helper's default two minutes.
const DROP_TIMEOUT_MS = 30_000;

/** Our broker on `transport`, used as a Nest user does: the module, an @OnEvent handler, EventPublisher. */
export async function oursInNestApp(run: PeerRun, transport: EventTransport, size: number): Promise<Measurement> {
  let handled = 0;
  @Injectable()
  class BenchHandler {
    @OnEvent('bench.events.*')
    async handle(): Promise<void> {
      handled++;
    }
  }
  @Module({ imports: [EventBrokerModule.forRoot({ transport })], providers: [BenchHandler] })
  class BenchApp {}
  const app = await NestFactory.createApplicationContext(BenchApp, { logger: false });
  await app.init();
  try {
    const publisher = app.get(EventPublisher);
    return await throughput(
      run.count,
      run.window,
      (n) => publisher.publish('bench.events.create', payload(size, n)),
      () => handled,
    );
  } finally {
    await app.close();
  }
}

/**
 * `ClientProxy.emit` to a Nest microservice on the same transport, handled by an async
 * @EventPattern handler. The pattern is unique to the call so that parallel runs do not collide.
 * The window bounds emits the way a user awaiting them would: on Redis an emit resolves on the
 * PUBLISH reply, on NATS as soon as the client has buffered it, so there nothing is held back.
 */
export async function microservicesEmit(run: PeerRun, options: RedisOptions | NatsOptions, size: number): Promise<Measurement> {
  const pattern = `bench.events.create.${randomUUID().slice(0, 8)}`;
  let handled = 0;
  let probed = false;
  const controller = eventController(pattern, (data) => {
    // Probes are sent until the subscription is live; counting them would skew the measurement.
    if (data.n < 0) probed = true;
    else handled++;
  });
  @Module({ controllers: [controller] })
  class BenchMicroservice {}
  const microservice = await NestFactory.createMicroservice(BenchMicroservice, { ...options, logger: false });
  const client = ClientProxyFactory.create(options);
  try {
    await microservice.listen();
    await client.connect();
    const emit = (data: object): Promise<unknown> => lastValueFrom(client.emit(pattern, data), { defaultValue: undefined });
    // Neither Redis pub/sub nor core NATS keeps a message no subscriber is there for, and listen()
    // returns before the server has registered the subscription: emit until one gets through.
    const probing = setInterval(() => void emit({ n: -1 }).catch(() => undefined), 20);
    try {
      await until(() => probed, `${pattern} subscribed`, 10_000);
    } finally {
      clearInterval(probing);
    }
    try {
      return await throughput(
        run.count,
        run.window,
        (n) => emit(payload(size, n)),
        () => handled,
        DROP_TIMEOUT_MS,
      );
    } catch (error) {
      if (!(error instanceof TimedOut)) throw error;
      throw new Error(`${handled} of ${run.count} emitted events handled after ${DROP_TIMEOUT_MS / 1000} s: the rest were dropped`, {
        cause: error,
      });
    }
  } finally {
    // After a dropped connection, closing rejects ("Connection is closed"): that must not hide
    // the measurement or the error that says what was dropped.
    await client.close().catch(() => undefined);
    await microservice.close().catch(() => undefined);
  }
}

function eventController(pattern: string, onEvent: (data: { n: number }) => void): Type {
  @Controller()
  class BenchEventsController {
    @EventPattern<Record<string, { n: number }>>(pattern)
    async handle(@Payload() data: { n: number }): Promise<void> {
      onEvent(data);
    }
  }
  return BenchEventsController;
}
