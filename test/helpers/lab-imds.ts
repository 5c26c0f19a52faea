/**
 * The lab's IMDSv2 endpoint (src/lab/imds/server.ts) on 127.0.0.1 over the example cloud, where
 * 127.0.0.1 stands for one instance (the lab maps a caller's private address to its instance).
 * Shared by the endpoint's own test and the agent's IMDS client test. Closed when the test ends.
 */
import type { TestContext } from 'node:test';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { startImds } from '../../src/lab/imds/server.js';

export interface LabImds {
  readonly lab: ExampleCloud;
  readonly url: string;
  /** Moves the endpoint's (and the example cloud's) clock forward. */
  readonly advance: (ms: number) => void;
}

export async function startLabImds(t: TestContext, options: {
  readonly requireV2: boolean;
  /** The instance 127.0.0.1 stands for; `none`: no instance. @default lb1 */
  readonly instance?: 'lb1' | 'multi' | 'none';
  /** The endpoint's clock at the start (epoch ms). */
  readonly startAt: number;
}): Promise<LabImds> {
  let now = options.startAt;
  const lab = buildExampleCloud({ clock: () => now });
  lab.cloud.putRolePolicy('lb-node', { Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] });
  const controller = new AbortController();
  const which = options.instance ?? 'lb1';
  const imds = await startImds({
    host: '127.0.0.1', port: 0, signal: controller.signal, requireV2: options.requireV2, clock: () => now,
    resolveInstance: (address) => (address === '127.0.0.1' && which !== 'none' ? lab.cloud.instanceIdentity(lab.ids[which]) : undefined),
  });
  t.after(async () => {
    controller.abort();
    await imds.close();
  });
  return { lab, url: imds.url, advance: (ms) => { now += ms; } };
}
