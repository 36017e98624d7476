// The local cluster's certificates and keys, made with the openssl CLI: a CA, the API server's serving
// certificate, its client certificate towards the kubelets, each kubelet's serving certificate and the
// service-account signing key. Written 0600 under a 0700 directory.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ClusterPki {
  caCert: string;
  apiserverCert: string;
  apiserverKey: string;
  /** The API server's client certificate when it calls a kubelet (logs); kubelets accept only this CN. */
  kubeletClientCert: string;
  kubeletClientKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** Bearer token of the cluster admin (system:masters), in the API server's token file. */
  adminToken: string;
  tokenFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

export const KUBELET_CLIENT_CN = 'kube-apiserver-kubelet-client';

/** Signs `<name>.crt` with the CA for a fresh P-256 key `<name>.key`, with the extensions given. */
async function issue(dir: string, name: string, subject: string, extensions: string[]): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions.join('\n') + '\n');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  await chmod(join(dir, `${name}.key`), 0o600);
  await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650',
    '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
}

/** Where a node's kubelet finds its serving certificate and key (made by createKubeletServingCert). */
export function kubeletServingFiles(dir: string, nodeName: string): { cert: string; key: string } {
  return { cert: join(dir, `kubelet-${nodeName}.crt`), key: join(dir, `kubelet-${nodeName}.key`) };
}

/** The serving certificate of a node's kubelet (port 10250), for its InternalIP, which the API server checks. */
export async function createKubeletServingCert(dir: string, nodeName: string, address: string): Promise<{ cert: string; key: string }> {
  await issue(dir, `kubelet-${nodeName}`, `/CN=${nodeName}`, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=DNS:${nodeName},IP:${address}`,
  ]);
  return kubeletServingFiles(dir, nodeName);
}

/** Creates every file under `dir`; `apiserverAddresses` become IP SANs of the serving certificate. */
export async function createClusterPki(dir: string, apiserverAddresses: string[]): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ecKey = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out'];
  await openssl([...ecKey, 'ca.key'], dir);
  await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=weft-dev-cluster-ca', '-days', '3650', '-out', 'ca.crt',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], dir);

  const sans = [
    'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local', 'DNS:localhost',
    'IP:127.0.0.1', ...apiserverAddresses.map((a) => `IP:${a}`),
  ];
  await writeFile(join(dir, 'apiserver.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=${sans.join(',')}`,
  ].join('\n') + '\n');
  await openssl([...ecKey, 'apiserver.key'], dir);
  await openssl(['req', '-new', '-key', 'apiserver.key', '-subj', '/CN=kube-apiserver', '-out', 'apiserver.csr'], dir);
  await openssl(['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650',
    '-extfile', 'apiserver.ext', '-out', 'apiserver.crt'], dir);

  await issue(dir, 'apiserver-kubelet-client', `/CN=${KUBELET_CLIENT_CN}`, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ]);

  await openssl([...ecKey, 'sa.key'], dir);
  await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);

  const adminToken = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  await writeFile(tokenFile, `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });
  for (const f of ['ca.key', 'apiserver.key', 'sa.key']) await chmod(join(dir, f), 0o600);
  return {
    caCert: join(dir, 'ca.crt'),
    apiserverCert: join(dir, 'apiserver.crt'),
    apiserverKey: join(dir, 'apiserver.key'),
    kubeletClientCert: join(dir, 'apiserver-kubelet-client.crt'),
    kubeletClientKey: join(dir, 'apiserver-kubelet-client.key'),
    serviceAccountKey: join(dir, 'sa.key'),
    serviceAccountPub: join(dir, 'sa.pub'),
    adminToken,
    tokenFile,
  };
}

/** A kubeconfig for the cluster admin, authenticating with the bearer token. */
export async function writeAdminKubeconfig(path: string, clusterName: string, server: string, pki: ClusterPki): Promise<void> {
  const ca = (await readFile(pki.caCert)).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${clusterName}`,
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${pki.adminToken}`,
    'contexts:',
    `- name: ${clusterName}`,
    '  context:',
    `    cluster: ${clusterName}`,
    '    user: admin',
    `current-context: ${clusterName}`,
    '',
  ].join('\n');
  await writeFile(path, text, { mode: 0o600 });
}
