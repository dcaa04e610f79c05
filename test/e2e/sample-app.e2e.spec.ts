import 'reflect-metadata';
import { get as httpGet, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppModule } from '../../sample-app/app.module.js';
import type { AsyncApiDocument, BrokerEvent, DeadLetter } from '../../lib/index.js';
import { parseAsyncApi } from '../support/asyncapi.js';
import { deleteStreams, uniqueStream } from '../support/nats.js';
import { dropSchema, uniqueSchema } from '../support/postgres.js';
import { deleteKeys, uniquePrefix } from '../support/redis.js';
import { waitFor } from '../support/wait-for.js';

interface TransportSetup {
  env: Record<string, string>;
  cleanup(): Promise<void>;
  /** The servers of its AsyncAPI document, by name: `<protocol> <host>`. */
  servers: Record<string, string>;
}

const prefix = uniquePrefix('sample');
const nats = uniqueStream('sample');
const schema = uniqueSchema('sample');
const TRANSPORTS: Record<string, TransportSetup> = {
  memory: { env: {}, cleanup: async () => undefined, servers: {} },
  redis: { env: { REDIS_KEY_PREFIX: prefix }, cleanup: () => deleteKeys(prefix), servers: { redis: 'redis 127.0.0.1:6379' } },
  nats: {
    env: { NATS_STREAM: nats.stream, NATS_SUBJECT_PREFIX: nats.subjectPrefix },
    cleanup: () => deleteStreams(nats.stream),
    servers: { nats: 'nats 127.0.0.1:4222' },
  },
  postgres: { env: { POSTGRES_SCHEMA: schema }, cleanup: () => dropSchema(schema), servers: { postgres: 'postgres 127.0.0.1:5432' } },
};

/** The first Server-Sent Event of `path`, once `trigger` has run. */
async function firstServerSentEvent(app: INestApplication, path: string, trigger: () => Promise<unknown>): Promise<unknown> {
  const server = app.getHttpServer() as { address(): AddressInfo | string | null; listening: boolean; listen(port: number): void };
  if (!server.listening) server.listen(0);
  const { port } = server.address() as AddressInfo;
  const response = await new Promise<IncomingMessage>((resolve) => httpGet(`http://127.0.0.1:${port}${path}`, resolve));
  const data = new Promise<unknown>((resolve) => {
    let buffer = '';
    response.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((candidate) => candidate.startsWith('data: '));
      if (line) resolve(JSON.parse(line.slice('data: '.length)));
    });
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  await trigger();
  const event = await data;
  response.destroy();
  return event;
}

