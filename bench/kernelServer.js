// bench/kernelServer.js — the Linux kernel's side of the benchmark: the same
// services as `ustack up` (HTTP /bytes/N and /sha256, discard on 9), served by
// Node on the kernel's TCP, from inside a namespace. Prints "ready" when listening.
import { createServer as createNet } from 'node:net';
import { createServer as createHttp } from 'node:http';
import { createHash } from 'node:crypto';

const host = process.argv[2] ?? '10.9.0.2';
const PATTERN = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7 + 3) & 0xff));

const http = createHttp({ keepAlive: true }, (req, res) => {
  const m = /^\/bytes\/([0-9]{1,13})$/.exec(req.url ?? '');
  if (req.method === 'GET' && m) {
    req.resume();
    let left = Number(m[1]);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(left) });
    const pump = () => {
      while (left > 0) {
        const len = Math.min(left, PATTERN.length);
        left -= len;
        if (!res.write(len === PATTERN.length ? PATTERN : PATTERN.subarray(0, len))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  } else if (req.method === 'POST' && req.url === '/sha256') {
    const h = createHash('sha256');
    req.on('data', (d) => h.update(d));
    req.on('end', () => res.end(h.digest('hex') + '\n'));
  } else {
    req.resume();
    res.writeHead(404).end();
  }
});
http.listen(80, host);
createNet((s) => {
  s.on('error', () => {});
  s.resume();
}).listen({ port: 9, host, backlog: 4096 }, () => process.stdout.write('ready\n'));
