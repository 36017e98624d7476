// Field numbers of the Envoy messages that http-routes.ts writes field by field (envoy/config/route/v3/
// route_components.proto and the types it uses), by proto message and field name. test/xds-route-fields checks
// every one against the protos.
export const ROUTE_FIELDS = {
  'envoy.config.route.v3.Route': {
    match: 1,
    route: 2,
    redirect: 3,
    direct_response: 7,
    request_headers_to_add: 9,
    response_headers_to_add: 10,
    response_headers_to_remove: 11,
    request_headers_to_remove: 12,
    typed_per_filter_config: 13,
    name: 14,
  },
  'envoy.config.route.v3.RedirectAction': { host_redirect: 1, path_redirect: 2, response_code: 3, scheme_redirect: 7, port_redirect: 8, regex_rewrite: 9 },
  'envoy.config.route.v3.RouteMatch': { prefix: 1, path: 2, headers: 6, query_parameters: 7, safe_regex: 10, path_separated_prefix: 14 },
  'envoy.config.route.v3.HeaderMatcher': { name: 1, string_match: 13 },
  'envoy.config.route.v3.QueryParameterMatcher': { name: 1, string_match: 5 },
  'envoy.type.matcher.v3.StringMatcher': { exact: 1, safe_regex: 5 },
  'envoy.type.matcher.v3.RegexMatcher': { regex: 2 },
  'envoy.type.matcher.v3.RegexMatchAndSubstitute': { pattern: 1, substitution: 2 },
  'envoy.config.route.v3.RouteAction': {
    cluster: 1,
    weighted_clusters: 3,
    host_rewrite_literal: 6,
    timeout: 8,
    retry_policy: 9,
    upgrade_configs: 25,
    request_mirror_policies: 30,
    regex_rewrite: 32,
  },
  'envoy.config.route.v3.WeightedCluster': { clusters: 1 },
  'envoy.config.route.v3.WeightedCluster.ClusterWeight': {
    name: 1,
    weight: 2,
    request_headers_to_add: 4,
    response_headers_to_add: 5,
    response_headers_to_remove: 6,
    request_headers_to_remove: 9,
  },
  'envoy.config.route.v3.RouteAction.UpgradeConfig': { upgrade_type: 1 },
  'envoy.config.core.v3.HeaderValueOption': { header: 1, append_action: 3 },
  'envoy.config.core.v3.HeaderValue': { key: 1, value: 2 },
  'google.protobuf.UInt32Value': { value: 1 },
  'google.protobuf.Duration': { seconds: 1, nanos: 2 },
  'google.protobuf.Any': { type_url: 1, value: 2 },
} as const;

/** A map field's entries are messages of two fields (protobuf encoding). */
export const MAP_ENTRY = { key: 1, value: 2 } as const;

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction, by name. */
export const HEADER_APPEND_ACTION = { APPEND_IF_EXISTS_OR_ADD: 0, OVERWRITE_IF_EXISTS_OR_ADD: 2 } as const;

/** envoy.config.route.v3.RedirectAction.RedirectResponseCode, by name. */
export const REDIRECT_RESPONSE_CODE = { MOVED_PERMANENTLY: 0, FOUND: 1, SEE_OTHER: 2, TEMPORARY_REDIRECT: 3, PERMANENT_REDIRECT: 4 } as const;
