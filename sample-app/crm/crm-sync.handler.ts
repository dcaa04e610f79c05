import { Injectable, Logger } from '@nestjs/common';
import { OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import type { User } from '../users/user.interface.js';

/** The domain the sample's CRM refuses, to show retries and the dead letter. */
export const REFUSED_DOMAIN = '@fail.example';

/** Copies new users to a CRM that is down for one domain: those events end as dead letters. */
@Injectable()
export class CrmSync {
  private readonly logger = new Logger(CrmSync.name);

  @OnEvent('public.users.create', { retry: { maxRetries: 2, initialDelayMs: 200 } })
  sync(event: BrokerEvent<User>): void {
    if (event.payload.email.endsWith(REFUSED_DOMAIN)) {
      throw new Error(`CRM refused ${event.payload.email} (attempt ${event.retryCount + 1})`);
    }
    this.logger.log(`User ${event.payload.id} copied to the CRM`);
  }
}
