// Generates the schema validators of the Gateway API kinds Weft reads from the CRDs' openAPIV3Schema (the
// schema the kube-apiserver enforces), compiled once here by ajv into standalone code, so that neither startup
// nor a translation pays the compilation. Two per kind: `plain` (the schema as published) gives the message of
// an invalid object; `strict` adds additionalProperties:false wherever the CRD does not allow unknown fields,
// so that a valid object is checked for both in one pass (src/sources/kinds.ts).
// Usage: node scripts/gen-gateway-validators.js CRD_DIR OUT_JS OUT_DTS
// The code (~2 MB) is written as JavaScript straight into dist (tsc cannot check or infer code this large), its
// types beside the sources.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { parseAllDocuments } from 'yaml';

// ajv 8 is a dependency of @kubernetes-models/validate (whose runtime helpers the generated code imports);
// taking it from there keeps one ajv and the validators' runtime in step.
const fromValidate = createRequire(import.meta.resolve('@kubernetes-models/validate'));
const { default: Ajv, _ } = fromValidate('ajv');
const standaloneCode = fromValidate('ajv/dist/standalone').default;

const [crdDir, outJs, outDts] = process.argv.slice(2);

/** The kinds (and versions) of the Gateway API Weft reads: keep in step with KINDS in src/sources/kinds.ts. */
const WANTED = [
  ['v1', 'GatewayClass'],
  ['v1', 'Gateway'],
  ['v1', 'ListenerSet'],
  ['v1', 'HTTPRoute'],
  ['v1', 'GRPCRoute'],
  ['v1beta1', 'ReferenceGrant'],
  ['v1', 'ReferenceGrant'],
  ['v1', 'TLSRoute'],
  ['v1', 'BackendTLSPolicy'],
];

const schemas = new Map();
for (const file of readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort()) {
  for (const doc of parseAllDocuments(readFileSync(path.join(crdDir, file), 'utf8'))) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    for (const v of crd.spec.versions) {
      if (v.schema?.openAPIV3Schema) schemas.set(`${v.name} ${crd.spec.names.kind}`, v.schema.openAPIV3Schema);
    }
  }
}

/**
 * The schema as ajv is to check it: Kubernetes' extensions, descriptions and defaults dropped (CEL rules are not
 * checked, as before; defaults are not applied: the object is not changed); an optional object or list may be null
 * (the apiserver prunes a null in a field that is not nullable, and the model validators Weft used before accepted
 * those; a null scalar is refused, as most were before); with `closed`, additionalProperties:false wherever the
 * walk of src/sources/unknown-fields.ts reports a field as unknown (properties given, no additionalProperties,
 * unknown fields not preserved).
 */
