import type { YamlCursor } from '../../common/yaml-cursor.ts';
import { notSupported, type ParseContext, reportDuplicates } from '../parse-context.ts';
import type { Draft, EmbeddedArtifactRegistry } from '../types.ts';
import { parseAuthentication } from './helm.ts';

/** Read and checked so mistakes show up, then refused as a whole: outpost has no image mirror yet. */
export function parseEmbeddedArtifactRegistry(
  cursor: YamlCursor,
  ctx: ParseContext,
): Draft<EmbeddedArtifactRegistry> | undefined {
  if (!cursor.present) return undefined;
  const f = ctx.fields(cursor, ['images', 'registries']);
  const images = f.images.items().map((item) => {
    const name = ctx.fields(item, ['name']).name;
    return { value: name.string({ required: true }), at: name };
  });
  reportDuplicates(images, (name) => `duplicate image '${name}'`);
  const registries = f.registries.items().map((item) => {
    const r = ctx.fields(item, ['uri', 'authentication']);
    return {
      uri: r.uri.string({ required: true }),
      authentication: parseAuthentication(r.authentication, ctx),
    };
  });
  cursor.errorAtKey(
    notSupported(
      'needs an image mirror to pull the container images and serve them on the nodes; load images from custom/files instead',
    ),
  );
  return { images: images.map((i) => ({ name: i.value })), registries };
}
