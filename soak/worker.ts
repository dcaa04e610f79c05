// A soak worker: a plain EventBroker consuming both groups, whose handlers fail as each event's
// plan says. Every successful handling is recorded before the handler returns. The soak
// SIGKILLs workers at random; SIGTERM stops one gracefully.
import { EventBroker, type BrokerEvent, type DeliveryInfo } from 'nestjs-event-broker';
import { fileBrokerLogger } from './file-logger.js';
import { SOAK_GROUPS, SOAK_PATTERN, SOAK_RETRY } from './soak-constants.js';
import { handlerFails, type SoakPayload } from './soak-plan.js';
import { appendRecord, runFiles, type HandledRecord } from './soak-records.js';
import { readRunConfig } from './soak-run-config.js';
import { createSoakTransport } from './soak-transport.js';

const { config, name } = readRunConfig(process.argv.slice(2));
const files = runFiles(config.dir);

const broker = new EventBroker({
  transport: createSoakTransport(config),
  instanceId: name,
  serviceName: 'soak',
  logger: fileBrokerLogger(files.log(name)),
  retry: SOAK_RETRY,
});

async function handle(event: BrokerEvent<SoakPayload>, delivery: DeliveryInfo): Promise<void> {
  // Some work, so that kills find handlers running.
  await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 18));
  const failure = handlerFails(event.payload, delivery.group, delivery.attempt);
  if (failure === 'always') throw new Error(`soak: event ${event.payload.seq} always fails in ${delivery.group}`);
  if (failure === 'transient') throw new Error(`soak: event ${event.payload.seq} fails on attempt ${delivery.attempt}`);
  const record: HandledRecord = {
    id: event.id,
    group: delivery.group,
    worker: name,
    attempt: delivery.attempt,
    createdAt: new Date(event.createdAt).getTime(),
    at: Date.now(),
  };
  appendRecord(files.handled(name), record);
}

// Installed first: a worker asked to stop while it is still starting stops too, with exit code 0.
let stopping: Promise<void> | undefined;
process.once('SIGTERM', () => {
  stopping = broker.stop();
  stopping.then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});

try {
  for (const group of SOAK_GROUPS) await broker.subscribe<SoakPayload>(SOAK_PATTERN, handle, { group });
  await broker.start();
  process.stdout.write('ready\n');
} catch (error) {
  // Refused because it is stopping: the SIGTERM handler exits.
  if (!stopping) throw error;
}
