/** Small readers for untyped Redfish JSON: links are followed, never built. */
export type Json = Record<string, unknown>;

export function asObject(value: unknown): Json | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** `resource[key]["@odata.id"]`. */
export function link(resource: Json | undefined, key: string): string | undefined {
  return str(asObject(resource?.[key])?.['@odata.id']);
}

/** Every `@odata.id` in an array of links, e.g. `Members` or `Links.ManagedBy`. */
export function links(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((v) => str(asObject(v)?.['@odata.id'])).filter((v): v is string => v !== undefined);
}

export function actionTarget(resource: Json | undefined, action: string): string | undefined {
  return str(asObject(asObject(resource?.Actions)?.[action])?.target);
}

/** `@Redfish.AllowableValues` of a property, or undefined when the BMC does not advertise them. */
export function allowable(resource: Json | undefined, property: string): string[] | undefined {
  const values = resource?.[`${property}@Redfish.AllowableValues`];
  return Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string') : undefined;
}
