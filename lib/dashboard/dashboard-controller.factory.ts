import { Controller, UseGuards, type CanActivate, type Type } from '@nestjs/common';
import { DashboardRoutes } from './dashboard-routes.js';

/**
 * A controller class of the dashboard's routes at `path`, behind `guards`: a class of its own for
 * each `forRoot`, so that two apps in one process (tests) can mount it at different paths.
 */
export function dashboardController(path: string, guards: readonly (Type<CanActivate> | CanActivate)[]): Type<DashboardRoutes> {
  @Controller(path)
  @UseGuards(...guards)
  class EventBrokerDashboardController extends DashboardRoutes {}
  return EventBrokerDashboardController;
}
