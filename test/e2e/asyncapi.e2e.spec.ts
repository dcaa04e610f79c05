import 'reflect-metadata';
import { Controller, Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  EmitsEvent,
  EventBrokerModule,
  OnEvent,
  createAsyncApiDocument,
  defineEvent,
  type AsyncApiDocument,
  type BrokerEvent,
  type EventBrokerModuleOptions,
  type EventOf,
} from '../../lib/index.js';
import { EventBrokerTestingModule } from '../../lib/testing.js';
import { parseAsyncApi } from '../support/asyncapi.js';

const OrderPlaced = defineEvent('shop.orders.placed', z.object({ id: z.string(), total: z.number().nonnegative() }));

@Injectable()
class Invoicing {
  @OnEvent(OrderPlaced, { concurrency: 4 })
  invoice(_event: EventOf<typeof OrderPlaced>): void {}

  @OnEvent('shop.orders.*', { group: 'orders-audit', retry: { maxRetries: 7 } })
  @OnEvent('shop.payments.**', { group: 'orders-audit', retry: { maxRetries: 7 } })
  audit(_event: BrokerEvent): void {}
}

@Controller('orders')
class OrdersController {
  @EmitsEvent('shop.orders.placed')
  @EmitsEvent('shop.orders.counted')
  place(): { id: string; total: number } {
    return { id: 'o-1', total: 10 };
  }

  @EmitsEvent('shop.orders.cancel')
  cancel(): { id: string } {
    return { id: 'o-1' };
  }
}

const apps: INestApplication[] = [];

async function create(options: EventBrokerModuleOptions): Promise<INestApplication> {
  @Module({ imports: [EventBrokerModule.forRoot(options)], providers: [Invoicing], controllers: [OrdersController] })
  class ShopModule {}
  const moduleRef = await Test.createTestingModule({ imports: [ShopModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** Each operation as `<id> <action> <channel address> <x-group> <x-retry maxRetries>`. */
function operations(document: AsyncApiDocument): string[] {
  return Object.entries(document.operations).map(([id, operation]) =>
    [
      id,
      operation.action,
      document.channels[operation.channel.$ref.replace('#/channels/', '')]?.address,
      operation['x-group'],
      operation['x-retry']?.maxRetries,
    ]
      .filter((part) => part !== undefined)
      .join(' '),
  );
}

describe('the AsyncAPI document of an app', () => {
  it('is served at asyncapi.path, valid for the AsyncAPI parser, with every handler and publisher of the app', async () => {
    const app = await create({ serviceName: 'shop', retry: { maxRetries: 1 }, asyncapi: { path: '/docs/asyncapi.json', title: 'Shop' } });
    await app.init();
    const served = await request(app.getHttpServer()).get('/docs/asyncapi.json');
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toMatch(/^application\/json/);
    const document = served.body as AsyncApiDocument;
    expect((await parseAsyncApi(document)).problems).toEqual([]);
    expect(document.info).toMatchObject({ title: 'Shop', version: '1.0.0' });
    expect(operations(document)).toEqual([
      'Invoicing.audit.shop.orders.* receive shop.orders.{operation} orders-audit 7',
      'Invoicing.audit.shop.payments.** receive shop.payments.{rest} orders-audit 7',
      'Invoicing.invoice receive shop.orders.placed shop.Invoicing.invoice 1',
      'OrdersController.cancel send shop.orders.cancel',
      'OrdersController.place.shop.orders.counted send shop.orders.counted',
      'OrdersController.place.shop.orders.placed send shop.orders.placed',
    ]);
    expect(document.operations['Invoicing.invoice']?.['x-concurrency']).toBe(4);
    expect(document.components.schemas['shop.orders.placed']).toMatchObject({
      schema: { type: 'object', properties: { id: { type: 'string' }, total: { type: 'number', minimum: 0 } }, required: ['id', 'total'] },
    });
    expect(createAsyncApiDocument(app)).toEqual(document);
  });

  it('is made by createAsyncApiDocument before the app starts, with the options given over the module option', async () => {
    const app = await create({ serviceName: 'shop', asyncapi: { title: 'Shop', version: '3.0.1' } });
    const document = createAsyncApiDocument(app, { version: '3.1.0', description: 'Orders and payments.' });
    expect(document.info).toEqual({ title: 'Shop', version: '3.1.0', description: 'Orders and payments.' });
    expect(Object.keys(document.operations)).toHaveLength(6);
  });

  it('is not served without asyncapi.path', async () => {
    const app = await create({});
    await app.init();
    expect((await request(app.getHttpServer()).get('/asyncapi.json')).status).toBe(404);
  });

  it('lists the server of the transport from its options, without its password, or the servers given', async () => {
    // Port 1: nothing listens there, and nothing needs to before the app starts.
    const redis = await create({ transport: 'redis', redis: { url: 'redis://app:secret@127.0.0.1:1', keyPrefix: 'unused' } });
    const document = createAsyncApiDocument(redis);
    expect(document.servers).toEqual({ redis: expect.objectContaining({ host: '127.0.0.1:1', protocol: 'redis' }) });
    expect(JSON.stringify(document)).not.toContain('secret');
    const given = await create({ asyncapi: { servers: { production: { host: 'broker.example.com:4222', protocol: 'nats' } } } });
    expect(createAsyncApiDocument(given).servers).toEqual({ production: { host: 'broker.example.com:4222', protocol: 'nats' } });
  });

  it('is made for an app of the testing module too', async () => {
    @Module({ imports: [EventBrokerTestingModule.forRoot({ serviceName: 'shop' })], providers: [Invoicing] })
    class TestedModule {}
    const moduleRef = await Test.createTestingModule({ imports: [TestedModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    expect(Object.keys(createAsyncApiDocument(app).operations)).toEqual([
      'Invoicing.audit.shop.orders.*',
      'Invoicing.audit.shop.payments.**',
      'Invoicing.invoice',
    ]);
  });

  it('refuses an unknown or misspelt asyncapi option, and a path that is not one', () => {
    expect(() => EventBrokerModule.forRoot({ asyncapi: { pth: '/asyncapi.json' } as never })).toThrow(
      'EventBrokerModule asyncapi option pth is unknown; did you mean path?',
    );
    expect(() => EventBrokerModule.forRoot({ asyncapy: {} } as never)).toThrow(
      'EventBrokerModule option asyncapy is unknown; did you mean asyncapi?',
    );
    expect(() => EventBrokerModule.forRoot({ asyncapi: { path: 'asyncapi.json' } })).toThrow(
      'EventBrokerModule asyncapi path must be a string that starts with /, got "asyncapi.json"',
    );
  });

  it('needs EventBrokerModule, and says so', async () => {
    @Module({})
    class EmptyModule {}
    const app = await NestFactory.createApplicationContext(EmptyModule, { logger: false });
    try {
      expect(() => createAsyncApiDocument(app)).toThrow('createAsyncApiDocument needs an application that imports EventBrokerModule');
    } finally {
      await app.close();
    }
  });
});
