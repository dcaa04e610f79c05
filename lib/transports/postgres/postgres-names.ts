/** Identifiers of one schema: its tables, the history view, the notification channel and the advisory locks. */
export class PostgresNames {
  readonly events: string;
  readonly deliveries: string;
  readonly groups: string;
  readonly consumers: string;
  readonly turns: string;
  readonly history: string;
  readonly channel: string;

  constructor(readonly schema: string) {
    this.events = `"${schema}".events`;
    this.deliveries = `"${schema}".deliveries`;
    this.groups = `"${schema}".groups`;
    this.consumers = `"${schema}".group_consumers`;
    this.turns = `"${schema}".ordered_turns`;
    this.history = `"${schema}".event_history`;
    this.channel = `${schema}_events`;
  }

  /**
   * The text of a group's advisory lock (hashed with `hashtext`): an ordered group's claims take
   * turns under it, and a consumer joins the group under it.
   */
  groupLock(group: string): string {
    return `nestjs-event-broker:${this.schema}:ordered:${group}`;
  }
}
