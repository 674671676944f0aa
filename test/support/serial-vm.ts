import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * A QEMU guest for tests (TCG, one vCPU, serial console to a file, no reboot). Waits are bounded and,
 * on timeout, report what was awaited with the tail of the serial log.
 */
export interface SerialVmOptions {
  name: string;
  workDir: string;
  firmware: 'uefi' | 'bios';
  disks: string[];
  cdrom?: string;
  bootFromCdrom?: boolean;
  memoryMiB?: number;
  /**
   * `-netdev user`: the guest reaches the host's loopback as 10.0.2.2; `forwards` map host loopback ports
   * to guest TCP ports.
   */
  nics?: { mac: string; forwards?: { hostPort: number; guestPort: number }[] }[];
  extraArgs?: string[];
}

export class SerialVm {
  readonly serialLog: string;
  private readonly process: ChildProcess;
  private readonly varsFile?: string;
  private exitCode: number | null | undefined;

  constructor(o: SerialVmOptions) {
    this.serialLog = `${o.workDir}/${o.name}.serial.log`;
    writeFileSync(this.serialLog, '');
    const args = [
      '-accel',
      'tcg,thread=multi',
      '-cpu',
      'max',
      '-machine',
      'q35',
      '-smp',
      '1',
      '-m',
      String(o.memoryMiB ?? 1024),
    ];
    args.push('-display', 'none', '-monitor', 'none', '-serial', `file:${this.serialLog}`, '-no-reboot');
    if (o.firmware === 'uefi') {
      this.varsFile = `${o.workDir}/${o.name}.vars.fd`;
      copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', this.varsFile);
      args.push('-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd');
      args.push('-drive', `if=pflash,format=raw,unit=1,file=${this.varsFile}`);
    }
    for (const disk of o.disks) args.push('-drive', `file=${disk},format=raw,if=virtio`);
    if (o.cdrom) args.push('-drive', `file=${o.cdrom},media=cdrom,if=ide,readonly=on`);
    if (o.bootFromCdrom) args.push('-boot', 'order=d');
    const nics = o.nics ?? [];
    if (nics.length === 0) args.push('-nic', 'none');
    for (const [i, nic] of nics.entries())
      args.push(
        '-nic',
        `user,model=virtio-net-pci,mac=${nic.mac},id=n${i}${(nic.forwards ?? [])
          .map((f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`)
          .join('')}`,
      );
    args.push(...(o.extraArgs ?? []));
    this.process = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process.on('exit', (code) => {
      this.exitCode = code;
    });
  }

  serial(): string {
    return existsSync(this.serialLog) ? readFileSync(this.serialLog, 'utf8') : '';
  }

  /** Resolves with the serial text once `pattern` appears; rejects on timeout or if QEMU exits first. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.serial();
      if (pattern.test(text)) return text;
      if (this.exitCode !== undefined) {
        throw new Error(`VM exited (code ${this.exitCode}) before ${pattern}; serial tail:\n${tail(text)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timed out after ${timeoutMs / 1000}s waiting for ${pattern}; serial tail:\n${tail(text)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Resolves with the exit code once QEMU exits (guest power-off or reboot); kills it on timeout. */
  async waitForExit(timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.exitCode === undefined) {
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(
          `timed out after ${timeoutMs / 1000}s waiting for the VM to power off; serial tail:\n${tail(this.serial())}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return this.exitCode;
  }

  kill(): void {
    if (this.exitCode === undefined) this.process.kill('SIGKILL');
    if (this.varsFile) rmSync(this.varsFile, { force: true });
  }
}

/** The last lines of a console text, for failure messages. */
export function tail(text: string, lines = 25): string {
  return text.split('\n').slice(-lines).join('\n');
}
