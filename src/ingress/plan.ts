// The plan of one Weft Ingress as translation goes: its mode, address, routes by host, usable TLS
// entries or passthrough routes, and where it ended up being served (for its status).
import type { Ingress } from './classes.js';
import type { IngressAnnotations } from './annotations.js';
import type { LoadBalancerMode } from './options.js';
import type { RankedIngressRoute } from './paths.js';
import type { IngressTlsEntry, PassthroughRoute } from './tls.js';

export interface IngressPlan {
  ing: Ingress;
  key: string;
  mode: LoadBalancerMode;
  annotations: IngressAnnotations;
  forceHttps: boolean;
  address?: string;
  /** host ('*' for none) → routes */
  routes: Map<string, RankedIngressRoute[]>;
  defaultRoute?: RankedIngressRoute;
  tls: IngressTlsEntry[];
  passthrough: PassthroughRoute[];
  servedHttp: boolean;
  servedHttps: boolean;
}

/** Reports a problem on an Ingress (field: where in the object, when there is one). */
export type ProblemSink = (ing: Ingress, field: string | undefined, message: string) => void;

export function describe(ing: Ingress): string {
  return `Ingress ${ing.metadata.namespace}/${ing.metadata.name}`;
}
