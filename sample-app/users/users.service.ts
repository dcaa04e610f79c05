import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { EmitsEvent } from 'nestjs-event-broker';
import type { User, UserInput } from './user.interface.js';

function checked(input: Partial<UserInput>, partial: boolean): Partial<UserInput> {
  for (const field of ['name', 'email'] as const) {
    const value = input[field];
    if (value === undefined && partial) continue;
    if (typeof value !== 'string' || value.trim() === '') throw new BadRequestException(`${field} must be a non-empty string`);
  }
  return { name: input.name, email: input.email };
}

/** Users kept in memory; each change publishes a `public.users.*` event through `@EmitsEvent`. */
@Injectable()
export class UsersService {
  private readonly users = new Map<number, User>();
  private nextId = 1;

  @EmitsEvent('public.users.create')
  create(input: Partial<UserInput>): User {
    const user = { id: this.nextId++, ...(checked(input, false) as UserInput) };
    this.users.set(user.id, user);
    return user;
  }

  findAll(): User[] {
    return [...this.users.values()];
  }

  findOne(id: number): User {
    const user = this.users.get(id);
    if (!user) throw new NotFoundException(`User ${id} not found`);
    return user;
  }

  @EmitsEvent('public.users.update')
  update(id: number, input: Partial<UserInput>): User {
    const changes = Object.fromEntries(Object.entries(checked(input, true)).filter(([, value]) => value !== undefined));
    const user = { ...this.findOne(id), ...changes };
    this.users.set(id, user);
    return user;
  }

  @EmitsEvent('public.users.delete')
  remove(id: number): User {
    const user = this.findOne(id);
    this.users.delete(id);
    return user;
  }
}
