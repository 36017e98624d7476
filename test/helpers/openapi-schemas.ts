// JSON schemas for kubeconform, made from a live API server's OpenAPI v3 documents (built-in kinds and the CRDs it
// serves), since no schema can be downloaded here. One file per kind at <dir>/<group>/<version>/<kind>-strict.json
// (kubeconform's template {{ .Group }}/{{ .ResourceAPIVersion }}/{{ .ResourceKind }}{{ .StrictSuffix }}.json; the
// core group is "v1"). Strict as kubeconform's own strict schemas are: an object with declared properties admits no
// others (unless x-kubernetes-preserve-unknown-fields), int-or-string admits both, nullable admits null.
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';

type Schema = Record<string, unknown>;

async function getJson(kc: k8s.KubeConfig, path: string): Promise<unknown> {
  const server = kc.getCurrentCluster()!.server;
  const url = new URL(path, server);
  const opts: https.RequestOptions = { hostname: url.hostname, port: url.port, path: url.pathname, headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    https.get(opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 200)}`));
        resolve(JSON.parse(body) as unknown);
      });
    }).on('error', reject);
  });
}

const VALUES = new Set(['enum', 'default', 'example']);

/** `names`: node maps names to schemas (properties, definitions), so a key such as "default" is a name, not a value. */
function strict(node: unknown, names = false): unknown {
  if (Array.isArray(node)) return node.map((n) => strict(n));
  if (!node || typeof node !== 'object') return node;
  if (names) return Object.fromEntries(Object.entries(node as Schema).map(([k, v]) => [k, strict(v)]));
  const s: Schema = Object.fromEntries(Object.entries(node as Schema).map(([k, v]) =>
    [k, VALUES.has(k) ? v : strict(v, k === 'properties' || k === 'patternProperties' || k === 'definitions')]));
  if (typeof s.$ref === 'string') s.$ref = s.$ref.replace('#/components/schemas/', '#/definitions/');
  if (s['x-kubernetes-int-or-string'] === true || s.format === 'int-or-string') {
    return { ...(s.description ? { description: s.description } : {}), oneOf: [{ type: 'string' }, { type: 'integer' }] };
  }
  if (s.nullable === true && typeof s.type === 'string') s.type = [s.type, 'null'];
  if (s.properties && s.additionalProperties === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) s.additionalProperties = false;
  return s;
}

/** Writes one schema per kind the API server serves; returns the kubeconform -schema-location template. */
export async function writeKubeconformSchemas(kc: k8s.KubeConfig, dir: string): Promise<{ location: string; kinds: number }> {
  const index = await getJson(kc, '/openapi/v3') as { paths: Record<string, { serverRelativeURL: string }> };
  let kinds = 0;
  for (const [path, ref] of Object.entries(index.paths)) {
    if (!/^(api\/v1|apis\/[^/]+\/[^/]+)$/.test(path)) continue;
    const doc = await getJson(kc, ref.serverRelativeURL) as { components?: { schemas?: Record<string, Schema> } };
    const schemas = doc.components?.schemas ?? {};
    const definitions = strict(schemas, true) as Record<string, Schema>;
    for (const [name, schema] of Object.entries(schemas)) {
      const gvks = (schema['x-kubernetes-group-version-kind'] ?? []) as Array<{ group: string; version: string; kind: string }>;
      for (const gvk of gvks) {
        // Only kinds of this document's group-version (others appear as references, e.g. DeleteOptions).
        if (path !== (gvk.group ? `apis/${gvk.group}/${gvk.version}` : `api/${gvk.version}`)) continue;
        const groupDir = gvk.group || gvk.version;
        await mkdir(join(dir, groupDir, gvk.version), { recursive: true });
        const file = join(dir, groupDir, gvk.version, `${gvk.kind.toLowerCase()}-strict.json`);
        await writeFile(file, JSON.stringify({ $ref: `#/definitions/${name}`, definitions }));
        kinds++;
      }
    }
  }
  return { location: join(dir, '{{ .Group }}', '{{ .ResourceAPIVersion }}', '{{ .ResourceKind }}{{ .StrictSuffix }}.json'), kinds };
}