for (const [transport, setup] of Object.entries(TRANSPORTS)) {
  describe(`the sample app on ${transport}`, () => {
    let app: INestApplication;
    let http: ReturnType<typeof request>;

    beforeAll(async () => {
      Object.assign(process.env, { EVENT_BROKER_TRANSPORT: transport, ...setup.env });
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
      http = request(app.getHttpServer());
    });

    afterAll(async () => {
      await app?.close();
      for (const name of ['EVENT_BROKER_TRANSPORT', ...Object.keys(setup.env)]) delete process.env[name];
      await setup.cleanup();
    });

    const events = async (query = ''): Promise<BrokerEvent[]> => (await http.get(`/events${query}`)).body as BrokerEvent[];

    it('publishes public.users.create for a new user, with the requester, and every handler runs', async () => {
      const created = await http.post('/users').set('x-user-id', 'admin').send({ name: 'Ada', email: 'ada@example.com' });
      expect(created.status).toBe(201);
      await waitFor(async () => (await events('?type=public.users.create'))[0]?.status === 'completed', 'the event completed', 10_000);
      const [event] = await events('?type=public.users.create');
      expect(event).toMatchObject({ source: 'database', payload: { name: 'Ada', email: 'ada@example.com' }, userId: 'admin' });
      expect((await http.get(`/events/${event.id}`)).body).toMatchObject({ id: event.id, status: 'completed' });
      expect((await http.get('/analytics')).body).toEqual({ create: 1 });
    });

    it('refuses bad input with a clear error and publishes nothing', async () => {
      const refused = await http.post('/users').send({ name: 'No mail' });
      expect(refused.status).toBe(400);
      expect(refused.body.message).toBe('email must be a non-empty string');
      expect((await http.get('/events/not-an-event')).status).toBe(404);
    });

    it('answers 404 to the replay of an unknown dead letter, with the reason', async () => {
      for (const id of ['unknown', 'bogus@group', '1-0@nogroup', '99999@nogroup']) {
        const replay = await http.post(`/events/dead-letters/${encodeURIComponent(id)}/replay`);
        expect(replay.status).toBe(404);
        expect(replay.body.message).toBe(`Cannot replay dead letter ${id}: no such dead letter`);
      }
    });

    it.each([
      ['status=bogus', 'status must be one of pending, processing, completed, failed, got "bogus"'],
      ['source=bogus', 'source must be one of database, websocket, frontend, system, internal, got "bogus"'],
      ['since=yesterday', 'since must be a date such as 2026-01-31T12:00:00Z, got "yesterday"'],
      ['until=2026-13-45', 'until must be a date such as 2026-01-31T12:00:00Z, got "2026-13-45"'],
      ['limit=abc', 'limit must be a non-negative integer, got "abc"'],
      ['limit=-1', 'limit must be a non-negative integer, got "-1"'],
      ['offset=1.5', 'offset must be a non-negative integer, got "1.5"'],
      ['type=public..users', 'Invalid event pattern: segment 2 of "public..users" must be "*", "**" or match [A-Za-z0-9_-]+'],
    ])('answers 400 to GET /events?%s, naming what is allowed', async (query, message) => {
      const refused = await http.get(`/events?${query}`);
      expect(refused.status).toBe(400);
      expect(refused.body.message).toBe(message);
    });

    it('retries the failing CRM handler, dead-letters the event and replays it', async () => {
      await http.post('/users').send({ name: 'Bob', email: 'bob@fail.example' });
      const deadLetters = async (): Promise<DeadLetter[]> => (await http.get('/events/dead-letters')).body as DeadLetter[];
      await waitFor(async () => (await deadLetters()).length === 1, 'the dead letter', 15_000);
      const [first] = await deadLetters();
      expect(first).toMatchObject({ group: 'sample.CrmSync.sync', attempts: 3, error: 'CRM refused bob@fail.example (attempt 3)' });
      expect((await http.post(`/events/dead-letters/${encodeURIComponent(first.id)}/replay`)).status).toBe(201);
      await waitFor(
        async () => (await deadLetters()).some((letter) => new Date(letter.deadLetteredAt) > new Date(first.deadLetteredAt)),
        'the replayed event to fail again into a new dead letter',
        15_000,
      );
    });

    it('completes a dead letter replayed once the CRM outage is over', async () => {
      const [letter] = (await http.get('/events/dead-letters')).body as DeadLetter[];
      expect((await http.delete('/crm/outage')).body).toEqual({ outage: false });
      expect((await http.post(`/events/dead-letters/${encodeURIComponent(letter.id)}/replay`)).status).toBe(201);
      await waitFor(
        async () => (await http.get(`/events/${letter.event.id}`)).body.status === 'completed',
        'the replayed event to complete',
        15_000,
      );
      expect((await http.get('/events/dead-letters')).body).toEqual([]);
    });

    it('publishes update and delete, and keeps them in the history', async () => {
      expect((await http.patch('/users/1').send({ name: 'Ada L.' })).status).toBe(200);
      expect((await http.delete('/users/1')).status).toBe(200);
      // @EmitsEvent publishes after the response, and two publishes may be stored in either order.
      await waitFor(
        async () => (await events('?type=public.users.delete')).length === 1 && (await events('?type=public.users.update')).length === 1,
        'the update and delete events',
        10_000,
      );
      expect((await events('?type=public.users.update'))[0]?.payload).toMatchObject({ name: 'Ada L.' });
    });

    it('streams new events as Server-Sent Events', async () => {
      const streamed = await firstServerSentEvent(app, '/events/stream?pattern=public.users.create', () =>
        http.post('/users').send({ name: 'Cy', email: 'cy@example.com' }),
      );
      expect(streamed).toMatchObject({ type: 'public.users.create', payload: { name: 'Cy' } });
    });

    it('serves its AsyncAPI document: valid, with the handlers, the publishes, the payload of its contract and the transport', async () => {
      const served = await http.get('/asyncapi.json');
      expect(served.status).toBe(200);
      const document = served.body as AsyncApiDocument;
      expect((await parseAsyncApi(document)).problems).toEqual([]);
      const operations = Object.entries(document.operations).map(
        ([id, operation]) => `${id} ${operation.action} ${document.channels[operation.channel.$ref.replace('#/channels/', '')]?.address}`,
      );
      expect(operations).toEqual([
        'AnalyticsCounter.count receive public.users.{operation}',
        'AuditLog.record receive public.users.{operation}',
        'CrmSync.sync receive public.users.create',
        'UsersService.create send public.users.create',
        'UsersService.remove send public.users.delete',
        'UsersService.update send public.users.update',
        'WelcomeMailer.send receive public.users.create',
      ]);
      expect(document.operations['CrmSync.sync']).toMatchObject({
        'x-group': 'sample.CrmSync.sync',
        'x-retry': { maxRetries: 2, initialDelayMs: 200 },
      });
      expect(document.components.schemas['public.users.create']).toMatchObject({
        schema: { properties: { id: { type: 'integer' }, name: { type: 'string' }, email: { format: 'email' } } },
      });
      expect(document.components.messages['public.users.update']).not.toHaveProperty('payload');
      const servers = Object.entries(document.servers ?? {}).map(([name, server]) => [name, `${server.protocol} ${server.host}`]);
      expect(Object.fromEntries(servers)).toEqual(setup.servers);
    });

    it('serves stats, Prometheus metrics and health', async () => {
      expect((await http.get('/events/stats')).body).toMatchObject({ running: true, transport: { type: transport } });
      const metrics = await http.get('/metrics');
      expect(metrics.text).toContain('eventbroker_events_published_total{source="database",type="public.users.create"}');
      const health = await http.get('/health');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'ok', info: { eventBroker: { status: 'up', transport } } });
    });
  });
}
