import { ErrorCode, NatsError, type JetStreamClient, type JetStreamPublishOptions, type PubAck } from 'nats';

/** How often a publish to a replicated stream without a leader is sent again. */
const RETRY_DELAY_MS = 250;

/**
 * How long a publish to a replicated stream waits for a leader: after the server that led it is
 * lost, its followers wait 4 to 9 s without a heartbeat before they elect another (nats-server's
 * election timeout), and the election itself takes a moment more.
 */
const LEADER_WAIT_MS = 15_000;

/**
 * A JetStream publish to a stream of `replicas`, which rides over a leader election. While a
 * replicated stream elects a leader, nothing listens on its subjects: the publish gets "no
 * responders" (503) and was not stored, so sending it again is safe, and the publisher waits for
 * the new leader instead of failing. A stream of one replica never elects: a 503 there means the
 * stream is gone, and fails at once.
 */
export async function publishWaitingForLeader(
  js: JetStreamClient,
  replicas: number,
  subject: string,
  data: string | Uint8Array,
  options: Partial<JetStreamPublishOptions>,
): Promise<PubAck> {
  const deadline = Date.now() + (replicas > 1 ? LEADER_WAIT_MS : 0);
  for (;;) {
    try {
      return await js.publish(subject, data, options);
    } catch (error) {
      if (!(error instanceof NatsError && error.code === ErrorCode.NoResponders) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }
}
