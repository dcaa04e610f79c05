import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import type { EventBrokerModuleOptions, HttpRequestLike } from './event-broker-module-options.interface.js';
import { EventRequestContext, type EventRequestContextValue } from './event-request-context.js';

function header(request: HttpRequestLike, name: string): string | undefined {
  const value = request.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `request.user.id` (set by an auth guard such as Passport's), else the `x-user-id` header. */
export function defaultUserId(request: HttpRequestLike): string | number | undefined {
  return request.user?.id ?? header(request, 'x-user-id');
}

/** `request.sessionID` (express-session), else the `x-session-id` header. */
export function defaultSessionId(request: HttpRequestLike): string | undefined {
  return request.sessionID ?? header(request, 'x-session-id');
}

/**
 * Makes the HTTP request's user and session the event context of the route handler, so that
 * events it publishes carry them. Runs after guards, so an auth guard's `request.user` is seen.
 */
@Injectable()
export class EventRequestContextInterceptor implements NestInterceptor {
  constructor(@Inject(EVENT_BROKER_OPTIONS) private readonly options: EventBrokerModuleOptions) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const extract = this.options.requestContext;
    if (context.getType() !== 'http' || extract === false) return next.handle();
    const request = context.switchToHttp().getRequest<HttpRequestLike>();
    const value: EventRequestContextValue = {
      userId: (extract?.userId ?? defaultUserId)(request),
      sessionId: (extract?.sessionId ?? defaultSessionId)(request),
    };
    return new Observable((subscriber) => EventRequestContext.run(value, () => next.handle().subscribe(subscriber)));
  }
}
