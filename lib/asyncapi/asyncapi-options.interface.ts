import type { AsyncApiServer } from './asyncapi-document.interface.js';

/** The `asyncapi` option of `EventBrokerModule.forRoot`, and what `createAsyncApiDocument` takes. */
export interface AsyncApiOptions {
  /** Serve the document as JSON at this HTTP path (`GET`), such as `/asyncapi.json`; not served without it. */
  path?: string;
  /** `info.title` (default: the `serviceName`). */
  title?: string;
  /** `info.version` (default `1.0.0`). */
  version?: string;
  /** `info.description` (default: which transport carries the events). */
  description?: string;
  /** The servers, in place of the one made from the transport's options (`{}` for none). */
  servers?: Record<string, AsyncApiServer>;
}
