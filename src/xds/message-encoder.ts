// Encodes messages given in proto-loader's object form (snake_case fields, enum names as strings) straight to
// protobuf bytes, driven by the protobufjs reflection of their type. protobufjs needs `fromObject` (a typed copy
// of every message) and then a Writer that records an operation object per field before it allocates the
// output; at thousands of routes per translation that was most of the xDS stage. Here one pass writes the fields
// into a scratch buffer (a nested message's length filled in after its body), and the result is copied out.
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
  /** The field's key (number and wire type), written as a varint. */
  key: number;
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
  return { ...base, key: keyOf(f.name, f.id, MESSAGE).key, repeated: true, packed: true };
}

function keyOf(name: string, id: number, kind: number): Pick<FieldCodec, 'name' | 'key' | 'kind'> {
  return { name, key: ((id << 3) | WIRE[kind]) >>> 0, kind };
}

function valueCodec(name: string, id: number, type: string, resolved: protobuf.Type | protobuf.Enum | null): FieldCodec {
  if (resolved instanceof protobuf.Type) return { ...keyOf(name, id, MESSAGE), repeated: false, packed: false, message: codecOf(resolved) };
  if (resolved instanceof protobuf.Enum) return { ...keyOf(name, id, INT32), repeated: false, packed: false, enumValues: resolved.values };
  const kind = KINDS[type];
  if (kind === undefined) throw new UnsupportedMessageError(`field ${name}: type ${type}`);
  return { ...keyOf(name, id, kind), repeated: false, packed: false };
}

// ---- writing ----

/**
 * The buffer messages are written into, and the write position. A nested message's length is not known before its
 * fields are written: one byte is kept for it, and when the body turns out to need a longer length (128 bytes or
 * more) the body is moved up by the difference. Most nested messages are short; a move is one memmove of the body,
 * cheaper than a second pass over every field.
 *
 * Messages are written one after another into chunks, and each is handed out as a view of its bytes: no copy and
 * no buffer per message (thousands per translation). A chunk stays alive while a view of it does, as Buffer's own
 * pool does. A message encoded while another is being written (`depth` > 0) is copied out instead, so that the
 * outer one's bytes stay contiguous.
 */
const CHUNK = 32 * 1024;
let out: Buffer = Buffer.allocUnsafeSlow(CHUNK);
let pos = 0;
let depth = 0;

/** Makes room for `n` more bytes at `pos`. */
function ensure(n: number): void {
  if (pos + n <= out.length) return;
  // Views handed out keep the old buffer; the message being written moves along with everything before it.
  const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, pos + n));
  out.copy(grown, 0, 0, pos);
  out = grown;
}

/** Where the next message starts: a fresh chunk when this one is nearly full (or grew large for a big message). */
function startMessage(): number {
  if (depth++ > 0) return pos;
  if (out.length - pos < CHUNK / 4 || out.length > 4 * CHUNK) {
    out = Buffer.allocUnsafeSlow(CHUNK);
    pos = 0;
  }
  return pos;
}

/** The bytes written since `startMessage` returned `start`. */
function finishMessage(start: number): Uint8Array {
  if (--depth > 0) {
    const bytes = new Uint8Array(pos - start);
    bytes.set(new Uint8Array(out.buffer, out.byteOffset + start, pos - start));
    pos = start;
    return bytes;
  }
  return new Uint8Array(out.buffer, out.byteOffset + start, pos - start);
}

/** After a failed write: forgets what it wrote. */
function abandonMessage(start: number): void {
  depth--;
  pos = start;
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** Keeps one byte for a length-delimited body that follows; `endLength` fills it in. */
function beginLength(): number {
  ensure(1);
  return pos++;
}

/** The body written since `beginLength` returned `at`: its length before it, moving it up if it needs more than a byte. */
function endLength(at: number): void {
  const n = pos - at - 1;
  if (n < 0x80) {
    out[at] = n;
    return;
  }
  const extra = varint32Size(n) - 1;
  ensure(extra);
  out.copyWithin(at + 1 + extra, at + 1, pos);
  pos += extra;
  const end = pos;
  pos = at;
  writeVarint32(n);
  pos = end;
}

function plainObject(v: unknown, f: FieldCodec | undefined, codec: MessageCodec): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) throw new TypeError(`.${codec.fullName}${f ? `.${f.name}` : ''}: object expected`);
  const proto = Object.getPrototypeOf(v) as unknown;
  // Message instances carry defaults on their prototype, which `encode` tells apart from set fields.
  if (proto !== Object.prototype && proto !== null) throw new UnsupportedMessageError(`.${codec.fullName}: a plain object expected`);
  return v as Record<string, unknown>;
}

