import { stat } from 'node:fs/promises';
import path from 'node:path';
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

  const info = await stat(path.join(ctx.configDir, relative)).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error) {
    return problem(
      info.code === 'ENOENT'
        ? `base image not found: put '${baseImage}' in ${ctx.displayPath(BASE_IMAGES_DIR)}/`
        : `cannot read ${shown}: ${info.code ?? info.message}`,
    );
  }
  if (!info.isFile()) return problem(`${shown} is not a file`);
  if (!imageType) return [];

  const signature = await readImageSignature(path.join(ctx.configDir, relative));
  if (imageType === 'raw' && !looksLikeRawDisk(signature)) {
    const hint = signature.iso9660 ? '; it is an ISO 9660 image: set imageType: iso' : '';
    return problem(`${shown} is not a raw disk image: ${rawDiskProblem(signature)}${hint}`);
  }
  // imageType iso takes either a vendor's ISO (EIB's SelfInstall flow) or a raw disk, which outpost builds
  // and wraps in its own self-installing ISO.
  if (imageType === 'iso' && !signature.iso9660 && !looksLikeRawDisk(signature)) {
    return problem(
      `${shown} is neither an ISO 9660 image (no 'CD001' at byte 32769) nor a raw disk image: ${rawDiskProblem(signature)}`,
    );
  }
  return [];
}
