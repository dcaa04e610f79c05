import { isEventContract } from './define-event.js';
import { EventBrokerError } from './event-broker.errors.js';
import type { EventContract, EventSelector } from './event-contract.interface.js';

export interface SelectedEvents {
  /** The patterns, a contract giving its type. */
  patterns: string[];
  /** The contract of each type that one was given for. */
  contracts: Map<string, EventContract>;
}

/** The patterns and contracts of a subscription's selectors; one type has at most one schema. */
export function selectedEvents(selectors: EventSelector | readonly EventSelector[]): SelectedEvents {
  const list: readonly EventSelector[] = typeof selectors === 'string' || isEventContract(selectors) ? [selectors] : selectors;
  const contracts = new Map<string, EventContract>();
  const patterns = [...list].map((selector) => {
    if (!isEventContract(selector)) return selector;
    const known = contracts.get(selector.type);
    if (known && known.schema !== selector.schema) {
      throw new EventBrokerError(`Two contracts of ${selector.type} with different schemas in one subscription: give it one of them`);
    }
    contracts.set(selector.type, selector);
    return selector.type;
  });
  return { patterns, contracts };
}
