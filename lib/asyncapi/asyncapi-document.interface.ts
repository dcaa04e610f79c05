/** A JSON Schema (draft-07, the base of the AsyncAPI Schema). */
export type JsonSchema = Record<string, unknown>;

/** A JSON Reference to another part of the document. */
export interface AsyncApiReference {
  $ref: string;
}

/** A schema in a format the document names: here the JSON Schema a contract's schema converts to. */
export interface AsyncApiMultiFormatSchema {
  schemaFormat: string;
  schema: JsonSchema;
}

export interface AsyncApiInfo {
  title: string;
  version: string;
  description?: string;
}

/** Where the events travel: the transport's server. */
export interface AsyncApiServer {
  host: string;
  protocol: string;
  pathname?: string;
  title?: string;
  description?: string;
}

/** A `{name}` of a channel address: a segment, or segments, that a pattern leaves open. */
export interface AsyncApiParameter {
  description?: string;
  examples?: string[];
}

export interface AsyncApiMessage {
  name: string;
  title?: string;
  summary?: string;
  description?: string;
  contentType?: string;
  headers?: JsonSchema | AsyncApiReference;
  payload?: AsyncApiMultiFormatSchema | AsyncApiReference;
}

/** An event type (address `public.users.create`) or a pattern (`public.users.{operation}`). */
export interface AsyncApiChannel {
  address: string;
  title?: string;
  description?: string;
  parameters?: Record<string, AsyncApiParameter>;
  /** The messages of the event types the application knows, or one of the pattern when it knows none. */
  messages: Record<string, AsyncApiReference | AsyncApiMessage>;
}

/** The retry policy of a receive operation, as `x-retry`. */
export interface AsyncApiRetryPolicy {
  maxRetries: number;
  initialDelayMs: number;
  maxDelayMs: number;
  backoffFactor: number;
  jitter: number;
}

export interface AsyncApiOperation {
  action: 'send' | 'receive';
  channel: AsyncApiReference;
  messages: AsyncApiReference[];
  title?: string;
  summary?: string;
  /** The consumer group of a receive operation: each event reaches one instance per group. */
  'x-group'?: string;
  'x-retry'?: AsyncApiRetryPolicy;
  'x-concurrency'?: number;
  'x-from-beginning'?: boolean;
  /** The group handles the events of one key one at a time, in publish order. */
  'x-ordered'?: boolean;
}

/** An AsyncAPI 3.0 document of what an application sends and receives. */
export interface AsyncApiDocument {
  asyncapi: '3.0.0';
  info: AsyncApiInfo;
  defaultContentType: 'application/json';
  servers?: Record<string, AsyncApiServer>;
  channels: Record<string, AsyncApiChannel>;
  operations: Record<string, AsyncApiOperation>;
  components: {
    schemas: Record<string, JsonSchema | AsyncApiMultiFormatSchema>;
    messages: Record<string, AsyncApiMessage>;
  };
}
