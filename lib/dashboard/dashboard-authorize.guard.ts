import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { DASHBOARD_OPTIONS } from './dashboard.constants.js';
import type { EventBrokerDashboardOptions } from './event-broker-dashboard-options.interface.js';

/** Runs the `authorize` option as a guard, so that it protects the same routes as the `guards` do. */
@Injectable()
export class DashboardAuthorizeGuard implements CanActivate {
  constructor(@Inject(DASHBOARD_OPTIONS) private readonly options: EventBrokerDashboardOptions<unknown>) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { authorize } = this.options;
    // Only `true` lets a request in: a hook that forgets to return refuses rather than opens.
    return authorize === undefined || (await authorize(context.switchToHttp().getRequest<unknown>())) === true;
  }
}
