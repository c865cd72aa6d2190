// control: a Unix socket through which a running `ustack up` answers
// `ustack stats` — a one-line request naming a report view, answered with the
// report text and a close. Under /run/ustack/, named after the instance.

import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { REPORT_VIEWS, type ReportView } from './report.js';

export const CONTROL_DIR = '/run/ustack';

export function controlPath(name: string): string {
  return `${CONTROL_DIR}/${name}.sock`;
}

export function serveControl(name: string, answer: (view: ReportView) => string): Server {
  mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o755 });
  const path = controlPath(name);
  if (existsSync(path)) rmSync(path); // left by an instance that was killed
  const server = createServer((conn) => {
    let req = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      req += d;
      if (req.length > 256) conn.destroy();
      const nl = req.indexOf('\n');
      if (nl < 0) return;
      const view = req.slice(0, nl).trim() as ReportView;
      conn.end(REPORT_VIEWS.includes(view) ? answer(view) : `unknown view '${view}'; one of: ${REPORT_VIEWS.join(', ')}\n`);
    });
    conn.on('error', () => {});
  });
  server.listen(path);
  server.unref();
  return server;
}

export function closeControl(server: Server, name: string): void {
  server.close();
  rmSync(controlPath(name), { force: true });
}

/** Asks a running instance for a report. */
export function queryControl(name: string, view: ReportView): Promise<string> {
  return new Promise((resolve, reject) => {
    const path = controlPath(name);
    if (!existsSync(path)) {
      reject(Object.assign(new Error(`no ustack instance '${name}' is running (no ${path})`), { code: 'ENOENT' }));
      return;
    }
    let out = '';
    const c = createConnection(path, () => c.write(`${view}\n`));
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', (e) => reject(e));
  });
}
