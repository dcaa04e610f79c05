import { closest, distance } from 'fastest-levenshtein';
import { EventBrokerError } from './event-broker.errors.js';
import { MAX_QUOTED_CHARS, printable, quote } from './quote-input.js';

/**
 * Every option name of `T`, each set to `true`: the runtime list of an options interface. Typed so
 * that the compiler refuses a list that misses or adds a name.
 */
export type OptionNames<T> = { readonly [Name in keyof Required<T>]: true };

/** The option names of an interface that omits `omitted` from the one `names` lists. */
export function withoutOptions<T, K extends keyof T>(names: OptionNames<T>, ...omitted: K[]): OptionNames<Omit<T, K>> {
  const kept: Record<string, true> = { ...names };
  for (const name of omitted) delete kept[name as string];
  return kept as OptionNames<Omit<T, K>>;
}

/** How far a misspelt name may be from the one meant, in edits: a third of its length, at least two (a swap of two letters). */
function closeEnough(name: string, candidate: string): boolean {
  return distance(name.toLowerCase(), candidate.toLowerCase()) <= Math.max(2, Math.ceil(name.length / 3));
}

function unknownOption(owner: string, name: string, known: readonly string[]): string {
  const problem = `${owner} option ${printable(name, MAX_QUOTED_CHARS)} is unknown`;
  const meant = known.length > 0 ? closest(name, [...known]) : undefined;
  if (meant !== undefined && closeEnough(name, meant)) return `${problem}; did you mean ${meant}?`;
  return `${problem} (known options: ${known.join(', ')})`;
}

/**
 * Refuses `given` when it is not an object or has a key that `names` lacks, naming the key and
 * the option meant when one is close: options built at run time (from config, from JavaScript)
 * escape the compiler, and a misspelt option would otherwise do nothing. Checks this level only:
 * an option that holds another library's options (ioredis TLS, `pg.Pool`) is passed on as given.
 */
export function assertKnownOptions<T>(owner: string, given: unknown, names: OptionNames<T>): void {
  if (given === undefined) return;
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new EventBrokerError(`${owner} options must be an object, got ${quote(given)}`);
  const known = Object.keys(names);
  const problems = Object.keys(given)
    .filter((name) => !Object.hasOwn(names, name))
    .map((name) => unknownOption(owner, name, known));
  if (problems.length > 0) throw new EventBrokerError(problems.join('; '));
}
