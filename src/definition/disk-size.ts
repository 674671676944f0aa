const UNIT_BYTES = { M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 } as const;

/** Edge Image Builder's `rawConfiguration.diskSize`: an integer and M, G or T (binary units, like truncate -s). */
export function parseDiskSize(text: string): number | undefined {
  const match = /^([1-9]\d*)([MGT])$/.exec(text);
  if (!match) return undefined;
  const bytes = Number(match[1]) * UNIT_BYTES[match[2] as keyof typeof UNIT_BYTES];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
