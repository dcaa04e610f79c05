import type { OptionNames } from '../core/known-options.js';
import { FACTORY_OPTION_NAMES } from '../nest/event-broker-option-names.js';
import type { EventBrokerMicroserviceOptions } from './event-broker-microservice-options.interface.js';

export const MICROSERVICE_OPTION_NAMES: OptionNames<EventBrokerMicroserviceOptions> = { ...FACTORY_OPTION_NAMES, broker: true };
