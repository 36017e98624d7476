// The fast path of the manifest parse: js-yaml's event parser (several times faster than `yaml`'s Document
// with positions, which dominated a cold `weft run -c DIR` in a large directory), for text that parses
// without any problem. It gives up (undefined) on anything the positional parse (`yaml`, in manifests.ts)
// must look at: a syntax error, an unknown tag, an alias, a directive, a `__proto__` key; that parse then
// reports the problem with its file, line and column exactly as before.
import { constructFromEvents, CORE_SCHEMA, EVENT_ID, parseEvents, type Event, type MappingEvent } from 'js-yaml';

export interface FastDocument {
  /** 1-based line where the document starts, as `yaml` counts it (see startOffset). */
  line: number;
  value: unknown;
}

/**
 * The documents of `text` with their start lines, or undefined when the positional parse must decide.
 * Scalars resolve by the YAML 1.2 core schema, as `yaml` resolves them (js-yaml's CORE_SCHEMA has no merge
 * keys and no timestamps, as `yaml`'s core schema); a duplicate key is an error in both.
 */
export function parseDocumentsFast(text: string): FastDocument[] | undefined {
  // A directive (%YAML 1.1 changes how scalars resolve), a `__proto__` key (which each library stores its own
  // way) or a tab (js-yaml lets some pass where `yaml` says tabs are not indentation) is rare enough to leave
  // to `yaml`.
  if (text.includes('\t') || text.includes('__proto__') || /^%/m.test(text)) return undefined;
  let events: Event[];
  let values: unknown[];
  try {
    events = parseEvents(text, {});
    // No aliases: `yaml` limits how far they expand, and reports it; they are rare in manifests.
    values = constructFromEvents(events, { source: text, schema: CORE_SCHEMA, maxAliases: 0 });
  } catch {
    return undefined;
  }
  const lines = new LineOf(text);
  const out: FastDocument[] = [];
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (ev.type !== EVENT_ID.DOCUMENT) continue;
    const root = events[i + 1];
    if (root?.type === EVENT_ID.POP) {
      out.push({ line: 0, value: values[out.length] }); // an empty document: no value to check, no line shown
      continue;
    }
    // Anything but a mapping is a problem to point at: the positional parse says where.
    if (root?.type !== EVENT_ID.MAPPING) return undefined;
    out.push({ line: lines.at(startOffset(text, mappingStart(root), ev.explicitStart)), value: values[out.length] });
  }
  return out.length === values.length ? out : undefined;
}

/** Where a document's root mapping starts, anchor and tag included. */
function mappingStart(ev: MappingEvent): number {
  let start = ev.start;
  for (const s of [ev.anchorStart, ev.tagStart]) if (s >= 0 && s < start) start = s;
  return start;
}

/**
 * Where `yaml` says a document starts: at its `---` marker when it has one (comment and blank lines may
 * come between the marker and the content), else at the line of its content.
 */
function startOffset(text: string, contentStart: number, explicit: boolean): number {
  let lineStart = contentStart === 0 ? 0 : text.lastIndexOf('\n', contentStart - 1) + 1;
  if (!explicit) return lineStart;
  // Back over the lines before the content (the previous line ends at lineStart - 1).
  while (lineStart > 0 && !text.startsWith('---', lineStart)) lineStart = lineStart === 1 ? 0 : text.lastIndexOf('\n', lineStart - 2) + 1;
  return lineStart;
}

/** 1-based line numbers of increasing offsets, counting newlines once over the whole text. */
class LineOf {
  private offset = 0;
  private line = 1;
  constructor(private readonly text: string) {}

  at(offset: number): number {
    if (offset < this.offset) {
      this.offset = 0;
      this.line = 1;
    }
    for (let nl = this.text.indexOf('\n', this.offset); nl !== -1 && nl < offset; nl = this.text.indexOf('\n', nl + 1)) this.line++;
    this.offset = offset;
    return this.line;
  }
}
