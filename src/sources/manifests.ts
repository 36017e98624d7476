// Reads Kubernetes manifests from YAML files (several documents per file) and keeps where each came
// from, so that every problem can name its file, line and object.
import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { parseDocumentsFast, type FastDocument } from './yaml-fast.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
}

export interface Source {
  file: string;
  /** 1-based line where the document starts. */
  line: number;
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  /** Other top-level fields (EndpointSlice keeps its endpoints and ports here). */
  [field: string]: unknown;
  source: Source;
}

export interface ManifestProblem {
  source: Source;
  /** kind namespace/name, when the document got that far. */
  object?: string;
  /** Path of the offending field, e.g. spec.rules[0].matches[0].path.type. */
  field?: string;
  message: string;
}

export interface LoadedManifests {
  manifests: Manifest[];
  problems: ManifestProblem[];
}

export function describeObject(kind: string, meta: { name?: string; namespace?: string } | undefined): string {
  const name = meta?.name ?? '<no name>';
  return meta?.namespace ? `${kind} ${meta.namespace}/${name}` : `${kind} ${name}`;
}

export function formatProblem(p: ManifestProblem): string {
  const where = `${p.source.file}:${p.source.line}`;
  const what = p.object ? ` ${p.object}` : '';
  const field = p.field ? ` field ${p.field}:` : '';
  return `${where}${what}:${field} ${p.message}`;
}

const YAML_ERROR = 'invalid YAML';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses one file's text; never throws. `withPositions` skips the fast parse (the benchmark's baseline, and the
 * tests' reference: both parses give the same result).
 */
export function parseManifests(file: string, text: string, opts: { withPositions?: boolean } = {}): LoadedManifests {
  const manifests: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  // Most files parse without a problem: the fast parse; anything it leaves, the parse with positions.
  const fast = opts.withPositions ? undefined : parseDocumentsFast(text);
  for (const { line, value } of fast ?? parseDocumentsWithPositions(file, text, problems)) {
    const source: Source = { file, line };
    if (value === null || value === undefined) continue; // an empty document (e.g. after a trailing ---)
    if (!isRecord(value)) {
      problems.push({ source, message: 'a manifest must be a mapping with apiVersion, kind and metadata' });
      continue;
    }
    const { apiVersion, kind, metadata } = value;
    const object = typeof kind === 'string' && isRecord(metadata) ? describeObject(kind, metadata) : undefined;
    if (typeof apiVersion !== 'string' || !apiVersion) {
      problems.push({ source, object, field: 'apiVersion', message: 'missing or not a string' });
      continue;
    }
    if (typeof kind !== 'string' || !kind) {
      problems.push({ source, object, field: 'kind', message: 'missing or not a string' });
      continue;
    }
    if (!isRecord(metadata) || typeof metadata.name !== 'string' || !metadata.name) {
      problems.push({ source, object, field: 'metadata.name', message: 'missing or not a string' });
      continue;
    }
    manifests.push({ ...value, apiVersion, kind, metadata: metadata as unknown as ObjectMeta, source });
  }
  return { manifests, problems };
}

/**
 * The documents of `text` by `yaml`'s Document parse, which knows each node's position: a document's YAML
 * errors go to `problems` (with their line and column) as the iteration reaches it, so that they stay in
 * order with the other documents' problems, and the document is left out.
 */
function* parseDocumentsWithPositions(file: string, text: string, problems: ManifestProblem[]): Generator<FastDocument> {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = lines.linePos(err.pos[0]);
        problems.push({ source: { file, line: pos.line }, message: `${YAML_ERROR} at column ${pos.col}: ${err.message.split('\n')[0]}` });
      }
      continue;
    }
    const line = lines.linePos(doc.range?.[0] ?? 0).line;
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // An alias of no anchor, or one that expands too far: found only when the document is converted.
      problems.push({ source: { file, line }, message: `${YAML_ERROR}: ${(err as Error).message.split('\n')[0]}` });
      continue;
    }
    yield { line, value };
  }
}

/**
 * Remembers each file's parse by path and content, so that a reload re-parses only the files that changed: YAML
 * parsing is most of a reload's cost in a large directory. The bytes are compared as read (no hash, and an
 * unchanged file is not decoded either).
 */
