// headerMatches mismatch actions (LOG, ADD, DELETE, REPLACE), as Cilium's proxy applies them
// (cilium/proxy cilium/network_policy.cc, HeaderMatch::allowed and PortNetworkPolicyRule::getVerdict):
//
// - A headerMatch without an action is a plain condition of its rule (Cilium's agent turns it into an Envoy
//   header matcher); one with an action never fails its rule: on a mismatch LOG only logs, ADD adds the
//   header with the expected value (one more value when it was there), DELETE removes a header whose value
//   is wrong (nothing when the match is on presence only), REPLACE sets the header to the expected value.
// - Once a rule of the port has actions, the proxy no longer stops at the first allowing rule: it evaluates
//   every rule that selects the peer, in order, and runs the actions of each rule whose other conditions
//   hold on the headers as the previous actions left them (Weft: in the order the policies list the rules;
//   Cilium sorts them by their matchers first, which matters only when two rules matching one request act on
//   the same header). Whether the request is allowed does not depend on
//   that (the first rule to match matches before any action ran), so the enforcing RBAC matcher decides it
//   alone, and the actions are a second step after it.
//
// That second step: an RBAC filter in shadow mode (per virtual host, like the policy) classifies the
// request by its source address and by the method/path/host regular expressions of the rules with actions,
// since only RE2 evaluates those exactly; a Lua filter (per virtual host too) then walks those rules in
// order, checks their header conditions (exact or presence, which Lua does exactly) on the current headers,
// and applies the actions. Mismatches are recorded in dynamic metadata for the access log, by action and
// header name (values stay out: they may come from Secrets, which Cilium's log redacts).
//
// Egress rules (the client's) have their own pair of filters, before the destination's policy filter: the
// client's proxy edits the request before it leaves, and the destination's rules see the edited request. In
// the client's own egress chain the classifier keys on the destination address, in a destination's chain (where
// the clients' egress rules apply too) on the client's address; its metadata keys have their own prefix. On the
// mesh's inbound listener the destination's classifier keys on the verified peer SPIFFE ID, as its policy does.
import type { RBAC } from '../generated/envoy/extensions/filters/http/rbac/v3/RBAC.js';
import type { Matcher } from '../generated/xds/type/matcher/v3/Matcher.js';
import type { TypedExtensionConfig } from '../generated/xds/core/v3/TypedExtensionConfig.js';
import type { Prefix } from './cidr.js';
import { action, addressIn, all, isLiteral, peerSpiffeIdIn, presentPredicate, regexPredicate, SOURCE_IP_INPUT, type OnMatch, type Predicate } from './matchers.js';
import { re2Matches } from './regex.js';
import type { HeaderMatch, HttpRule } from './types.js';

/** The HCM filter that classifies requests for the header actions (an RBAC filter in shadow mode). */
export const HEADER_RULES_FILTER = 'weft.l7policy.header-rules';
/** The HCM filter that applies the header actions (Lua). */
export const HEADER_ACTIONS_FILTER = 'weft.l7policy.header-actions';
/** Prefix of the classifying filter's dynamic metadata keys, so they do not overwrite the policy filter's. */
export const HEADER_RULES_PREFIX = 'weft_header_rules_';
/** The same pair of filters for the clients' egress rules (before the destination's policy filter). */
export const EGRESS_HEADER_RULES_FILTER = 'weft.l7policy.egress-header-rules';
export const EGRESS_HEADER_ACTIONS_FILTER = 'weft.l7policy.egress-header-actions';
export const EGRESS_HEADER_RULES_PREFIX = 'weft_egress_header_rules_';

/** Which rules a classifier serves: its metadata key prefix, and the address that tells the peers apart. */
export interface ActionsSide {
  prefix: string;
  input: TypedExtensionConfig;
}

export const INGRESS_ACTIONS: ActionsSide = { prefix: HEADER_RULES_PREFIX, input: SOURCE_IP_INPUT };
/** Dynamic metadata the Lua filter writes: namespace and key of the mismatches, e.g. `LOG:x-want,ADD:x-token`. */
export const HEADER_MISMATCH_METADATA = { namespace: 'weft.l7policy', key: 'header_mismatches' } as const;
/** Matchers in one peer class's classifier, at most (it branches on every combination of conditions that can hold together). */
export const MAX_CLASSIFIER_MATCHERS = 256;

/**
 * The value a headerMatch compares with, resolved as Cilium's agent does (getSecretString): the Secret's
 * value, else the inline value. A string: exact match; undefined: presence only (also a readable but empty
 * Secret); null: the Secret cannot be read and there is no inline value, so the rule never matches.
 */
export function headerMatchValue(m: HeaderMatch, secrets: ReadonlyMap<string, string>): string | undefined | null {
  if (!m.secret) return m.value;
  const secret = secrets.get(`${m.secret.namespace}/${m.secret.name}`);
  if (secret) return secret;
  if (m.value) return m.value;
  return secret === undefined ? null : undefined;
}