/** A nested message: its length, then its fields. */
function writeNested(codec: MessageCodec, v: unknown, f: FieldCodec, parent: MessageCodec): void {
  const m = plainObject(v, f, parent);
  const at = beginLength();
  codec.write(m);
  endLength(at);
}

/** fromObject's enum conversion: a name or a number (protobufjs drops a name the enum lacks; this refuses it). */
function enumNumber(f: FieldCodec, v: unknown, codec: MessageCodec): number {
  if (typeof v === 'number') return v;
  const n = f.enumValues![v as string];
  if (n === undefined) throw new TypeError(`.${codec.fullName}.${f.name}: enum value ${String(v)} unknown`);
  return n;
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
 * Generates the message's write function, one statement per field with the field name as a constant property, as
 * protobufjs does: a generic loop over fields reads every type's objects at one site, which V8 then cannot
 * optimize (megamorphic), and that cost more than the encoding itself.
 */
function compile(codec: MessageCodec): void {
  const lines: string[] = ['let v;'];
  codec.fields.forEach((f, i) => {
    const F = `F[${i}]`;
    const valueWrite = (x: string): string => (f.kind === MESSAGE ? `rt.writeNested(${F}.message, ${x}, ${F}, C);` : f.kind === STRING ? `rt.writeString(${x});` : `rt.writeValue(${F}, ${x}, C);`);
    let write: string;
    if (f.unsupported) write = `throw rt.unsupported(${F});`;
    else if (f.mapKey) write = `rt.writeMap(${F}, rt.plainObject(v, ${F}, C), C);`;
    else if (f.packed) {
      write = `rt.checkArray(v, ${F}, C); if (v.length) { rt.writeVarint32(${f.key}); const at = rt.beginLength(); for (let i = 0; i < v.length; i++) { ${valueWrite('v[i]')} } rt.endLength(at); }`;
    } else if (f.repeated) write = `rt.checkArray(v, ${F}, C); for (let i = 0; i < v.length; i++) { rt.writeVarint32(${f.key}); ${valueWrite('v[i]')} }`;
    else write = `rt.writeVarint32(${f.key}); ${valueWrite('v')}`;
    lines.push(`v = m[${JSON.stringify(f.name)}]; if (v != null) { ${write} }`);
  });
  // The source is built above from the proto reflection only (field names, numbers), never from message data.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('rt', 'F', 'C', `return function ${safeName(codec.fullName)}(m) {\n${lines.join('\n')}\n};`) as (rt: typeof RUNTIME, f: FieldCodec[], c: MessageCodec) => (m: Record<string, unknown>) => void;
  codec.write = factory(RUNTIME, codec.fields, codec);
}

const safeName = (fullName: string): string => fullName.replace(/[^A-Za-z0-9_]/g, '_');

/** What the generated functions call. */
const RUNTIME = {
  writeNested,
  writeVarint32,
  writeString,
  writeValue,
  writeMap,
  plainObject,
  beginLength,
  endLength,
  checkArray(v: unknown, f: FieldCodec, codec: MessageCodec): void {
    if (!Array.isArray(v)) throw new TypeError(`.${codec.fullName}.${f.name}: array expected`);
  },
  unsupported: (f: FieldCodec): Error => new UnsupportedMessageError(f.unsupported),
};

function writeVarint32(v: number): void {
  ensure(5);
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
}

function writeVarint64(v: bigint): void {
  ensure(10);
  while (v > 0x7fn) {
    out[pos++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[pos++] = Number(v);
}

/** A non-negative safe integer as a varint, without BigInt. */
function writeVarintNumber(v: number): void {
  if (v <= 0xffffffff) return writeVarint32(v >>> 0);
  ensure(8);
  while (v > 0x7f) {
    out[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[pos++] = v;
}

/** A 64-bit value that is a non-negative safe integer (a number, or a short decimal string such as a Duration's seconds), else -1. */
function smallUnsigned(v: unknown): number {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  if (typeof v !== 'string' || v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function writeString(v: unknown): void {
  const s = typeof v === 'string' ? v : String(v);
  const n = s.length;
  if (n < 0x80) {
    // Nearly all of Envoy's strings: short ASCII, its length one byte, copied char by char.
    ensure(1 + n);
    const at = pos++;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) {
        pos = at;
        return writeUtf8(s);
      }
      out[pos++] = c;
    }
    out[at] = n;
    return;
  }
  writeUtf8(s);
}

function writeUtf8(s: string): void {
  const n = Buffer.byteLength(s, 'utf8');
  writeVarint32(n);
  ensure(n);
  pos += out.write(s, pos, n, n === s.length ? 'latin1' : 'utf8');
}

function writeInt32(n: number): void {
  if (n >= 0) writeVarint32(n);
  else writeVarint64(BigInt.asUintN(64, BigInt(n)));
}

function writeMap(f: FieldCodec, map: Record<string, unknown>, codec: MessageCodec): void {
  for (const k of Object.keys(map)) {
    writeVarint32(f.key);
    const at = beginLength();
    writeVarint32(f.mapKey!.key);
    writeValue(f.mapKey!, k, codec);
    writeVarint32(f.mapValue!.key);
    writeValue(f.mapValue!, map[k], codec);
    endLength(at);
  }
}

function writeValue(f: FieldCodec, v: unknown, codec: MessageCodec): void {
  switch (f.kind) {
    case MESSAGE:
      writeNested(f.message!, v, f, codec);
      return;
    case STRING:
      writeString(v);
      return;
    case BYTES: {
      const b = bytesOf(v);
      writeVarint32(b.length);
      ensure(b.length);
      out.set(b, pos);
      pos += b.length;
      return;
    }
    case BOOL:
      ensure(1);
      out[pos++] = v ? 1 : 0;
      return;
    case INT32:
      writeInt32(f.enumValues ? enumNumber(f, v, codec) : (v as number) | 0);
      return;
    case UINT32:
      writeVarint32((v as number) >>> 0);
      return;
    case SINT32:
      writeVarint32(zigzag32((v as number) | 0));
      return;
    case INT64:
    case UINT64: {
      const small = smallUnsigned(v);
      if (small >= 0) writeVarintNumber(small);
      else writeVarint64(BigInt.asUintN(64, bigintOf(v)));
      return;
    }
    case SINT64:
      writeVarint64(zigzag64(bigintOf(v)));
      return;
  }
  ensure(8);
  switch (f.kind) {
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
export function encodePlainMessage(type: protobuf.Type, message: object): Uint8Array {
  return encodeWith(codecOf(type), message);
}

/** The same, for callers that encode many messages of one type: the type's encoder, looked up once. */
export function plainMessageEncoder(type: protobuf.Type): (message: object) => Uint8Array {
  const codec = codecOf(type);
  return (message) => encodeWith(codec, message);
}

function encodeWith(codec: MessageCodec, message: object): Uint8Array {
  const m = plainObject(message, undefined, codec);
  const start = startMessage();
  try {
    codec.write(m);
  } catch (e) {
    abandonMessage(start);
    throw e;
  }
  return finishMessage(start);
}

/**
 * Writes one message field by field from the caller's own data, for hot paths that would otherwise build a
 * message object only to encode it. The caller writes fields in field-number order, as protobufjs does (and
 * writes present fields even when they hold a default), so the bytes equal those of encoding the object.
 */
export const fieldWriter = {
  string(field: number, s: string): void {
    writeVarint32((field << 3) | 2);
    writeString(s);
  },
  /** uint32, and enums by number. */
  uint32(field: number, n: number): void {
    writeVarint32(field << 3);
    writeVarint32(n >>> 0);
  },
  int32(field: number, n: number): void {
    writeVarint32(field << 3);
    writeInt32(n | 0);
  },
  /** int64/uint64 from a number (truncated, as fromObject converts it). */
  int64(field: number, n: number): void {
    writeVarint32(field << 3);
    const small = smallUnsigned(n);
    if (small >= 0) writeVarintNumber(small);
    else writeVarint64(BigInt.asUintN(64, bigintOf(n)));
  },
  /** A length-delimited field holding `bytes` (bytes, or a message encoded already). */
  bytes(field: number, bytes: Uint8Array): void {
    writeVarint32((field << 3) | 2);
    writeVarint32(bytes.length);
    ensure(bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  },
  /** Fields encoded already (a message's encoding is the concatenation of its fields'). */
  raw(bytes: Uint8Array): void {
    ensure(bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  },
  /** Starts a nested message (field `field`); returns what `end` takes once its fields are written. */
  begin(field: number): number {
    writeVarint32((field << 3) | 2);
    return beginLength();
  },
  end(at: number): void {
    endLength(at);
  },
};

export type FieldWriter = typeof fieldWriter;

/** The message `write` writes with `fieldWriter`. */
export function encodeFields(write: (w: FieldWriter) => void): Uint8Array {
  const start = startMessage();
  try {
    write(fieldWriter);
  } catch (e) {
    abandonMessage(start);
    throw e;
  }
  return finishMessage(start);
}
