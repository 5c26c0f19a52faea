// The lab's example cloud behind its API on loopback, with Debian's aws CLI pointed at it: the
// setup every `/usr/bin/aws` test of the lab's API starts from.
import type { TestContext } from 'node:test';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api, type Ec2Api } from '../../src/lab/ec2/server.js';
import { awsCli, type AwsCli } from './aws-cli.js';

/** The admin credential the lab's API tests sign with (allowed everything). */
export const LAB_ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

/**
 * Builds the example cloud in `region`, serves its API on 127.0.0.1 (LAB_ADMIN and `credentials`
 * accepted) and makes a CLI signing as LAB_ADMIN; all of it is stopped when the test ends.
 */
export async function startCliLabApi(t: TestContext, options: { region: string; credentials?: readonly LabCredential[] }): Promise<{ lab: ExampleCloud; api: Ec2Api; cli: AwsCli }> {
  const lab = buildExampleCloud({ region: options.region });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [LAB_ADMIN, ...(options.credentials ?? [])] });
  const cli = await awsCli({ region: options.region, creds: { key: LAB_ADMIN.accessKeyId, secret: LAB_ADMIN.secretAccessKey } });
  t.after(async () => {
    controller.abort();
    await api.close();
    await cli.close();
  });
  return { lab, api, cli };
}
