// `weft install-cni`: the agent's init container (Helm chart) installs weft-cni and its configuration on the node.
import * as k8s from '@kubernetes/client-node';
import { installCni } from '../kubernetes/cni-install.js';

export interface InstallCniFlags { kubeconfig?: string; node?: string; confTemplate: string; confDir: string; confName: string; plugin?: string; binDir?: string }

export async function runInstallCni(flags: InstallCniFlags): Promise<void> {
  if (Boolean(flags.plugin) !== Boolean(flags.binDir)) throw new Error('--plugin and --bin-dir go together');
  const nodeName = flags.node ?? process.env.NODE_NAME;
  if (!nodeName) throw new Error('--node (or $NODE_NAME) is required: the pod CIDR is the node\'s');
  const kc = new k8s.KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  const { podCIDRs, conf } = await installCni(kc, {
    nodeName, templateFile: flags.confTemplate, confDir: flags.confDir, confName: flags.confName,
    ...(flags.plugin && flags.binDir ? { pluginFile: flags.plugin, binDir: flags.binDir } : {}),
  });
  process.stdout.write(`weft install-cni: ${conf} (node ${nodeName}, pod CIDRs ${podCIDRs.join(', ')})${flags.binDir ? `, plugin in ${flags.binDir}` : ''}\n`);
}
