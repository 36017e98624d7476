// Tests that run the real Envoy inside a node namespace next to the kernel datapath: the binary, or why not.
import { resolveEnvoyBinary } from '../../envoy/binary.js';
import { datapathUnavailable } from '../../src/datapath/native.js';

/** The Envoy binary's path, or undefined when none is installed. */
export function envoyPathIfInstalled(): string | undefined {
  try {
    return resolveEnvoyBinary().path;
  } catch {
    return undefined;
  }
}

/** Why a datapath + Envoy test cannot run here, or undefined when it can. */
export function datapathWithEnvoyUnavailable(envoyPath: string | undefined): string | undefined {
  return datapathUnavailable() ?? (envoyPath ? undefined : 'no Envoy binary (bash envoy/install.sh)');
}
