// The connectivity test's echo backend, run inside a network namespace: node echo-main.js NAME PORT [ADDRESS].
// Answers every request with JSON naming itself, the request and the peer address it saw; prints
// "listening" once it listens.
import http from 'node:http';

const [name = 'echo', portText = '8080', address = '0.0.0.0'] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
  res.end(JSON.stringify({ backend: name, method: req.method, path: req.url, host: req.headers.host, peer: req.socket.remoteAddress, xfcc: req.headers['x-forwarded-client-cert'] }));
});
server.listen(Number(portText), address, () => process.stdout.write('listening\n'));
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
