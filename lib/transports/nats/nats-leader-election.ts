import { ErrorCode, NatsError } from 'nats';

/** How often a request to a stream or a consumer without a leader is sent again. */
const RETRY_DELAY_MS = 250;

/**
 * How long a request waits for a leader: after the server that led a replicated stream or
 * consumer is lost, its followers wait 4 to 9 s without a heartbeat before they elect another
 * (nats-server's election timeout), and the election itself takes a moment more.
 */
export const LEADER_WAIT_MS = 15_000;

export interface LeaderWait {
  /** Whether a leader can be elected at all: a stream of one replica never elects. */
  replicated: boolean;
  /**
   * Whether a request that timed out is sent again: only one whose repetition changes nothing
   * (reads, creates and updates to the same settings, a publish the server deduplicates). Any
   * request is sent again when it found no responder: it reached no leader, so it did nothing.
   */
  repeatable: boolean;
}

/** Whether `error` is what a JetStream request gets while nothing leads what it asks for. */
function isLeaderless(error: unknown, repeatable: boolean): boolean {
  if (!(error instanceof NatsError)) return false;
  return error.code === ErrorCode.NoResponders || (repeatable && error.code === ErrorCode.Timeout);
}

/**
 * Runs `request`, and again while it fails for want of a leader (no responder, or a timeout), for
 * up to 15 s: a stream or a consumer that lost the server leading it answers again once the
 * others elected a new leader, and the transport rides over the loss of a node instead of
 * failing. Unreplicated, it fails at once: there a 503 means the stream is missing.
 */
export async function waitingForLeader<T>({ replicated, repeatable }: LeaderWait, request: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + (replicated ? LEADER_WAIT_MS : 0);
  for (;;) {
    try {
      return await request();
    } catch (error) {
      if (!isLeaderless(error, repeatable) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
    }
  }
}
