import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TerminusModule } from '@nestjs/terminus';
import { EventBrokerMetricsController, EventBrokerModule } from 'nestjs-event-broker';
import { AnalyticsController, AnalyticsCounter } from './analytics/analytics.handler.js';
import { AuditLog } from './audit/audit-log.handler.js';
import { CrmSync } from './crm/crm-sync.handler.js';
import { eventBrokerConfig } from './event-broker.config.js';
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
  ],
  controllers: [UsersController, EventsController, HealthController, EventBrokerMetricsController, AnalyticsController],
  providers: [UsersService, WelcomeMailer, AuditLog, CrmSync, AnalyticsCounter],
})
export class AppModule {}
