// What the machine holds that a lab with a given prefix could leave behind: namespaces, links,
// files in its state directory, processes naming the prefix. Tests compare it before and after.
import { readdir, readFile } from 'node:fs/promises';
import { runCommand } from '../../src/lab/netns.js';

export interface MachineLeftovers { netns: string[]; links: string[]; files: string[]; processes: string[] }

export async function leftovers(prefix: string, stateDir: string): Promise<MachineLeftovers> {
  // Generous: the machine is shared and often busy.
  const signal = AbortSignal.timeout(60_000);
  const netns = (await runCommand(['ip', 'netns', 'list'], { signal })).stdout.split('\n').filter((l) => l.startsWith(prefix));
  const links = (await runCommand(['ip', '-o', 'link'], { signal })).stdout.split('\n').map((l) => l.replace(/^\d+: /, '').split(':')[0] ?? '').sort();
  const files = await readdir(stateDir);
  const processes: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    // Read directly (a process per pid took longer than a deadline on a busy machine); gone processes are skipped.
    const cmdline = await readFile(`/proc/${pid}/cmdline`, { encoding: 'utf8', signal }).catch(() => '');
    if (cmdline.includes(prefix)) processes.push(`${pid} ${cmdline.replaceAll('\0', ' ')}`);
  }
  return { netns, links, files, processes };
}

