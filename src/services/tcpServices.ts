// tcpServices: the TCP services `ustack up` runs on the stack.
//   echo     RFC 862, port 7: every byte back.
//   discard  RFC 863, port 9: every byte dropped (the upload side of benchmarks).
//   chargen  RFC 864, port 19: lines of characters until the peer closes
//            (the download side of benchmarks), honouring backpressure.
//   http     port 80: Node's own http server over the stack's sockets —
//            GET / (live counters), GET /bytes/N (byte i is (i*7+3) mod 256),
//            POST /sha256 (hex SHA-256 of the body), HTTP/1.1 keep-alive.

import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Stack } from '../stack.js';
import type { TcpServer } from '../socket/tcpServer.js';
import type { TcpSocket } from '../socket/tcpSocket.js';

export function startEcho(stack: Stack, port: number, backlog?: number): TcpServer {
  const server = stack.createServer({ allowHalfOpen: true }, (s: TcpSocket) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  return server.listen(port, backlog);
}

export function startDiscard(stack: Stack, port: number, backlog?: number): TcpServer {
  const server = stack.createServer((s: TcpSocket) => {
    s.on('error', () => {});
    s.resume();
  });
  return server.listen(port, backlog);
}

/** RFC 864: line n is 72 characters of the 95 printable ASCII characters starting at n mod 95. */
function chargenBlock(): Buffer {
  const lines: string[] = [];
  for (let n = 0; n < 95; n++) {
    let line = '';
    for (let i = 0; i < 72; i++) line += String.fromCharCode(32 + ((n + i) % 95));
    lines.push(line + '\r\n');
  }
  return Buffer.from(lines.join(''), 'latin1');
}

export function startChargen(stack: Stack, port: number, backlog?: number): TcpServer {
  const block = chargenBlock();
  const chunk = Buffer.concat(Array.from({ length: Math.ceil(65536 / block.length) }, () => block));
  const server = stack.createServer((s: TcpSocket) => {
    s.on('error', () => {});
    s.resume(); // what the client sends is ignored
    let open = true;
    const pump = () => {
      while (open && s.write(chunk)) {
        /* until the send buffer is full */
      }
    };
    s.on('drain', pump);
    s.on('close', () => (open = false));
    s.on('end', () => {
      open = false;
      s.destroy();
    });
    pump();
  });
  return server.listen(port, backlog);
}

/** Byte i of /bytes/N. */
export function patternByte(i: number): number {
  return (i * 7 + 3) & 0xff;
}

/** A 64 KiB block of the /bytes pattern starting at offset 0 (the pattern repeats every 256 bytes). */
const PATTERN = Buffer.from(Array.from({ length: 65536 }, (_, i) => patternByte(i)));

function sendBytes(res: ServerResponse, n: number): void {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
  let left = n;
  const pump = () => {
    while (left > 0) {
      const len = Math.min(left, PATTERN.length);
      left -= len;
      if (!res.write(len === PATTERN.length ? PATTERN : PATTERN.subarray(0, len))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

const MAX_BYTES = 2 ** 40;

export function startHttp(stack: Stack, port: number, page: () => string, backlog?: number): TcpServer {
  const http = createHttpServer({ keepAlive: true }, (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const bytes = /^\/bytes\/([0-9]{1,13})$/.exec(url);
    if (req.method === 'GET' && url === '/') {
      req.resume();
      const body = `<!doctype html><title>ustack</title><h1>ustack</h1><pre>${escapeHtml(page())}</pre>\n`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    } else if (req.method === 'GET' && bytes) {
      req.resume();
      const n = Number(bytes[1]);
      if (n > MAX_BYTES) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`at most ${MAX_BYTES} bytes\n`);
        return;
      }
      sendBytes(res, n);
    } else if (req.method === 'POST' && url === '/sha256') {
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => h.update(d));
      req.on('end', () => {
        const body = h.digest('hex') + '\n';
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
        res.end(body);
      });
    } else {
      req.resume();
      const body = 'not found: try GET /, GET /bytes/N, POST /sha256\n';
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    }
  });
  http.on('clientError', (_err, socket) => socket.destroy());
  const server = stack.createServer({ allowHalfOpen: true, noDelay: true }, (s: TcpSocket) => {
    s.on('error', () => {});
    http.emit('connection', s);
  });
  return server.listen(port, backlog);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}
