/**
 * The partition an event goes to: FNV-1a (32 bits) of its key's UTF-8 bytes, modulo the number of
 * partitions. A simple, documented hash, so that a producer in another language can compute the
 * same partition; the key is the event's `key`, or its id when it has none (ids spread evenly).
 */
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const encoder = new TextEncoder();

/** What an event is partitioned and ordered by: its `key`, else its id. */
export function partitionKeyOf(event: { readonly id: string; readonly key?: string }): string {
  return event.key ?? event.id;
}

/** FNV-1a, 32 bits, of the UTF-8 bytes of `key`, as an unsigned integer. */
export function fnv1a32(key: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of encoder.encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** The partition (0 … `partitions` − 1) of `key`. */
export function partitionOf(key: string, partitions: number): number {
  return partitions === 1 ? 0 : fnv1a32(key) % partitions;
}
