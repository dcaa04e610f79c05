import { PostgresTransport } from '../../lib/postgres.js';
import { DATABASE_URL, dropSchema, uniqueSchema } from '../support/postgres.js';
import { describeTransportConformance } from './transport-conformance.js';

// Every test gets its own schema in the shared database. The lease is well above what a
// loaded machine may delay its renewal by; takeovers in the suite come from brokers that stop
// and hand their work over, not from timeouts. The table's constraints refuse a malformed event at
// insert, so there is no malformed message to find: no writeMalformed.
describeTransportConformance('postgres', async () => {
  const schema = uniqueSchema('conformance');
  return {
    createTransport: () => new PostgresTransport({ connectionString: DATABASE_URL, schema, ackTimeoutMs: 5000, pollIntervalMs: 50 }),
    teardown: () => dropSchema(schema),
  };
});
