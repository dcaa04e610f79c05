import 'reflect-metadata';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { Type } from 'class-transformer';
import { IsEmail, IsInt, IsString, ValidateNested } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildAsyncApiDocument } from '../../../lib/asyncapi/asyncapi-document.builder.js';
import type { AsyncApiSources, ReceiveOperationSource } from '../../../lib/asyncapi/event-operation-sources.interface.js';
import { DEFAULT_RETRY_OPTIONS, defineEvent, type EventContract } from '../../../lib/index.js';
import { parseAsyncApi } from '../../support/asyncapi.js';

const UserCreated = defineEvent(
  'public.users.create',
  z.object({ id: z.number(), email: z.email(), plan: z.enum(['free', 'pro']).default('free') }),
);

function receive(
  handler: string,
  selectors: ReceiveOperationSource['selectors'],
  extra: Partial<ReceiveOperationSource> = {},
): ReceiveOperationSource {
  return { handler, group: `app.${handler}`, selectors, retry: DEFAULT_RETRY_OPTIONS, ...extra };
}

function sources(parts: Partial<AsyncApiSources>): AsyncApiSources {
  return { serviceName: 'app', receive: [], send: [], transport: 'memory', servers: {}, ...parts };
}

/** The document of `parts`, checked by the AsyncAPI parser: no error, no warning. */
async function validDocument(parts: Partial<AsyncApiSources>) {
  const built = buildAsyncApiDocument(sources(parts));
  const { document, problems } = await parseAsyncApi(built);
  expect(problems).toEqual([]);
  if (!document) throw new Error('the parser gave no document');
  return { built, document };
}

