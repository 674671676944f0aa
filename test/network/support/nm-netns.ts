import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';

/**
 * Runs the real NetworkManager (with a private D-Bus) inside a fresh network namespace whose links are
 * veths of chosen names and MACs, loads keyfiles, waits for addresses, and reports what NetworkManager
 * configured. The peer ends live in a second namespace, optionally with an address and a DHCP server
 * (busybox udhcpd). Everything is torn down afterwards, also on failure.
 */
export interface NetnsLink {
  ifname: string;
  mac: string;
  /** Address given to the peer end (in the peer namespace), e.g. `192.168.122.1/24`. */
  peerAddress?: string;
  /** Serve DHCP on the peer end: leases from `start`..`end` with this router, DNS and domain. */
  dhcp?: { start: string; end: string; router: string; dns: string; domain: string };
}

export interface NetnsRequest {
  links: NetnsLink[];
  /** Keyfiles to load (file name -> content), or a folder holding them. */
  keyfiles: Record<string, string> | string;
  /** Wait until each device shows an address matching the pattern (`ip -br addr` output). */
  expect: { ifname: string; address: RegExp }[];
  timeoutMs?: number;
  /** Runs inside the NetworkManager namespace after activation (e.g. `ip route show table 100`). */
  extraCommands?: string[][];
}

export interface NetnsResult {
  activated: boolean;
  /** What was awaited and not seen, for the assertion message. */
  missing: string[];
  addresses: string;
  routes4: string;
  routes6: string;
  resolvConf: string;
  activeConnections: string;
  warnings: string[];
  extra: string[];
}

let counter = 0;

