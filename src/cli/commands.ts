// commands: what a running stack does when `ustack ping` or `ustack fetch`
// asks it through the control socket — the stack as a client. Pings to its
// own address go through `lo`, never the TAP (the seeds' "127.0.0.1 does not
// go through the NIC"); fetch runs Node's http client over the stack's TCP.

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { pingPayload } from '../ipv4/ping.js';
import type { Stack } from '../stack.js';
import type { TcpSocket } from '../socket/tcpSocket.js';
import { parseIpv4 } from '../wire/address.js';
import { answerView } from './control.js';
import { report } from './report.js';

const MAX_PINGS = 100;

/** `ping ADDR [COUNT [SIZE]]`: COUNT echo requests 200 ms apart; a summary like iputils'. */
export function pingCommand(stack: Stack, args: string[]): Promise<string> {
  const dst = parseIpv4(args[0] ?? '');
  const count = Number(args[1] ?? 3);
  const size = Number(args[2] ?? 56);
  if (dst === null) return Promise.resolve(`error: ping needs an IPv4 address\n`);
  if (!Number.isInteger(count) || count < 1 || count > MAX_PINGS) return Promise.resolve(`error: count must be 1..${MAX_PINGS}\n`);
  if (!Number.isInteger(size) || size < 0 || size > 65507) return Promise.resolve(`error: size must be 0..65507\n`);
  const sock = stack.createPingSocket();
  const lines: string[] = [`PING ${args[0]} ${size} data bytes`];
  const sentAt = new Map<number, number>();
  let received = 0;
  return new Promise((resolve) => {
    sock.onReply((r) => {
      const t0 = sentAt.get(r.seq);
      if (t0 === undefined) return;
      sentAt.delete(r.seq);
      const ok = Buffer.compare(Buffer.from(r.data), Buffer.from(pingPayload(size, r.seq))) === 0;
      received++;
      lines.push(`${r.data.length + 8} bytes from ${args[0]}: icmp_seq=${r.seq} ttl=${r.ttl} time=${(stack.rt.clock.now() - t0).toFixed(3)} ms${ok ? '' : ' (wrong data)'}`);
    });
    let seq = 0;
    const send = () => {
      seq++;
      sentAt.set(seq, stack.rt.clock.now());
      try {
        sock.send(dst, seq, pingPayload(size, seq));
      } catch (e) {
        lines.push(`ping: ${(e as Error).message}`);
      }
      if (seq < count) setTimeout(send, 200);
      else setTimeout(finish, 1000);
    };
    const finish = () => {
      sock.close();
      lines.push(`${count} packets transmitted, ${received} received, ${Math.round((100 * (count - received)) / count)}% packet loss`);
      resolve(lines.join('\n') + '\n');
    };
    send();
  });
}

/** `fetch URL`: an HTTP GET through the stack's TCP; prints status, length and SHA-256 of the body. */
export function fetchCommand(stack: Stack, args: string[]): Promise<string> {
  let url: URL;
  try {
    url = new URL(args[0] ?? '');
  } catch {
    return Promise.resolve('error: fetch needs a URL like http://10.0.0.1:8000/\n');
  }
  if (url.protocol !== 'http:' || parseIpv4(url.hostname) === null) return Promise.resolve('error: only http:// URLs with an IPv4 address\n');
  const port = Number(url.port || 80);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      req.destroy(new Error('timed out after 30 s'));
    }, 30_000);
    // No `agent` at all: with any agent (even `agent: false`) Node's http client
    // ignores createConnection and dials through the kernel instead.
    let ours: TcpSocket | null = null;
    const req = request(
      {
        host: url.hostname,
        port,
        path: url.pathname + url.search,
        createConnection: () => (ours = stack.connect({ port, host: url.hostname })) as unknown as import('node:net').Socket,
      },
      (res) => {
        const h = createHash('sha256');
        let n = 0;
        res.on('data', (d: Buffer) => {
          h.update(d);
          n += d.length;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve(`status ${res.statusCode} bytes ${n} sha256 ${h.digest('hex')}\n`);
        });
      },
    );
    // Belt and braces: a socket that is not the stack's must never carry the request.
    req.on('socket', (sock) => {
      if (sock !== (ours as unknown)) {
        sock.destroy();
        req.destroy(new Error('internal: the HTTP client did not use the stack'));
      }
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`error: ${e.code ?? ''} ${e.message}\n`);
    });
    req.end();
  });
}

/** The control socket's handler: report views, then commands. */
export function controlHandler(stack: Stack): (line: string) => string | Promise<string> {
  return (line) => {
    const view = answerView(line, (v) => report(stack, v));
    if (view !== null) return view;
    const [cmd, ...args] = line.split(/\s+/);
    if (cmd === 'ping') return pingCommand(stack, args);
    if (cmd === 'fetch') return fetchCommand(stack, args);
    return `error: unknown request '${line.slice(0, 40)}'\n`;
  };
}
