// Encodes messages given in proto-loader's object form (snake_case fields, enum names as strings) straight to
// protobuf bytes, driven by the protobufjs reflection of their type. protobufjs needs `fromObject` (a typed copy
// of every message) and then a Writer that records an operation object per field before it allocates the
// output; at thousands of routes per translation that was most of the xDS stage. Here one pass sums the sizes
// (remembering each nested message's length), a second writes into a buffer of exactly that size.
//
// Same bytes as `type.encode(type.fromObject(message)).finish()`: fields in field-number order, present fields
// (not null/undefined) written even when they hold a default, maps in key order, proto3 scalars packed, and
// fromObject's conversions (String(), `>>> 0`, Boolean(), enum names to numbers). test/xds-message-encoder
// checks this against protobufjs on every golden case and on every field kind.
import protobuf from 'protobufjs';

// Field kinds.
const MESSAGE = 0;
const STRING = 1;
const BYTES = 2;
const BOOL = 3;
const INT32 = 4; // also enums: negative values take 10 bytes
const UINT32 = 5;
const SINT32 = 6;
const INT64 = 7;
const UINT64 = 8;
const SINT64 = 9;
const FIXED32 = 10;
const SFIXED32 = 11;
const FLOAT = 12;
const FIXED64 = 13;
const SFIXED64 = 14;
const DOUBLE = 15;

const KINDS: Record<string, number> = {
  string: STRING,
  bytes: BYTES,
  bool: BOOL,
  int32: INT32,
  uint32: UINT32,
  sint32: SINT32,
  int64: INT64,
  uint64: UINT64,
  sint64: SINT64,
  fixed32: FIXED32,
  sfixed32: SFIXED32,
  float: FLOAT,
  fixed64: FIXED64,
  sfixed64: SFIXED64,
  double: DOUBLE,
};

/** Wire types by kind (protobuf encoding: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit). */
const WIRE = [2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 1, 1, 1];

interface FieldCodec {
  name: string;
  /** The field's key (number and wire type) as a varint, and its size. */
  key: number;
  keySize: number;
  kind: number;
  repeated: boolean;
  packed: boolean;
  message?: MessageCodec;
  /** Enum value names → numbers (for fields of an enum type). */
  enumValues?: Readonly<Record<string, number>>;
  /** Map fields: the entry's key and value (fields 1 and 2 of the entry message). */
  mapKey?: FieldCodec;
  mapValue?: FieldCodec;
  /** Why this field cannot be encoded here (a message that sets it goes to protobufjs instead). */
  unsupported?: string;
}

interface MessageCodec {
  fullName: string;
  fields: FieldCodec[];
  /** The message's encoded size (pushing the lengths `write` needs); compiled on first use. */
  size: (m: Record<string, unknown>) => number;
  /** Writes the message's fields; compiled on first use. */
  write: (m: Record<string, unknown>) => void;
}

/** A message this encoder does not take (not a plain object, an unknown enum name, a group field…). */
export class UnsupportedMessageError extends Error {}

const codecs = new Map<protobuf.Type, MessageCodec>();

function codecOf(type: protobuf.Type): MessageCodec {
  let codec = codecs.get(type);
  if (codec) return codec;
  // Registered before its fields are built: message types may refer to themselves.
  const c: MessageCodec = {
    fullName: type.fullName.slice(1),
    fields: [],
    size: (m) => {
      compile(c);
      return c.size(m);
    },
    write: (m) => {
      compile(c);
      c.write(m);
    },
  };
  codec = c;
  codecs.set(type, codec);
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  codec.fields = fields.map((f) => {
    try {
      return fieldCodec(f.resolve());
    } catch (e) {
      if (!(e instanceof UnsupportedMessageError)) throw e;
      return { ...keyOf(f.name, f.id, MESSAGE), repeated: false, packed: false, unsupported: e.message };
    }
  });
  return codec;
}

function fieldCodec(f: protobuf.Field): FieldCodec {
  if (f.delimited) throw new UnsupportedMessageError(`${f.fullName}: group fields are not supported`);
  const base = valueCodec(f.name, f.id, f.type, f.resolvedType);
  if (f instanceof protobuf.MapField) {
    const mapKey = valueCodec('key', 1, f.keyType, null);
    // Object keys are strings; "false" would be a true bool.
    if (mapKey.kind === BOOL) throw new UnsupportedMessageError(`${f.fullName}: map key type ${f.keyType}`);
    return { ...keyOf(f.name, f.id, MESSAGE), repeated: false, packed: false, mapKey, mapValue: valueCodec('value', 2, f.type, f.resolvedType) };
  }
  const packed = f.repeated && f.packed && base.kind !== MESSAGE && base.kind !== STRING && base.kind !== BYTES;
  if (!packed) return { ...base, repeated: f.repeated };
  // A packed run is one length-delimited field holding every value.
  const { key, keySize } = keyOf(f.name, f.id, MESSAGE);
  return { ...base, key, keySize, repeated: true, packed: true };
}