export async function runNetworkManager(req: NetnsRequest): Promise<NetnsResult> {
  const tag = `${process.pid % 100000}x${counter++}`;
  const ns = `onm${tag}`;
  const peer = `opr${tag}`;
  const work = await mkdtemp(path.join(tmpdir(), 'outpost-nm-'));
  const procs: ResultPromise[] = [];
  let nm: ResultPromise | undefined;
  let dbusPid: number | undefined;
  try {
    const kf = path.join(work, 'kf');
    await mkdir(kf);
    await mkdir(path.join(work, 'var'));
    await mkdir(path.join(work, 'conf.d'));
    await mkdir(path.join(work, 'sysconf.d'));
    if (typeof req.keyfiles === 'string') {
      await execa('sh', ['-c', 'cp "$1"/*.nmconnection "$2"/', 'sh', req.keyfiles, kf]);
    } else {
      for (const [name, content] of Object.entries(req.keyfiles))
        await writeFile(path.join(kf, name), content);
    }
    await execa('sh', ['-c', 'chmod 600 "$1"/*', 'sh', kf]);
    await writeFile(
      path.join(work, 'nm.conf'),
      `[main]\nplugins=keyfile\ndns=default\nrc-manager=unmanaged\nauth-polkit=false\nno-auto-default=*\n[keyfile]\npath=${kf}\n[logging]\nlevel=INFO\n`,
    );
    await writeFile(
      path.join(work, 'bus.conf'),
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${work}/bus.sock</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>\n`,
    );
    // NetworkManager must not see the host's /sys devices or write the host's state: private mounts.
    const inner = path.join(work, 'inner.sh');
    await writeFile(
      inner,
      `#!/bin/sh
mount -o remount,ro /sys
mkdir -p /run/NetworkManager && mount -t tmpfs tmpfs /run/NetworkManager
mount --bind ${work}/var /var/lib/NetworkManager
exec NetworkManager --no-daemon --config=${work}/nm.conf --config-dir=${work}/conf.d --system-config-dir=${work}/sysconf.d --intern-config=${work}/var/intern.conf --state-file=${work}/var/nm.state
`,
    );
    await chmod(inner, 0o755);

    await execa('ip', ['netns', 'add', ns]);
    await execa('ip', ['netns', 'add', peer]);
    await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    for (const [i, link] of req.links.entries()) {
      const p = `p${i}`;
      await addVethPair(ns, link.ifname, link.mac, peer, p);
      if (link.peerAddress) await execa('ip', ['-n', peer, 'addr', 'add', link.peerAddress, 'dev', p]);
      await execa('ip', ['-n', peer, 'link', 'set', p, 'up']);
      if (link.dhcp) {
        const d = link.dhcp;
        const conf = path.join(work, `udhcpd-${i}.conf`);
        await writeFile(
          conf,
          `start ${d.start}\nend ${d.end}\ninterface ${p}\noption subnet 255.255.255.0\noption router ${d.router}\noption dns ${d.dns}\noption domain ${d.domain}\noption lease 3600\nlease_file ${work}/leases-${i}\npidfile ${work}/udhcpd-${i}.pid\n`,
        );
        await writeFile(path.join(work, `leases-${i}`), '');
        procs.push(execa('ip', ['netns', 'exec', peer, 'busybox', 'udhcpd', '-f', conf], { reject: false }));
      }
    }
    const bus = await execa('dbus-daemon', [`--config-file=${work}/bus.conf`, '--fork', '--print-pid']);
    dbusPid = Number(bus.stdout.trim());
    const env = { DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${work}/bus.sock` };
    nm = execa('ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', inner], {
      env,
      reject: false,
      all: true,
    });

    const deadline = Date.now() + (req.timeoutMs ?? 20_000);
    let missing: string[] = req.expect.map((e) => `${e.ifname} ~ ${e.address}`);
    while (Date.now() < deadline) {
      const addr = (await execa('ip', ['-n', ns, '-br', 'addr'], { reject: false })).stdout;
      missing = req.expect
        .filter((e) => !addr.split('\n').some((l) => l.split(/[@ ]/)[0] === e.ifname && e.address.test(l)))
        .map((e) => `${e.ifname} ~ ${e.address}`);
      if (!missing.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // DNS is written just after the address appears.
    await new Promise((r) => setTimeout(r, 500));
    const run = async (args: string[]) =>
      (await execa('ip', ['netns', 'exec', ns, ...args], { reject: false })).stdout;
    const nmPid = nm.pid;
    const resolvConf = nmPid
      ? (
          await execa(
            'sh',
            [
              '-c',
              'nsenter -t "$(pgrep -P "$1" -x NetworkManager || echo "$1")" -m cat /run/NetworkManager/resolv.conf',
              'sh',
              String(nmPid),
            ],
            { reject: false },
          )
        ).stdout
      : '';
    const result: NetnsResult = {
      activated: missing.length === 0,
      missing,
      addresses: (await execa('ip', ['-n', ns, '-br', 'addr'], { reject: false })).stdout,
      routes4: await run(['ip', '-4', 'route', 'show', 'table', 'all']),
      routes6: await run(['ip', '-6', 'route', 'show', 'table', 'all']),
      resolvConf,
      activeConnections: (
        await execa('nmcli', ['-t', '-f', 'NAME,DEVICE,STATE', 'connection', 'show', '--active'], {
          env,
          reject: false,
        })
      ).stdout,
      warnings: [],
      extra: [],
    };
    for (const cmd of req.extraCommands ?? []) result.extra.push(await run(cmd));
    nm.kill('SIGTERM');
    const out = await nm;
    result.warnings = String(out.all ?? '')
      .split('\n')
      .filter(
        (l) =>
          /<(warn|error)>/.test(l) && !/ModemManager|hostnamed|dnsmasq|Could not load|polkit|audit/.test(l),
      );
    return result;
  } finally {
    if (nm && nm.exitCode === null) {
      nm.kill('SIGKILL');
      await nm.catch(() => undefined);
    }
    for (const p of procs) {
      p.kill('SIGTERM');
      await p.catch(() => undefined);
    }
    if (dbusPid) {
      try {
        process.kill(dbusPid);
      } catch {}
    }
    await execa('ip', ['netns', 'del', ns], { reject: false });
    await execa('ip', ['netns', 'del', peer], { reject: false });
    await rm(work, { recursive: true, force: true });
  }
}

/** Reads a file if it exists (for assertion messages). */
/** A veth pair: `ifname` with `mac` in namespace `ns`, its peer `peerName` in namespace `peer`. */
export async function addVethPair(
  ns: string,
  ifname: string,
  mac: string,
  peer: string,
  peerName: string,
): Promise<void> {
  await execa('ip', [
    'link',
    'add',
    ifname,
    'netns',
    ns,
    'address',
    mac,
    'type',
    'veth',
    'peer',
    'name',
    peerName,
    'netns',
    peer,
  ]);
}

export async function readIfExists(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}
