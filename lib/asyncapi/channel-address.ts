import type { AsyncApiParameter } from './asyncapi-document.interface.js';

/** Where a pattern's channel is: its address, with a parameter for each wildcard. */
export interface ChannelAddress {
  address: string;
  parameters: Record<string, AsyncApiParameter>;
}

/** The names of the segments of a `schema.entity.operation` type, the convention of event types. */
const CONVENTIONAL_SEGMENTS = ['schema', 'entity', 'operation'];

/**
 * The address of the channel of an event type or pattern. A type is its own address; a wildcard
 * becomes a parameter, as AsyncAPI addresses have no wildcards: `public.users.*` is
 * `public.users.{operation}`, a trailing `**` is `{rest}` (one segment or more), and `*` or `**`
 * alone (every event) is `{type}`.
 */
export function channelAddress(pattern: string): ChannelAddress {
  if (pattern === '*' || pattern === '**') {
    return { address: '{type}', parameters: { type: { description: `Any event type (the pattern ${pattern} matches every event).` } } };
  }
  const segments = pattern.split('.');
  const conventional = segments.length === CONVENTIONAL_SEGMENTS.length && !segments.includes('**');
  const parameters: Record<string, AsyncApiParameter> = {};
  const address = segments.map((segment, index) => {
    if (segment === '**') {
      parameters.rest = { description: `The segments that ** stands for in ${pattern}: one or more, dot-separated.` };
      return '{rest}';
    }
    if (segment !== '*') return segment;
    const name = conventional ? CONVENTIONAL_SEGMENTS[index] : `segment${index + 1}`;
    parameters[name] = { description: `The segment that * stands for in ${pattern}: exactly one.` };
    return `{${name}}`;
  });
  return { address: address.join('.'), parameters };
}
