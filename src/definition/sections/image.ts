import path from 'node:path';
import { isSafePathComponent } from '../../common/names.ts';
import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { isPlainRelativePath } from '../checks/output-image.ts';
import type { ParseContext } from '../parse-context.ts';
import type { Arch, Draft, ImageSection, ImageType } from '../types.ts';

const IMAGE_TYPES: readonly ImageType[] = ['raw', 'iso'];
const ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

export function parseImage(cursor: YamlCursor, ctx: ParseContext): Draft<ImageSection> {
  if (!cursor.present) {
    cursor.error('is required (imageType, arch, baseImage and outputImageName)');
    return {};
  }
  const f = ctx.fields(cursor, ['imageType', 'arch', 'baseImage', 'outputImageName']);
  // oneOf matches case-insensitively: the Metal3 quick start writes `imageType: RAW`.
  const imageType = f.imageType.oneOf(IMAGE_TYPES, { required: true });
  const arch = f.arch.oneOf(ARCHES, { required: true });
  const baseImage = f.baseImage.string({ required: true });
  if (baseImage !== undefined && !isInside(baseImage)) {
    f.baseImage.error(`must be a file name under base-images/, not '${baseImage}'`);
  }
  const outputImageName = f.outputImageName.string({ required: true });
  if (outputImageName !== undefined) {
    if (!isOutputPath(outputImageName)) {
      f.outputImageName.error(
        `must be a file name or a relative path inside the config directory (letters, digits, '.', '_', '-'; no '..'), not '${outputImageName}'`,
      );
    } else if (/\.ya?ml$/i.test(outputImageName)) {
      f.outputImageName.error(
        `must not end in .yaml or .yml (a definition could be overwritten): '${outputImageName}'`,
      );
    } else if (baseImage !== undefined && outputImageName === path.basename(baseImage)) {
      f.outputImageName.error(`must differ from image.baseImage ('${baseImage}')`);
    }
  }
  return { imageType, arch, baseImage, outputImageName };
}

/** Where the image is written, relative to the config dir: `basic.raw`, `./out/basic.iso`. */
function isOutputPath(name: string): boolean {
  return (
    isPlainRelativePath(name) &&
    name
      .replace(/^(\.\/)+/, '')
      .split('/')
      .every(isSafePathComponent)
  );
}

/** A relative path that stays inside its directory (`sub/x.raw` is fine, `../x.raw` is not). */
function isInside(name: string): boolean {
  if (name === '' || name.includes('\0') || path.isAbsolute(name)) return false;
  const normal = path.posix.normalize(name);
  return normal !== '.' && normal !== '..' && !normal.startsWith('../') && !name.endsWith('/');
}
