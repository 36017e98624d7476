// A map keyed by an object's namespace and name.

/**
 * namespace → name → value. Looked up with the two strings as they are: building a "namespace/name" key per
 * lookup costs a new string to hash each time, which showed in translation profiles at thousands of objects.
 */
export class ByNamespace<T> {
  private readonly namespaces = new Map<string, Map<string, T>>();

  get(namespace: string, name: string): T | undefined {
    return this.namespaces.get(namespace)?.get(name);
  }

  set(namespace: string, name: string, value: T): void {
    let names = this.namespaces.get(namespace);
    if (!names) this.namespaces.set(namespace, (names = new Map<string, T>()));
    names.set(name, value);
  }

  /** Sets `value` unless the name is taken, and returns what was there (one lookup where get then set take two). */
  claim(namespace: string, name: string, value: T): T | undefined {
    let names = this.namespaces.get(namespace);
    if (!names) this.namespaces.set(namespace, (names = new Map<string, T>()));
    const earlier = names.get(name);
    if (earlier === undefined) names.set(name, value);
    return earlier;
  }
}
