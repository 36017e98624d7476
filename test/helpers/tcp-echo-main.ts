// A raw TCP echo backend (no HTTP) as a program, for running inside a network namespace or as a dev-cluster pod:
// node tcp-echo-main.js NAME PORT [ADDRESS] [GREETING]. Answers each line with "<NAME> <peer address> <line>" (bytes
// kept as latin1, so any byte but a newline round-trips), keeping the connection; with GREETING it speaks first (a
// server-first protocol, as SMTP), sending "<GREETING>\n" on accept. Prints "listening" when ready.
import net from 'node:net';

const [name = 'tcpecho', portText = '7000', address = '0.0.0.0', greeting] = process.argv.slice(2);
const server = net.createServer((s) => {
  s.on('error', () => {});
  if (greeting) s.write(`${greeting}\n`);
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      s.write(`${name} ${s.remoteAddress} ${buf.slice(0, nl)}\n`, 'latin1');
      buf = buf.slice(nl + 1);
    }
  });
});
server.listen(Number(portText), address, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
