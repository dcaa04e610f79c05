// The soak producer: publishes the planned events at the run's pace, a few at once, recording
// each publish it starts and each one acknowledged. Killed midway, its replacement republishes
// every event not acknowledged yet with the same id and creation time, then goes on.
import { readFileSync } from 'node:fs';
import { EventBroker } from 'nestjs-event-broker';
import { fileBrokerLogger } from './file-logger.js';
import { PUBLISH_WINDOW, SOAK_EVENT_TYPE } from './soak-constants.js';
import type { PlannedEvent } from './soak-plan.js';
import { appendRecord, readRecords, runFiles, type AckedRecord, type SentRecord } from './soak-records.js';
import { readRunConfig } from './soak-run-config.js';
import { createSoakTransport } from './soak-transport.js';

const { config, name } = readRunConfig(process.argv.slice(2));
const files = runFiles(config.dir);
const logger = fileBrokerLogger(files.log(name));
const plan = JSON.parse(readFileSync(files.plan, 'utf8')) as PlannedEvent[];
const acked = new Set(readRecords<AckedRecord>(files.acked).map((record) => record.id));
const sent = new Map(readRecords<SentRecord>(files.sent).map((record) => [record.id, record.createdAt]));
const todo = plan.filter((event) => !acked.has(event.id));

const broker = new EventBroker({ transport: createSoakTransport(config), instanceId: name, serviceName: 'soak', logger });
await broker.start();
process.stdout.write('ready\n');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function publish({ id, payload }: PlannedEvent): Promise<void> {
  await sleep(config.scheduleStart + (payload.seq / config.eventsPerSecond) * 1000 - Date.now());
  let createdAt = sent.get(id);
  if (createdAt === undefined) {
    createdAt = Date.now();
    appendRecord(files.sent, { id, createdAt } satisfies SentRecord);
  }
  for (;;) {
    try {
      await broker.publish({ id, type: SOAK_EVENT_TYPE, payload, createdAt: new Date(createdAt) });
      break;
    } catch (error) {
      logger.error(`soak producer: publish failed, retrying: ${error instanceof Error ? error.message : String(error)}`, { eventId: id });
      await sleep(200);
    }
  }
  appendRecord(files.acked, { id, producer: name } satisfies AckedRecord);
}

let next = 0;
await Promise.all(
  Array.from({ length: PUBLISH_WINDOW }, async () => {
    while (next < todo.length) await publish(todo[next++]);
  }),
);
process.stdout.write('done\n');
await broker.stop();
process.exit(0);
