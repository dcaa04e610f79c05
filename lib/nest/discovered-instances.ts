import type { DiscoveryService } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';

/** A provider or controller of the application, and its instance. */
export interface DiscoveredInstance {
  wrapper: InstanceWrapper;
  instance: object;
}

/** Every provider and controller instance of the application, once each (aliases and repeats left out). */
export function discoveredInstances(discovery: DiscoveryService): DiscoveredInstance[] {
  const seen = new Set<unknown>();
  const found: DiscoveredInstance[] = [];
  for (const wrapper of [...discovery.getProviders(), ...discovery.getControllers()]) {
    const instance: unknown = wrapper.instance;
    if (!instance || typeof instance !== 'object' || wrapper.isAlias || seen.has(instance)) continue;
    seen.add(instance);
    found.push({ wrapper, instance });
  }
  return found;
}
