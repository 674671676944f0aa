/** Site kits: one archive that carries a site's definition, config dir, images and inventory. */
export { KIT_FORMATS, type KitFormat } from './archive.ts';
export { type CreatedKit, type CreateKitOptions, createKit } from './create.ts';
export { type ImportedKit, type ImportKitOptions, importKit } from './import.ts';
export { describeNeeded } from './inventory-secrets.ts';
export { type KitManifest, MANIFEST_NAME, type SecretNeeded } from './manifest.ts';
export { type KitProblem, type ScanResult, scanKit } from './scan.ts';
export { scanTree } from './tree.ts';
export { type UnpackResult, unpackKit } from './unpack.ts';
