import { BadRequestException, Catch, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { DeadLetterNotFoundError, InvalidEventError, InvalidPatternError, type EventBrokerError } from '../core/event-broker.errors.js';

/** The broker's refusals of what a dashboard request asked for (a bad filter or pattern, an unknown dead letter), as 400 and 404. */
@Catch(DeadLetterNotFoundError, InvalidEventError, InvalidPatternError)
export class DashboardErrorsFilter extends BaseExceptionFilter {
  override catch(error: EventBrokerError, host: ArgumentsHost): void {
    const answer = error instanceof DeadLetterNotFoundError ? new NotFoundException(error.message) : new BadRequestException(error.message);
    super.catch(answer, host);
  }
}
