import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { BootDevice, BootRequest, MachineBackend, StoppedListener } from './backend.ts';
import type { SiteNetwork } from './site-network.ts';

export interface QemuMachineOptions {
  name: string;
  /** Per-host folder: disk, UEFI variables, serial log, downloaded media, QMP socket. */
  dir: string;
  macs: string[];
  memoryMiB: number;
  diskGiB: number;
  ovmf: boolean;
  /** Loopback port forwarded to the guest's SSH port (22) on the first NIC; none when unset. */
  sshPort?: number;
  /** The second NIC (macs[1]) is on this site network (a tap on its bridge) instead of user networking. */
  siteNetwork?: Pick<SiteNetwork, 'createTap' | 'attach' | 'removeTap'>;
  onStopped: StoppedListener;
}

/** What one QEMU start needs besides the machine's options. */
export interface QemuLaunch {
  boot: BootRequest;
  qmpPath: string;
  /** The tap the site NIC opens, when the machine is on a site network. */
  siteTap?: string;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/**
 * A server that is a QEMU process (TCG, one vCPU). Power on = start QEMU; `-no-reboot` makes a guest
 * reboot end the process, and the BMC starts it again with the next boot device, which is how a
 * boot-once CD is consumed after one boot. The exit reason comes from QMP's SHUTDOWN event.
 */
export class QemuMachine implements MachineBackend {
  readonly serialLog: string;
  readonly disk: string;
  private readonly o: QemuMachineOptions;
  private process: ChildProcess | undefined;
  private qmp: net.Socket | undefined;
  private shutdownReason = '';
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  /** The last start's tap is deleted when QEMU exits; the next start waits for that. */
  private tapRemoved: Promise<void> = Promise.resolve();

  constructor(o: QemuMachineOptions) {
    this.o = o;
    this.serialLog = path.join(o.dir, 'serial.log');
    this.disk = path.join(o.dir, 'disk.qcow2');
  }

  /** Creates the disk and the UEFI variable store once; both survive lab restarts. */
  async prepare(): Promise<void> {
    await mkdir(path.join(this.o.dir, 'media'), { recursive: true });
    await this.stopOrphan();
    if (!(await exists(this.disk))) {
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', `${this.disk}.tmp`, `${this.o.diskGiB}G`]);
      await rename(`${this.disk}.tmp`, this.disk);
    }
    const vars = path.join(this.o.dir, 'OVMF_VARS.fd');
    if (this.o.ovmf && !(await exists(vars))) {
      await copyFile(OVMF_VARS, `${vars}.tmp`);
      await rename(`${vars}.tmp`, vars);
    }
  }