export class ManifestFileCache {
  private readonly entries = new Map<string, { bytes: Buffer; parsed: LoadedManifests }>();
  /** Whether some file's parse changed, or a file came or went, since the last takeChanged(). */
  private changed = true;

  /**
   * `holdLosses`: a read taken the moment a change is seen may catch a file half written (truncated, not yet
   * written again): a file that is now not YAML or cut mid-line, a known file with fewer documents (empty, say)
   * or a new one with none, keeps its earlier parse (none for a new file), and the call returns `held: true`; a
   * later call without `holdLosses` applies what the file says then.
   */
  parse(file: string, bytes: Buffer, holdLosses = false): LoadedManifests & { held?: true } {
    const hit = this.entries.get(file);
    if (hit?.bytes.equals(bytes)) return hit.parsed;
    const text = bytes.toString('utf8');
    const parsed = parseManifests(file, text);
    const cutMidLine = text.length > 0 && !text.endsWith('\n');
    // A new file with nothing in it yet is held too: it adds nothing, and a writer in another process may not have
    // written it yet when its creation is seen (the read after the quiet time takes it).
    const lost = hit !== undefined ? parsed.manifests.length < hit.parsed.manifests.length : parsed.manifests.length === 0;
    if (holdLosses && (cutMidLine || lost || hasYamlErrors(parsed))) {
      return { ...(hit?.parsed ?? { manifests: [], problems: [] }), held: true };
    }
    this.changed = true;
    if (hit && !hasYamlErrors(hit.parsed) && hasYamlErrors(parsed)) {
      // A file that was good and is now not YAML (half written, or a typo): keep serving what it said
      // before, and say so. Objects that are valid YAML but invalid otherwise are still reported as such.
      const note = 'serving this file as it was before the error';
      return { manifests: hit.parsed.manifests, problems: parsed.problems.map((p) => ({ ...p, message: `${p.message}; ${note}` })) };
    }
    this.entries.set(file, { bytes, parsed });
    return parsed;
  }

  /** Forgets files that are gone; with `holdLosses`, returns their earlier parses instead (see parse()). */
  keepOnly(files: Set<string>, holdLosses = false): LoadedManifests[] {
    const held: LoadedManifests[] = [];
    for (const [file, entry] of this.entries) {
      if (files.has(file)) continue;
      if (holdLosses) {
        held.push(entry.parsed);
      } else {
        this.entries.delete(file);
        this.changed = true;
      }
    }
    return held;
  }

  /** Whether anything changed since the last call (true at first). */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }
}

function hasYamlErrors(parsed: LoadedManifests): boolean {
  return parsed.problems.some((p) => p.message.startsWith(YAML_ERROR));
}

/** Every *.yaml / *.yml file directly in `dir`, in name order, parsed (unchanged files from `cache`). */
export function loadManifestDir(dir: string, cache?: ManifestFileCache, opts: { holdLosses?: boolean } = {}): LoadedManifests & { held: number } {
  const out: LoadedManifests & { held: number } = { manifests: [], problems: [], held: 0 };
  let names: Dirent[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => /\.ya?ml$/i.test(d.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    throw new Error(`cannot read manifest directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const seen = new Set<string>();
  for (const entry of names) {
    const file = path.join(dir, entry.name);
    let parsed: LoadedManifests & { held?: true };
    try {
      // The directory entry's type saves a stat per file (Node fills an unknown d_type in with lstat); a symbolic
      // link is followed.
      if (!(entry.isFile() || (entry.isSymbolicLink() && statSync(file).isFile()))) continue;
      seen.add(file);
      const bytes = readFileSync(file);
      parsed = cache ? cache.parse(file, bytes, opts.holdLosses) : parseManifests(file, bytes.toString('utf8'));
    } catch (err) {
      out.problems.push({ source: { file, line: 1 }, message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    if (parsed.held) out.held++;
    out.manifests.push(...parsed.manifests);
    out.problems.push(...parsed.problems);
  }
  // Files that vanished (an editor may move a file away before writing it again) are held like the others.
  for (const parsed of cache?.keepOnly(seen, opts.holdLosses) ?? []) {
    out.held++;
    out.manifests.push(...parsed.manifests);
    out.problems.push(...parsed.problems);
  }
  return out;
}