function keyOf(name: string, id: number, kind: number): Pick<FieldCodec, 'name' | 'key' | 'keySize' | 'kind'> {
  const key = ((id << 3) | WIRE[kind]) >>> 0;
  return { name, key, keySize: varint32Size(key), kind };
}

function valueCodec(name: string, id: number, type: string, resolved: protobuf.Type | protobuf.Enum | null): FieldCodec {
  if (resolved instanceof protobuf.Type) return { ...keyOf(name, id, MESSAGE), repeated: false, packed: false, message: codecOf(resolved) };
  if (resolved instanceof protobuf.Enum) return { ...keyOf(name, id, INT32), repeated: false, packed: false, enumValues: resolved.values };
  const kind = KINDS[type];
  if (kind === undefined) throw new UnsupportedMessageError(`field ${name}: type ${type}`);
  return { ...keyOf(name, id, kind), repeated: false, packed: false };
}

// ---- pass 1: sizes ----

/** Lengths the write pass needs (nested messages, packed runs, strings), in the order it needs them. */
let lengths = new Int32Array(4096);
/** How many of `lengths` the size pass has filled. */
let filled = 0;

/** Keeps a place in `lengths` for a length the caller computes next; returns its index. */
function reserve(n = 0): number {
  if (filled === lengths.length) {
    const grown = new Int32Array(lengths.length * 2);
    grown.set(lengths);
    lengths = grown;
  }
  lengths[filled] = n;
  return filled++;
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function varint64Size(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

/** UTF-8 length; ASCII strings (nearly all of Envoy's) are counted without a call into the runtime. */
function utf8Length(s: string): number {
  const n = s.length;
  if (n > 64) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return n;
}

function plainObject(v: unknown, f: FieldCodec | undefined, codec: MessageCodec): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) throw new TypeError(`.${codec.fullName}${f ? `.${f.name}` : ''}: object expected`);
  const proto = Object.getPrototypeOf(v) as unknown;
  // Message instances carry defaults on their prototype, which `encode` tells apart from set fields.
  if (proto !== Object.prototype && proto !== null) throw new UnsupportedMessageError(`.${codec.fullName}: a plain object expected`);
  return v as Record<string, unknown>;
}

function sizeMap(f: FieldCodec, v: unknown, codec: MessageCodec): number {
  const map = plainObject(v, f, codec);
  let total = 0;
  for (const k of Object.keys(map)) {
    const at = reserve();
    const n = f.mapKey!.keySize + sizeValue(f.mapKey!, k, codec) + f.mapValue!.keySize + sizeValue(f.mapValue!, map[k], codec);
    lengths[at] = n;
    total += f.keySize + varint32Size(n) + n;
  }
  return total;
}

/** fromObject's enum conversion: a name or a number (protobufjs drops a name the enum lacks; this refuses it). */
function enumNumber(f: FieldCodec, v: unknown, codec: MessageCodec): number {
  if (typeof v === 'number') return v;
  const n = f.enumValues![v as string];
  if (n === undefined) throw new TypeError(`.${codec.fullName}.${f.name}: enum value ${String(v)} unknown`);
  return n;
}

function stringSize(v: unknown): number {
  const n = utf8Length(typeof v === 'string' ? v : String(v));
  reserve(n);
  return varint32Size(n) + n;
}

/** A nested message's size with its length prefix; its length is kept for the write pass. */
function nestedSize(codec: MessageCodec, v: unknown, f: FieldCodec, parent: MessageCodec): number {
  const at = reserve();
  const n = codec.size(plainObject(v, f, parent));
  lengths[at] = n;
  return varint32Size(n) + n;
}

function int32Size(n: number): number {
  return n < 0 ? 10 : varint32Size(n);
}

