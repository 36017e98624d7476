// Building blocks of the RBAC matcher trees the node proxy's L7 policy is made of (xds.type.matcher.v3):
// predicates on the connection's source address, on its verified peer certificate's SPIFFE ID and on request
// headers, and named RBAC actions.
import type { Ip } from '../generated/envoy/extensions/matching/input_matchers/ip/v3/Ip.js';
import type { _xds_type_matcher_v3_Matcher_MatcherList_Predicate as Predicate, _xds_type_matcher_v3_Matcher_OnMatch as OnMatch } from '../generated/xds/type/matcher/v3/Matcher.js';
import type { TypedExtensionConfig } from '../generated/xds/core/v3/TypedExtensionConfig.js';
import { packAny } from '../xds/protos.js';
import { formatPrefix, type Prefix } from './cidr.js';

export type { Predicate, OnMatch };

export const any = (type: string, fields: object): TypedExtensionConfig => ({ name: type.slice(type.lastIndexOf('.') + 1), typed_config: packAny(type, fields) });

export const SOURCE_IP_INPUT = any('envoy.extensions.matching.common_inputs.network.v3.DirectSourceIPInput', {});
/** The connection's destination address: in the transparent listener, the original destination (original_dst). */
export const DESTINATION_IP_INPUT = any('envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput', {});

export function headerInput(name: string): TypedExtensionConfig {
  return any('envoy.type.matcher.v3.HttpRequestHeaderMatchInput', { header_name: name });
}

/**
 * The connection's source address as a request header, for matchers of the route table (which match request
 * headers only): the connection manager sets x-envoy-external-address to it on every request from a peer it does
 * not count as internal (use_remote_address; since Envoy 1.36 no peer is internal unless internal_address_config
 * names it, and Weft names none), after removing any value the client sent (test/l7policy-bypass.test.ts).
 */
export const PEER_ADDRESS_HEADER = 'x-envoy-external-address';
export const PEER_ADDRESS_INPUT = headerInput(PEER_ADDRESS_HEADER);

function cidrRange(p: Prefix): { address_prefix: string; prefix_len: { value: number } } {
  return { address_prefix: formatPrefix(p).split('/')[0], prefix_len: { value: p.length } };
}

/** The connection's source (or, with DESTINATION_IP_INPUT, destination) address is in one of the prefixes. */
export function addressIn(prefixes: Prefix[], input: TypedExtensionConfig = SOURCE_IP_INPUT): Predicate {
  const ip: Ip = { cidr_ranges: prefixes.map(cidrRange), stat_prefix: input === SOURCE_IP_INPUT || input === PEER_ADDRESS_INPUT ? 'weft_l7_source' : 'weft_l7_destination' };
  return { single_predicate: { input, custom_match: any('envoy.extensions.matching.input_matchers.ip.v3.Ip', ip) } };
}

export function sourceIn(prefixes: Prefix[]): Predicate {
  return addressIn(prefixes, SOURCE_IP_INPUT);
}

/** The URI SAN of the connection's verified peer certificate (several are joined by commas, so an exact match fails). */
export const PEER_URI_SAN_INPUT = any('envoy.extensions.matching.common_inputs.ssl.v3.UriSanInput', {});

/** The peer presented a certificate whose only URI SAN is one of `ids` (plaintext has none: never matches). */
export function peerSpiffeIdIn(ids: string[]): Predicate {
  const one = (id: string): Predicate => ({ single_predicate: { input: PEER_URI_SAN_INPUT, value_match: { exact: id } } });
  return ids.length === 1 ? one(ids[0]) : { or_matcher: { predicate: ids.map(one) } };
}

const REGEX_META = /[\\.+*?()|[\]{}^$]/;

/** Whether an RE2 pattern is a literal (matches exactly one string, itself). */
export function isLiteral(regex: string): boolean {
  return !REGEX_META.test(regex);
}

/** A whole-value RE2 match; a literal (the common `GET`, `/healthz`) becomes an exact match, which is the same. */
export function regexPredicate(header: string, regex: string): Predicate {
  if (isLiteral(regex)) return exactPredicate(header, regex);
  return { single_predicate: { input: headerInput(header), value_match: { safe_regex: { google_re2: {}, regex } } } };
}

export function exactPredicate(header: string, value: string): Predicate {
  return { single_predicate: { input: headerInput(header), value_match: { exact: value } } };
}

/** A header that is present matches (any value, even empty); an absent one yields no input and fails. */
export function presentPredicate(header: string): Predicate {
  return { single_predicate: { input: headerInput(header), value_match: { safe_regex: { google_re2: {}, regex: '.*' } } } };
}

export const NEVER: Predicate = { not_matcher: presentPredicate(':method') };

export function all(predicates: Predicate[]): Predicate {
  return predicates.length === 1 ? predicates[0] : { and_matcher: { predicate: predicates } };
}

export function action(name: string, allow: boolean): OnMatch {
  return { action: any('envoy.config.rbac.v3.Action', { name, action: allow ? 'ALLOW' : 'DENY' }) };
}
