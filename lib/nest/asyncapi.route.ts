import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { AsyncApiDocument } from '../asyncapi/asyncapi-document.interface.js';
import { AsyncApiDocumentFactory } from './asyncapi-document.factory.js';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';

/**
 * Serves the AsyncAPI document at the `asyncapi.path` option, on the HTTP server itself (as
 * Swagger's document is): before Nest's "not found" answer, outside guards and the global prefix.
 */
@Injectable()
export class AsyncApiRoute implements OnModuleInit {
  private document?: AsyncApiDocument;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly factory: AsyncApiDocumentFactory,
    @Inject(EVENT_BROKER_OPTIONS) private readonly options: EventBrokerModuleOptions,
  ) {}

  onModuleInit(): void {
    const path = this.options.asyncapi?.path;
    if (!path) return;
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) {
      new Logger('EventBroker').warn(`asyncapi.path ${path} is not served: the application has no HTTP server`);
      return;
    }
    // The decorators do not change once the app runs: the document is made at the first request.
    adapter.get(path, (_request: unknown, response: unknown) => adapter.reply(response, (this.document ??= this.factory.create()), 200));
  }
}
