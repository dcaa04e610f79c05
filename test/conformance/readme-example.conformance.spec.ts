import { runTransportConformance } from 'nestjs-event-broker/conformance';
import { LogEngine } from './readme-example/log-engine.js';
import { LogTransport } from './readme-example/log-transport.js';

// A transport written only from the README's "Writing a transport" section and the package's public
// entry points: the suite run on it shows that the section says everything a transport must do.
runTransportConformance(
  'readme example',
  async () => {
    const engine = new LogEngine();
    return {
      createTransport: () => new LogTransport(engine, 5_000),
      writeForeign: async (event) => {
        engine.append({
          body: JSON.stringify({ specversion: '1.0', datacontenttype: 'application/json', time: new Date().toISOString(), ...event }),
        });
      },
      writeMalformed: async (body) => {
        engine.append({ body });
      },
      teardown: async () => undefined,
    };
  },
  { durable: true, transactional: false, foreignProducers: true, malformedMessages: true },
);
