/**
 * The cloud driver registry: one line per provider of the model's union (`CloudProvider`, minus
 * `none`), each a driver that knows who this node is and which capabilities the provider offers.
 * Everything above the cloud layer (the failover parts, discovery's `ec2-tags` source, the agent)
 * asks the registry; no other file names a provider. Recipe: docs/ARCHITECTURE.md, "Add a cloud
 * provider".
 */
import type { CloudProvider } from '../model/spec.js';
import { OverlayError } from '../util/errors.js';
import { awsDriver, labDriver } from './aws/driver.js';
import type { CloudDriver } from './driver.js';

export type { CloudCapabilities, CloudDriver, CloudOpenOptions, CloudSession } from './driver.js';

/** The registry: one line per provider. */
const DRIVERS = new Map<string, CloudDriver>([
  ['aws', awsDriver],
  ['lab', labDriver],
]);

/** The driver of `provider`; `none` and unknown providers have none (a clear error). */
export function cloudDriver(provider: CloudProvider): CloudDriver {
  const d = DRIVERS.get(provider);
  if (d === undefined) {
    throw new OverlayError('SPEC_CONFLICT', `cloud provider "${provider}" has no driver; providers with one: ${[...DRIVERS.keys()].join(', ')} (use provider none for no cloud)`);
  }
  return d;
}

/**
 * Registers a driver under a provider name: for tests (a provider that records calls). A real
 * provider is a line in `DRIVERS` and a member of the model's `CloudProvider` union.
 * Returns a function that removes it again.
 */
export function registerCloudDriver(provider: string, driver: CloudDriver): () => void {
  if (DRIVERS.has(provider)) throw new OverlayError('INTERNAL', `cloud provider "${provider}" is registered already`);
  DRIVERS.set(provider, driver);
  return () => void DRIVERS.delete(provider);
}
