// bench/client.js — load generators run inside a namespace with `ip netns
// exec` (Linux's TCP as the client, for both servers under test). Bounded:
// every mode stops by itself.
//   upload HOST PORT BYTES         → prints MB/s of a one-connection upload
//   conns HOST PORT SECONDS        → prints connections/s (connect, close)
//   idle HOST PORT N               → opens N connections, prints "open", holds
//                                    them until stdin closes or 120 s pass
import { connect } from 'node:net';

const [mode, host, portText, arg] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'upload') {
  const total = Number(arg);
  const chunk = Buffer.alloc(65536, 0x5a);
  const s = connect(port, host);
  const t0 = process.hrtime.bigint();
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      sent += chunk.length;
      if (!s.write(chunk)) return void s.once('drain', pump);
    }
    s.end();
  };
  s.on('connect', pump);
  s.on('close', () => {
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(`${(sent / 1e6 / sec).toFixed(1)}\n`);
  });
  s.on('error', (e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
} else if (mode === 'conns') {
  const until = Date.now() + Number(arg) * 1000;
  let n = 0;
  let inflight = 0;
  const CONC = 16;
  const t0 = Date.now();
  const next = () => {
    if (Date.now() >= until) {
      if (inflight === 0) process.stdout.write(`${((n * 1000) / (Date.now() - t0)).toFixed(0)}\n`);
      return;
    }
    inflight++;
    const s = connect(port, host, () => {
      n++;
      s.end();
    });
    s.on('close', () => {
      inflight--;
      next();
    });
    s.on('error', () => {});
  };
  for (let i = 0; i < CONC; i++) next();
} else if (mode === 'idle') {
  const want = Number(arg);
  const socks = [];
  let open = 0;
  let i = 0;
  const batch = () => {
    for (let k = 0; k < 200 && i < want; k++, i++) {
      const s = connect(port, host, () => {
        if (++open === want) process.stdout.write('open\n');
      });
      s.on('error', (e) => {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
      });
      socks.push(s);
    }
    if (i < want) setTimeout(batch, 20);
  };
  batch();
  const done = () => {
    for (const s of socks) s.destroy();
    process.exit(0);
  };
  process.stdin.on('end', done);
  process.stdin.resume();
  setTimeout(done, 120_000).unref();
} else {
  process.stderr.write('usage: client.js upload|conns|idle HOST PORT ARG\n');
  process.exit(2);
}
