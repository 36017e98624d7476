// The fast encoder (src/xds/message-encoder.ts) must give the bytes protobufjs gives (`fromObject` + `encode`):
// for every resource of every Gateway API, Ingress and L7 policy golden case (and every google.protobuf.Any
// inside them), and for every field kind, including those Envoy's resources rarely use.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import protobuf from 'protobufjs';
import { projectRoot } from '../envoy/binary.js';
import { asManifests, inputDocs, INPUT_SIZES } from '../bench/gateway-manifests.js';
import { translateManifests, translateYaml, type TranslateOptions } from '../src/standalone/pipeline.js';
import { encodePlainMessage } from '../src/xds/message-encoder.js';
import { envoyProtoRoot, messageType } from '../src/xds/protos.js';
import { TYPE_PREFIX } from '../src/xds/type-urls.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function protobufjsBytes(type: protobuf.Type, message: object): string {
  return hex(type.encode(type.fromObject(message)).finish());
}

/** Decodes `bytes` as `type` and checks that both encoders give them back; then the same for every Any inside. */
function checkRoundTrip(t: import('ava').ExecutionContext, type: protobuf.Type, bytes: Uint8Array, what: string): number {
  const message = type.toObject(type.decode(bytes), { longs: String, enums: String, defaults: false });
  t.is(hex(encodePlainMessage(type, message)), protobufjsBytes(type, message), what);
  let checked = 1;
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
      const any = v as { type_url?: string; value?: Uint8Array };
      if (typeof any.type_url === 'string' && any.value instanceof Uint8Array && any.type_url.startsWith(TYPE_PREFIX)) {
        checked += checkRoundTrip(t, envoyProtoRoot().lookupType(any.type_url.slice(TYPE_PREFIX.length)), any.value, `${what} → ${any.type_url}`);
      }
      for (const x of Object.values(v)) visit(x);
    }
  };
  visit(message);
  return checked;
}

function goldenTranslations(): Array<[string, ReturnType<typeof translateYaml>]> {
  const out: Array<[string, ReturnType<typeof translateYaml>]> = [['medium bench input', translateManifests(asManifests(inputDocs(INPUT_SIZES.find((s) => s.name === 'medium')!)))]];
  for (const kind of ['gateway', 'ingress', 'l7policy']) {
    const dir = path.join(projectRoot(), 'test', 'testdata', kind);
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.in.yaml')).sort()) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      const optionsLine = /^# weft-options: (.*)$/.exec(text.split('\n')[0] ?? '');
      out.push([`${kind}/${name}`, translateYaml(name, text, optionsLine ? (JSON.parse(optionsLine[1]) as TranslateOptions) : {})]);
    }
  }
  return out;
}

test('every resource of every golden case re-encodes to the bytes protobufjs gives', (t) => {
  let checked = 0;
  const types = new Set<string>();
  for (const [name, translation] of goldenTranslations()) {
    for (const r of translation.resources) {
      types.add(r.typeUrl);
      checked += checkRoundTrip(t, messageType(r.typeUrl.slice(TYPE_PREFIX.length)), r.body, `${name}: ${r.typeUrl} ${r.name}`);
    }
  }
  t.true(checked > 500, `only ${checked} messages checked`);
  t.true(types.size >= 4, `only ${[...types].join(', ')}`);
});

const ALL_KINDS = `
syntax = "proto3";
package t;
enum Colour { RED = 0; GREEN = 1; NEG = -2; }
message Inner { string s = 1; repeated Inner children = 2; }
message All {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 x32 = 9; fixed64 x64 = 10; sfixed32 sx32 = 11; sfixed64 sx64 = 12;
  bool b = 13; string s = 14; bytes by = 15; Colour c = 16; Inner inner = 17;
  repeated int32 packed_i32 = 18; repeated Colour colours = 19; repeated string names = 20; repeated Inner inners = 21;
  map<string, Inner> by_name = 22; map<int32, string> by_number = 23; map<string, Colour> colour_by_name = 24;
  oneof choice { string one = 25; Inner other = 26; }
  repeated sint64 packed_s64 = 27; repeated double packed_d = 28; map<int64, string> by_long = 29;
  optional int32 maybe = 300000;
}`;

