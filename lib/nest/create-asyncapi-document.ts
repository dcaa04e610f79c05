import type { INestApplicationContext } from '@nestjs/common';
import type { AsyncApiDocument } from '../asyncapi/asyncapi-document.interface.js';
import type { AsyncApiOptions } from '../asyncapi/asyncapi-options.interface.js';
import { EventBrokerError } from '../core/event-broker.errors.js';
import { AsyncApiDocumentFactory } from './asyncapi-document.factory.js';

/**
 * The AsyncAPI 3.0 document of `app`'s events (as `SwaggerModule.createDocument` for HTTP): to write
 * it at build time or serve it yourself. Works once the app is created, before `init()` or `listen()`.
 */
export function createAsyncApiDocument(app: INestApplicationContext, options: Omit<AsyncApiOptions, 'path'> = {}): AsyncApiDocument {
  let factory: AsyncApiDocumentFactory;
  try {
    factory = app.get(AsyncApiDocumentFactory, { strict: false });
  } catch (error) {
    throw new EventBrokerError('createAsyncApiDocument needs an application that imports EventBrokerModule', { cause: error });
  }
  return factory.create(options);
}
