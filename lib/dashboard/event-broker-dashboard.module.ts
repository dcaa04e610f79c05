import { Inject, Logger, Module, type DynamicModule, type OnModuleInit } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { DASHBOARD_OPTIONS } from './dashboard.constants.js';
import { DashboardAuthorizeGuard } from './dashboard-authorize.guard.js';
import { dashboardController } from './dashboard-controller.factory.js';
import { isProtected, resolveDashboardPath, unprotectedInProductionError } from './dashboard-options.js';
import type { EventBrokerDashboardOptions } from './event-broker-dashboard-options.interface.js';

const DASHBOARD_PATH = Symbol('EVENT_BROKER_DASHBOARD_PATH');

/**
 * A page of the broker's live tail, history, event details, dead letters (with replay) and
 * per-group counters, with its JSON and Server-Sent Events API under `<path>/api`. Off unless
 * imported; it uses the app's `EventBroker` (from `EventBrokerModule`, global by default).
 */
@Module({})
export class EventBrokerDashboardModule implements OnModuleInit {
  private readonly logger = new Logger('EventBrokerDashboard');

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: EventBrokerDashboardOptions<never>,
    @Inject(DASHBOARD_PATH) private readonly path: string,
  ) {}

  static forRoot<TRequest = IncomingMessage>(options: EventBrokerDashboardOptions<TRequest> = {}): DynamicModule {
    const path = resolveDashboardPath(options);
    const guards = [...(options.guards ?? []), ...(options.authorize ? [DashboardAuthorizeGuard] : [])];
    return {
      module: EventBrokerDashboardModule,
      imports: options.imports ?? [],
      controllers: [dashboardController(path, guards)],
      providers: [
        { provide: DASHBOARD_OPTIONS, useValue: options },
        { provide: DASHBOARD_PATH, useValue: path },
      ],
    };
  }

  /** At init rather than in `forRoot`, so that `NODE_ENV` from a `.env` file that `ConfigModule` loads is seen. */
  onModuleInit(): void {
    if (isProtected(this.options) || this.options.allowUnprotected === true) return;
    if (process.env.NODE_ENV === 'production') throw unprotectedInProductionError(this.path);
    this.logger.warn(
      `${this.path} is served without guards or authorize: whoever reaches the app can read its events and replay dead letters`,
    );
  }
}
