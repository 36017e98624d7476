// The --flows-* flags of `weft agent`: the node's flow agent, which runs in the agent's process.
import type { Command } from 'commander';
import { DEFAULT_PIN_ROOT } from '../datapath/datapath.js';
import { DEFAULT_RING_CAPACITY } from '../observe/flow-ring.js';
import type { AgentFlowFlags } from './agent.js';

/** The Observer API port agents serve (the relay's --agent-port and the Helm chart use the same). */
export const DEFAULT_AGENT_FLOW_PORT = 4244;

export interface AgentFlowFlagValues { flows: boolean; flowsListen: string; flowsAccessLogListen: string; flowsTlsDir?: string; flowsBpfPinRoot: string; flowsRing: string }

export function addAgentFlowFlags(cmd: Command): Command {
  return cmd
    .option('--no-flows', 'do not run the node\'s flow agent (weft observe, weft relay)')
    .option('--flows-listen <host:port>', 'where to serve the node\'s flows (the relay connects here)', `0.0.0.0:${DEFAULT_AGENT_FLOW_PORT}`)
    .option('--flows-access-log-listen <host:port>', 'where the node\'s Envoy streams its Gateway and Ingress listeners\' access log (loopback; port 0 picks one; L7 policy\'s is read from its file)', '127.0.0.1:0')
    .option('--flows-tls-dir <dir>', 'mutual TLS for the flow API: svid.pem, svid.key, bundle.pem (`weft ca issue`); without it, plaintext')
    .option('--flows-bpf-pin-root <dir>', 'the datapath\'s pinned maps: its flow ring buffer is read when pinned there', DEFAULT_PIN_ROOT)
    .option('--flows-ring <n>', 'flows kept in memory', String(DEFAULT_RING_CAPACITY));
}

function checkHostPort(text: string, flag: string): void {
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m || !m[1] || Number(m[2]) > 65535) throw new Error(`${flag} must be host:port, not "${text}"`);
}

/** The flags as checked options; throws an Error naming the flag on a bad value. */
export function agentFlowFlags(v: AgentFlowFlagValues): AgentFlowFlags {
  checkHostPort(v.flowsListen, '--flows-listen');
  checkHostPort(v.flowsAccessLogListen, '--flows-access-log-listen');
  const ring = Number(v.flowsRing);
  if (!Number.isInteger(ring) || ring < 1) throw new Error(`--flows-ring must be a positive integer, not "${v.flowsRing}"`);
  return { flows: v.flows, flowsListen: v.flowsListen, flowsAccessLogListen: v.flowsAccessLogListen, flowsBpfPinRoot: v.flowsBpfPinRoot, flowsRing: ring, ...(v.flowsTlsDir ? { flowsTlsDir: v.flowsTlsDir } : {}) };
}
