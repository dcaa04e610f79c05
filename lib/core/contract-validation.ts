import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { CreateEventInput } from './create-event.js';
import { isEventContract } from './define-event.js';
import { InvalidEventError } from './event-broker.errors.js';
import type { AnyEventInput, EventContract, EventPayload } from './event-contract.interface.js';
import { payloadPath } from './payload-path.js';
import { printable } from './quote-input.js';

export type PayloadCheck<T> = { ok: true; value: T } | { ok: false; message: string };

function describeIssue(issue: StandardSchemaV1.Issue): string {
  const keys = (issue.path ?? []).map((segment) => (typeof segment === 'object' ? segment.key : segment));
  return `${payloadPath(keys)}: ${issue.message}`;
}

/**
 * Checks `payload` against the contract's schema (which may answer asynchronously): its output, or
 * a message that names the path of every issue, e.g. `payload.email: Invalid email`.
 */
export async function checkPayload<C extends EventContract>(contract: C, payload: unknown): Promise<PayloadCheck<EventPayload<C>>> {
  const result = await contract.schema['~standard'].validate(payload);
  if (result.issues) {
    return { ok: false, message: printable(`Invalid payload for ${contract.type}: ${result.issues.map(describeIssue).join('; ')}`) };
  }
  return { ok: true, value: result.value as EventPayload<C> };
}

/**
 * The payload as handlers get it, JSON carried: a schema that accepts the given payload but not
 * this (a `Date` where JSON carries a string) would accept a publish whose every delivery fails.
 * A payload JSON cannot carry is left as it is, for the event's own check to refuse.
 */
function asDelivered(payload: unknown): unknown {
  try {
    const text = JSON.stringify(payload);
    return text === undefined ? payload : JSON.parse(text);
  } catch {
    return payload;
  }
}

async function checkedAgainst<T>(input: AnyEventInput<T>, contract: EventContract): Promise<CreateEventInput<T>> {
  const check = await checkPayload(contract, asDelivered(input.payload));
  if (!check.ok) throw new InvalidEventError(check.message);
  return { ...input, type: contract.type };
}

/**
 * `input` with its contract checked and replaced by the contract's type; the payload stays as
 * given, each handler gets the schema's output. Rejects with an `InvalidEventError` naming the
 * paths. An input without a contract is returned as it is, with nothing to wait for.
 */
export function resolveContract<T>(input: AnyEventInput<T>): CreateEventInput<T> | Promise<CreateEventInput<T>> {
  const { type } = input;
  return isEventContract(type) ? checkedAgainst(input, type) : (input as CreateEventInput<T>);
}
