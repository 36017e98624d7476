// What the agent's init container does on a node (`weft install-cni`, Helm chart): writes Weft's CNI network
// configuration into the host's CNI directory with the node's own pod CIDRs (Node spec.podCIDRs, which weft-cni's
// IPAM needs and only the API server knows), and copies the plugin into the host's CNI binary directory. Each file
// is written beside its target and renamed, so a container runtime never reads half of one.
import { chmodSync, copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';

export interface CniInstallOptions {
  nodeName: string;
  /** A CNI network configuration list (JSON) whose weft-cni plugin lacks podCIDR. */
  templateFile: string;
  confDir: string;
  confName: string;
  /** The weft-cni plugin to install, and where; neither: configuration only. */
  pluginFile?: string;
  binDir?: string;
}

/**
 * The configuration list with the node's pod CIDRs on every weft-cni plugin: the IPv4 one as podCIDR (required),
 * an IPv6 one, when the node has it, as podCIDRv6 (dual stack). Errors name the file and field.
 */
export function cniConfigForNode(template: string, templateFile: string, podCIDRs: string[]): string {
  const v4 = podCIDRs.find((c) => !c.includes(':'));
  const v6 = podCIDRs.find((c) => c.includes(':'));
  if (!v4) throw new Error(`node pod CIDRs ${podCIDRs.join(', ') || '(none)'}: weft-cni needs an IPv4 pod CIDR`);
  let conf: { plugins?: Array<Record<string, unknown>> };
  try {
    conf = JSON.parse(template) as typeof conf;
  } catch (err) {
    throw new Error(`${templateFile}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const plugins = (conf.plugins ?? []).filter((p) => p.type === 'weft-cni');
  if (!plugins.length) throw new Error(`${templateFile}: plugins: no plugin of type weft-cni`);
  for (const p of plugins) {
    p.podCIDR = v4;
    if (v6) p.podCIDRv6 = v6;
  }
  return JSON.stringify(conf, null, 2) + '\n';
}

function writeAtomically(file: string, write: (tmp: string) => void): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  write(tmp);
  renameSync(tmp, file);
}

export async function installCni(kc: k8s.KubeConfig, o: CniInstallOptions): Promise<{ podCIDRs: string[]; conf: string }> {
  const node = await kc.makeApiClient(k8s.CoreV1Api).readNode({ name: o.nodeName });
  const podCIDRs = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  if (!podCIDRs.length) throw new Error(`node ${o.nodeName}: spec.podCIDR is empty (kube-controller-manager allocates it with --allocate-node-cidrs)`);
  const conf = path.join(o.confDir, o.confName);
  const text = cniConfigForNode(readFileSync(o.templateFile, 'utf8'), o.templateFile, podCIDRs);
  if (o.pluginFile && o.binDir) {
    writeAtomically(path.join(o.binDir, 'weft-cni'), (tmp) => {
      copyFileSync(o.pluginFile!, tmp);
      chmodSync(tmp, 0o755);
    });
  }
  // The configuration last: a runtime that sees it must find the plugin.
  writeAtomically(conf, (tmp) => writeFileSync(tmp, text, { mode: 0o644 }));
  return { podCIDRs, conf };
}
