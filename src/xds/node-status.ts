// What each node has ACKed and rejected, per type: the API tests and `weft` status commands read.
import type { Snapshot } from './snapshot.js';
import { ALL_TYPE_URLS, shortTypeName, type TypeUrl } from './type-urls.js';

export interface NackRecord {
  readonly nonce: string;
  readonly versionInfo: string;
  readonly errorCode: number;
  readonly errorMessage: string;
  readonly at: Date;
}

export interface TypeStatus {
  responses: number;
  acks: number;
  nacks: number;
  ackedVersion: string | undefined;
  /** name → version of what the node holds after its last ACK. */
  acked: ReadonlyMap<string, string>;
  lastNack: NackRecord | undefined;
}

export interface NodeStatus {
  nodeId: string;
  nodeKey: string;
  connectedStreams: number;
  types: Map<TypeUrl, TypeStatus>;
}

export class NodeStatusBook {
  private readonly nodes = new Map<string, NodeStatus>();

  node(nodeId: string, nodeKey: string): NodeStatus {
    let status = this.nodes.get(nodeId);
    if (!status) {
      status = { nodeId, nodeKey, connectedStreams: 0, types: new Map() };
      this.nodes.set(nodeId, status);
    }
    return status;
  }

  type(nodeId: string, nodeKey: string, typeUrl: TypeUrl): TypeStatus {
    const node = this.node(nodeId, nodeKey);
    let status = node.types.get(typeUrl);
    if (!status) {
      status = { responses: 0, acks: 0, nacks: 0, ackedVersion: undefined, acked: new Map(), lastNack: undefined };
      node.types.set(typeUrl, status);
    }
    return status;
  }

  get(nodeId: string): NodeStatus | undefined {
    return this.nodes.get(nodeId);
  }

  all(): NodeStatus[] {
    return [...this.nodes.values()];
  }
}

/**
 * What differs between a desired snapshot and what a node has ACKed, as one readable line, or undefined
 * when the node holds exactly the snapshot (every type, every resource at its version).
 */
export function ackDivergence(status: NodeStatus | undefined, snapshot: Snapshot): string | undefined {
  if (!status || status.connectedStreams === 0) return 'not connected';
  // Every type that differs: a removal held back (clusters wait for listeners and routes) names its cause too.
  const parts: string[] = [];
  for (const type of ALL_TYPE_URLS) {
    const desired = snapshot.resources(type);
    const acked = status.types.get(type)?.acked ?? new Map<string, string>();
    const missing = [...desired].filter(([name, r]) => acked.get(name) !== r.version).map(([name]) => name);
    const extra = [...acked.keys()].filter((name) => !desired.has(name));
    if (missing.length || extra.length) parts.push(`${shortTypeName(type)}: not ACKed [${missing.join(', ')}], not desired [${extra.join(', ')}]`);
  }
  return parts.length ? parts.join('; ') : undefined;
}
