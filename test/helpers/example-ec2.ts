// The lab's example cloud (src/lab/ec2/example.ts) behind its EC2 API on loopback, with an SDK
// client for an admin and one for a limited caller: the start of the API tests that need both.
import type { TestContext } from 'node:test';
import { EC2Client } from '@aws-sdk/client-ec2';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import type { LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';

/** Starts the API (closed, with both clients, in `t.after`). */
export async function startExampleEc2(t: TestContext, options: { readonly region: string; readonly admin: LabCredential; readonly limited: LabCredential }): Promise<{ lab: ExampleCloud; url: string; ec2: EC2Client; limited: EC2Client }> {
  const lab = buildExampleCloud({ region: options.region });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [options.admin, options.limited] });
  const client = (c: LabCredential): EC2Client => new EC2Client({ region: options.region, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } });
  const ec2 = client(options.admin);
  const limited = client(options.limited);
  t.after(async () => {
    ec2.destroy();
    limited.destroy();
    controller.abort();
    await api.close();
  });
  return { lab, url: api.url, ec2, limited };
}
