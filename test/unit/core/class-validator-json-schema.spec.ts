import 'reflect-metadata';
import type { StandardJSONSchemaV1 } from '@standard-schema/spec';
import { Type } from 'class-transformer';
import { IsEmail, IsIn, IsInt, IsOptional, IsString, ValidateNested } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { defineEvent } from '../../../lib/index.js';

class Street {
  @IsString() name!: string;
}

class Address {
  @IsString() city!: string;

  @ValidateNested()
  @Type(() => Street)
  street!: Street;
}

class Invitation {
  @IsInt() id!: number;
  @IsEmail() email!: string;
  @IsOptional() @IsIn(['admin', 'member']) role?: string;

  @ValidateNested()
  @Type(() => Address)
  address!: Address;
}

class Undecorated {
  id!: number;
}

const jsonSchema = (schema: unknown): StandardJSONSchemaV1.Converter => (schema as StandardJSONSchemaV1)['~standard'].jsonSchema;

describe('the JSON Schema of a class-validator contract', () => {
  it('comes from the decorators, as Standard JSON Schema, with the nested classes it uses in its own definitions', () => {
    const { schema } = defineEvent('public.invitations.sent', Invitation);
    expect(jsonSchema(schema).input({ target: 'draft-07' })).toEqual({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        id: { type: 'integer' },
        email: { type: 'string', format: 'email' },
        role: { type: 'string', enum: ['admin', 'member'] },
        address: { $ref: '#/definitions/Address' },
      },
      required: ['id', 'email', 'address'],
      definitions: {
        Address: expect.objectContaining({ properties: { city: { type: 'string' }, street: { $ref: '#/definitions/Street' } } }),
        Street: expect.objectContaining({ properties: { name: { type: 'string' } } }),
      },
    });
    expect(jsonSchema(schema).output({ target: 'draft-07' })).toEqual(jsonSchema(schema).input({ target: 'draft-07' }));
  });

  it('is an object for a class without decorators', () => {
    expect(jsonSchema(defineEvent('public.things.made', Undecorated).schema).input({ target: 'draft-07' })).toEqual({
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
    });
  });

  it('refuses a target other than draft-07, naming it', () => {
    expect(() => jsonSchema(defineEvent('public.invitations.sent', Invitation).schema).input({ target: 'draft-2020-12' })).toThrow(
      'defineEvent("public.invitations.sent") with a class converts to JSON Schema draft-07 only, not draft-2020-12',
    );
  });
});
