import 'reflect-metadata';
import { get as httpGet, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Injectable,
  Module,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  type LoggerService,
  type ModuleMetadata,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestApps } from '../support/test-apps.js';
import { EventBrokerModule, EventPublisher, OnEvent, type BrokerEvent, type BrokerStats, type DeadLetter } from 'nestjs-event-broker';
import {
  EventBrokerDashboardModule,
  type DashboardEventDetail,
  type DashboardReplayResult,
  type EventBrokerDashboardOptions,
} from 'nestjs-event-broker/dashboard';
import { EventBrokerTestingModule, TestEvents } from 'nestjs-event-broker/testing';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const NODE_ENV = process.env.NODE_ENV;

afterEach(() => {
  if (NODE_ENV === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = NODE_ENV;
});
// After-hooks run last-registered first: the apps close before NODE_ENV is put back.
const { apps, boot } = useTestApps();

/** Bills orders; refuses them while `down`, so that their events end as dead letters until a replay after the fix. */
@Injectable()
class Billing {
  down = true;

  @OnEvent('orders.placed', { retry: { maxRetries: 1 } })
  charge(event: BrokerEvent<{ order: number }>): void {
    if (this.down) throw new Error(`billing down for order ${event.payload.order}`);
  }
}

function bootDashboard<TRequest>(options: EventBrokerDashboardOptions<TRequest>, extra: ModuleMetadata = {}): Promise<INestApplication> {
  return boot({
    ...extra,
    imports: [EventBrokerTestingModule.forRoot(), EventBrokerDashboardModule.forRoot(options), ...(extra.imports ?? [])],
  });
}

/** Where the app answers over the network, listening on a free port the first time. */
async function baseUrl(app: INestApplication): Promise<string> {
  const server = app.getHttpServer() as Server;
  if (!server.listening) await app.listen(0, '127.0.0.1');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The first Server-Sent Event of `path`, once `trigger` has run after the stream answered. */
async function firstServerSentEvent(app: INestApplication, path: string, trigger: () => Promise<unknown>): Promise<unknown> {
  const url = await baseUrl(app);
  const response = await new Promise<IncomingMessage>((resolve) => httpGet(`${url}${path}`, resolve));
  expect(response.headers['content-type']).toContain('text/event-stream');
  const data = new Promise<unknown>((resolve) => {
    let buffer = '';
    response.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((candidate) => candidate.startsWith('data: '));
      if (line) resolve(JSON.parse(line.slice('data: '.length)));
    });
  });
  await trigger();
  const event = await data;
  response.destroy();
  return event;
}

