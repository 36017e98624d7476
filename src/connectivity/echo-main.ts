// The connectivity test's echo backend, run inside a network namespace: node echo-main.js NAME PORT.
// Answers every request with JSON naming itself, the request and the peer address it saw; prints
// "listening" once it listens on every address of its namespace.
import http from 'node:http';

const [name = 'echo', portText = '8080'] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
  res.end(JSON.stringify({ backend: name, method: req.method, path: req.url, host: req.headers.host, peer: req.socket.remoteAddress, xfcc: req.headers['x-forwarded-client-cert'] }));
});
server.listen(Number(portText), '0.0.0.0', () => process.stdout.write('listening\n'));
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
