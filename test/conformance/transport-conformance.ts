import { describe } from 'vitest';
import { useConformanceContext, TEST_TIMEOUT_MS } from './contract/conformance-context.js';
import { describeDeadLetterContract } from './contract/dead-letter-contract.js';
import { describeDeliveryContract } from './contract/delivery-contract.js';
import { describeHistoryContract } from './contract/history-contract.js';
import { describeLifecycleContract } from './contract/lifecycle-contract.js';
import { describeLiveTailContract } from './contract/live-tail-contract.js';
import { describeSettlementContract } from './contract/settlement-contract.js';
import { describeStatsContract } from './contract/stats-contract.js';
import { describeTransactionContract } from './contract/transaction-contract.js';
import { describeWireContract } from './contract/wire-contract.js';
import type { TransportFeatures } from './transport-features.interface.js';
import type { TransportFixtureFactory } from './transport-fixture.js';

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
    describeWireContract(context);
    describeTransactionContract(context);
    describeLifecycleContract(context);
  });
}