  /**
   * A lab killed without cleanup (SIGKILL) leaves its VM running: stop the one this host folder's
   * pidfile names, after checking the process really is QEMU on this host's disk.
   */
  private async stopOrphan(): Promise<void> {
    const pidFile = path.join(this.o.dir, 'qemu.pid');
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 0) return;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('qemu-system') && cmdline.includes(this.disk)) {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')); i++)
        await sleep(100);
    }
    await rm(pidFile, { force: true });
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /** Runs power operations one at a time: a ForceOff must not slip in while QEMU is still starting. */
  private queue: Promise<unknown> = Promise.resolve();
  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation, operation);
    this.queue = result.catch(() => {});
    return result;
  }

  start(boot: BootRequest): Promise<void> {
    return this.serial(() => this.launch(boot));
  }

  private async launch(boot: BootRequest): Promise<void> {
    if (this.process) return;
    const qmpPath = path.join(this.o.dir, 'qmp.sock');
    await rm(qmpPath, { force: true });
    await this.tapRemoved;
    const site = this.o.siteNetwork;
    // A fresh tap per start: the last one went into the site namespace, where QEMU cannot open it by name.
    const siteTap = site ? await site.createTap() : undefined;
    const args = qemuArguments(this.o, { boot, qmpPath, ...(siteTap && { siteTap }) });
    const stderr = await open(path.join(this.o.dir, 'qemu.log'), 'a');
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', stderr.fd] });
    await stderr.close();
    this.process = child;
    this.shutdownReason = '';
    this.stopping = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.process = undefined;
        if (site && siteTap) this.tapRemoved = site.removeTap(siteTap);
        this.qmp?.destroy();
        this.qmp = undefined;
        const reason = this.shutdownReason;
        resolve();
        if (this.stopping) return;
        // guest-reset / host-qmp-system-reset: the machine reboots through the BMC's boot choice.
        this.o.onStopped(reason.includes('reset') ? 'reset' : 'poweroff');
      });
    });
    try {
      this.qmp = await connectQmp(qmpPath, child, (event) => {
        if (event.event === 'SHUTDOWN')
          this.shutdownReason = String((event.data as { reason?: string })?.reason ?? '');
      });
      // QMP greets only after QEMU created its netdevs: the tap is open and keeps working once moved.
      if (site && siteTap) await site.attach(siteTap);
    } catch (error) {
      if (child.exitCode === null) {
        this.stopping = true;
        child.kill('SIGKILL');
        await this.exited;
      }
      throw error;
    }
  }

  async stop(mode: 'force' | 'graceful'): Promise<void> {
    if (mode === 'graceful') {
      qmpExecute(this.qmp, 'system_powerdown');
      return;
    }
    await this.serial(() => this.kill());
  }

  private async kill(): Promise<void> {
    if (!this.process) return;
    this.stopping = true;
    const child = this.process;
    child.kill('SIGTERM');
    const killed = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async reset(): Promise<void> {
    qmpExecute(this.qmp, 'system_reset');
  }

  /** Downloads the image into the host's folder (as a BMC streams it); cached by URL. */
  async fetchMedia(url: string): Promise<string> {
    const file = path.join(
      this.o.dir,
      'media',
      `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.iso`,
    );
    await download(url, file);
    return file;
  }

  async close(): Promise<void> {
    await this.stop('force');
  }
}

/**
 * QEMU's command line for one start. NIC 0 is user networking (media and callbacks reach the lab machine's
 * loopback at 10.0.2.2; 127.0.0.1:<sshPort> forwards to the guest's port 22); NIC 1 is on the site
 * network's tap when there is one, else user networking too.
 */
