import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { stringify } from 'yaml';

/**
 * The image names a `docker save` (or OCI layout) archive holds, read at build time so the nodes'
 * `registries.yaml` can mirror every registry they come from through RKE2's embedded registry.
 */
const MAX_INDEX_BYTES = 4 * 2 ** 20;

export async function imageNames(file: string): Promise<string[]> {
  const texts = new Map<string, string>();
  const parser = new Parser({
    filter: (p) => p === 'manifest.json' || p === 'index.json',
    onReadEntry: (entry: ReadEntry) => {
      const chunks: Buffer[] = [];
      let size = 0;
      entry.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_INDEX_BYTES) chunks.push(c);
      });
      entry.on('end', () => texts.set(entry.path, Buffer.concat(chunks).toString('utf8')));
    },
  });
  const source = createReadStream(file);
  if (/\.(tar\.gz|tgz)$/.test(file)) await pipeline(source, createGunzip(), parser);
  else if (/\.(tar\.zst|tzst)$/.test(file)) await pipeline(source, createZstdDecompress(), parser);
  else await pipeline(source, parser);
  const names = new Set<string>();
  const manifest = parseJson(texts.get('manifest.json'));
  if (Array.isArray(manifest)) {
    for (const m of manifest as { RepoTags?: unknown[] }[]) {
      for (const tag of Array.isArray(m?.RepoTags) ? m.RepoTags : []) names.add(String(tag));
    }
  }
  const index = parseJson(texts.get('index.json')) as {
    manifests?: { annotations?: Record<string, string> }[];
  };
  for (const m of index?.manifests ?? []) {
    const name = m.annotations?.['io.containerd.image.name'];
    if (name) names.add(name);
  }
  return [...names].sort();
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The registry part of an image reference, as containerd normalises it (no dot, colon or localhost: docker.io). */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!;
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost'))
    return first;
  return 'docker.io';
}

/**
 * RKE2's `registries.yaml` for its embedded registry mirror: a mirror entry without endpoints for each
 * registry (rke2 docs, registry_mirror.md), so a node pulls what any node has loaded from its peers.
 */
export function registriesYaml(images: readonly string[]): string {
  const mirrors: Record<string, Record<string, never>> = {};
  for (const registry of [...new Set(images.map(registryOf))].sort()) mirrors[registry] = {};
  return stringify({ mirrors });
}
