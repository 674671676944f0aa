import type { BootRequest, MachineBackend, StoppedListener } from './backend.ts';

/**
 * No machine at all: power and boot choices are recorded, and the guest's own actions (power off, reboot)
 * are triggered from outside, so thousands of hosts fit in one process.
 */
export class FakeMachine implements MachineBackend {
  running = false;
  lastBoot: BootRequest | undefined;
  private readonly onStopped: StoppedListener;

  constructor(onStopped: StoppedListener) {
    this.onStopped = onStopped;
  }

  async start(boot: BootRequest): Promise<void> {
    this.running = true;
    this.lastBoot = boot;
  }

  async stop(mode: 'force' | 'graceful'): Promise<void> {
    if (!this.running) return;
    this.running = false;
    // A graceful shutdown is the guest's doing, so it is reported like one.
    if (mode === 'graceful') queueMicrotask(() => this.onStopped('poweroff'));
  }

  async reset(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    queueMicrotask(() => this.onStopped('reset'));
  }

  /** The simulated guest powers itself off (an installer that ends with `poweroff`). */
  guestPowerOff(): void {
    if (!this.running) return;
    this.running = false;
    this.onStopped('poweroff');
  }

  /** The simulated guest reboots (an installer that ends with `reboot`). */
  guestReboot(): void {
    if (!this.running) return;
    this.running = false;
    this.onStopped('reset');
  }

  async fetchMedia(): Promise<string | undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    this.running = false;
  }
}
