// Hostname matching between listeners and routes (Gateway API: a wildcard label matches one or more
// labels, so *.example.com covers a.b.example.com but not example.com).

/** Whether `wildcard` (`*.suffix`) covers `host` (exact or wildcard). */
function covers(wildcard: string, host: string): boolean {
  const suffix = wildcard.slice(1); // ".example.com"
  if (host.startsWith('*.')) return host.slice(1).endsWith(suffix);
  return host.endsWith(suffix) && host.length > suffix.length;
}

/**
 * The hostnames a route serves on a listener: the intersection of the listener's hostname (undefined:
 * any) and the route's hostnames (empty: any). `*` stands for "any host". Empty result: no match.
 */
export function intersectHostnames(listenerHostname: string | undefined, routeHostnames: string[]): string[] {
  if (!listenerHostname) return routeHostnames.length ? addUnique([], routeHostnames) : ['*'];
  if (routeHostnames.length === 0) return [listenerHostname];
  const out: string[] = [];
  for (const host of routeHostnames) {
    if (host === listenerHostname) addOnce(out, host);
    else if (listenerHostname.startsWith('*.') && covers(listenerHostname, host)) addOnce(out, host);
    else if (host.startsWith('*.') && !listenerHostname.startsWith('*.') && covers(host, listenerHostname)) addOnce(out, listenerHostname);
    else if (host.startsWith('*.') && listenerHostname.startsWith('*.') && covers(host, listenerHostname)) addOnce(out, listenerHostname);
  }
  return out;
}

/** First occurrences in order, as a Set would keep them; a route has at most 16 hostnames, so no Set per route. */
function addOnce(out: string[], host: string): void {
  if (!out.includes(host)) out.push(host);
}

function addUnique(out: string[], hosts: string[]): string[] {
  for (const h of hosts) addOnce(out, h);
  return out;
}

/** Whether a listener with `listenerHostname` (`*` for none) accepts every request host that `host` stands for. */
export function listenerHostnameCovers(listenerHostname: string, host: string): boolean {
  return listenerHostname === host || listenerHostname === '*' || (listenerHostname.startsWith('*.') && covers(listenerHostname, host));
}

/** Orders virtual hosts most specific first: exact names, then wildcards by length, then `*`. */
export function compareHostSpecificity(a: string, b: string): number {
  const rank = (h: string): number => (h === '*' ? 2 : h.startsWith('*.') ? 1 : 0);
  return rank(a) - rank(b) || b.length - a.length || a.localeCompare(b);
}
