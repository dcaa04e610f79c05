/** SQLSTATE codes the transport reacts to. */
export const POSTGRES_ERROR_CODES = {
  /** A `\u0000` in JSON, which `jsonb` cannot hold. */
  untranslatableCharacter: '22P05',
  /** A lock not granted within `lock_timeout`. */
  lockNotAvailable: '55P03',
} as const;

/** Whether `error` is a PostgreSQL error with the SQLSTATE `code`. */
export function hasPostgresErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
