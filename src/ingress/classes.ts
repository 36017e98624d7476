// Which Ingresses are Weft's: by spec.ingressClassName (or the deprecated kubernetes.io/ingress.class
// annotation) naming an IngressClass whose controller is Weft's, or, without a class, when Weft's
// IngressClass is the cluster default (ingressclass.kubernetes.io/is-default-class: "true").
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IIngressClass } from 'kubernetes-models/networking.k8s.io/v1/IngressClass';
import type { Inputs, Obj } from '../sources/kinds.js';
import type { ManifestProblem } from '../sources/manifests.js';

export const INGRESS_CONTROLLER = 'weft.dev/ingress-controller';
/** The class name Weft answers to even when no IngressClass object of that name exists (as Cilium does with "cilium"). */
export const INGRESS_CLASS_NAME = 'weft';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

export type Ingress = Obj<IIngress>;

export interface ClassSelection {
  ours: Ingress[];
  problems: ManifestProblem[];
}

function isDefault(c: Obj<IIngressClass>): boolean {
  return c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true';
}

export function selectWeftIngresses(inputs: Pick<Inputs, 'ingresses' | 'ingressClasses'>): ClassSelection {
  const problems: ManifestProblem[] = [];
  const classes = new Map(inputs.ingressClasses.map((c) => [c.metadata.name, c]));
  for (const c of inputs.ingressClasses) {
    if (c.spec?.controller === INGRESS_CONTROLLER && c.spec.parameters) {
      problems.push({ source: c.source, object: `IngressClass ${c.metadata.name}`, field: 'spec.parameters', message: 'Weft takes no IngressClass parameters; they are ignored' });
    }
  }
  const isOurs = (name: string): boolean => {
    const c = classes.get(name);
    return c ? c.spec?.controller === INGRESS_CONTROLLER : name === INGRESS_CLASS_NAME;
  };
  const defaults = inputs.ingressClasses.filter(isDefault);
  const ourDefault = defaults.some((c) => c.spec?.controller === INGRESS_CONTROLLER);
  const ours: Ingress[] = [];
  for (const ing of inputs.ingresses) {
    const className = ing.spec?.ingressClassName ?? ing.metadata.annotations?.[LEGACY_CLASS_ANNOTATION];
    if (className !== undefined) {
      if (isOurs(className)) ours.push(ing);
      continue;
    }
    if (!ourDefault) continue;
    if (defaults.length > 1) {
      // The DefaultIngressClass admission plugin refuses a class-less Ingress when several classes are default.
      problems.push({
        source: ing.source,
        object: `Ingress ${ing.metadata.namespace}/${ing.metadata.name}`,
        field: 'spec.ingressClassName',
        message: `not set, and several IngressClasses are marked default (${defaults.map((c) => c.metadata.name).sort().join(', ')}); set ingressClassName, or mark only one class default; the Ingress is not served`,
      });
      continue;
    }
    ours.push(ing);
  }
  return { ours, problems };
}