function sizeValue(f: FieldCodec, v: unknown, codec: MessageCodec): number {
  switch (f.kind) {
    case MESSAGE: {
      const at = reserve();
      const n = f.message!.size(plainObject(v, f, codec));
      lengths[at] = n;
      return varint32Size(n) + n;
    }
    case STRING:
      return stringSize(v);
    case BYTES: {
      const n = bytesOf(v).length;
      return varint32Size(n) + n;
    }
    case BOOL:
      return 1;
    case INT32:
      return int32Size(f.enumValues ? enumNumber(f, v, codec) : (v as number) | 0);
    case UINT32:
      return varint32Size((v as number) >>> 0);
    case SINT32:
      return varint32Size(zigzag32((v as number) | 0));
    case INT64:
    case UINT64:
      return varint64Size(BigInt.asUintN(64, bigintOf(v)));
    case SINT64:
      return varint64Size(zigzag64(bigintOf(v)));
    case FIXED32:
    case SFIXED32:
    case FLOAT:
      return 4;
    default:
      return 8;
  }
}

const zigzag32 = (n: number): number => ((n << 1) ^ (n >> 31)) >>> 0;
const zigzag64 = (n: bigint): bigint => BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));

/** fromObject's 64-bit conversions: a number, a decimal string, or a Long-like {low, high}. */
function bigintOf(v: unknown): bigint {
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  if (typeof v === 'bigint') return v;
  const long = v as { low: number; high: number; unsigned?: boolean };
  const high = long.unsigned ? BigInt(long.high >>> 0) : BigInt(long.high | 0);
  return (high << 32n) | BigInt(long.low >>> 0);
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  if (Array.isArray(v)) return Uint8Array.from(v as number[]);
  throw new TypeError('bytes expected');
}

// ---- compiled per message type ----

/**
 * Generates the message's size and write functions, one statement per field with the field name as a
 * constant property, as protobufjs does: a generic loop over fields reads every type's objects at one site,
 * which V8 then cannot optimize (megamorphic), and that cost more than the encoding itself.
 */
function compile(codec: MessageCodec): void {
  const sizeLines: string[] = ['let n = 0, v;'];
  const writeLines: string[] = ['let v;'];
  codec.fields.forEach((f, i) => {
    const get = `v = m[${JSON.stringify(f.name)}]; if (v != null) {`;
    const F = `F[${i}]`;
    let size: string;
    let write: string;
    const valueSize = (x: string): string => (f.kind === MESSAGE ? `rt.nestedSize(${F}.message, ${x}, ${F}, C)` : f.kind === STRING ? `rt.stringSize(${x})` : `rt.sizeValue(${F}, ${x}, C)`);
    const valueWrite = (x: string): string => (f.kind === MESSAGE ? `rt.writeVarint32(rt.nextLength()); ${F}.message.write(${x});` : f.kind === STRING ? `rt.writeString(${x});` : `rt.writeValue(${F}, ${x});`);
    if (f.unsupported) {
      size = `throw rt.unsupported(${F});`;
      write = '';
    } else if (f.mapKey) {
      size = `n += rt.sizeMap(${F}, v, C);`;
      write = `rt.writeMap(${F}, v);`;
    } else if (f.packed) {
      size = `rt.checkArray(v, ${F}, C); if (v.length) { const at = rt.reserve(); let p = 0; for (let i = 0; i < v.length; i++) p += ${valueSize('v[i]')}; rt.setLength(at, p); n += ${f.keySize} + rt.varint32Size(p) + p; }`;
      write = `if (v.length) { rt.writeVarint32(${f.key}); rt.writeVarint32(rt.nextLength()); for (let i = 0; i < v.length; i++) { ${valueWrite('v[i]')} } }`;
    } else if (f.repeated) {
      size = `rt.checkArray(v, ${F}, C); for (let i = 0; i < v.length; i++) n += ${f.keySize} + ${valueSize('v[i]')};`;
      write = `for (let i = 0; i < v.length; i++) { rt.writeVarint32(${f.key}); ${valueWrite('v[i]')} }`;
    } else {
      size = `n += ${f.keySize} + ${valueSize('v')};`;
      write = `rt.writeVarint32(${f.key}); ${valueWrite('v')}`;
    }
    sizeLines.push(`${get} ${size} }`);
    writeLines.push(`${get} ${write} }`);
  });
  sizeLines.push('return n;');
  const make = (body: string[]): ((m: Record<string, unknown>) => never) => {
    // The source is built above from the proto reflection only (field names, numbers), never from message data.
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const factory = new Function('rt', 'F', 'C', `return function ${safeName(codec.fullName)}(m) {\n${body.join('\n')}\n};`) as (rt: typeof RUNTIME, f: FieldCodec[], c: MessageCodec) => (m: Record<string, unknown>) => never;
    return factory(RUNTIME, codec.fields, codec);
  };
  codec.size = make(sizeLines);
  codec.write = make(writeLines);
}