export function qemuArguments(
  o: Pick<QemuMachineOptions, 'name' | 'dir' | 'macs' | 'memoryMiB' | 'ovmf' | 'sshPort'>,
  launch: QemuLaunch,
): string[] {
  const { boot, qmpPath } = launch;
  const order: BootDevice[] = [
    boot.device,
    ...(['disk', 'cd', 'network'] as const).filter((d) => d !== boot.device),
  ];
  const bootIndex = (d: BootDevice) => order.indexOf(d);
  const disk = path.join(o.dir, 'disk.qcow2');
  // Fixed flags (no paths or user values in them, so splitting on spaces is safe).
  const fixed =
    '-accel tcg,thread=multi -cpu max -machine q35 -smp 1 -display none -monitor none -no-reboot -nodefaults';
  const args = [
    ...['-name', o.name, '-m', String(o.memoryMiB)],
    ...fixed.split(' '),
    ...[
      '-chardev',
      `file,id=serial0,path=${q(path.join(o.dir, 'serial.log'))},append=on`,
      '-serial',
      'chardev:serial0',
    ],
    ...['-qmp', `unix:${q(qmpPath)},server=on,wait=off`, '-pidfile', path.join(o.dir, 'qemu.pid')],
    ...['-drive', `file=${q(disk)},if=none,id=disk0,format=qcow2`],
    ...['-device', `virtio-blk-pci,drive=disk0,bootindex=${bootIndex('disk')}`],
  ];
  if (o.ovmf) {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${q(path.join(o.dir, 'OVMF_VARS.fd'))}`);
  }
  if (boot.isoPath) {
    args.push('-drive', `file=${q(boot.isoPath)},if=none,id=cd0,media=cdrom,readonly=on`);
    args.push('-device', `ide-cd,drive=cd0,bus=ide.0,bootindex=${bootIndex('cd')}`);
  }
  o.macs.forEach((mac, i) => {
    if (i === 1 && launch.siteTap) {
      args.push('-netdev', `tap,id=net${i},ifname=${q(launch.siteTap)},script=no,downscript=no`);
    } else {
      const forward = i === 0 && o.sshPort ? `,hostfwd=tcp:127.0.0.1:${o.sshPort}-:22` : '';
      args.push('-netdev', `user,id=net${i}${forward}`);
    }
    const index = i === 0 ? `,bootindex=${bootIndex('network')}` : '';
    args.push('-device', `virtio-net-pci,netdev=net${i},mac=${mac},romfile=${index}`);
  });
  return args;
}

/** A value inside a QEMU `key=value,...` option: commas are doubled. */
function q(value: string): string {
  return value.replaceAll(',', ',,');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function download(url: string, file: string): Promise<void> {
  const lib = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const request = lib.get(url, { timeout: 60_000 }, async (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url} answered HTTP ${res.statusCode}`));
        return;
      }
      try {
        // A private temporary name: a second insert of the same URL may download at the same time.
        const part = `${file}.${process.pid}-${Math.random().toString(36).slice(2)}.part`;
        const handle = await open(part, 'w');
        try {
          for await (const chunk of res) await handle.write(chunk as Buffer);
        } finally {
          await handle.close();
        }
        await rename(part, file);
        resolve();
      } catch (error) {
        reject(error);
      }
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer within 60 s`)));
    request.on('error', reject);
  });
}

type QmpEvent = { event?: string; data?: unknown };

async function connectQmp(
  socketPath: string,
  child: ChildProcess,
  onEvent: (e: QmpEvent) => void,
): Promise<net.Socket> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`qemu exited with code ${child.exitCode} before its QMP socket opened (see qemu.log)`);
    try {
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.createConnection(socketPath, () => resolve(s));
        s.once('error', reject);
      });
      let buffer = '';
      let greeted: () => void = () => {};
      const greeting = new Promise<void>((resolve) => {
        greeted = resolve;
      });
      socket.on('data', (chunk) => {
        buffer += chunk.toString('utf8');
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            const message = JSON.parse(line) as QmpEvent & { QMP?: unknown };
            if (message.QMP !== undefined) greeted();
            onEvent(message);
          } catch {
            // Not JSON: ignore, QMP only sends JSON lines.
          }
        }
      });
      socket.on('error', () => {});
      // The greeting comes once QEMU finished starting (its devices and netdevs exist by then).
      const timer = new AbortController();
      const outcome = await Promise.race([
        greeting.then(() => 'greeted' as const),
        new Promise<'exited'>((resolve) => child.once('exit', () => resolve('exited'))),
        sleep(Math.max(1000, deadline - Date.now()), 'late' as const, { signal: timer.signal }).catch(
          () => 'late' as const,
        ),
      ]);
      timer.abort();
      if (outcome !== 'greeted') {
        socket.destroy();
        throw new Error(
          outcome === 'exited'
            ? `qemu exited with code ${child.exitCode} before it greeted on QMP (see qemu.log)`
            : `QEMU did not greet on its QMP socket ${socketPath} within 15 s`,
        );
      }
      qmpExecute(socket, 'qmp_capabilities');
      return socket;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`QMP socket ${socketPath} did not open within 15 s: ${String(error)}`);
      await sleep(100);
    }
  }
}

function qmpExecute(socket: net.Socket | undefined, command: string): void {
  socket?.write(`${JSON.stringify({ execute: command })}\n`);
}
