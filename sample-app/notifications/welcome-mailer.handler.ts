import { Injectable, Logger } from '@nestjs/common';
import { OnEvent, type EventOf } from 'nestjs-event-broker';
import { UserCreated } from '../users/user-events.js';

/** Sends (here: logs) a welcome mail to every new user. */
@Injectable()
export class WelcomeMailer {
  private readonly logger = new Logger(WelcomeMailer.name);

  @OnEvent(UserCreated)
  send(event: EventOf<typeof UserCreated>): void {
    this.logger.log(`Welcome mail sent to ${event.payload.name} <${event.payload.email}> (event ${event.id})`);
  }
}
