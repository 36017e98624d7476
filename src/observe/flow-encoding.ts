// The follow stream's encoder: weft.observe.v1.GetFlowsResponse written field by field (protobufjs's
// Writer). At hundreds of thousands of flows a second the encoding is the stream's main cost, and most of a
// flow is the description of its two ends, which repeats: the directory hands out the same label and
// service arrays for every flow of an address, so their encoded bytes are kept per label array (and reused
// only while namespace, pod, workload and services are the very same values). Field numbers are those of
// proto/weft/observe/v1/observe.proto; test/observe-units checks the result against proto-loader's decoder.
import protobuf from 'protobufjs';
import type { Flow, FlowEndpoint, FlowHttp } from './flow.js';

interface Described {
  namespace: string;
  pod: string;
  workload: string;
  services: string[];
  bytes: Uint8Array;
}
const described = new WeakMap<string[], Described>();

type RawWriter = protobuf.Writer & { _push(fn: (val: Uint8Array, buf: Uint8Array, pos: number) => void, len: number, val: Uint8Array): protobuf.Writer };
const copyRaw = (val: Uint8Array, buf: Uint8Array, pos: number): void => buf.set(val, pos);

const LEN = 2;
const VARINT = 0;
const FIXED64 = 1;
const tag = (field: number, wire: number): number => (field << 3) | wire;

function str(w: protobuf.Writer, field: number, v: string): void {
  if (v) w.uint32(tag(field, LEN)).string(v);
}
function u32(w: protobuf.Writer, field: number, v: number): void {
  if (v) w.uint32(tag(field, VARINT)).uint32(v);
}

function describedBytes(e: FlowEndpoint): Uint8Array {
  const hit = described.get(e.labels);
  if (hit && hit.namespace === e.namespace && hit.pod === e.pod && hit.workload === e.workload && hit.services === e.services) return hit.bytes;
  const w = protobuf.Writer.create();
  str(w, 4, e.namespace);
  str(w, 5, e.pod);
  for (const l of e.labels) w.uint32(tag(6, LEN)).string(l);
  for (const s of e.services) w.uint32(tag(7, LEN)).string(s);
  str(w, 8, e.workload);
  const bytes = w.finish();
  described.set(e.labels, { namespace: e.namespace, pod: e.pod, workload: e.workload, services: e.services, bytes });
  return bytes;
}

function endpoint(w: protobuf.Writer, field: number, e: FlowEndpoint): void {
  w.uint32(tag(field, LEN)).fork();
  str(w, 1, e.ip);
  u32(w, 2, e.port);
  u32(w, 3, e.identity);
  const rest = describedBytes(e);
  // Raw bytes, not a length-delimited field: they are already tagged fields of this Endpoint. Writer has no
  // public raw write; _push is what its own bytes() uses after writing the length.
  if (rest.length > 0) (w as RawWriter)._push(copyRaw, rest.length, rest);
  w.ldelim();
}

function http(w: protobuf.Writer, h: FlowHttp): void {
  w.uint32(tag(12, LEN)).fork();
  str(w, 1, h.method);
  str(w, 2, h.path);
  str(w, 3, h.host);
  u32(w, 4, h.status);
  if (h.latency_ms) w.uint32(tag(5, FIXED64)).double(h.latency_ms);
  str(w, 6, h.protocol);
  w.ldelim();
}

function flow(w: protobuf.Writer, f: Flow): void {
  w.uint32(tag(1, LEN)).fork();
  if (f.time_ms) w.uint32(tag(1, FIXED64)).double(f.time_ms);
  str(w, 2, f.node);
  str(w, 3, f.type);
  str(w, 4, f.verdict);
  str(w, 5, f.drop_reason);
  u32(w, 6, f.drop_reason_code);
  str(w, 7, f.traffic_direction);
  u32(w, 8, f.ip_version);
  str(w, 9, f.protocol);
  endpoint(w, 10, f.source);
  endpoint(w, 11, f.destination);
  if (f.http) http(w, f.http);
  str(w, 13, f.summary);
  w.ldelim();
}

