import { BadRequestException, Catch, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { DeadLetterNotFoundError, InvalidEventError, InvalidPatternError, type EventBrokerError } from 'nestjs-event-broker';

/** The broker's refusals of what a request asked for, as 404 and 400 answers instead of 500. */
@Catch(DeadLetterNotFoundError, InvalidEventError, InvalidPatternError)
export class BrokerErrorsFilter extends BaseExceptionFilter {
  override catch(error: EventBrokerError, host: ArgumentsHost): void {
    const answer = error instanceof DeadLetterNotFoundError ? new NotFoundException(error.message) : new BadRequestException(error.message);
    super.catch(answer, host);
  }
}
