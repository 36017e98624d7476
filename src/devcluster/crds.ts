// Installs the CRDs Weft serves into the local cluster: Gateway API (experimental channel, a superset of standard)
// from the sigs.k8s.io/gateway-api module and Cilium's cilium.io/v2 network policy CRDs from the cilium module.
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { projectRoot } from '../../envoy/binary.js';

const run = promisify(execFile);

async function crdFiles(): Promise<string[]> {
  const root = projectRoot();
  await run('bash', [join(root, 'scripts', 'gateway-api-crds.sh')]);
  await run('bash', [join(root, 'scripts', 'cilium-crds.sh')]);
  const gatewayApi = (await readFile(join(root, 'src', 'sources', 'GATEWAY_API_VERSION'), 'utf8')).trim();
  const cilium = (await readFile(join(root, 'src', 'sources', 'CILIUM_VERSION'), 'utf8')).trim();
  const dirs = [join(root, '.cache', 'gateway-api', gatewayApi, 'crd', 'experimental'), join(root, '.cache', 'cilium', cilium, 'crds')];
  const files: string[] = [];
  for (const dir of dirs) for (const f of (await readdir(dir)).sort()) if (f.endsWith('.yaml')) files.push(join(dir, f));
  return files;
}

export async function installClusterCrds(kubeconfig: string, timeoutMs = 60_000): Promise<string[]> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const names: string[] = [];
  for (const file of await crdFiles()) {
    for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
      const crd = doc.toJS() as k8s.V1CustomResourceDefinition | null;
      if (!crd || crd.kind !== 'CustomResourceDefinition') continue;
      const name = crd.metadata?.name ?? '';
      try {
        await api.createCustomResourceDefinition({ body: crd });
      } catch (err) {
        if ((err as { code?: number }).code !== 409) throw new Error(`installing CRD ${name} from ${file}: ${(err as Error).message}`, { cause: err });
      }
      names.push(name);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return names;
}
