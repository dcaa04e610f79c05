/** Whether a JetStream call failed because what it names does not exist (a stream, a consumer, a message). */
export function isNotFound(error: unknown): boolean {
  return error instanceof Error && /not found|no message found/i.test(error.message);
}
