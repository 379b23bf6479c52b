// A fast in-memory S3 server (npm fauxqs) for the client-bound cold push, bound to 127.0.0.1
// only (fauxqs's own startFauxqs listens on every interface). Each request is appended to the
// log in moto's format (`"PUT /bucket/key HTTP/1.1" 200`) so the benchmark counts both alike.
// fauxqs lists in locale order and loses keys across pages: use it for nothing that lists.
//
// Usage: node bench/fauxqs-server.mjs <port> <log-file>

import fs from 'node:fs';
import { buildApp } from 'fauxqs';

const [portArg, logFile] = process.argv.slice(2);
if (!portArg || !logFile) {
  console.error('usage: node bench/fauxqs-server.mjs <port> <log-file>');
  process.exit(2);
}
const log = fs.createWriteStream(logFile, { flags: 'a' });
const app = buildApp({ logger: false });
app.addHook('onResponse', (request, reply, done) => {
  log.write(`127.0.0.1 - - "${request.method} ${request.url} HTTP/1.1" ${reply.statusCode} -\n`);
  done();
});
await app.listen({ port: Number(portArg), host: '127.0.0.1' });
const stop = () => app.close().then(() => log.end(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
