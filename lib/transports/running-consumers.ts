import type { Consumer } from '../core/event-transport.interface.js';
import type { GroupConsumer } from './group-consumer.js';

/** The group consumers a transport started and has not closed: what its own `close` stops. */
export class RunningConsumers {
  private readonly consumers = new Set<GroupConsumer<unknown>>();

  /** Starts `consumer`; the `Consumer` returned forgets it once closed. */
  start<M>(consumer: GroupConsumer<M>): Consumer {
    this.consumers.add(consumer as GroupConsumer<unknown>);
    consumer.start();
    return {
      drained: () => consumer.drained(),
      close: async () => {
        await consumer.close();
        this.consumers.delete(consumer as GroupConsumer<unknown>);
      },
      release: () => consumer.release(),
    };
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.consumers].map((consumer) => consumer.close()));
    this.consumers.clear();
  }
}
