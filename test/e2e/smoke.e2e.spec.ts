import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { EventBrokerModule, EventPublisher, OnEvent, type BrokerEvent } from '../../lib/index.js';

@Injectable()
class Mailer {
  seen: BrokerEvent[] = [];
  @OnEvent('public.users.*')
  async send(event: BrokerEvent) {
    this.seen.push(event);
  }
}

@Injectable()
class Users {
  constructor(readonly events: EventPublisher) {}
}

@Module({ imports: [EventBrokerModule.forRoot({ retry: { initialDelayMs: 1 } })], providers: [Mailer, Users] })
class AppModule {}

describe('nest smoke', () => {
  it('works', async () => {
    const ref = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = ref.createNestApplication();
    await app.init();
    await app.get(Users).events.publish('public.users.create', { id: 1 });
    await app.close();
    expect(app.get(Mailer).seen.map((e) => e.type)).toEqual(['public.users.create']);
  });
});