describe('the dashboard', () => {
  it('is off unless imported', async () => {
    const app = await boot({ imports: [EventBrokerModule.forRoot()] });
    expect((await request(app.getHttpServer()).get('/events-dashboard')).status).toBe(404);
  });

  it('serves one HTML page at its path, which runs only its own inline script and style', async () => {
    const app = await bootDashboard({ allowUnprotected: true });
    const page = await request(app.getHttpServer()).get('/events-dashboard');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<title>Event broker</title>');
    expect(page.text).not.toMatch(/<script src|<link rel="stylesheet"/);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'/);
  });

  it('mounts at the path given, with or without a trailing slash', async () => {
    const app = await bootDashboard({ path: '/ops/events/', allowUnprotected: true });
    const http = request(app.getHttpServer());
    expect((await http.get('/ops/events')).status).toBe(200);
    expect((await http.get('/ops/events/api/stats')).body).toMatchObject({ running: true, transport: { type: 'memory' } });
    expect((await http.get('/events-dashboard')).status).toBe(404);
  });

  it('lists the history with the list filters, and refuses a bad one with the reason', async () => {
    const app = await bootDashboard({ allowUnprotected: true });
    const publisher = app.get(EventPublisher);
    const ada = await publisher.publish('users.created', { name: 'Ada' }, { source: 'database', userId: 'u1' });
    await publisher.publish('users.deleted', { name: 'Bob' }, { source: 'system', userId: 'u2' });
    await app.get(TestEvents).drain();
    const http = request(app.getHttpServer());

    const list = async (query: string): Promise<string[]> =>
      ((await http.get(`/events-dashboard/api/events?${query}`)).body as BrokerEvent[]).map((event) => event.type);
    expect(await list('')).toEqual(['users.created', 'users.deleted']);
    expect(await list('type=users.*&source=database&status=completed&userId=u1')).toEqual(['users.created']);
    expect(await list(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect(await list('limit=1')).toEqual(['users.deleted']);
    expect(await list('limit=1&offset=1')).toEqual(['users.created']);
    expect(await list('type=&status=')).toEqual(['users.created', 'users.deleted']);

    for (const [query, message] of [
      ['status=bogus', 'Invalid event filter: status must be one of pending, processing, completed, failed, got "bogus"'],
      ['since=yesterday', 'Invalid event filter: since must be a valid Date, got an invalid Date'],
      ['limit=-1', 'limit must be a non-negative integer, got "-1"'],
      ['type=users..created', 'Invalid event pattern: segment 2 of "users..created" must be "*", "**" or match [A-Za-z0-9_-]+'],
      ['user=u1', 'Unknown query parameter user (known: type, source, status, instanceId, userId, since, until, limit, offset)'],
      ['type=a&type=b', 'type must be given once'],
    ]) {
      const refused = await http.get(`/events-dashboard/api/events?${query}`);
      expect({ query, status: refused.status, message: refused.body.message }).toEqual({ query, status: 400, message });
    }
    expect((await http.get(`/events-dashboard/api/events/${ada.id}`)).body.event).toMatchObject({ id: ada.id, payload: { name: 'Ada' } });
  });

  it("shows an event's detail: status, error, attempts, trace id and its dead letter by group", async () => {
    const app = await bootDashboard({ allowUnprotected: true }, { providers: [Billing] });
    const published = await app.get(EventPublisher).publish('orders.placed', { order: 7 }, { metadata: { traceparent: TRACEPARENT } });
    await app.get(TestEvents).waitFor(published.id);
    const http = request(app.getHttpServer());

    const detail = (await http.get(`/events-dashboard/api/events/${published.id}`)).body as DashboardEventDetail;
    expect(detail).toMatchObject({
      event: { id: published.id, status: 'failed', error: 'billing down for order 7', retryCount: 1, payload: { order: 7 } },
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      deadLetters: [{ group: 'app.Billing.charge', attempts: 2, error: 'billing down for order 7' }],
    });
    expect(detail.deadLetters[0]).not.toHaveProperty('event');

    const untraced = await app.get(EventPublisher).publish('users.created', { name: 'Ada' });
    await app.get(TestEvents).waitFor(untraced.id);
    expect((await http.get(`/events-dashboard/api/events/${untraced.id}`)).body).toMatchObject({ traceId: null, deadLetters: [] });
    const unknown = await http.get('/events-dashboard/api/events/not-an-event');
    expect({ status: unknown.status, message: unknown.body.message }).toEqual({ status: 404, message: 'Event not-an-event not found' });
  });

  it('lists dead letters by group and replays a selection, reporting each id it could not replay', async () => {
    const app = await bootDashboard({ allowUnprotected: true }, { providers: [Billing] });
    const events = app.get(TestEvents);
    const publisher = app.get(EventPublisher);
    const first = await publisher.publish('orders.placed', { order: 1 });
    const second = await publisher.publish('orders.placed', { order: 2 });
    await events.waitFor(first.id);
    await events.waitFor(second.id);
    const http = request(app.getHttpServer());

    const letters = (await http.get('/events-dashboard/api/dead-letters?group=app.Billing.charge')).body as DeadLetter[];
    expect(letters.map((letter) => letter.event.id)).toEqual([first.id, second.id]);
    expect((await http.get('/events-dashboard/api/dead-letters?group=nobody')).body).toEqual([]);
    expect(((await http.get('/events-dashboard/api/stats')).body as BrokerStats).transport.groups['app.Billing.charge']).toEqual({
      pending: 0,
      inFlight: 0,
      deadLetters: 2,
    });

    app.get(Billing).down = false;
    const replay = await http
      .post('/events-dashboard/api/dead-letters/replay')
      .send({ ids: [...letters.map((letter) => letter.id), 'gone'] });
    expect(replay.status).toBe(200);
    expect(replay.body as DashboardReplayResult).toEqual({
      replayed: letters.map((letter) => letter.id),
      failed: [{ id: 'gone', error: 'Cannot replay dead letter gone: no such dead letter' }],
    });
    expect((await events.waitFor(first.id)).status).toBe('completed');
    expect((await events.waitFor(second.id)).status).toBe('completed');
    expect((await http.get('/events-dashboard/api/dead-letters')).body).toEqual([]);

    for (const body of [{}, { ids: [] }, { ids: [1] }, 'ids=x']) {
      const refused = await http.post('/events-dashboard/api/dead-letters/replay').send(body);
      expect(refused.status).toBe(400);
      expect(refused.body.message).toBe('The body must be JSON of the form {"ids": ["<dead letter id>", …]}, with at least one id');
    }
  });

  it('streams the events published from now on whose type matches the pattern, and refuses a bad pattern', async () => {
    const app = await bootDashboard({ allowUnprotected: true });
    const publisher = app.get(EventPublisher);
    const streamed = await firstServerSentEvent(app, '/events-dashboard/api/stream?pattern=orders.*', async () => {
      await publisher.publish('users.created', { name: 'Ada' });
      await publisher.publish('orders.placed', { order: 3 });
    });
    expect(streamed).toMatchObject({ type: 'orders.placed', payload: { order: 3 } });
    const refused = await request(app.getHttpServer()).get('/events-dashboard/api/stream?pattern=orders..placed');
    expect(refused.status).toBe(400);
  });
});

@Injectable()
class TokenStore {
  readonly token = 'let-me-in';
}

@Module({ providers: [TokenStore], exports: [TokenStore] })
class TokenModule {}

/** An app's own guard, with a dependency the dashboard gets through its `imports`. */
@Injectable()
class TokenGuard implements CanActivate {
  constructor(private readonly tokens: TokenStore) {}

  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<IncomingMessage>().headers['x-token'] === this.tokens.token;
  }
}

describe('the dashboard behind protection', () => {
  const ROUTES: [method: 'get' | 'post', path: string][] = [
    ['get', '/events-dashboard'],
    ['get', '/events-dashboard/api/events'],
    ['get', '/events-dashboard/api/events/some-id'],
    ['get', '/events-dashboard/api/dead-letters'],
    ['post', '/events-dashboard/api/dead-letters/replay'],
    ['get', '/events-dashboard/api/stats'],
    ['get', '/events-dashboard/api/stream'],
  ];

  /** The status of each route; fetch resolves on the headers, so the stream, which stays open, answers too. */
  async function statuses(app: INestApplication, headers: Record<string, string> = {}): Promise<Record<string, number>> {
    const url = await baseUrl(app);
    const answers: Record<string, number> = {};
    for (const [method, path] of ROUTES) {
      const body = method === 'post' ? JSON.stringify({ ids: ['none'] }) : undefined;
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
      await response.body?.cancel();
      answers[`${method} ${path}`] = response.status;
    }
    return answers;
  }

  const every = (status: number): Record<string, number> =>
    Object.fromEntries(ROUTES.map(([method, path]) => [`${method} ${path}`, status]));

  it("runs the app's guards on the page and on every route of its API", async () => {
    const app = await bootDashboard({ guards: [TokenGuard], imports: [TokenModule] });
    expect(await statuses(app)).toEqual(every(403));
    expect(await statuses(app, { 'x-token': 'wrong' })).toEqual(every(403));
    const allowed = await statuses(app, { 'x-token': 'let-me-in' });
    expect(allowed).toEqual({ ...every(200), 'get /events-dashboard/api/events/some-id': 404 });
  });

  it('runs authorize(request) on the page and every route: true lets in, anything else is 403, its HttpException is the answer', async () => {
    const app = await bootDashboard({
      authorize: async (incoming: IncomingMessage) => {
        const key = incoming.headers['x-key'];
        if (key === undefined) throw new UnauthorizedException('x-key header required');
        return key === 'admin' ? true : ((key === 'maybe' ? undefined : false) as boolean);
      },
    });
    expect(await statuses(app)).toEqual(every(401));
    expect(await statuses(app, { 'x-key': 'guest' })).toEqual(every(403));
    expect(await statuses(app, { 'x-key': 'maybe' })).toEqual(every(403));
    expect(await statuses(app, { 'x-key': 'admin' })).toEqual({ ...every(200), 'get /events-dashboard/api/events/some-id': 404 });
  });

  it('refuses to start unprotected when NODE_ENV=production, saying what to pass', async () => {
    process.env.NODE_ENV = 'production';
    await expect(bootDashboard({})).rejects.toThrow(
      'EventBrokerDashboardModule refuses to serve /events-dashboard without protection when NODE_ENV=production: pass guards: [YourAuthGuard] ' +
        'or authorize: (request) => boolean to EventBrokerDashboardModule.forRoot(), or allowUnprotected: true if something in front of the app protects it',
    );
    const told: [EventBrokerDashboardOptions, number][] = [
      [{ allowUnprotected: true }, 200],
      [{ authorize: () => true }, 200],
      [{ guards: [TokenGuard], imports: [TokenModule] }, 403],
    ];
    for (const [options, status] of told) {
      const app = await bootDashboard(options);
      expect((await request(app.getHttpServer()).get('/events-dashboard')).status).toBe(status);
    }
  });

  it('warns, outside production, that it serves without protection', async () => {
    const warnings: string[] = [];
    const logger: LoggerService = { log: () => undefined, error: () => undefined, warn: (message: string) => warnings.push(message) };
    @Module({ imports: [EventBrokerTestingModule.forRoot(), EventBrokerDashboardModule.forRoot({})] })
    class UnprotectedModule {}
    const moduleRef = await Test.createTestingModule({ imports: [UnprotectedModule] }).compile();
    const app = moduleRef.createNestApplication({ logger });
    apps.push(app);
    await app.init();
    expect(warnings).toContain(
      '/events-dashboard is served without guards or authorize: whoever reaches the app can read its events and replay dead letters',
    );
  });

  it('refuses an unknown option, naming the one meant, and a path that is not plain segments', () => {
    expect(() => EventBrokerDashboardModule.forRoot({ pth: '/x' } as EventBrokerDashboardOptions)).toThrow(
      'EventBrokerDashboardModule option pth is unknown; did you mean path?',
    );
    expect(() => EventBrokerDashboardModule.forRoot({ path: '/events/:id' })).toThrow(
      'EventBrokerDashboardModule option path must be made of /segments of letters, digits, ".", "_", "~" or "-", such as /events-dashboard, got "/events/:id"',
    );
    expect(() => EventBrokerDashboardModule.forRoot({ authorize: true } as unknown as EventBrokerDashboardOptions)).toThrow(
      'EventBrokerDashboardModule option authorize must be a function of the request, got true',
    );
  });
});
