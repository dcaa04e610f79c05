import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { EventBrokerHealthIndicator } from 'nestjs-event-broker';

/** `GET /health`: down when the broker's transport does not answer or dead letters pile up. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly eventBroker: EventBrokerHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.eventBroker.isHealthy('eventBroker', { maxDeadLetters: 100 })]);
  }
}