function prepare(s, closed, optional) {
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'description' || k === 'default') continue;
    if (k === 'properties') {
      const required = new Set(s.required ?? []);
      out.properties = Object.fromEntries(Object.entries(v).map(([name, p]) => [name, prepare(p, closed, !required.has(name))]));
    } else if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) {
      out[k] = prepare(v, closed, false);
    } else if (k === 'anyOf' || k === 'oneOf' || k === 'allOf') {
      // Branches are not closed (the walk does not look into them); see defaulted() for their fields.
      out[k] = v.map((sub) => prepare(defaulted(sub, s.properties), false, false));
    } else if (k === 'not') {
      out[k] = prepare(v, false, false);
    } else if (k === 'required') {
      // The apiserver defaults before it validates: a required field with a default is never missing.
      const withDefault = v.filter((name) => s.properties?.[name]?.default !== undefined);
      if (withDefault.length < v.length) out.required = v.filter((name) => !withDefault.includes(name));
    } else {
      out[k] = v;
    }
  }
  if (s['x-kubernetes-int-or-string']) throw new Error('x-kubernetes-int-or-string is not handled');
  if (closed && s.properties && s.additionalProperties === undefined && !s['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  // Objects and lists only: the translators take a null one for an absent one, not so a null scalar.
  if (optional && (out.type === 'object' || out.type === 'array')) {
    if (out.anyOf || out.oneOf || out.allOf || out.not) throw new Error('an optional field with anyOf/oneOf/allOf/not cannot simply be made nullable');
    out.nullable = true;
  }
  return out;
}

/**
 * A oneOf/anyOf/allOf branch as it applies to the object after defaulting: a field the branch constrains and the
 * object may leave out to its default (e.g. a Gateway address's `type`, default IPAddress) is required by the
 * branch when the default does not satisfy it, and left optional when it does.
 */
function defaulted(branch, parentProperties) {
  if (!branch.properties || !parentProperties) return branch;
  const required = new Set(branch.required ?? []);
  for (const [name, sub] of Object.entries(branch.properties)) {
    const d = parentProperties[name]?.default;
    if (d !== undefined && !new Ajv({ strict: false }).validate(sub, d)) required.add(name);
  }
  return required.size > 0 ? { ...branch, required: [...required] } : branch;
}

/** The root: metadata is ObjectMeta (checked by its own validator), `source` is where Weft read the object. */
function prepareRoot(s, closed) {
  const root = prepare(s, closed, false);
  root.properties = { ...root.properties, metadata: {}, ...(closed ? { source: {} } : {}) };
  return root;
}

const ajv = new Ajv({
  allErrors: false,
  strict: true,
  strictRequired: false,
  strictTypes: false,
  code: { source: true, esm: true, lines: false, optimize: 1, formats: _`formats` },
});
// The formats the CRDs use, checked as @kubernetes-models/validate's `formats` check them (the same code at
// run time: the generated code imports them).
const { formats: runtimeFormats } = await import('@kubernetes-models/validate');
const used = new Set();
const exported = {};
for (const [version, kind] of WANTED) {
  const schema = schemas.get(`${version} ${kind}`);
  if (!schema) throw new Error(`no CRD schema for ${version} ${kind} in ${crdDir}`);
  for (const closed of [false, true]) {
    const prepared = prepareRoot(schema, closed);
    JSON.stringify(prepared, (k, v) => {
      if (k === 'format') used.add(v);
      return v;
    });
    for (const f of used) if (!ajv.formats[f]) ajv.addFormat(f, runtimeFormats[f]);
    const id = `${closed ? 'strict' : 'plain'}_${version}_${kind}`;
    ajv.addSchema(prepared, id);
    exported[id] = id;
  }
}
let code = standaloneCode(ajv, exported);
// Runtime helpers: ajv's standalone code requires them; ESM imports of the same modules instead.
const imports = new Map();
code = code.replace(/require\("([^"]+)"\)(\.default)?/g, (_all, mod, dflt) => {
  const target = mod.startsWith('ajv/dist/runtime/') ? `@kubernetes-models/validate/runtime/${path.basename(mod, '.js')}` : mod;
  const name = `runtime${imports.size}`;
  if (!imports.has(target)) imports.set(target, { name, dflt: Boolean(dflt) });
  return imports.get(target).name;
});
// maxLength/minLength count code points (as the apiserver does), with a call per string that walks it. A string's
// length in UTF-16 units is at least its code points and at most twice as many, so the call is needed only when
// the length alone cannot tell (`ucs2length` is the only helper that is a bare function of one string here).
const ucs2 = [...imports].find(([mod]) => mod.endsWith('/ucs2length'))?.[1].name;
const ucs2Alias = ucs2 && code.match(new RegExp(`const (func\\d+) = ${ucs2};`))?.[1];
if (ucs2Alias) {
  code = code
    .replace(new RegExp(`${ucs2Alias}\\((data\\d*)\\) > (\\d+)`, 'g'), (_all, d, n) => `(${d}.length > ${n} && ${ucs2Alias}(${d}) > ${n})`)
    .replace(new RegExp(`${ucs2Alias}\\((data\\d*)\\) < (\\d+)`, 'g'), (_all, d, n) => `(${d}.length < ${2 * Number(n)} && ${ucs2Alias}(${d}) < ${n})`);
  if (new RegExp(`${ucs2Alias}\\((?!data\\d*\\) [<>])`).test(code.replace(/&& func\d+\(data\d*\) [<>]/g, ''))) throw new Error('ucs2length used in an unexpected form');
}

// One entry per kind, typed, for src/sources/kinds.ts.
const table = WANTED.map(([version, kind]) => `  'gateway.networking.k8s.io/${version} ${kind}': { plain: plain_${version}_${kind}, strict: strict_${version}_${kind} },`);
code += `\nexport const crdValidators = {\n${table.join('\n')}\n};\n`;
const header = [
  '// Generated by scripts/gen-gateway-validators.js from the Gateway API CRDs: do not edit.',
  ...[...imports].map(([mod, { name, dflt }]) => (dflt ? `import ${name} from '${mod}';` : `import * as ${name} from '${mod}';`)),
  "import { formats as runtimeFormats } from '@kubernetes-models/validate';",
  'const formats = runtimeFormats;',
].join('\n');
mkdirSync(path.dirname(outJs), { recursive: true });
writeFileSync(outJs, `${header}\n${code}\n`);
writeFileSync(
  outDts,
  [
    '// Generated by scripts/gen-gateway-validators.js: the types of the validators it writes into dist.',
    '/** An ajv validator: true when valid; otherwise its `errors` (the first only) say why. */',
    'export interface CrdValidator {',
    '  (data: unknown): boolean;',
    '  errors?: Array<{ instancePath: string; message?: string; params: Record<string, unknown> }> | null;',
    '}',
    '/** "apiVersion Kind" → its validators: `plain` (the CRD schema), `strict` (and no unknown fields). */',
    'export declare const crdValidators: Record<string, { plain: CrdValidator; strict: CrdValidator }>;',
    '',
  ].join('\n'),
);
process.stdout.write(`[gen] ${outJs}: ${Object.keys(exported).length} validators, ${code.length} characters, formats ${[...used].join(', ')}\n`);
