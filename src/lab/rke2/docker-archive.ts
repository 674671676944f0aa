/**
 * `docker image save` archives with one tiny layer per image: `manifest.json` and `repositories` first
 * (RKE2's `scripts/package-images` reorders them so), then per image its config and a layer directory
 * (`<id>/VERSION`, `<id>/json`, `<id>/layer.tar`). containerd's importer and `docker load` read this
 * format; the layer holds one text file naming the image, because the lab never runs the image.
 */
import { createHash } from 'node:crypto';
import { ARCHIVE_MTIME, type TarEntry, tarArchive } from './tar-writer.ts';

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** `docker.io/rancher/x:tag` → `rancher/x:tag`, the way `docker save` records Docker Hub images. */
export function familiarName(image: string): string {
  return image.startsWith('docker.io/') ? image.slice('docker.io/'.length) : image;
}

function splitTag(image: string): { repository: string; tag: string } {
  const at = image.lastIndexOf(':');
  if (at < 0 || image.indexOf('/', at) >= 0) return { repository: image, tag: 'latest' };
  return { repository: image.slice(0, at), tag: image.slice(at + 1) };
}

/** The archive's tar bytes (uncompressed) for `images`, with `arch` in each image config. */
export function dockerSaveArchive(images: readonly string[], arch: string): Buffer {
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const body: TarEntry[] = [];
  const created = new Date(ARCHIVE_MTIME * 1000).toISOString();
  for (const image of images) {
    const name = familiarName(image);
    const layer = tarArchive([
      { name: 'etc/', mode: 0o755 },
      { name: 'etc/lab-image', mode: 0o644, data: Buffer.from(`${name}\n`) },
    ]);
    const diffId = sha256(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        created,
        config: { Labels: { 'io.outpost.lab': 'stand-in image, not runnable' } },
        rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
        history: [{ created, created_by: 'outpost lab rke2-release' }],
      }),
    );
    const configId = sha256(config);
    const layerId = sha256(`${configId}\n${diffId}`);
    body.push(
      { name: `${layerId}/`, mode: 0o755 },
      { name: `${layerId}/VERSION`, mode: 0o644, data: Buffer.from('1.0') },
      {
        name: `${layerId}/json`,
        mode: 0o644,
        data: Buffer.from(JSON.stringify({ id: layerId, created, os: 'linux', architecture: arch })),
      },
      { name: `${layerId}/layer.tar`, mode: 0o644, data: layer },
      { name: `${configId}.json`, mode: 0o644, data: config },
    );
    manifest.push({ Config: `${configId}.json`, RepoTags: [name], Layers: [`${layerId}/layer.tar`] });
    const { repository, tag } = splitTag(name);
    repositories[repository] = { ...repositories[repository], [tag]: layerId };
  }
  return tarArchive([
    { name: 'manifest.json', mode: 0o644, data: Buffer.from(JSON.stringify(manifest)) },
    { name: 'repositories', mode: 0o644, data: Buffer.from(JSON.stringify(repositories)) },
    ...body,
  ]);
}
