// An echo backend as a program, for running inside a network namespace: node echo-main.js NAME PORT.
// Answers every request with its name, the request it saw, the peer address and the pod identity it was given
// (POD_NAME, NAMESPACE, POD_IP, NODE_NAME from the environment, if set); prints "listening" when ready.
import http from 'node:http';

const [name = 'echo', portText = '3000'] = process.argv.slice(2);
const env = Object.fromEntries(['POD_NAME', 'NAMESPACE', 'POD_IP', 'NODE_NAME'].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])));
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
  res.end(JSON.stringify({ backend: name, method: req.method, path: req.url, host: req.headers.host, peer: req.socket.remoteAddress, headers: req.headers, env }));
});
server.listen(Number(portText), '0.0.0.0', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
