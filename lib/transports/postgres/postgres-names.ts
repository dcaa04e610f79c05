/** Identifiers of one schema: its tables, the history view and the notification channel. */
export class PostgresNames {
  readonly events: string;
  readonly deliveries: string;
  readonly groups: string;
  readonly history: string;
  readonly channel: string;

  constructor(readonly schema: string) {
    this.events = `"${schema}".events`;
    this.deliveries = `"${schema}".deliveries`;
    this.groups = `"${schema}".groups`;
    this.history = `"${schema}".event_history`;
    this.channel = `${schema}_events`;
  }
}
