/**
 * Claims and outcomes commit without waiting for the disk: one lost in a server crash leaves the
 * delivery as it was before, to be claimed and handled again (at least once), and the publishes,
 * which must be on disk when they resolve, do not queue behind their flushes.
 */
export const QUICK_COMMIT = `SELECT set_config('synchronous_commit', 'off', true)`;
