// How a container's image becomes a process: a container with a `command` runs it as is (the image only names
// it); a known image maps to a local binary; anything else cannot run here and says so in the pod's status.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { V1Container } from '@kubernetes/client-node';
import { projectRoot } from '../../../envoy/binary.js';

/** A program, and what of its image's filesystem it needs at which path (bind mounts, like volumes). */
export type ContainerProgram = { argv: string[]; imageMounts?: Array<{ source: string; target: string }> } | { waiting: { reason: string; message: string } };

/** The Gateway API conformance echo backend, built by scripts/echo-basic.sh. */
export function echoBasicBinary(): string {
  const cache = process.env.WEFT_CACHE_DIR ?? join(homedir(), '.cache', 'weft');
  return join(cache, 'echo-basic', 'echo-basic');
}

/** CoreDNS, built by scripts/coredns.sh (the conformance suite's base manifests deploy it). */
export function corednsBinary(): string {
  const cache = process.env.WEFT_CACHE_DIR ?? join(homedir(), '.cache', 'weft');
  return join(cache, 'coredns', 'coredns');
}

const COREDNS = /^registry\.k8s\.io\/coredns\/coredns(:[\w.-]+|@sha256:[0-9a-f]{64})?$/;
const ECHO_BASIC = /^(gcr\.io\/k8s-staging-gateway-api|registry\.k8s\.io\/gateway-api)\/echo-basic(:[\w.-]+|@sha256:[0-9a-f]{64})?$/;

// Weft's own image (what the Helm chart deploys): its entrypoint is `weft`, this checkout's bin/weft; the image
// keeps its binaries (weft-cni, which the agent's install-cni init container copies to the node) in /usr/lib/weft/bin.
const WEFT = /^ghcr\.io\/weft-dev\/weft(:[\w.-]+|@sha256:[0-9a-f]{64})?$/;

export function containerProgram(c: V1Container): ContainerProgram {
  const image = c.image ?? '';
  const weftMounts = WEFT.test(image) ? { imageMounts: [{ source: join(projectRoot(), 'bin'), target: '/usr/lib/weft/bin' }] } : {};
  if (c.command?.length) return { argv: [...c.command, ...(c.args ?? [])], ...weftMounts };
  if (WEFT.test(image)) return { argv: [join(projectRoot(), 'bin', 'weft'), ...(c.args ?? [])], ...weftMounts };
  if (ECHO_BASIC.test(image)) {
    const bin = echoBasicBinary();
    if (!existsSync(bin)) return { waiting: { reason: 'ImageNotSupported', message: `image ${image} maps to ${bin}, which is not built: run scripts/echo-basic.sh` } };
    return { argv: [bin, ...(c.args ?? [])] };
  }
  if (COREDNS.test(image)) {
    const bin = corednsBinary();
    if (!existsSync(bin)) return { waiting: { reason: 'ImageNotSupported', message: `image ${image} maps to ${bin}, which is not built: run scripts/coredns.sh` } };
    return { argv: [bin, ...(c.args ?? [])] };
  }
  return { waiting: { reason: 'ImageNotSupported', message: `image ${JSON.stringify(image)} has no local binary and container ${c.name} has no command; the Weft dev kubelet runs commands as processes and knows only the Gateway API echo-basic, CoreDNS and Weft images` } };
}