/**
 * One peer class of a port (as the enforcing matcher has them, in order): its source addresses (on the mesh's
 * inbound listener, the verified peer SPIFFE IDs, `ids`; `any`: every peer, the class of workloads no rule names)
 * and its rules with actions in evaluation order.
 */
export interface ActionPeers {
  prefixes: Prefix[];
  ids?: string[];
  any?: boolean;
  rules: Array<{ rule: HttpRule; policy: string }>;
}

/** The predicate selecting a peer class; undefined when it selects no peer. */
function peerPredicate(c: ActionPeers, side: ActionsSide): Predicate | undefined {
  if (c.any) return presentPredicate(':method');
  if (c.ids) return c.ids.length ? peerSpiffeIdIn(c.ids) : undefined;
  return c.prefixes.length ? addressIn(c.prefixes, side.input) : undefined;
}

export class HeaderActionsError extends Error {}

/** Lua string literal: printable ASCII as is, everything else (and quotes, backslashes) as decimal escapes. */
function lua(s: string): string {
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

/** The method/path/host conditions of a rule: RBAC predicates, and the expression for each header. */
interface Condition {
  predicates: Predicate[];
  regexes: Map<string, string>;
}

function regexCondition(rule: HttpRule): Condition | undefined {
  const predicates: Predicate[] = [];
  const regexes = new Map<string, string>();
  for (const [header, regex] of [[':method', rule.method], [':path', rule.path], [':authority', rule.host]] as const) {
    if (!regex) continue;
    predicates.push(regexPredicate(header, regex));
    regexes.set(header, regex);
  }
  return predicates.length ? { predicates, regexes } : undefined;
}

/** Whether a condition cannot hold where the headers in `known` have those values (compile time, RE2 itself). */
function excluded(c: Condition, known: ReadonlyMap<string, string>): boolean {
  return [...c.regexes].some(([h, regex]) => known.has(h) && !re2Matches(regex, known.get(h)!));
}

/**
 * The classifier's leaves are named `<peer class>:<one 0/1 per condition>`, read back by the Lua code. Each
 * level is a first-match list: its k-th entry finds the first condition (from where the level starts) that
 * holds, so the ones before it did not, and the level below only looks at the conditions after it; depth
 * is the number of conditions that hold together, not the number of conditions. An entry also learns the
 * values the condition's literals require (a path of `/a`): a later condition that cannot match those values
 * (RE2 decides, at compile time) gets no entry below it, so rules with distinct literal paths cost one
 * entry each rather than a tree of every combination.
 */
function classify(group: number, conditions: Condition[], budget: { left: number }, bits = '', known: ReadonlyMap<string, string> = new Map()): OnMatch {
  const from = bits.length;
  const leaf = (): OnMatch => action(`${group}:${bits.padEnd(conditions.length, '0')}`, true);
  const matchers: NonNullable<Matcher['matcher_list']>['matchers'] = [];
  for (let k = from; k < conditions.length; k++) {
    const c = conditions[k];
    if (excluded(c, known)) continue;
    if (--budget.left < 0) throw new HeaderActionsError('');
    const learnt = new Map(known);
    for (const [h, regex] of c.regexes) if (isLiteral(regex)) learnt.set(h, regex);
    matchers.push({ predicate: all(c.predicates), on_match: classify(group, conditions, budget, `${bits.padEnd(k, '0')}1`, learnt) });
  }
  if (matchers.length === 0) return leaf();
  return { matcher: { matcher_list: { matchers }, on_no_match: leaf() } };
}

/** The Lua program: generic code after a generated table of each peer class's rules (`prefix`: the classifier's). */
const luaCode = (prefix: string): string => `
local function value_of(headers, name)
  return headers:get(name)
end

local function holds(headers, conditions)
  for _, c in ipairs(conditions) do
    local v = value_of(headers, c[1])
    if v == nil or (c[2] ~= nil and v ~= c[2]) then return false end
  end
  return true
end

local function apply(headers, m, log)
  local name, expected, act = m[1], m[2], m[3]
  local v = value_of(headers, name)
  if expected == nil then
    if v ~= nil then return end
  elseif v == expected then
    return
  end
  if act == "ADD" then
    headers:add(name, expected or "")
  elseif act == "REPLACE" then
    headers:replace(name, expected or "")
  elseif act == "DELETE" then
    if expected == nil or v == nil then return end
    headers:remove(name)
  end
  log[#log + 1] = act .. ":" .. name
end

local function run(handle)
  local md = handle:streamInfo():dynamicMetadata():get("envoy.filters.http.rbac")
  local id = md and md["${prefix}shadow_effective_policy_id"]
  if id == nil then return end
  local class, bits = string.match(id, "^(%d+):([01]*)$")
  local rules = class and CLASSES[tonumber(class)]
  if rules == nil then return end
  local headers = handle:headers()
  local log = {}
  for _, r in ipairs(rules) do
    if not r.never and (r.bit == nil or string.sub(bits, r.bit, r.bit) == "1") and holds(headers, r.conditions) then
      for _, m in ipairs(r.matches) do apply(headers, m, log) end
    end
  end
  if #log > 0 then
    -- After the client's egress actions, the destination's: one list, in the order they ran.
    local logged = handle:streamInfo():dynamicMetadata():get("${HEADER_MISMATCH_METADATA.namespace}")
    local before = logged and logged["${HEADER_MISMATCH_METADATA.key}"]
    if before ~= nil then table.insert(log, 1, before) end
    handle:streamInfo():dynamicMetadata():set("${HEADER_MISMATCH_METADATA.namespace}", "${HEADER_MISMATCH_METADATA.key}", table.concat(log, ","))
  end
end

function envoy_on_request(handle)
  local ok, err = pcall(run, handle)
  if not ok then
    -- Never forward a request whose header actions (a DELETE, say) did not run.
    handle:logErr("weft header actions: " .. tostring(err))
    handle:respond({ [":status"] = "500" }, "header actions failed\\r\\n")
  end
end
`;

function luaRule(rule: HttpRule, bit: number | undefined, secrets: ReadonlyMap<string, string>): string {
  let never = false;
  const conditions: string[] = [];
  for (const h of rule.headers) conditions.push(`{ ${lua(h.name.toLowerCase())}${h.value === undefined ? '' : `, ${lua(h.value)}`} }`);
  const matches: string[] = [];
  for (const m of rule.headerMatches) {
    const value = headerMatchValue(m, secrets);
    // Cilium's agent: an unreadable Secret without a fallback value makes the rule never match.
    if (value === null) never = true;
    const expected = value === null || value === undefined ? '' : `, ${lua(value)}`;
    if (m.mismatch) matches.push(`{ ${lua(m.name.toLowerCase())}${expected === '' ? ', nil' : expected}, ${lua(m.mismatch)} }`);
    else conditions.push(`{ ${lua(m.name.toLowerCase())}${expected} }`);
  }
  return `{ bit = ${bit ?? 'nil'}, never = ${never}, conditions = { ${conditions.join(', ')} }, matches = { ${matches.join(', ')} } }`;
}

/**
 * The classifier (an RBAC configuration with only a shadow matcher) and the Lua program for one port, or
 * undefined when no peer's rules have actions. Throws HeaderActionsError when a peer's rules with actions
 * need a classifier of more than MAX_CLASSIFIER_MATCHERS matchers.
 */
export function headerActionsConfig(classes: ActionPeers[], secrets: ReadonlyMap<string, string>, side: ActionsSide = INGRESS_ACTIONS): { rbac: RBAC; lua: string } | undefined {
  const matchers: NonNullable<Matcher['matcher_list']>['matchers'] = [];
  const tables: string[] = [];
  const last = classes.findLastIndex((c) => peerPredicate(c, side) !== undefined && c.rules.length > 0);
  for (const c of classes.slice(0, last + 1)) {
    const peer = peerPredicate(c, side);
    if (!peer) continue;
    // A class without actions still claims its peers, as in the enforcing matcher (first match wins).
    if (c.rules.length === 0) {
      matchers.push({ predicate: peer, on_match: action('none', true) });
      continue;
    }
    const index = tables.length + 1;
    const keys: string[] = [];
    const conditions: Condition[] = [];
    const rules = c.rules.map(({ rule }) => {
      const condition = regexCondition(rule);
      if (!condition) return luaRule(rule, undefined, secrets);
      const key = JSON.stringify([rule.method, rule.path, rule.host]);
      let bit = keys.indexOf(key);
      if (bit < 0) {
        bit = keys.push(key) - 1;
        conditions.push(condition);
      }
      return luaRule(rule, bit + 1, secrets);
    });
    let classifier: OnMatch;
    try {
      classifier = classify(index, conditions, { left: MAX_CLASSIFIER_MATCHERS });
    } catch (err) {
      if (!(err instanceof HeaderActionsError)) throw err;
      const policies = [...new Set(c.rules.map((r) => r.policy))].join(', ');
      throw new HeaderActionsError(`${policies}: the HTTP rules with headerMatches mismatch actions for one peer have too many method/path/host regular expressions that can match together (the classifier would need more than ${MAX_CLASSIFIER_MATCHERS} matchers)`);
    }
    tables.push(`  [${index}] = {\n    ${rules.join(',\n    ')},\n  },`);
    matchers.push({ predicate: peer, on_match: classifier });
  }
  if (tables.length === 0) return undefined;
  const rbac: RBAC = {
    shadow_rules_stat_prefix: side.prefix,
    shadow_matcher: { matcher_list: { matchers }, on_no_match: action('none', true) },
  };
  return { rbac, lua: `-- Generated by Weft: rules with headerMatches mismatch actions, by peer class, in evaluation order.\nlocal CLASSES = {\n${tables.join('\n')}\n}\n${luaCode(side.prefix)}` };
}
