/** Stream entry ids, `<ms>-<seq>`, as the Node side compares them. */

/** `a` compared with `b`: negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(Number);
  const [bMs, bSeq] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}

/** The id right after `id`. */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-').map(Number);
  return `${ms}-${seq + 1}`;
}

/** The time part of `id`, in ms. */
export function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
