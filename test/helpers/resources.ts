// Resource sets the end-to-end tests share: an HTTP listener with its routes, and EDS clusters for
// echo backends.
import type { Route } from '../../src/generated/envoy/config/route/v3/Route.js';
import { edsCluster, httpListener, loadAssignment } from '../../src/xds/builders.js';
import { clusterResource, endpointsResource, listenerResource, routeConfigurationResource } from '../../src/xds/envoy-resources.js';
import type { Resource } from '../../src/xds/resource.js';

export interface RouteSpec {
  prefix: string;
  cluster: string;
}

export function routeTable(table: RouteSpec[]): Route[] {
  return table.map((r) => ({ match: { prefix: r.prefix }, route: { cluster: r.cluster } }));
}

/** Listener `http` on 127.0.0.1:`port` and its route configuration `http-routes`. */
export function httpRoutes(port: number, table: RouteSpec[] | Route[], extra: { tlsSecretNames?: string[] } = {}): Resource[] {
  const routes = table.map((r) => ('prefix' in r ? routeTable([r])[0] : r));
  return [
    listenerResource(httpListener({ name: 'http', address: '127.0.0.1', port, routeConfigName: 'http-routes', ...extra })),
    routeConfigurationResource({ name: 'http-routes', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }),
  ];
}

/** EDS cluster `name` and its endpoints: one endpoint, 127.0.0.1:`port`. */
export function upstream(name: string, port: number): Resource[] {
  return [clusterResource(edsCluster(name)), endpointsResource(loadAssignment(name, [{ address: '127.0.0.1', port }]))];
}
