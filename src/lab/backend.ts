/** What an emulated server does when its BMC asks: the BMC model decides, a backend carries it out. */
export type BootDevice = 'cd' | 'disk' | 'network';

export interface BootRequest {
  device: BootDevice;
  /** The inserted image: its URL, and the local copy for backends that run a real machine. */
  imageUrl?: string;
  isoPath?: string;
}

export interface MachineBackend {
  /** Powers on and boots. */
  start(boot: BootRequest): Promise<void>;
  /** force: pull the plug (resolves when off); graceful: press the ACPI power button, the guest decides. */
  stop(mode: 'force' | 'graceful'): Promise<void>;
  /** Hard reset: the machine comes back through the BMC's boot choice (onStopped('reset')). */
  reset(): Promise<void>;
  /** Makes an inserted image available to the machine; returns its local path, if the backend keeps one. */
  fetchMedia(url: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Called by a backend when the machine stopped on its own (guest power-off or guest/host reset). */
export type StoppedListener = (reason: 'poweroff' | 'reset') => void;
