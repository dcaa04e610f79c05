/** `base`, or `base_2`, `base_3`, … : the first that `taken` does not hold yet. */
export function uniqueKey(taken: object, base: string): string {
  let key = base;
  for (let n = 2; Object.hasOwn(taken, key); n++) key = `${base}_${n}`;
  return key;
}
