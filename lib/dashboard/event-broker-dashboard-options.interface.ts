import type { IncomingMessage } from 'node:http';
import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';

/** Decides whether a request may see the dashboard: `false` is answered 403; throw an `HttpException` (401) for another answer. */
export type DashboardAuthorize<TRequest = IncomingMessage> = (request: TRequest) => boolean | Promise<boolean>;

/** `EventBrokerDashboardModule.forRoot(options)`. */
export interface EventBrokerDashboardOptions<TRequest = IncomingMessage> {
  /** Where the page is served (under the app's global prefix, if any); its API is under `<path>/api`. Default `/events-dashboard`. */
  path?: string;
  /** Nest guards run on the page and on every route of its API: classes (created with DI in this module) or instances. */
  guards?: readonly (Type<CanActivate> | CanActivate)[];
  /** Called with the platform's request (Express: `Request`) for the page and every route of its API, after `guards`. */
  authorize?: DashboardAuthorize<TRequest>;
  /**
   * Serve the dashboard without `guards` or `authorize` even when `NODE_ENV=production` (something in front of the app
   * protects it). Without it the module refuses to start there.
   */
  allowUnprotected?: boolean;
  /** Modules that the guards' dependencies come from. */
  imports?: ModuleMetadata['imports'];
}
