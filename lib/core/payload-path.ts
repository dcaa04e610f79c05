/** The path of a value inside a payload, e.g. `payload.users[2].id`; the root is `payload`. */
export function payloadPath(keys: readonly PropertyKey[]): string {
  return keys.reduce<string>((path, key) => (typeof key === 'number' ? `${path}[${key}]` : `${path}.${String(key)}`), 'payload');
}
