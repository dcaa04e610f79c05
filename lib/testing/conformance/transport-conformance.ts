import { describe } from 'vitest';
import { useConformanceContext, TEST_TIMEOUT_MS } from './conformance-context.js';
import { describeDeadLetterContract } from './dead-letter-contract.js';
import { describeDeliveryContract } from './delivery-contract.js';
import { describeHistoryContract } from './history-contract.js';
import { describeLifecycleContract } from './lifecycle-contract.js';
import { describeLiveTailContract } from './live-tail-contract.js';
import { describeOrderedGroupContract } from './ordered-group-contract.js';
import { describeSettlementContract } from './settlement-contract.js';
import { describeStatsContract } from './stats-contract.js';
import { describeTransactionContract } from './transaction-contract.js';
import { describeWireContract } from './wire-contract.js';
import type { TransportFeatures } from './transport-features.interface.js';
import type { TransportFixtureFactory } from './transport-fixture.interface.js';

/**
 * The whole `EventTransport` contract, for any transport: what `EventBroker` users see of delivery,
 * and what the interface promises of settling, history, the live tail, stats, dead letters and
 * close. `features` says what the transport offers beyond what every transport keeps; the fixture
 * made by `factory` for each test knows everything about the transport's internals.
 */
export function runTransportConformance(name: string, factory: TransportFixtureFactory, features: TransportFeatures): void {
  describe(`${name} transport conformance`, { timeout: TEST_TIMEOUT_MS }, () => {
    const context = useConformanceContext(name, factory, features);
    describeDeliveryContract(context);
    describeSettlementContract(context);
    describeHistoryContract(context);
    describeLiveTailContract(context);
    describeStatsContract(context);
    describeDeadLetterContract(context);
    describeOrderedGroupContract(context);
    describeWireContract(context);
    describeTransactionContract(context);
    describeLifecycleContract(context);
  });
}
