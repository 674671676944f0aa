import { formatBytes } from '../common/units.ts';

/** Sizes in messages: the one binary-units formatter, also for this module's users. */
export { formatBytes };

/** How big the output image must be: the definition's diskSize, or just enough for the bundle plus headroom. */
import { InputError } from '../common/diagnostics.ts';

const MiB = 2 ** 20;
/** Room left on the root filesystem beyond the bundle, for first boot itself (logs, packages, a new machine-id). */
export const MIN_HEADROOM = 256 * MiB;

export interface SizingInput {
  baseSize: number;
  /** rawConfiguration.diskSize in bytes, when set. */
  diskSize?: number;
  diskSizeText?: string;
  payloadBytes: number;
  rootFreeBytes: number;
  /** The root partition ends last on the disk and its filesystem can grow online. */
  rootGrowable: boolean;
}

export interface Sizing {
  targetSize: number;
  growRoot: boolean;
  reason: string;
}

const roundUpMiB = (n: number) => Math.ceil(n / MiB) * MiB;

export function planSize(input: SizingInput): Sizing {
  const headroom = Math.max(MIN_HEADROOM, Math.ceil(input.payloadBytes / 10));
  const needed = input.payloadBytes + headroom;
  if (input.diskSize !== undefined) {
    const asked = input.diskSizeText ?? formatBytes(input.diskSize);
    if (input.diskSize < input.baseSize) {
      throw new InputError(
        `rawConfiguration.diskSize ${asked} is smaller than the base image (${formatBytes(input.baseSize)}); images are never shrunk`,
      );
    }
    const gained = input.rootGrowable ? input.diskSize - input.baseSize : 0;
    if (input.rootFreeBytes + gained < input.payloadBytes) {
      throw new InputError(
        `rawConfiguration.diskSize ${asked} leaves no room for the first-boot bundle (${formatBytes(input.payloadBytes)})`,
      );
    }
    return {
      targetSize: input.diskSize,
      growRoot: input.rootGrowable && input.diskSize > input.baseSize,
      reason: `rawConfiguration.diskSize ${asked}`,
    };
  }
  if (input.rootFreeBytes >= needed) {
    return {
      targetSize: input.baseSize,
      growRoot: false,
      reason: 'the root filesystem has room for the bundle',
    };
  }
  if (!input.rootGrowable) {
    throw new InputError(
      `the root filesystem has ${formatBytes(input.rootFreeBytes)} free but the bundle needs ${formatBytes(needed)} ` +
        'with headroom, and it cannot be grown (it is not the last partition)',
    );
  }
  return {
    targetSize: roundUpMiB(input.baseSize + needed - input.rootFreeBytes),
    growRoot: true,
    reason: `grown to fit the bundle (${formatBytes(input.payloadBytes)}) with ${formatBytes(headroom)} headroom`,
  };
}
