import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { EventBrokerMetricsController, EventBrokerModule } from 'nestjs-event-broker';
import { EventBrokerDashboardModule } from 'nestjs-event-broker/dashboard';
import { AnalyticsController, AnalyticsCounter } from './analytics/analytics.handler.js';
import { AuditLog } from './audit/audit-log.handler.js';
import { CrmSync } from './crm/crm-sync.handler.js';
import { CrmController } from './crm/crm.controller.js';
import { eventBrokerConfig } from './event-broker.config.js';
import { fromThisMachine } from './events/dashboard-access.js';
import { EventsController } from './events/events.controller.js';
import { HealthController } from './health/health.controller.js';
import { WelcomeMailer } from './notifications/welcome-mailer.handler.js';
import { UsersController } from './users/users.controller.js';
import { UsersService } from './users/users.service.js';

@Module({
  imports: [
    ConfigModule.forRoot(),
    TerminusModule,
    EventBrokerModule.forRootAsync({ imports: [ConfigModule], inject: [ConfigService], useFactory: eventBrokerConfig }),
    EventBrokerDashboardModule.forRoot({ path: '/events-dashboard', authorize: fromThisMachine }),
  ],
  controllers: [UsersController, EventsController, HealthController, EventBrokerMetricsController, AnalyticsController, CrmController],
  providers: [UsersService, WelcomeMailer, AuditLog, CrmSync, AnalyticsCounter],
})
export class AppModule {}
