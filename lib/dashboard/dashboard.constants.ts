/** Injection token of the dashboard's resolved options. */
export const DASHBOARD_OPTIONS = Symbol('EVENT_BROKER_DASHBOARD_OPTIONS');

export const DEFAULT_DASHBOARD_PATH = '/events-dashboard';

/** How many of the newest dead letters an event's detail looks through for that event's own. */
export const DETAIL_DEAD_LETTER_SCAN = 1000;
