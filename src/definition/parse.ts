import type { YamlSource } from '../common/yaml-cursor.ts';
import { ParseContext } from './parse-context.ts';
import { SECTIONS } from './section-names.ts';
import { parseImage } from './sections/image.ts';
import { parseKubernetes } from './sections/kubernetes.ts';
import { parseOperatingSystem } from './sections/operating-system.ts';
import { parseEmbeddedArtifactRegistry } from './sections/registry.ts';
import type { DefinitionDraft } from './types.ts';
import { API_VERSIONS } from './versions.ts';

/**
 * Reads an image definition, recording every problem in `source.diagnostics`.
 * Returns what could be read, for the cross-file checks; it is an ImageDefinition only when
 * no diagnostics were recorded.
 */
export function parseDefinition(source: YamlSource): DefinitionDraft {
  if (!source.ok) return {}; // YAML syntax errors: the structure cannot be trusted.
  const root = source.root.inSection(SECTIONS.definition);
  if (!root.present) {
    root.error('is empty: an image definition needs apiVersion, image and operatingSystem');
    return {};
  }
  root.keys(['apiVersion', 'image', 'operatingSystem', 'kubernetes', 'embeddedArtifactRegistry']);
  if (!root.isMap) return {};

  const apiVersion = root
    .get('apiVersion')
    .inSection(SECTIONS.version)
    .oneOf(API_VERSIONS, { required: true });
  const ctx = new ParseContext(apiVersion);
  const image = parseImage(root.get('image').inSection(SECTIONS.image), ctx);
  return {
    apiVersion,
    image,
    operatingSystem: parseOperatingSystem(
      root.get('operatingSystem').inSection(SECTIONS.operatingSystem),
      ctx,
      image.imageType,
    ),
    kubernetes: parseKubernetes(root.get('kubernetes').inSection(SECTIONS.kubernetes), ctx),
    embeddedArtifactRegistry: parseEmbeddedArtifactRegistry(
      root.get('embeddedArtifactRegistry').inSection(SECTIONS.registry),
      ctx,
    ),
  };
}