export function encodeFlowsResponse(res: { flows: readonly Flow[]; lost: number }): Buffer {
  const w = protobuf.Writer.create();
  for (const f of res.flows) flow(w, f);
  if (res.lost) w.uint32(tag(2, VARINT)).uint64(res.lost);
  const out = w.finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

// Decoding, for readers of the stream (the relay follows every agent; `weft observe`): plain records with
// every field present (proto3 defaults for absent ones), as proto-loader would give with defaults on, but
// without its intermediate message objects. Unknown fields are skipped.

function emptyEndpoint(): FlowEndpoint {
  return { ip: '', port: 0, identity: 0, namespace: '', pod: '', labels: [], services: [], workload: '' };
}

function readEndpoint(r: protobuf.Reader, end: number): FlowEndpoint {
  const e = emptyEndpoint();
  while (r.pos < end) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1: e.ip = r.string(); break;
      case 2: e.port = r.uint32(); break;
      case 3: e.identity = r.uint32(); break;
      case 4: e.namespace = r.string(); break;
      case 5: e.pod = r.string(); break;
      case 6: e.labels.push(r.string()); break;
      case 7: e.services.push(r.string()); break;
      case 8: e.workload = r.string(); break;
      default: r.skipType(t & 7);
    }
  }
  return e;
}

function readHttp(r: protobuf.Reader, end: number): FlowHttp {
  const h: FlowHttp = { method: '', path: '', host: '', status: 0, latency_ms: 0, protocol: '' };
  while (r.pos < end) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1: h.method = r.string(); break;
      case 2: h.path = r.string(); break;
      case 3: h.host = r.string(); break;
      case 4: h.status = r.uint32(); break;
      case 5: h.latency_ms = r.double(); break;
      case 6: h.protocol = r.string(); break;
      default: r.skipType(t & 7);
    }
  }
  return h;
}

function readFlow(r: protobuf.Reader, end: number): Flow {
  const f: Flow = { time_ms: 0, node: '', type: '' as Flow['type'], verdict: '' as Flow['verdict'], drop_reason: '', drop_reason_code: 0, traffic_direction: '' as Flow['traffic_direction'], ip_version: 0, protocol: '', source: emptyEndpoint(), destination: emptyEndpoint(), http: null, summary: '' };
  while (r.pos < end) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1: f.time_ms = r.double(); break;
      case 2: f.node = r.string(); break;
      case 3: f.type = r.string() as Flow['type']; break;
      case 4: f.verdict = r.string() as Flow['verdict']; break;
      case 5: f.drop_reason = r.string(); break;
      case 6: f.drop_reason_code = r.uint32(); break;
      case 7: f.traffic_direction = r.string() as Flow['traffic_direction']; break;
      case 8: f.ip_version = r.uint32(); break;
      case 9: f.protocol = r.string(); break;
      case 10: f.source = readEndpoint(r, r.uint32() + r.pos); break;
      case 11: f.destination = readEndpoint(r, r.uint32() + r.pos); break;
      case 12: f.http = readHttp(r, r.uint32() + r.pos); break;
      case 13: f.summary = r.string(); break;
      default: r.skipType(t & 7);
    }
  }
  return f;
}

export function decodeFlowsResponse(buf: Uint8Array): { flows: Flow[]; lost: number } {
  const r = protobuf.Reader.create(buf);
  const out = { flows: [] as Flow[], lost: 0 };
  while (r.pos < r.len) {
    const t = r.uint32();
    switch (t >>> 3) {
      case 1: out.flows.push(readFlow(r, r.uint32() + r.pos)); break;
      case 2: out.lost = Number(r.uint64()); break;
      default: r.skipType(t & 7);
    }
  }
  return out;
}
