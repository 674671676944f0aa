import path from 'node:path';
import { findInside } from '../../common/contained-fs.ts';
import type { Diagnostic } from '../../common/diagnostics.ts';
import type { ConfigDirCheckContext } from '../config-dir-checks.ts';
import { SECTIONS } from '../section-names.ts';
import { looksLikeRawDisk, rawDiskProblem, readImageSignature } from './image-signature.ts';

export const BASE_IMAGES_DIR = 'base-images';

/** The base image exists under base-images/ and its first sectors match image.imageType. */
export async function checkBaseImage(ctx: ConfigDirCheckContext): Promise<Diagnostic[]> {
  const { baseImage, imageType } = ctx.definition.image ?? {};
  if (!baseImage || path.isAbsolute(baseImage) || baseImage.split('/').includes('..')) return [];
  const relative = path.posix.join(BASE_IMAGES_DIR, baseImage);
  const shown = ctx.displayPath(relative);
  const problem = (message: string) => [ctx.atField('image.baseImage', message, SECTIONS.image)];

  // The one link allowed to leave the config dir: base images are large and often shared from a cache;
  // they are only read and must carry a partition table or an ISO 9660 header.
  const found = await findInside(ctx.configDir, relative, { linksAnywhere: true });
  if (found.kind === 'missing') {
    return problem(`base image not found: put '${baseImage}' in ${ctx.displayPath(BASE_IMAGES_DIR)}/`);
  }
  if (found.kind === 'problem') return problem(`${shown} ${found.message}`);
  if (found.kind === 'directory') return problem(`${shown} is not a file`);
  if (!imageType) return [];

  const signature = await readImageSignature(found.real);
  if (imageType === 'raw' && !looksLikeRawDisk(signature)) {
    const hint = signature.iso9660 ? '; it is an ISO 9660 image: set imageType: iso' : '';
    return problem(`${shown} is not a raw disk image: ${rawDiskProblem(signature)}${hint}`);
  }
  // imageType iso takes either a vendor's ISO (EIB's SelfInstall flow) or a raw disk, which outpost builds
  // and wraps in its own self-installing ISO.
  if (imageType === 'iso' && signature.iso9660) {
    return problem(
      `${shown} is an ISO image (a vendor's self-install ISO): not supported by outpost yet: ` +
        'give the raw image of the same OS; with imageType: iso outpost builds it and wraps it in its own installer ISO',
    );
  }
  if (imageType === 'iso' && !looksLikeRawDisk(signature)) {
    return problem(
      `${shown} is neither an ISO 9660 image (no 'CD001' at byte 32769) nor a raw disk image: ${rawDiskProblem(signature)}`,
    );
  }
  return [];
}
