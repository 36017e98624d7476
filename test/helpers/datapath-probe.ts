// Runs inside a test network namespace (via `ip netns exec`):
//   serve <name> <tcp|udp> <port>...      answers each connection/datagram with "<name> <peer address>"
//   connect <tcp|udp> <host> <port> <ms>   prints {"ok":true,"reply":...} or {"ok":false,"error":...}
import net from 'node:net';
import dgram from 'node:dgram';

const [mode, ...rest] = process.argv.slice(2);

if (mode === 'serve') {
  const [name, proto, ...ports] = rest;
  let pending = ports.length * 2;
  const ready = () => { if (--pending === 0) console.log('ready'); };
  for (const port of ports.map(Number)) {
    for (const host of ['0.0.0.0', '::']) {
      if (proto === 'tcp') {
        net.createServer((s) => { s.on('error', () => {}); s.end(`${name} ${s.remoteAddress}\n`); }).listen({ port, host, ipv6Only: host === '::' }, ready);
      } else {
        const sock = dgram.createSocket({ type: host === '::' ? 'udp6' : 'udp4', ipv6Only: host === '::' });
        sock.on('message', (_m, r) => sock.send(`${name} ${r.address}\n`, r.port, r.address));
        sock.bind(port, host, ready);
      }
    }
  }
} else if (mode === 'connect') {
  const [proto, host, port, ms] = rest;
  const done = (r: object) => { console.log(JSON.stringify(r)); process.exit(0); };
  setTimeout(() => done({ ok: false, error: 'timeout' }), Number(ms));
  if (proto === 'tcp') {
    const s = net.connect({ host, port: Number(port) });
    let data = '';
    s.on('data', (d) => { data += d.toString(); });
    s.on('end', () => done({ ok: true, reply: data.trim(), local: `${s.localAddress}:${s.localPort}` }));
    s.on('error', (e) => done({ ok: false, error: e.message }));
  } else {
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    sock.on('message', (m) => done({ ok: true, reply: m.toString().trim() }));
    sock.send('ping', Number(port), host);
  }
} else {
  console.error('usage: datapath-probe serve <name> <tcp|udp> <port>... | connect <tcp|udp> <host> <port> <ms>');
  process.exit(2);
}