test('every field kind encodes as protobufjs encodes it', (t) => {
  const root = protobuf.parse(ALL_KINDS, { keepCase: true }).root;
  root.resolveAll();
  const All = root.lookupType('t.All');
  const cases: Array<[string, object]> = [
    ['empty', {}],
    ['defaults are written when present', { d: 0, i32: 0, s: '', b: false, c: 'RED', inner: {}, maybe: 0 }],
    ['numbers', { d: 1.5e300, f: -0.25, i32: -7, i64: '-9007199254740993', u32: 4294967295, u64: '18446744073709551615', s32: -123456, s64: '-5', x32: 4000000000, x64: '123', sx32: -9, sx64: -10 }],
    ['64-bit from numbers and strings', { i64: 1234567890123, u64: 7, s64: 1 << 30, x64: 2 ** 40 }],
    ['fromObject conversions', { i32: '42', u32: -1, b: 1, s: 17, d: '2.5' }],
    ['enums by name and number', { c: 'NEG', colours: ['GREEN', 1, 'NEG', 0] }],
    ['strings', { s: 'ascii', names: ['', 'é', '漢字 and more', '😀', 'x'.repeat(33), 'y'.repeat(70), `${'z'.repeat(70)}ü`] }],
    ['bytes from a buffer, a base64 string and an array', { by: Buffer.from([0, 1, 255]) }],
    ['bytes as base64', { by: 'AAEC/w==' }],
    ['nested and repeated messages', { inner: { s: 'a', children: [{ s: 'b', children: [{}] }, {}] }, inners: [{ s: 'long '.repeat(40) }, {}] }],
    ['packed', { packed_i32: [1, -1, 300, 0], packed_s64: ['-1', 2, '99999999999'], packed_d: [0.5, -1] }],
    ['empty repeated and maps write nothing', { packed_i32: [], names: [], by_name: {} }],
    ['maps', { by_name: { b: { s: 'x' }, a: {} }, by_number: { 3: 'three', 1: 'one' }, by_long: { '-5': 'minus five', 12345678901: 'big' }, colour_by_name: { z: 'GREEN', y: 'NEG' } }],
    ['oneof', { other: { s: 'o' } }],
    ['a large field number', { maybe: -1 }],
    ['null and undefined are absent', { s: null, inner: undefined, names: null }],
    // A nested message's length is written after its body: bodies whose length takes 1, 2 and 3 bytes, nested.
    ['nested bodies of 127, 128, 16384 bytes and more', { inner: { s: 'a'.repeat(124), children: [{ s: 'b'.repeat(125) }, { s: 'c'.repeat(16380), children: [{ s: 'd'.repeat(200) }] }] } }],
    ['strings of 127 and 128 characters, and non-ASCII at the end of a short one', { names: ['e'.repeat(127), 'f'.repeat(128), `${'g'.repeat(100)}é`] }],
    ['a message larger than the scratch buffer', { inners: [{ s: 'h'.repeat(70_000) }, { children: [{ s: 'i'.repeat(200_000) }] }], by: Buffer.alloc(100_000, 7) }],
    ['64-bit values beyond 2^32 and 2^53, from strings and numbers', { i64: '4294967296', u64: '9007199254740993', x64: '007', packed_s64: ['9007199254740991'], by_long: { 4294967296: 'x' } }],
  ];
  for (const [what, message] of cases) t.is(hex(encodePlainMessage(All, message)), protobufjsBytes(All, message), what);
});

test('bad input is refused as protobufjs refuses it, and an unknown enum name is refused', (t) => {
  const root = protobuf.parse(ALL_KINDS, { keepCase: true }).root;
  root.resolveAll();
  const All = root.lookupType('t.All');
  t.throws(() => encodePlainMessage(All, { inner: 'x' }), { message: /t\.All\.inner: object expected/ });
  t.throws(() => encodePlainMessage(All, { names: 'x' }), { message: /t\.All\.names: array expected/ });
  t.throws(() => encodePlainMessage(All, { c: 'BLUE' }), { message: /t\.All\.c: enum value BLUE unknown/ });
});
