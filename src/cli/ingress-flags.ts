// The --ingress-* flags of `weft run` and `weft translate`: where Ingresses are served in standalone mode.
import type { Command } from 'commander';
import { DEFAULT_INGRESS_OPTIONS, ingressOptions, type IngressOptions, type LoadBalancerMode } from '../ingress/options.js';

export interface IngressFlags {
  ingressAddress: string;
  ingressHttpPort: string;
  ingressHttpsPort: string;
  ingressDedicatedPool: string;
  ingressDefaultMode: string;
  ingressEnforceHttps: boolean;
}

export function addIngressFlags(cmd: Command): Command {
  const d = DEFAULT_INGRESS_OPTIONS;
  return cmd
    .option('--ingress-address <ip>', 'address shared-mode Ingresses are served on', d.sharedAddress)
    .option('--ingress-http-port <port>', 'HTTP port of every Ingress address', String(d.httpPort))
    .option('--ingress-https-port <port>', 'HTTPS port of every Ingress address (Ingresses with tls)', String(d.httpsPort))
    .option('--ingress-dedicated-pool <cidr>', 'IPv4 CIDR dedicated-mode Ingresses take their address from', d.dedicatedPool)
    .option('--ingress-default-mode <mode>', 'shared or dedicated: the mode of an Ingress without the ingress.weft.dev/loadbalancer-mode annotation', d.defaultMode)
    .option('--no-ingress-enforce-https', 'do not redirect HTTP to HTTPS for TLS hosts of Ingresses without the ingress.weft.dev/force-https annotation');
}

/** The flags as checked options; throws an Error naming the flag's value on a bad one. */
export function ingressOptionsFromFlags(f: IngressFlags): IngressOptions {
  const port = (value: string, flag: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag} must be a port number (1-65535), not "${value}"`);
    return n;
  };
  return ingressOptions({
    sharedAddress: f.ingressAddress,
    httpPort: port(f.ingressHttpPort, '--ingress-http-port'),
    httpsPort: port(f.ingressHttpsPort, '--ingress-https-port'),
    dedicatedPool: f.ingressDedicatedPool,
    defaultMode: f.ingressDefaultMode as LoadBalancerMode,
    enforceHttps: f.ingressEnforceHttps,
  });
}
