/** A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens, 253 characters at most. */
export function isHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}
