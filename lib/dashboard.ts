// nestjs-event-broker/dashboard: the opt-in dashboard page and its API, for apps that mount it.
export { EventBrokerDashboardModule } from './dashboard/event-broker-dashboard.module.js';
export type { DashboardAuthorize, EventBrokerDashboardOptions } from './dashboard/event-broker-dashboard-options.interface.js';
export type { DashboardEventDetail, DashboardGroupDeadLetter, DashboardReplayResult } from './dashboard/dashboard-responses.interface.js';
