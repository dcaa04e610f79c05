/**
 * What an `@EventPattern` handler's failure is recorded as. Nest's RPC exception layer turns a
 * thrown error into a plain object (`{ status: 'error', message }`; `Internal server error`
 * unless it was an `RpcException`), which becomes an `Error` with that message.
 */
export function asHandlerError(failure: unknown): never {
  if (failure instanceof Error) throw failure;
  if (typeof failure === 'object' && failure !== null && 'message' in failure && typeof failure.message === 'string') {
    throw Object.assign(new Error(failure.message), { cause: failure });
  }
  throw new Error(typeof failure === 'string' ? failure : JSON.stringify(failure));
}
