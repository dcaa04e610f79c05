import { Injectable, Logger } from '@nestjs/common';
import { OnEvent, type BrokerEvent } from 'nestjs-event-broker';
import type { User } from '../users/user.interface.js';

/** Sends (here: logs) a welcome mail to every new user. */
@Injectable()
export class WelcomeMailer {
  private readonly logger = new Logger(WelcomeMailer.name);

  @OnEvent('public.users.create')
  send(event: BrokerEvent<User>): void {
    this.logger.log(`Welcome mail sent to ${event.payload.name} <${event.payload.email}> (event ${event.id})`);
  }
}
