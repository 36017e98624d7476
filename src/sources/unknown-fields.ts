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

/**
 * A schema node as the walk needs it: properties in a Map (one lookup per field, where an object with hundreds of
 * schema keys costs an own-property check and a read), compiled once per kind.
 */
interface FieldNode {
  /** x-kubernetes-preserve-unknown-fields: nothing below is checked. */
  open: boolean;
  properties?: Map<string, FieldNode>;
  /** additionalProperties given as a schema: what fields not in `properties` are checked against. */
  additional?: FieldNode;
  /** Whether a field neither in `properties` nor allowed by additionalProperties is unknown. */
  closed: boolean;
  items?: FieldNode;
  /** Nothing at or below this node can be unknown (open, or a scalar's schema): the walk does not descend. */
  inert: boolean;
}

const OPEN: FieldNode = { open: true, closed: false, inert: true };

function compileNode(s: Schema): FieldNode {
  const node: FieldNode = { open: Boolean(s['x-kubernetes-preserve-unknown-fields']), closed: Boolean(s.properties) && s.additionalProperties !== true, inert: false };
  // Own properties only: a field named `constructor` or `toString` is not known by inheritance.
  if (s.properties) node.properties = new Map(Object.keys(s.properties).map((k) => [k, compileNode(s.properties![k])]));
  if (typeof s.additionalProperties === 'object' && s.additionalProperties !== null) node.additional = compileNode(s.additionalProperties);
  if (s.items) node.items = compileNode(s.items);
  const below = [...(node.properties?.values() ?? []), node.additional, node.items];
  node.inert = node.open || (!node.closed && below.every((n) => n === undefined || n.inert));
  return node;
}

/**
 * A kind's root: `metadata` is ObjectMeta, which CRD schemas leave open, and `source` is where Weft read the
 * object (parseManifests sets it over any such field of the document); the rest is checked.
 */
function compileRoot(s: Schema): FieldNode {
  const root = compileNode(s);
  root.properties = new Map(root.properties).set('metadata', OPEN).set('source', OPEN);
  return root;
}

/** A kind's schema compiled for the walk; opaque outside this module. */
export type FieldSchema = FieldNode;

/** The compiled schema of a kind (compiled on each call: callers keep it), or undefined without a CRD schema. */
export function fieldSchemaOf(apiVersion: string, kind: string): FieldSchema | undefined {
  const schema = loadSchemas().get(`${apiVersion} ${kind}`);
  return schema ? compileRoot(schema) : undefined;
}

/** apiVersion → kind → its compiled schema (null: no CRD schema). */
const compiled = new Map<string, Map<string, FieldNode | null>>();

function nodeOf(apiVersion: string, kind: string): FieldNode | undefined {
  let byKind = compiled.get(apiVersion);
  if (!byKind) compiled.set(apiVersion, (byKind = new Map<string, FieldNode | null>()));
  let node = byKind.get(kind);
  if (node === undefined) byKind.set(kind, (node = fieldSchemaOf(apiVersion, kind) ?? null));
  return node ?? undefined;
}

/**
 * Whether `value` has a field its schema does not define: stops at the first one, and keeps no path (valid
 * objects are the common case; the paths are spelt out by a second walk only when there is one).
 */
function hasUnknown(value: unknown, s: FieldNode): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    const items = s.items;
    if (items === undefined || items.inert) return false;
    for (let i = 0; i < value.length; i++) if (hasUnknown(value[i], items)) return true;
    return false;
  }
  const properties = s.properties;
  for (const key in value) {
    const next = properties?.get(key) ?? s.additional;
    if (next === undefined) {
      if (s.closed) return true;
    } else if (!next.inert && hasUnknown((value as Record<string, unknown>)[key], next)) return true;
  }
  return false;
}

/** Paths (e.g. spec.rules[0].backendRefs[0].weigth) of fields the schema does not define. */
export function unknownFields(apiVersion: string, kind: string, object: Record<string, unknown>): string[] {
  const root = nodeOf(apiVersion, kind);
  return root ? unknownFieldsIn(root, object) : [];
}

/** unknownFields with the kind's schema at hand (fieldSchemaOf). */
export function unknownFieldsIn(root: FieldSchema, object: Record<string, unknown>): string[] {
  if (!hasUnknown(object, root)) return [];
  const out: string[] = [];
  // The path is kept as a stack and spelled out only for an unknown field.
  const at: Array<string | number> = [];
  const spell = (key: string): string =>
    [...at, key].reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
  const walk = (value: unknown, s: FieldNode): void => {
    if (s.open || value === null || typeof value !== 'object') return;
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
      const next = s.properties?.get(key) ?? s.additional;
      if (next) {
        at.push(key);
        walk((value as Record<string, unknown>)[key], next);
        at.pop();
      } else if (s.closed) out.push(spell(key));
    }
  };
  walk(object, root);
  return out;
}