describe('buildAsyncApiDocument', () => {
  it('makes a channel per event type, a receive operation per handler with its group and retry policy, and a send operation per publisher', async () => {
    const { built, document } = await validDocument({
      receive: [
        receive('WelcomeMailer.send', [UserCreated], { retry: { ...DEFAULT_RETRY_OPTIONS, maxRetries: 5 }, concurrency: 2, ordered: true }),
      ],
      send: [{ publisher: 'UsersService.create', event: 'public.users.create' }],
    });
    expect(Object.keys(built.channels)).toEqual(['public.users.create']);
    const handler = document.operations().get('WelcomeMailer.send');
    expect(handler?.action()).toBe('receive');
    expect(
      handler
        ?.channels()
        .all()
        .map((channel) => channel.address()),
    ).toEqual(['public.users.create']);
    expect(handler?.extensions().get('x-group')?.value()).toBe('app.WelcomeMailer.send');
    expect(handler?.extensions().get('x-retry')?.value()).toEqual({ ...DEFAULT_RETRY_OPTIONS, maxRetries: 5 });
    expect(handler?.extensions().get('x-concurrency')?.value()).toBe(2);
    expect(handler?.extensions().get('x-ordered')?.value()).toBe(true);
    const sender = document.operations().get('UsersService.create');
    expect(sender?.action()).toBe('send');
    expect(
      sender
        ?.channels()
        .all()
        .map((channel) => channel.address()),
    ).toEqual(['public.users.create']);
  });

  it("gives a contract's message the JSON Schema of what publishers send, and the envelope as headers", async () => {
    const { document } = await validDocument({ receive: [receive('WelcomeMailer.send', [UserCreated])] });
    const [message] = document.operations().get('WelcomeMailer.send')?.messages().all() ?? [];
    expect(message?.name()).toBe('public.users.create');
    const payload = message?.payload();
    expect(payload?.type()).toBe('object');
    expect(payload?.required()).toEqual(['id', 'email']); // plan has a default: a publisher may leave it out
    expect(payload?.properties()?.email?.format()).toBe('email');
    expect(payload?.properties()?.plan?.enum()).toEqual(['free', 'pro']);
    const headers = message?.headers()?.json() as { allOf: { required?: string[]; properties: Record<string, unknown> }[] };
    expect(headers.allOf[0]?.required).toEqual(['specversion', 'id', 'source', 'type', 'time', 'datacontenttype']);
    expect(headers.allOf[1]?.properties.type).toMatchObject({ const: 'public.users.create' });
  });

  it('gives a pattern a channel whose address has a parameter per wildcard, with the messages of the known types it matches', async () => {
    const { built, document } = await validDocument({
      receive: [
        receive('AuditLog.record', ['public.users.*']),
        receive('Everything.log', ['**']),
        receive('Anywhere.create', ['*.users.create']),
        receive('Billing.all', ['billing.**']),
        receive('Deep.one', ['a.b.c.*']),
      ],
      send: [
        { publisher: 'UsersService.create', event: UserCreated },
        { publisher: 'UsersService.remove', event: 'public.users.delete' },
      ],
    });
    const addresses = Object.fromEntries(Object.entries(built.channels).map(([id, channel]) => [id, channel.address]));
    expect(addresses).toEqual({
      '**': '{type}',
      '*.users.create': '{schema}.users.create',
      'a.b.c.*': 'a.b.c.{segment4}',
      'billing.**': 'billing.{rest}',
      'public.users.*': 'public.users.{operation}',
      'public.users.create': 'public.users.create',
      'public.users.delete': 'public.users.delete',
    });
    const audit = document.operations().get('AuditLog.record');
    expect(
      audit
        ?.channels()
        .all()[0]
        ?.parameters()
        .all()
        .map((parameter) => parameter.id()),
    ).toEqual(['operation']);
    expect(
      audit
        ?.messages()
        .all()
        .map((message) => message.name()),
    ).toEqual(['public.users.create', 'public.users.delete']);
    expect(
      document
        .operations()
        .get('Everything.log')
        ?.messages()
        .all()
        .map((message) => message.name()),
    ).toEqual(['public.users.create', 'public.users.delete']);
    const billing = document.operations().get('Billing.all')?.messages().all() ?? [];
    expect(billing.map((message) => [message.name(), message.hasPayload()])).toEqual([['billing.**', false]]);
    expect(billing[0]?.description()).toBe('No event type of this pattern is known here: the payload, a JSON value, is not described.');
  });

  it('leaves out the payload of a type without a contract, and says so', async () => {
    const { document } = await validDocument({ receive: [receive('CrmSync.sync', ['public.users.create'])] });
    const [message] = document.operations().get('CrmSync.sync')?.messages().all() ?? [];
    expect(message?.hasPayload()).toBe(false);
    expect(message?.description()).toBe(
      'No contract (defineEvent) of public.users.create is known here: the payload, a JSON value, is not described.',
    );
  });

  it('leaves out the payload of a schema that has no JSON Schema, with the reason, instead of failing', async () => {
    const Dated = defineEvent('public.users.login', z.object({ at: z.date() }));
    const bare: StandardSchemaV1<{ id: number }> = {
      '~standard': { version: 1, vendor: 'handmade', validate: (value) => ({ value: value as { id: number } }) },
    };
    const Handmade = defineEvent('public.users.logout', bare);
    const { document } = await validDocument({ receive: [receive('Sessions.track', [Dated, Handmade])] });
    const descriptions = Object.fromEntries(
      document
        .messages()
        .all()
        .map((message) => [message.name(), [message.hasPayload(), message.description()]]),
    );
    expect(descriptions).toEqual({
      'public.users.login': [
        false,
        'The payload is not described: its zod schema cannot be written as JSON Schema: Date cannot be represented in JSON Schema.',
      ],
      'public.users.logout': [
        false,
        'The payload is not described: its handmade schema does not offer a JSON Schema (Standard JSON Schema).',
      ],
    });
  });

  it('describes a class-validator class, its nested classes resolved in the document', async () => {
    class Address {
      @IsString() city!: string;
    }
    class Invitation {
      @IsInt() id!: number;
      @IsEmail() email!: string;
      @ValidateNested() @Type(() => Address) address!: Address;
    }
    const Invited = defineEvent('public.invitations.sent', Invitation);
    const { document } = await validDocument({ send: [{ publisher: 'Invitations.invite', event: Invited }] });
    const payload = document.operations().get('Invitations.invite')?.messages().all()[0]?.payload();
    expect(payload?.required()).toEqual(['id', 'email', 'address']);
    expect(payload?.properties()?.id?.type()).toBe('integer');
    expect(payload?.properties()?.address?.properties()?.city?.type()).toBe('string');
  });

  it('makes one receive operation per channel of a subscription, and keeps operation ids apart', async () => {
    const UserDeleted: EventContract = defineEvent('public.users.delete', z.object({ id: z.number() }));
    const { built } = await validDocument({
      receive: [
        receive('Audit.log', [UserCreated, UserDeleted], { group: 'users-audit' }),
        receive('Mailer.send', [UserCreated]),
        receive('Mailer.send', ['public.users.delete'], { group: 'other' }),
      ],
      send: [{ publisher: 'Mailer.send', event: 'public.mails.sent' }],
    });
    expect(Object.entries(built.operations).map(([id, { action, channel }]) => [id, action, channel.$ref])).toEqual([
      ['Audit.log.public.users.create', 'receive', '#/channels/public.users.create'],
      ['Audit.log.public.users.delete', 'receive', '#/channels/public.users.delete'],
      ['Mailer.send', 'receive', '#/channels/public.users.create'],
      ['Mailer.send_2', 'receive', '#/channels/public.users.delete'],
      ['Mailer.send_3', 'send', '#/channels/public.mails.sent'],
    ]);
  });

  it('names the service and the transport in the info, and lists the servers given', async () => {
    const { built } = await validDocument({
      serviceName: 'billing',
      transport: 'redis',
      servers: { redis: { host: 'redis.internal:6379', protocol: 'redis' } },
    });
    expect(built.info).toEqual({ title: 'billing', version: '1.0.0', description: 'The events of billing, over the redis transport.' });
    expect(built.servers).toEqual({ redis: { host: 'redis.internal:6379', protocol: 'redis' } });
    const memory = buildAsyncApiDocument(sources({}), { title: 'Billing events', version: '2.1.0', description: 'What billing says.' });
    expect(memory.info).toEqual({ title: 'Billing events', version: '2.1.0', description: 'What billing says.' });
    expect(memory).not.toHaveProperty('servers');
    expect(buildAsyncApiDocument(sources({}), {}).info.description).toBe(
      'The events of app, over the memory transport: events stay in this process, so there is no server.',
    );
  });
});
