function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether `actual` has everything `expected` has, as Jest's and Vitest's `toMatchObject` see it:
 * objects may have more keys, at any depth; arrays have the same length and match item by item;
 * anything else is equal (`Object.is`).
 */
export function matchesPartially(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected))
    return (
      Array.isArray(actual) && actual.length === expected.length && expected.every((item, index) => matchesPartially(actual[index], item))
    );
  if (isRecord(expected))
    return (
      isRecord(actual) &&
      Object.entries(expected).every(([key, value]) => Object.hasOwn(actual, key) && matchesPartially(actual[key], value))
    );
  return Object.is(actual, expected);
}
