import { Injectable, Logger } from '@nestjs/common';
import { OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import type { User } from '../users/user.interface.js';

/** The domain the sample's CRM refuses during its outage, to show retries, the dead letter and its replay. */
export const REFUSED_DOMAIN = '@fail.example';

/**
 * Copies new users to a CRM that is down for one domain until `DELETE /crm/outage`: those events
 * end as dead letters, and a replay once the outage is over completes them.
 */
@Injectable()
export class CrmSync {
  private readonly logger = new Logger(CrmSync.name);
  /** On each instance of the app: the sample keeps it in memory. */
  outage = true;

  @OnEvent('public.users.create', { retry: { maxRetries: 2, initialDelayMs: 200 } })
  sync(event: BrokerEvent<User>): void {
    if (this.outage && event.payload.email.endsWith(REFUSED_DOMAIN)) {
      throw new Error(`CRM refused ${event.payload.email} (attempt ${event.retryCount + 1})`);
    }
    this.logger.log(`User ${event.payload.id} copied to the CRM`);
  }
}
