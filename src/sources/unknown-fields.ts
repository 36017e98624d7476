// Unknown fields in Gateway API objects, found against the published CRD schemas (the same check as
// `kubectl apply --validate=strict`): a misspelt field (e.g. `weigth`) must not be silently ignored.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../envoy/binary.js';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface Crd {
  spec: { group: string; names: { kind: string }; versions: Array<{ name: string; schema?: { openAPIV3Schema?: Schema } }> };
}

export function gatewayApiVersion(): string {
  return readFileSync(path.join(projectRoot(), 'src', 'sources', 'GATEWAY_API_VERSION'), 'utf8').trim();
}

/**
 * The CRDs of one release channel. Fields are checked against the experimental channel (a superset of
 * standard), so that experimental fields Weft implements, such as HTTPRoute `retry`, can be used.
 */
export function gatewayApiCrdDir(channel: 'standard' | 'experimental' = 'experimental'): string {
  return path.join(projectRoot(), '.cache', 'gateway-api', gatewayApiVersion(), 'crd', channel);
}

let schemas: Map<string, Schema> | undefined;

/** "group/version Kind" → the version's openAPIV3Schema, from the CRDs fetched by scripts/gateway-api-crds.sh. */
function loadSchemas(): Map<string, Schema> {
  if (schemas) return schemas;
  const dir = gatewayApiCrdDir();
  if (!existsSync(dir)) throw new Error(`Gateway API CRDs missing in ${dir}: run \`npm run setup\` (scripts/gateway-api-crds.sh)`);
  schemas = new Map();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as Crd | null;
      if (!crd?.spec?.versions) continue;
      for (const v of crd.spec.versions) {
        const schema = v.schema?.openAPIV3Schema;
        if (schema) schemas.set(`${crd.spec.group}/${v.name} ${crd.spec.names.kind}`, schema);
      }
    }
  }
  return schemas;
}

export function hasCrdSchema(apiVersion: string, kind: string): boolean {
  return apiVersion.startsWith('gateway.networking.k8s.io/') && loadSchemas().has(`${apiVersion} ${kind}`);
}

/** Paths (e.g. spec.rules[0].backendRefs[0].weigth) of fields the schema does not define. */
export function unknownFields(apiVersion: string, kind: string, object: Record<string, unknown>): string[] {
  const schema = loadSchemas().get(`${apiVersion} ${kind}`);
  if (!schema) return [];
  const out: string[] = [];
  // The path is kept as a stack and spelled out only for an unknown field: building a string for every
  // field of every object was most of this walk's cost.
  const at: Array<string | number> = [];
  const spell = (key: string): string =>
    [...at, key].reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
  const walk = (value: unknown, s: Schema): void => {
    if (s['x-kubernetes-preserve-unknown-fields'] || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      if (!s.items) return;
      for (let i = 0; i < value.length; i++) {
        at.push(i);
        walk(value[i], s.items);
        at.pop();
      }
      return;
    }
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key];
      // Own properties only: a field named `constructor` or `toString` is not known by inheritance.
      const known = s.properties && Object.hasOwn(s.properties, key) ? s.properties[key] : undefined;
      const next = known ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
      if (next) {
        at.push(key);
        walk(child, next);
        at.pop();
      } else if (s.properties && s.additionalProperties !== true) out.push(spell(key));
    }
  };
  // metadata is ObjectMeta, which CRD schemas leave open; the rest is checked.
  const rest = { ...object };
  delete rest.metadata;
  walk(rest, schema);
  return out;
}
