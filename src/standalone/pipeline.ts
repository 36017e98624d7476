// Standalone mode's pipeline: a directory of manifests → problems, statuses, IR and xDS resources.
import { translateGatewayApi } from '../gateway/translate.js';
import type { ObjectStatus } from '../gateway/conditions.js';
import type { ProxyIR } from '../ir/model.js';
import { classifyManifests } from '../sources/kinds.js';
import { loadManifestDir, parseManifests, type Manifest, type ManifestFileCache, type ManifestProblem } from '../sources/manifests.js';
import type { Resource } from '../xds/resource.js';
import { translateIrToXds } from '../xds/translator/translate-ir.js';

export interface Translation {
  problems: ManifestProblem[];
  statuses: ObjectStatus[];
  ir: ProxyIR;
  resources: Resource[];
}

export function translateManifests(manifests: Manifest[], earlierProblems: ManifestProblem[] = []): Translation {
  const { inputs, problems } = classifyManifests(manifests);
  const { ir, statuses } = translateGatewayApi(inputs);
  return { problems: [...earlierProblems, ...problems], statuses, ir, resources: translateIrToXds(ir) };
}

export function translateDirectory(dir: string, cache?: ManifestFileCache): Translation {
  const loaded = loadManifestDir(dir, cache);
  return translateManifests(loaded.manifests, loaded.problems);
}

/** For tests and golden files: one YAML text (several documents) standing for a directory. */
export function translateYaml(file: string, text: string): Translation {
  const loaded = parseManifests(file, text);
  return translateManifests(loaded.manifests, loaded.problems);
}
