import { Injectable, Logger } from '@nestjs/common';
import { OnEvent, type BrokerEvent } from 'nestjs-event-broker';

/** Records every change to a user, with who made it. */
@Injectable()
export class AuditLog {
  private readonly logger = new Logger(AuditLog.name);

  @OnEvent('public.users.*')
  record(event: BrokerEvent): void {
    this.logger.log(`${event.operation} of user ${JSON.stringify(event.payload)} by ${event.userId ?? 'anonymous'} (event ${event.id})`);
  }
}
