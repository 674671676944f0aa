/** `/etc/os-release` (freedesktop format) and what it tells the builder about the image's first-boot engine. */
import type { FirstBootEngine } from '../bundle/bundle.ts';

export type OsRelease = Record<string, string>;

export function parseOsRelease(text: string): OsRelease {
  const out: OsRelease = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*([A-Z0-9_]+)=(.*)$/);
    if (!m) continue;
    let value = m[2]!.trim();
    const quoted = value.match(/^"(.*)"$/) ?? value.match(/^'(.*)'$/);
    if (quoted) value = quoted[1]!.replace(/\\(["'\\$`])/g, '$1');
    out[m[1]!] = value;
  }
  return out;
}

export function describeOs(os: OsRelease): string {
  return os.PRETTY_NAME || [os.NAME, os.VERSION].filter(Boolean).join(' ') || os.ID || 'unknown OS';
}

/**
 * SUSE's micro OSes (SL Micro, SLE Micro, openSUSE MicroOS and Leap Micro) and openSUSE run combustion at
 * first boot; any other systemd OS gets our run-once unit.
 */
export function detectEngine(os: OsRelease): FirstBootEngine {
  const id = (os.ID ?? '').toLowerCase();
  const like = (os.ID_LIKE ?? '').toLowerCase().split(/\s+/);
  const suse =
    id.startsWith('opensuse') || like.includes('suse') || like.includes('opensuse') || id.startsWith('sle');
  return suse && (id.startsWith('opensuse') || id.includes('micro')) ? 'combustion' : 'systemd';
}