const safeName = (fullName: string): string => fullName.replace(/[^A-Za-z0-9_]/g, '_');

/** What the generated functions call. */
const RUNTIME = {
  nestedSize,
  stringSize,
  sizeValue,
  sizeMap,
  varint32Size,
  writeVarint32,
  writeString,
  writeValue,
  writeMap,
  checkArray(v: unknown, f: FieldCodec, codec: MessageCodec): void {
    if (!Array.isArray(v)) throw new TypeError(`.${codec.fullName}.${f.name}: array expected`);
  },
  unsupported: (f: FieldCodec): Error => new UnsupportedMessageError(f.unsupported),
  reserve,
  setLength(at: number, n: number): void {
    lengths[at] = n;
  },
  nextLength: (): number => lengths[next++],
};

// ---- pass 2: writing ----

const EMPTY = Buffer.alloc(0);
let out: Buffer = EMPTY;
let pos = 0;
let next = 0;

function writeVarint32(v: number): void {
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
}

function writeVarint64(v: bigint): void {
  while (v > 0x7fn) {
    out[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[pos++] = Number(v);
}

function writeString(v: unknown): void {
  const s = typeof v === 'string' ? v : String(v);
  const n = lengths[next++];
  writeVarint32(n);
  if (n !== s.length) pos += out.write(s, pos, n, 'utf8');
  else if (n > 32) pos += out.write(s, pos, n, 'latin1');
  else for (let i = 0; i < n; i++) out[pos++] = s.charCodeAt(i);
}

function writeInt32(n: number): void {
  if (n >= 0) writeVarint32(n);
  else writeVarint64(BigInt.asUintN(64, BigInt(n)));
}

function writeMap(f: FieldCodec, map: Record<string, unknown>): void {
  for (const k of Object.keys(map)) {
    writeVarint32(f.key);
    writeVarint32(lengths[next++]);
    writeVarint32(f.mapKey!.key);
    writeValue(f.mapKey!, k);
    writeVarint32(f.mapValue!.key);
    writeValue(f.mapValue!, map[k]);
  }
}

function writeValue(f: FieldCodec, v: unknown): void {
  switch (f.kind) {
    case MESSAGE:
      writeVarint32(lengths[next++]);
      f.message!.write(v as Record<string, unknown>);
      return;
    case STRING:
      writeString(v);
      return;
    case BYTES: {
      const b = bytesOf(v);
      writeVarint32(b.length);
      out.set(b, pos);
      pos += b.length;
      return;
    }
    case BOOL:
      out[pos++] = v ? 1 : 0;
      return;
    case INT32:
      writeInt32(f.enumValues ? (typeof v === 'number' ? v : f.enumValues[v as string]) : (v as number) | 0);
      return;
    case UINT32:
      writeVarint32((v as number) >>> 0);
      return;
    case SINT32:
      writeVarint32(zigzag32((v as number) | 0));
      return;
    case INT64:
    case UINT64:
      writeVarint64(BigInt.asUintN(64, bigintOf(v)));
      return;
    case SINT64:
      writeVarint64(zigzag64(bigintOf(v)));
      return;
    case FIXED32:
      pos = out.writeUInt32LE((v as number) >>> 0, pos);
      return;
    case SFIXED32:
      pos = out.writeInt32LE((v as number) | 0, pos);
      return;
    case FLOAT:
      pos = out.writeFloatLE(Number(v), pos);
      return;
    case FIXED64:
    case SFIXED64:
      pos = out.writeBigUInt64LE(BigInt.asUintN(64, bigintOf(v)), pos);
      return;
    default:
      pos = out.writeDoubleLE(Number(v), pos);
  }
}

/** The bytes of `message` (proto-loader object form) as a message of `type`. */
export function encodePlainMessage(type: protobuf.Type, message: object): Buffer {
  const codec = codecOf(type);
  filled = 0;
  const size = codec.size(plainObject(message, undefined, codec));
  const buffer = Buffer.allocUnsafe(size);
  out = buffer;
  pos = 0;
  next = 0;
  try {
    codec.write(message as Record<string, unknown>);
    if (pos !== size || next !== filled) throw new Error(`${codec.fullName}: encoded ${pos} of ${size} bytes`);
  } finally {
    out = EMPTY;
  }
  return buffer;
}
