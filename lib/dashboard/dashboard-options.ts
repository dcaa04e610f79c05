import { EventBrokerError } from '../core/event-broker.errors.js';
import { assertKnownOptions, type OptionNames } from '../core/known-options.js';
import { quote } from '../core/quote-input.js';
import { DEFAULT_DASHBOARD_PATH } from './dashboard.constants.js';
import type { EventBrokerDashboardOptions } from './event-broker-dashboard-options.interface.js';

const OWNER = 'EventBrokerDashboardModule';

const DASHBOARD_OPTION_NAMES: OptionNames<EventBrokerDashboardOptions> = {
  path: true,
  guards: true,
  authorize: true,
  allowUnprotected: true,
  imports: true,
};

/** Plain segments only: the path becomes a route, where `:`, `*` or `(` would mean parameters and wildcards. */
const PATH = /^(\/[A-Za-z0-9._~-]+)+$/;

function refuse(problem: string): never {
  throw new EventBrokerError(`${OWNER} option ${problem}`);
}

/** Refuses options the module would misread, and gives the path it serves, without a trailing slash. */
export function resolveDashboardPath(options: EventBrokerDashboardOptions<never>): string {
  assertKnownOptions(OWNER, options, DASHBOARD_OPTION_NAMES);
  if (options.guards !== undefined && !Array.isArray(options.guards))
    refuse(`guards must be an array of guards, got ${quote(options.guards)}`);
  if (options.authorize !== undefined && typeof options.authorize !== 'function')
    refuse(`authorize must be a function of the request, got ${quote(options.authorize)}`);
  const path = (options.path ?? DEFAULT_DASHBOARD_PATH).replace(/(?<=.)\/+$/, '');
  if (!PATH.test(path))
    refuse(
      `path must be made of /segments of letters, digits, ".", "_", "~" or "-", such as ${DEFAULT_DASHBOARD_PATH}, got ${quote(path)}`,
    );
  return path;
}

/** Whether the options protect the dashboard themselves (guards of the app, global or in front of it, are not seen). */
export function isProtected(options: EventBrokerDashboardOptions<never>): boolean {
  return (options.guards?.length ?? 0) > 0 || options.authorize !== undefined;
}

/** The refusal to serve an unprotected dashboard in production, saying what to pass. */
export function unprotectedInProductionError(path: string): EventBrokerError {
  return new EventBrokerError(
    `${OWNER} refuses to serve ${path} without protection when NODE_ENV=production: pass guards: [YourAuthGuard] or ` +
      `authorize: (request) => boolean to EventBrokerDashboardModule.forRoot(), or allowUnprotected: true if something in front of the app protects it`,
  );
}
