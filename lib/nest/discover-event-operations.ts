import type { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { RetryOptions } from '../core/retry-policy.js';
import { resolveRetryOptions } from '../core/retry-policy.js';
import type { ReceiveOperationSource, SendOperationSource } from '../asyncapi/event-operation-sources.interface.js';
import { discoveredInstances } from './discovered-instances.js';
import { emittedEvents } from './emits-event.decorator.js';
import { onEventMetadata } from './on-event.decorator.js';
import { defaultHandlerGroup, onEventSubscriptions } from './on-event-subscriptions.js';

/** What the application's methods handle and publish. */
export interface DiscoveredEventOperations {
  receive: ReceiveOperationSource[];
  send: SendOperationSource[];
}

/**
 * The subscriptions of every `@OnEvent` method, grouped as the loader binds them, and the types of
 * every `@EmitsEvent` method: read from the decorators, so that it works before bootstrap too.
 */
export function discoverEventOperations(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  serviceName: string,
  retry: RetryOptions,
): DiscoveredEventOperations {
  const found: DiscoveredEventOperations = { receive: [], send: [] };
  for (const { instance } of discoveredInstances(discovery)) {
    const className = instance.constructor.name;
    const methods = instance as Record<string, object>;
    for (const method of scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
      const name = `${className}.${method}`;
      const decorators = onEventMetadata(methods[method]);
      if (decorators.length > 0) {
        const where = `@OnEvent on ${name}`;
        for (const { selectors, options } of onEventSubscriptions(decorators, defaultHandlerGroup(serviceName, className, method), where)) {
          found.receive.push({
            handler: name,
            group: options.group,
            selectors,
            retry: resolveRetryOptions(options.retry, `group ${options.group}`, retry),
            concurrency: options.concurrency,
            fromBeginning: options.fromBeginning,
            ordered: options.ordered,
          });
        }
      }
      for (const type of emittedEvents(methods[method])) found.send.push({ publisher: name, event: type });
    }
  }
  return found;
}
