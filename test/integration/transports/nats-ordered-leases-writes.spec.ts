import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBroker, type NatsTransportOptions } from '../../../lib/index.js';
import { NatsTransport } from '../../../lib/nats.js';
import { deleteStreams, NATS_URL, uniqueStream } from '../../support/nats.js';
import { RecordingLogger } from '../../support/silent-logger.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup();
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function setup(options: NatsTransportOptions, names: { stream: string; subjectPrefix: string }) {
  cleanups.push(() => deleteStreams(names.stream));
  return (instanceId: string): EventBroker => {
    const broker = new EventBroker({
      transport: new NatsTransport({ servers: NATS_URL, ...names, fetchExpiresMs: 1000, ...options }),
      instanceId,
      logger: new RecordingLogger(),
    });
    cleanups.push(() => broker.stop());
    return broker;
  };
}

describe('NatsTransport ordered groups: writes to the leases bucket', () => {
  it('two idle instances of an ordered group renew their records every third of ackWaitMs, not in a storm of writes', async () => {
    const names = uniqueStream('ordlw');
    const makeBroker = setup({ ackWaitMs: 3000, partitions: 2 }, names);
    for (const instance of ['a', 'b']) {
      const broker = makeBroker(instance);
      await broker.subscribe('orders.*', () => undefined, { group: 'g', ordered: true });
      await broker.start();
    }
    const connection = await connect({ servers: NATS_URL });
    cleanups.push(() => connection.close());
    const jsm = await connection.jetstreamManager();
    const writes = async (): Promise<number> => (await jsm.streams.info(`KV_${names.stream}_LEASES`)).state.last_seq;
    await pause(1500);
    const before = await writes();
    await pause(2000);
    // Each instance writes its member record and renews its one lease once a second: about 8 writes.
    expect(await writes()).toBeLessThan(before + 20);
  });
});
