// Weft starts Envoy with --ignore-unknown-dynamic-fields (envoy/process.ts), which skips Envoy's own walk
// over every xDS message for unknown and deprecated fields. This test does that walk instead, over the xDS
// of every golden input: no field or enum value marked deprecated in Envoy's protos is set, and every byte
// decodes to a known field (decoding and encoding again gives the same length), typed_config Anys included.
// The one exception is listed in DEPRECATED_KEPT with its reason.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import protobuf from 'protobufjs';
import { parse } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { meshResources, type MeshNodeView } from '../src/mtls/mesh-resources.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { messageType } from '../src/xds/protos.js';
import type { Resource } from '../src/xds/resource.js';
import { TYPE_PREFIX } from '../src/xds/type-urls.js';

const TESTDATA = path.join(projectRoot(), 'test', 'testdata');

/**
 * Deprecated fields Weft sets on purpose. FileAccessLog.json_format renders every value as a string, which the L7
 * access log's readers expect; its replacement (log_format.json_format) types numbers and booleans.
 */
const DEPRECATED_KEPT = new Set(['envoy.extensions.access_loggers.file.v3.FileAccessLog.json_format']);

function inputs(dir: string): string[] {
  return readdirSync(path.join(TESTDATA, dir))
    .filter((f) => f.endsWith('.in.yaml'))
    .sort()
    .map((f) => path.join(TESTDATA, dir, f));
}

/** Problems in one encoded message of type `typeName`: deprecated fields set, bytes no field accounts for. */
function problemsOf(typeName: string, bytes: Uint8Array, where: string, out: string[]): void {
  const type = messageType(typeName);
  const message = type.decode(bytes);
  const again = type.encode(message).finish();
  if (again.byteLength !== bytes.byteLength) out.push(`${where}: ${bytes.byteLength - again.byteLength} bytes of unknown fields in ${typeName}`);
  walk(type, message, where, out);
}

function walk(type: protobuf.Type, message: protobuf.Message, where: string, out: string[]): void {
  const fields = message as unknown as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = fields[field.name];
    if (value === null || value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    const at = `${where}.${field.name}`;
    if (field.options?.deprecated === true && !DEPRECATED_KEPT.has(`${type.fullName.slice(1)}.${field.name}`)) out.push(`${at}: deprecated field of ${type.fullName.slice(1)}`);
    const values: unknown[] = field.map ? Object.values(value) : Array.isArray(value) ? value : [value];
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) {
      for (const v of values) {
        const name = resolved.valuesById[v as number];
        if (resolved.valuesOptions?.[name]?.deprecated === true) out.push(`${at}: deprecated enum value ${name}`);
      }
    } else if (resolved instanceof protobuf.Type) {
      for (const v of values) {
        const m = v as protobuf.Message & { type_url?: string; value?: Uint8Array };
        if (resolved.fullName === '.google.protobuf.Any') {
          if (m.type_url?.startsWith(TYPE_PREFIX) && m.value) problemsOf(m.type_url.slice(TYPE_PREFIX.length), m.value, at, out);
        } else {
          walk(resolved, m, at, out);
        }
      }
    }
  }
}

function problems(resources: Resource[]): string[] {
  const out: string[] = [];
  for (const r of resources) problemsOf(r.typeUrl.slice(TYPE_PREFIX.length), r.body, `${r.typeUrl.slice(TYPE_PREFIX.length)} ${r.name}`, out);
  return out;
}

test('the walk finds a deprecated field and unknown bytes', (t) => {
  // Cluster.http2_protocol_options is deprecated in v3 (typed_extension_protocol_options replaces it).
  const type = messageType('envoy.config.cluster.v3.Cluster');
  const body = type.encode(type.fromObject({ name: 'c', http2_protocol_options: {} })).finish();
  t.deepEqual(problems([{ typeUrl: `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`, name: 'c', version: '', body, references: [] } as unknown as Resource]), [
    'envoy.config.cluster.v3.Cluster c.http2_protocol_options: deprecated field of envoy.config.cluster.v3.Cluster',
  ]);
  const unknown = new Uint8Array([...type.encode(type.fromObject({ name: 'c' })).finish(), 0xf8, 0xff, 0x03, 0x01]); // field 8191, varint 1
  t.is(problems([{ typeUrl: `${TYPE_PREFIX}envoy.config.cluster.v3.Cluster`, name: 'c', version: '', body: unknown, references: [] } as unknown as Resource]).length, 1);
});

for (const dir of ['gateway', 'l7policy', 'observe']) {
  test(`${dir} golden inputs: no deprecated or unknown fields in the xDS`, (t) => {
    const files = inputs(dir);
    t.true(files.length > 0);
    const found: string[] = [];
    for (const file of files) for (const p of problems(translateYaml(file, readFileSync(file, 'utf8')).resources)) found.push(`${path.basename(file)}: ${p}`);
    t.deepEqual(found, []);
  });
}

test('mTLS mesh golden inputs: no deprecated or unknown fields in the xDS', (t) => {
  const found: string[] = [];
  for (const file of inputs('mtls')) {
    let resources: Resource[];
    try {
      resources = meshResources(parse(readFileSync(file, 'utf8')) as MeshNodeView);
    } catch {
      continue; // the golden cases of bad views: no resources
    }
    for (const p of problems(resources)) found.push(`${path.basename(file)}: ${p}`);
  }
  t.deepEqual(found, []);
});
