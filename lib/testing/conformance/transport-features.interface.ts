/**
 * What a transport offers beyond the contract every transport keeps: each feature switches on the
 * tests that check it (and, where the other side is a promise too, the tests that check its absence).
 */
export interface TransportFeatures {
  /**
   * Accepted events, consumer groups and dead letters outlive the consumers and the transport
   * object: a group keeps its place while none of its consumers runs, and a new transport on the
   * same store serves the history and the deliveries left unsettled. `EventTransport.durable`.
   */
  durable: boolean;
  /** `publish` takes the caller's database transaction: the event exists if and only if it commits. `EventTransport.transactional`. */
  transactional: boolean;
  /** Another program can write events where the transport reads them (a CloudEvents document on a stream, a row in a table). */
  foreignProducers: boolean;
  /** What another program writes there may be unreadable: such a message is dead-lettered with the parse error. */
  malformedMessages: boolean;
  /**
   * Ordered groups: the events of one key are handled one at a time, in publish order, across the
   * group's consumers. `EventTransport.orderedGroups`. Absent: the transport refuses them.
   */
  orderedGroups?: boolean;
  /**
   * Whether every instance of an ordered group takes part (default `true`); `false` where one
   * instance at a time owns all of the fixture's keys (Redis with one partition): the tests then
   * ask that at least one does.
   */
  orderedGroupsSpread?: boolean;
}
