/**
 * The real tools' verdicts on rendered configs, for the property and battery tests: `haproxy -c`
 * on a config and its map files, and keepalived's config test on a keepalived.conf.
 *
 * keepalived 2.2.7's config test fails when the VRRP interface does not exist and kills itself
 * when a script runs as a non-root `script_user` (acassen/keepalived#2587, #2617; fixed in 2.2.8).
 * So the check runs in an anonymous network namespace (`unshare --net`, gone with the process:
 * nothing to clean up, nothing shared with other tests) holding a veth pair named after the
 * interface, on the config without its `script_user` line, exactly as src/keepalived/check.ts
 * does on its second run. Neither tool binds a socket.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ToolVerdict {
  readonly ok: boolean;
  readonly output: string;
}

function run(argv: readonly string[], signal: AbortSignal): Promise<{ code: number | null; output: string }> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(cmd ?? '', args, { signal, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (err === null) return resolve({ code: 0, output });
      if (typeof err.code === 'number') return resolve({ code: err.code, output });
      reject(new Error(`${cmd ?? ''} could not run: ${err.message}`, { cause: err }));
    });
  });
}

/** Writes the config and its maps into `dir` (maps into `mapDir`) and runs `haproxy -c`. */
export async function haproxyCheck(options: { config: string; maps: readonly { name: string; content: string }[]; dir: string; mapDir: string; signal: AbortSignal }): Promise<ToolVerdict> {
  await mkdir(options.mapDir, { recursive: true });
  for (const m of options.maps) await writeFile(join(options.mapDir, m.name), m.content);
  const cfg = join(options.dir, 'haproxy.cfg');
  await writeFile(cfg, options.config);
  const r = await run(['haproxy', '-c', '-f', cfg], options.signal);
  return { ok: r.code === 0, output: r.output };
}

/** keepalived's config test of `text`, whose VRRP instance uses `interfaceName`, in a private network namespace. */
export async function keepalivedCheck(options: { text: string; interfaceName: string; dir: string; signal: AbortSignal }): Promise<ToolVerdict> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(options.interfaceName)) throw new Error(`interface ${JSON.stringify(options.interfaceName)} is not a plain interface name`);
  await mkdir(options.dir, { recursive: true });
  const file = join(options.dir, 'keepalived.conf');
  const log = join(options.dir, 'config-test.log');
  await writeFile(file, options.text.split('\n').filter((l) => !/^\s*script_user\s/.test(l)).join('\n'));
  await rm(log, { force: true });
  // The peer's name must differ from the interface's and fit in 15 characters.
  const peer = options.interfaceName === 'olbpeer0' ? 'olbpeer1' : 'olbpeer0';
  const script = [
    `ip link add name "$1" type veth peer name ${peer}`,
    `exec keepalived --config-test="$2" -f "$3" -p "$4/k.pid" -r "$4/v.pid" -c "$4/c.pid"`,
  ].join(' && ');
  const r = await run(['unshare', '--net', 'sh', '-c', script, 'sh', options.interfaceName, log, file, options.dir], options.signal);
  const logged = await readFile(log, 'utf8').catch(() => '');
  return { ok: r.code === 0 && logged.trim() === '', output: `${logged}${r.output}`.trim() };
}

/**
 * keepalived's config test of many configs in one private network namespace holding a veth
 * for each name in `interfaces`: one `unshare` for the batch instead of one per config.
 * Returns one verdict per config, in order.
 */
export async function keepalivedBatchCheck(options: { texts: readonly string[]; interfaces: readonly string[]; dir: string; signal: AbortSignal }): Promise<ToolVerdict[]> {
  const names = [...new Set(options.interfaces)];
  for (const n of names) if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(n) || /^olbpeer\d+$/.test(n)) throw new Error(`interface ${JSON.stringify(n)} is not usable here`);
  await rm(options.dir, { recursive: true, force: true });
  await mkdir(options.dir, { recursive: true });
  for (const [i, text] of options.texts.entries()) {
    await writeFile(join(options.dir, `${i}.conf`), text.split('\n').filter((l) => !/^\s*script_user\s/.test(l)).join('\n'));
  }
  const links = names.map((n, i) => `ip link add name '${n}' type veth peer name olbpeer${i}`).join(' && ');
  const loop = `i=0; while [ $i -lt ${options.texts.length} ]; do keepalived --config-test="$1/$i.log" -f "$1/$i.conf" -p "$1/k.pid" -r "$1/v.pid" -c "$1/c.pid" > "$1/$i.out" 2>&1; echo $? > "$1/$i.rc"; i=$((i+1)); done`;
  const r = await run(['unshare', '--net', 'sh', '-c', `${links} && ${loop}`, 'sh', options.dir], options.signal);
  if (r.code !== 0) throw new Error(`the keepalived batch could not run: ${r.output}`);
  const out: ToolVerdict[] = [];
  for (let i = 0; i < options.texts.length; i++) {
    const rc = (await readFile(join(options.dir, `${i}.rc`), 'utf8').catch(() => 'missing')).trim();
    const logged = (await readFile(join(options.dir, `${i}.log`), 'utf8').catch(() => '')).trim();
    const printed = (await readFile(join(options.dir, `${i}.out`), 'utf8').catch(() => '')).trim();
    out.push({ ok: rc === '0' && logged === '', output: `exit ${rc}\n${logged}\n${printed}`.trim() });
  }
  return out;
}
