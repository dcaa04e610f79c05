import { Inject, Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { buildAsyncApiDocument } from '../asyncapi/asyncapi-document.builder.js';
import type { AsyncApiDocument } from '../asyncapi/asyncapi-document.interface.js';
import type { AsyncApiOptions } from '../asyncapi/asyncapi-options.interface.js';
import { transportName, transportServers } from '../asyncapi/transport-servers.js';
import { resolveRetryOptions } from '../core/retry-policy.js';
import { EventBroker } from '../core/event-broker.js';
import { EVENT_BROKER_OPTIONS } from './event-broker.constants.js';
import type { EventBrokerModuleOptions } from './event-broker-module-options.interface.js';
import { discoverEventOperations } from './discover-event-operations.js';

/** Makes the AsyncAPI document of the application's `@OnEvent` and `@EmitsEvent` methods. */
@Injectable()
export class AsyncApiDocumentFactory {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly broker: EventBroker,
    @Inject(EVENT_BROKER_OPTIONS) private readonly options: EventBrokerModuleOptions,
  ) {}

  /** The document, with `options` over the module's `asyncapi` option. */
  create(options: Omit<AsyncApiOptions, 'path'> = {}): AsyncApiDocument {
    const retry = resolveRetryOptions(this.options.retry, 'EventBroker');
    const operations = discoverEventOperations(this.discovery, this.scanner, this.broker.serviceName, retry);
    const { path: _path, ...moduleOptions } = this.options.asyncapi ?? {};
    return buildAsyncApiDocument(
      {
        serviceName: this.broker.serviceName,
        ...operations,
        transport: transportName(this.options),
        servers: transportServers(this.options),
      },
      { ...moduleOptions, ...options },
    );
  }
}
