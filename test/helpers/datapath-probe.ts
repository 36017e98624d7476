// Runs inside a test network namespace (via `ip netns exec`):
//   serve <name> <tcp|udp> <port>...      answers each connection/datagram with "<name> <peer address>"
//   serve <name> tcpecho <port>...         answers each line with "<name> <line>", keeping the connection
//   connect <tcp|udp> <host> <port> <ms> [local port]  prints {"ok":true,"reply":...,"from":...} or {"ok":false,"error":...}
//   http <name> <port>                     HTTP: answers every request with "<name> <peer address> <path>", then
//                                          " <header>=<value>" for the header an `x-echo: <header>` asks for
//   hold <host> <port>                     one TCP connection: sends each stdin line, prints each reply line
//   udperr <host> <port> <ms>              a connected UDP socket sends once: {"ok":true,...} on a reply,
//                                          {"ok":false,"error":"ECONNREFUSED"} when an ICMP error reaches it
//   rate <first-ip> <ips> <port> <n>       n sequential connections to random addresses of the range
//                                          first-ip + [0, ips); prints {"seconds","latenciesMs","errors"}
import net from 'node:net';
import dgram from 'node:dgram';
import http from 'node:http';

const [mode, ...rest] = process.argv.slice(2);

if (mode === 'http') {
  const [name, port] = rest;
  const echoed = (req: http.IncomingMessage): string => {
    const header = req.headers['x-echo'];
    return typeof header === 'string' ? ` ${header}=${String(req.headers[header.toLowerCase()] ?? '')}` : '';
  };
  http.createServer((req, res) => res.end(`${name} ${req.socket.remoteAddress} ${req.url}${echoed(req)}\n`)).listen(Number(port), '0.0.0.0', () => console.log('ready'));
} else if (mode === 'serve') {
  const [name, proto, ...ports] = rest;
  let pending = ports.length * 2;
  const ready = () => { if (--pending === 0) console.log('ready'); };
  for (const port of ports.map(Number)) {
    for (const host of ['0.0.0.0', '::']) {
      if (proto === 'tcpecho') {
        net.createServer((s) => {
          s.on('error', () => {});
          let buf = '';
          s.on('data', (d) => {
            buf += d.toString();
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) { s.write(`${name} ${buf.slice(0, nl)}\n`); buf = buf.slice(nl + 1); }
          });
        }).listen({ port, host, ipv6Only: host === '::' }, ready);
      } else if (proto === 'tcp') {
        net.createServer((s) => { s.on('error', () => {}); s.end(`${name} ${s.remoteAddress}\n`); }).listen({ port, host, ipv6Only: host === '::' }, ready);
      } else {
        const sock = dgram.createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: host === '::' });
        sock.on('message', (_m, r) => sock.send(`${name} ${r.address}\n`, r.port, r.address));
        sock.bind(port, host, ready);
      }
    }
  }
} else if (mode === 'connect') {
  const [proto, host, port, ms, localPort] = rest;
  const done = (r: object) => { console.log(JSON.stringify(r)); process.exit(0); };
  setTimeout(() => done({ ok: false, error: 'timeout' }), Number(ms));
  if (proto === 'tcp') {
    const s = net.connect({ host, port: Number(port), ...(localPort ? { localPort: Number(localPort) } : {}) });
    let data = '';
    s.on('data', (d) => { data += d.toString(); });
    s.on('end', () => done({ ok: true, reply: data.trim(), from: s.remoteAddress, local: `${s.localAddress}:${s.localPort}` }));
    s.on('error', (e) => done({ ok: false, error: e.message }));
  } else {
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    sock.on('message', (m, r) => done({ ok: true, reply: m.toString().trim(), from: r.address }));
    sock.send('ping', Number(port), host);
  }
} else if (mode === 'udperr') {
  const [host, port, ms] = rest;
  const done = (r: object) => { console.log(JSON.stringify(r)); process.exit(0); };
  setTimeout(() => done({ ok: false, error: 'timeout' }), Number(ms));
  const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  sock.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
  sock.on('message', (m, r) => done({ ok: true, reply: m.toString().trim(), from: r.address }));
  sock.connect(Number(port), host, () => sock.send('ping'));
  // The error of a connected UDP socket surfaces on its next operation: keep sending.
  setInterval(() => sock.send('ping', (e) => { if (e) done({ ok: false, error: (e as NodeJS.ErrnoException).code ?? e.message }); }), 100);
} else if (mode === 'hold') {
  const [host, port] = rest;
  const s = net.connect({ host, port: Number(port) }, () => console.log('connected'));
  s.on('data', (d) => process.stdout.write(d));
  s.on('error', (e) => { console.log(`error ${e.message}`); process.exit(1); });
  process.stdin.on('data', (d) => s.write(d));
  process.stdin.on('end', () => s.end());
  s.on('close', () => process.exit(0));
} else if (mode === 'rate') {
  const [first, count, port, n] = rest;
  const base = first.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const addr = (i: number) => [24, 16, 8, 0].map((sh) => (Math.floor((base + i) / 2 ** sh)) & 255).join('.');
  const latencies: number[] = [];
  let errors = 0;
  const one = () => new Promise<void>((resolve) => {
    const start = performance.now();
    const s = net.connect({ host: addr(Math.floor(Math.random() * Number(count))), port: Number(port) });
    s.setTimeout(2000, () => { errors++; s.destroy(); resolve(); });
    s.on('data', () => {});
    s.on('end', () => { latencies.push(performance.now() - start); s.destroy(); resolve(); });
    s.on('error', () => { errors++; resolve(); });
  });
  const t0 = performance.now();
  for (let i = 0; i < Number(n); i++) await one();
  console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, latenciesMs: latencies, errors }));
} else {
  console.error('usage: datapath-probe serve <name> <tcp|udp> <port>... | connect <tcp|udp> <host> <port> <ms>');
  process.exit(2);
}
