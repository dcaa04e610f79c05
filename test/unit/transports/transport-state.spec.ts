import { describe, expect, it } from 'vitest';
import { BrokerStateError } from '../../../lib/core/event-broker.errors.js';
import { TransportState } from '../../../lib/transports/transport-state.js';

describe('TransportState', () => {
  it('refuses before connect, saying to call connect(), and gives what connect made afterwards', () => {
    const state = new TransportState<{ client: string }>('SomeTransport');

    expect(() => state.connected()).toThrow(
      new BrokerStateError('SomeTransport is not connected: call connect() (EventBroker.start does)'),
    );
    expect(() => state.assertOpen()).not.toThrow();
    expect(state.made).toBeUndefined();

    state.connectedWith({ client: 'the client' });

    expect(state.connected()).toEqual({ client: 'the client' });
  });

  it('refuses once closed, saying so, and still gives what connect made to release it', () => {
    const state = new TransportState<{ client: string }>('SomeTransport');
    state.connectedWith({ client: 'the client' });

    state.close();

    expect(state.closed).toBe(true);
    expect(() => state.connected()).toThrow(new BrokerStateError('SomeTransport is closed'));
    expect(() => state.assertOpen()).toThrow(new BrokerStateError('SomeTransport is closed'));
    expect(state.made).toEqual({ client: 'the client' });
  });

  it('says it is closed, not that it is not connected, when closed before connect', () => {
    const state = new TransportState<{ client: string }>('SomeTransport');

    state.close();

    expect(() => state.connected()).toThrow(new BrokerStateError('SomeTransport is closed'));
  });

  it('tells close whether the transport was open, so that closing twice does nothing the second time', () => {
    const state = new TransportState('SomeTransport');

    expect(state.closed).toBe(false);
    expect(state.close()).toBe(true);
    expect(state.close()).toBe(false);
  });
});
