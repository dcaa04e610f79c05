/** The tracer name under which every span of this package is created. */
export const TRACER_NAME = 'nestjs-event-broker';

/** OpenTelemetry messaging semantic-convention attributes, and this package's own. */
export const ATTRIBUTES = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  messageId: 'messaging.message.id',
  consumerGroup: 'messaging.consumer.group.name',
  eventType: 'eventbroker.event.type',
  eventSource: 'eventbroker.event.source',
  retryCount: 'eventbroker.retry_count',
} as const;
