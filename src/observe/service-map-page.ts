// The service map page the relay serves: plain HTML, SVG and a little script, no dependencies. It reads
// /api/map (the graph) and /api/flows (the table) with the filters in the form, and refreshes every 2 s.
export const SERVICE_MAP_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Weft service map</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem; color: #222; }
  h1 { font-size: 1.2rem; margin: 0 0 .5rem; }
  #graph { border: 1px solid #ccc; background: #fafafa; }
  .node circle { fill: #dbe9ff; stroke: #3569b7; stroke-width: 1.5; }
  .node text { font-size: 12px; text-anchor: middle; }
  .edge line { stroke: #888; stroke-width: 1.5; }
  .edge.denied line { stroke: #c62828; stroke-dasharray: 5 3; }
  .edge text { font-size: 11px; fill: #444; }
  form { display: flex; flex-wrap: wrap; gap: .5rem; margin: .75rem 0; }
  label { display: flex; flex-direction: column; font-size: 12px; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  th, td { border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: left; white-space: nowrap; }
  tr.DROPPED td.verdict { color: #c62828; font-weight: bold; }
  #status { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1>Weft service map</h1>
<div id="status">loading…</div>
<svg id="graph" width="900" height="480" viewBox="0 0 900 480" role="img" aria-label="service dependency graph">
  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>
  <g id="edges"></g><g id="nodes"></g>
</svg>
<form id="filters" autocomplete="off">
  <label>namespace <input name="namespace"></label>
  <label>pod <input name="pod"></label>
  <label>label <input name="label" placeholder="app=web"></label>
  <label>verdict <select name="verdict"><option value="">any</option><option>FORWARDED</option><option>DROPPED</option><option>REDIRECTED</option><option>ERROR</option></select></label>
  <label>drop reason <input name="drop-reason"></label>
  <label>protocol <input name="protocol" placeholder="TCP, HTTP"></label>
  <label>HTTP method <input name="http-method"></label>
  <label>HTTP path <input name="http-path" placeholder="/api"></label>
  <label>HTTP status <input name="http-status"></label>
</form>
<table id="flows">
  <thead><tr><th>time</th><th>node</th><th>source</th><th>destination</th><th>type</th><th>verdict</th><th>drop reason</th><th>protocol</th><th>HTTP</th></tr></thead>
  <tbody></tbody>
</table>
<script>
const SVG = 'http://www.w3.org/2000/svg';
const form = document.getElementById('filters');
function query() {
  const q = new URLSearchParams();
  for (const el of form.elements) if (el.name && el.value.trim()) q.append(el.name, el.value.trim());
  return q.toString();
}
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}
function endpoint(e) {
  const who = e.pod ? e.namespace + '/' + e.pod : e.workload;
  return who + (e.port ? ':' + e.port : '') + ' (' + e.identity + ')';
}
function drawGraph(map) {
  const edgesG = document.getElementById('edges'), nodesG = document.getElementById('nodes');
  edgesG.replaceChildren(); nodesG.replaceChildren();
  const n = map.nodes.length, cx = 450, cy = 240, r = n > 1 ? 180 : 0, pos = new Map();
  map.nodes.forEach((node, i) => {
    const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    pos.set(node.id, { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a) });
  });
  for (const e of map.edges) {
    const s = pos.get(e.source), d = pos.get(e.destination);
    const len = Math.hypot(d.x - s.x, d.y - s.y) || 1, ux = (d.x - s.x) / len, uy = (d.y - s.y) / len;
    const g = svg('g', { class: 'edge' + (e.denied ? ' denied' : ''), 'data-source': e.source, 'data-destination': e.destination, 'data-requests': e.requests, 'data-errors': e.errors, 'data-denied': e.denied });
    g.append(svg('line', { x1: s.x + ux * 34, y1: s.y + uy * 34, x2: d.x - ux * 34, y2: d.y - uy * 34, 'marker-end': 'url(#arrow)' }));
    const label = e.requests ? e.requestRate.toFixed(2) + ' req/s' : e.flows + ' flows';
    g.append(svg('text', { x: (s.x + d.x) / 2, y: (s.y + d.y) / 2 - 4 }, label + (e.errors ? ', ' + e.errors + ' err' : '') + (e.denied ? ', ' + e.denied + ' denied' : '')));
    edgesG.append(g);
  }
  for (const node of map.nodes) {
    const p = pos.get(node.id);
    const g = svg('g', { class: 'node', 'data-node': node.id });
    g.append(svg('circle', { cx: p.x, cy: p.y, r: 32 }));
    g.append(svg('text', { x: p.x, y: p.y + 4 }, node.workload));
    if (node.namespace) g.append(svg('text', { x: p.x, y: p.y + 48 }, node.namespace));
    nodesG.append(g);
  }
}
function drawTable(flows) {
  const body = document.querySelector('#flows tbody');
  body.replaceChildren(...flows.map((f) => {
    const tr = document.createElement('tr');
    tr.className = f.verdict;
    const http = f.http ? f.http.method + ' ' + f.http.path + ' → ' + f.http.status : '';
    const cells = [new Date(f.time_ms).toISOString(), f.node, endpoint(f.source), endpoint(f.destination), f.type, f.verdict, f.drop_reason, f.protocol, http];
    const names = ['time', 'node', 'source', 'destination', 'type', 'verdict', 'reason', 'protocol', 'http'];
    cells.forEach((c, i) => { const td = document.createElement('td'); td.className = names[i]; td.textContent = c; tr.append(td); });
    return tr;
  }));
}
async function failure(r) {
  const text = await r.text();
  try { return JSON.parse(text).error; } catch { return text; }
}
let generation = 0;
async function refresh() {
  const mine = ++generation, q = query();
  try {
    const [map, flows] = await Promise.all([fetch('api/map?' + q), fetch('api/flows?limit=500&' + q)].map((p) => p.then(async (r) => { if (!r.ok) throw new Error(await failure(r)); return r.json(); })));
    if (mine !== generation) return;
    drawGraph(map);
    drawTable(flows.flows);
    document.getElementById('status').textContent = flows.flows.length + ' flows shown, ' + map.nodes.length + ' workloads, updated ' + new Date().toLocaleTimeString();
    document.body.dataset.generation = String(mine);
  } catch (err) {
    document.getElementById('status').textContent = 'error: ' + err.message;
  }
}
form.addEventListener('input', () => void refresh());
form.addEventListener('submit', (e) => { e.preventDefault(); void refresh(); });
void refresh();
setInterval(() => void refresh(), 2000);
</script>
</body>
</html>
`;
