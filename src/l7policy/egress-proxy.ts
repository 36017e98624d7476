// Standalone mode's egress proxy: where a client's egress HTTP rules apply to any destination they name, pods
// without a listener and the world alike. Standalone has no datapath to redirect a client's connections, so
// clients send through an explicit HTTP proxy (`HTTP_PROXY=http://<address>:<port>`, `curl -x`), from their
// own address, which stands for their pod as it does towards the policy listeners. One listener; a filter chain
// per client with egress HTTP rules, chosen by the connection's source address (never a header); a route
// configuration per client, one virtual host per destination port of its rules (`*:<port>`: the request names
// the destination as `IP:port`), with the same RBAC matcher tree as the client's egress chain in transparent
// mode, except that the peer is the destination the request names rather than the connection's. Allowed
// requests go to exactly that address (an ORIGINAL_DST cluster reading `:authority`), from the client's own
// address (so a destination pod's listener sees the client and applies its ingress rules too).
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster.js';
import type { FilterChain } from '../generated/envoy/config/listener/v3/FilterChain.js';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener.js';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration.js';
import type { Lua } from '../generated/envoy/extensions/filters/http/lua/v3/Lua.js';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager.js';
import type { Any } from '../generated/google/protobuf/Any.js';
import { clusterResource, listenerResource, routeConfigurationResource } from '../xds/envoy-resources.js';
import { packAny } from '../xds/protos.js';
import type { Resource } from '../xds/resource.js';
import { clientsWithEgressRules, EGRESS_RBAC_FILTER, egressL7Ports, enable, enableHeaderActions, HCM_FILTER, HCM_TYPE, hcm, hostPrefix, l7EgressProxyAccessLog, portPolicy, rbacPerRoute, routeLogName, type L7Problem } from './envoy.js';
import { EGRESS_HEADER_ACTIONS_FILTER, EGRESS_HEADER_RULES_FILTER, HeaderActionsError } from './header-actions.js';
import { headerInput } from './matchers.js';
import type { PolicyModel } from './model.js';

/** Where `weft run` serves the egress proxy (a loopback address in standalone mode). */
export interface EgressProxy {
  address: string;
  port: number;
}

export const EGRESS_PROXY_LISTENER = 'l7/egress-proxy';
/** The requested destination's address, set by the proxy itself (any such header a client sends is replaced or removed). */
const DESTINATION_HEADER = 'x-weft-egress-destination';
/** The same for the access log (the header does not leave the proxy). */
const DESTINATION_METADATA = { namespace: 'weft.l7policy.egress-proxy', key: 'destination' };
const DESTINATION_FILTER = 'weft.l7policy.egress-destination';

/**
 * The address part of `:authority` when it is an IP literal with a port (`198.51.100.7:80`, `[2001:db8::7]:80`);
 * anything else leaves no header, which no peer matches (refused). Envoy parses the same `:authority` for the
 * upstream address, so the verdict and the connection agree on the destination.
 */
const DESTINATION_LUA = `function envoy_on_request(handle)
  local headers = handle:headers()
  local authority = headers:get(":authority") or ""
  local ip = string.match(authority, "^%[([%x:.]+)%]:%d+$") or string.match(authority, "^([%d.]+):%d+$")
  headers:remove("${DESTINATION_HEADER}")
  if ip then
    headers:add("${DESTINATION_HEADER}", ip)
    handle:streamInfo():dynamicMetadata():set("${DESTINATION_METADATA.namespace}", "${DESTINATION_METADATA.key}", ip)
  end
end
`;

const DESTINATION_INPUT = headerInput(DESTINATION_HEADER);

/** The egress proxy's listener, clusters and routes; nothing when no client has egress HTTP rules. */
export function egressProxyResources(model: PolicyModel, proxy: EgressProxy, opts: { accessLogPath: string; secrets: ReadonlyMap<string, string>; forFlows?: boolean }): { resources: Resource[]; problems: L7Problem[] } {
  const resources: Resource[] = [];
  const problems: L7Problem[] = [];
  const chains: FilterChain[] = [];
  const clients = clientsWithEgressRules(model);
  for (const endpoint of model.table.endpoints) {
    const dp = clients.get(endpoint.identity);
    if (!dp || endpoint.ips.length === 0) continue;
    const { ports, problems: rangeProblems } = egressL7Ports(dp);
    problems.push(...rangeProblems.map((message) => ({ endpoint, message })));
    if (ports.length === 0) continue;
    const name = `${EGRESS_PROXY_LISTENER}/${endpoint.name}`;
    const virtualHosts: NonNullable<RouteConfiguration['virtual_hosts']> = [];
    for (const port of ports) {
      let policy: ReturnType<typeof portPolicy>;
      try {
        policy = portPolicy(model, dp, port, opts.secrets, DESTINATION_INPUT);
      } catch (err) {
        if (!(err instanceof HeaderActionsError)) throw err;
        problems.push({ endpoint, message: `egress port ${port} is not served by the egress proxy: ${err.message}` });
        continue;
      }
      // The destinations' ingress rules are not this proxy's: a pod's listener applies them when the request reaches it.
      const perFilter: Record<string, Any> = { [EGRESS_RBAC_FILTER]: enable(rbacPerRoute(policy.rbac)) };
      enableHeaderActions(perFilter, policy.headerActions, EGRESS_HEADER_RULES_FILTER, EGRESS_HEADER_ACTIONS_FILTER);
      virtualHosts.push({
        name: String(port),
        domains: [`*:${port}`],
        typed_per_filter_config: perFilter,
        routes: [{ name: routeLogName(endpoint, port), match: { prefix: '' }, route: { cluster: name, timeout: { seconds: '0' } }, request_headers_to_remove: [DESTINATION_HEADER] }],
      });
    }
    if (virtualHosts.length === 0) continue;
    resources.push(routeConfigurationResource({ name, virtual_hosts: virtualHosts }));
    // Exactly the destination the request named, from the client's own address.
    const cluster: Cluster & { name: string } = {
      name,
      type: 'ORIGINAL_DST',
      lb_policy: 'CLUSTER_PROVIDED',
      original_dst_lb_config: { use_http_header: true, http_header_name: ':authority' },
      upstream_bind_config: { source_address: { address: endpoint.ips[0], port_value: 0 } },
      connect_timeout: { seconds: '2' },
    };
    resources.push(clusterResource(cluster));
    const base = hcm(name, opts.accessLogPath, opts.forFlows === true, 'egress');
    const manager: HttpConnectionManager = {
      ...base,
      // Requests in a proxy's absolute form (`GET http://198.51.100.7:80/path`) as well as with a Host header.
      http_protocol_options: { allow_absolute_url: { value: true } },
      access_log: [l7EgressProxyAccessLog(opts.accessLogPath, DESTINATION_METADATA, opts.forFlows === true)],
      http_filters: [{ name: DESTINATION_FILTER, typed_config: packAny('envoy.extensions.filters.http.lua.v3.Lua', { default_source_code: { inline_string: DESTINATION_LUA } } satisfies Lua) }, ...(base.http_filters ?? [])],
    };
    chains.push({ name, filter_chain_match: { source_prefix_ranges: endpoint.ips.map(hostPrefix) }, filters: [{ name: HCM_FILTER, typed_config: packAny(HCM_TYPE, manager) }] });
  }
  if (chains.length > 0) {
    // Other sources match no chain: their connections are closed.
    const listener: Listener & { name: string } = { name: EGRESS_PROXY_LISTENER, address: { socket_address: { address: proxy.address, port_value: proxy.port } }, filter_chains: chains };
    resources.push(listenerResource(listener));
  }
  return { resources, problems };
}
