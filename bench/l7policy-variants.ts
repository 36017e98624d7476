// Variants of the L7 policy configuration for attributing its fixed per-request cost (bench/l7policy.ts
// --variants): each drops one part of what a port under policy runs, by rewriting the translated resources.
// Measurement only: several variants are unsafe (no path normalisation, no policy at all).
import type { Resource } from '../src/xds/resource.js';
import { makeResource } from '../src/xds/resource.js';
import { decodeMessage, encodeMessage } from '../src/xds/protos.js';
import { TYPE_PREFIX, TypeUrl } from '../src/xds/type-urls.js';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const RBAC_PER_ROUTE = 'envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

/** The parts a variant can drop. */
const PARTS = ['shadow', 'log', 'disabled', 'normalize', 'local-reply'] as const;

/** `full`; `no-<part>` (drops one part); `bare` (drops them all; RBAC and router remain); `bare+<part>` (keeps one); `no-rbac`. */
export const VARIANTS = ['full', ...PARTS.map((p) => `no-${p}`), 'bare', ...PARTS.map((p) => `bare+${p}`), 'no-rbac', 'log-no-metadata', 'log-text', 'log-literals', 'log-als', 'with-als'] as const;

/** Variants translated with the gRPC access log service (to a receiver the bench runs), as Kubernetes mode streams to the agent. */
export const ALS_VARIANTS: ReadonlySet<string> = new Set(['log-als', 'with-als']);
export type Variant = string;

type Obj = Record<string, unknown>;
interface AnyObj {
  type_url: string;
  value: Uint8Array;
}

function unpack(a: AnyObj): Obj {
  return decodeMessage(a.type_url.slice(TYPE_PREFIX.length), a.value);
}

function repack(a: AnyObj, message: Obj): AnyObj {
  return { type_url: a.type_url, value: encodeMessage(a.type_url.slice(TYPE_PREFIX.length), message) };
}

function dropped(variant: Variant): Set<string> {
  if (variant === 'full' || variant === 'with-als') return new Set();
  if (variant.startsWith('no-') && variant !== 'no-rbac') return new Set([variant.slice(3)]);
  const all = new Set<string>(PARTS);
  if (variant === 'no-rbac') return all.add('rbac');
  if (variant.startsWith('log-')) return new Set([variant]);
  if (variant.startsWith('bare+')) all.delete(variant.slice(5));
  return all;
}

function editHcm(hcm: Obj, drop: Set<string>): Obj {
  const del = (k: string): void => void delete hcm[k];
  if (drop.has('log')) del('access_log');
  // The file access log without its metadata fields, or as a text line with the same fields.
  const file = (hcm.access_log as Array<{ typed_config: AnyObj }> | undefined)?.[0];
  if (file && (drop.has('log-no-metadata') || drop.has('log-text') || drop.has('log-literals'))) {
    const config = unpack(file.typed_config) as { json_format?: { fields: Record<string, { stringValue: string }> }; log_format?: unknown };
    const fields = config.json_format!.fields;
    if (drop.has('log-no-metadata')) for (const [k, v] of Object.entries(fields)) if (v.stringValue.includes('METADATA')) delete fields[k];
    // The listener's fixed destination (endpoint and port) as literals instead of route metadata lookups.
    if (drop.has('log-literals')) for (const k of ['destination_endpoint', 'destination_port']) fields[k] = { stringValue: 'literal' };
    if (drop.has('log-text')) {
      delete config.json_format;
      config.log_format = { text_format_source: { inline_string: Object.values(fields).map((v) => v.stringValue).join(' ') + '\n' } };
    }
    file.typed_config = repack(file.typed_config, config);
  }
  // The gRPC access log service instead of the file: its entries are built on the worker, sent in batches.
  if (drop.has('log-als')) hcm.access_log = (hcm.access_log as Array<{ name: string }>).filter((l) => l.name !== 'envoy.access_loggers.file');
  if (drop.has('disabled')) hcm.http_filters = (hcm.http_filters as Array<{ disabled?: boolean }>).filter((f) => !f.disabled);
  if (drop.has('normalize')) for (const k of ['use_remote_address', 'xff_num_trusted_hops', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action']) del(k);
  if (drop.has('local-reply')) del('local_reply_config');
  if (drop.has('rbac')) hcm.http_filters = (hcm.http_filters as Array<{ name: string }>).filter((f) => f.name === 'envoy.filters.http.router');
  return hcm;
}

/** The translated resources with the variant's parts of the policy listeners (`l7/…`) removed. */
export function applyVariant(resources: Resource[], variant: Variant): Resource[] {
  if (!(VARIANTS as readonly string[]).includes(variant)) throw new Error(`unknown variant ${variant} (known: ${VARIANTS.join(', ')})`);
  const drop = dropped(variant);
  if (drop.size === 0) return resources;
  return resources.map((r) => {
    if (!r.name.startsWith('l7/')) return r;
    if (r.typeUrl === TypeUrl.Listener) {
      const listener = decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body) as { filter_chains: Array<{ filters: Array<{ typed_config: AnyObj }> }> };
      for (const chain of listener.filter_chains) for (const f of chain.filters) if (f.typed_config.type_url === TYPE_PREFIX + HCM) f.typed_config = repack(f.typed_config, editHcm(unpack(f.typed_config), drop));
      return makeResource(r.typeUrl, r.name, listener, r.references);
    }
    if (r.typeUrl === TypeUrl.RouteConfiguration) {
      const route = decodeMessage(r.typeUrl.slice(TYPE_PREFIX.length), r.body) as { virtual_hosts: Array<{ typed_per_filter_config?: Record<string, AnyObj> }> };
      for (const vh of route.virtual_hosts) {
        const per = vh.typed_per_filter_config ?? {};
        for (const [name, config] of Object.entries(per)) {
          if (config.type_url !== TYPE_PREFIX + RBAC_PER_ROUTE) continue;
          if (drop.has('rbac')) {
            delete per[name];
            continue;
          }
          if (!drop.has('shadow')) continue;
          const rbac = unpack(config) as { rbac: Obj };
          delete rbac.rbac.shadow_matcher;
          per[name] = repack(config, rbac);
        }
      }
      return makeResource(r.typeUrl, r.name, route, r.references);
    }
    return r;
  });
}
