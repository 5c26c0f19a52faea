// An instance launched through the lab's API with MIME multi-part user data (gzip-compressed, as
// cloud-init accepts it) runs both shell parts once as root in its namespace, in the order of
// their names, with their output on the console, and says which part it did not run. Real lab
// (`lab up --bare`, root, under the shared lock).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DescribeInstancesCommand, GetConsoleOutputCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';

void test('multi-part user data: both text/x-shellscript parts run in the instance, the boothook is reported', { skip, timeout: 600_000 }, async (t) => {
  const { lab, ec2, ...bare } = await startBareLab(t, { tag: 'l18u' });
  const out = await bare.tempDir('parts');
  const boundary = '//lab18-parts';
  const message = [
    `Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', '',
    `--${boundary}`, 'Content-Type: text/x-shellscript; charset="us-ascii"', 'Content-Disposition: attachment; filename="20-second.sh"', '',
    '#!/bin/sh', `echo "second part on $(ip -4 -o addr show scope global | awk '{print $4}')" > ${out}/second`, 'echo "second part ran"', '',
    `--${boundary}`, 'Content-Type: text/x-shellscript; charset="us-ascii"', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="10-first.sh"', '',
    Buffer.from(`#!/bin/bash\necho "first part as $(id -un)" > ${out}/first\necho "first part ran"\n`).toString('base64'), '',
    `--${boundary}`, 'Content-Type: text/cloud-boothook', '', '#cloud-boothook', 'echo never', '',
    `--${boundary}--`, '',
  ].join('\n');
  const subnet = lab.plan.subnets.find((s) => s.role === 'lb')!;
  const run = await ec2.send(new RunInstancesCommand({
    ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.id, UserData: gzipSync(message).toString('base64'),
  }));
  const id = run.Instances![0]!.InstanceId!;
  const ip = run.Instances![0]!.PrivateIpAddress!;
  await waitFor('the instance running', async () => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name, (s) => s === 'running');
  const consoleText = await waitFor('the user data finished', async () => Buffer.from((await ec2.send(new GetConsoleOutputCommand({ InstanceId: id }))).Output ?? '', 'base64').toString('utf8'),
    (c) => c.includes('Cloud-init v. lab finished'));
  // Both parts ran, in the order of their names, as root, inside the instance (its address).
  assert.ok(consoleText.indexOf('first part ran') < consoleText.indexOf('second part ran') && consoleText.includes('first part ran'), consoleText);
  assert.doesNotMatch(consoleText, /Failed to run module scripts-user/);
  assert.match(consoleText, /lab: user-data part 3 of type text\/cloud-boothook is not run in the lab/);
  assert.equal(await readFile(join(out, 'first'), 'utf8'), 'first part as root\n');
  assert.equal(await readFile(join(out, 'second'), 'utf8'), `second part on ${ip}/${subnet.cidr.split('/')[1]}\n`);
  assert.ok(!existsSync(join(out, 'never')));
});
