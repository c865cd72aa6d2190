// control: a Unix socket through which a running `ustack up` answers
// `ustack stats`, `ustack ping` and `ustack fetch` — a one-line request (a
// report view, or a command the stack carries out as a client), answered
// with text and a close. Under /run/ustack/, named after the instance.

import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { REPORT_VIEWS, type ReportView } from './report.js';

export const CONTROL_DIR = '/run/ustack';

export function controlPath(name: string): string {
  return `${CONTROL_DIR}/${name}.sock`;
}

/** Whether a live instance answers on `path` (a socket left by a killed one refuses connections). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Fails if another instance of the same name is running: its control socket
 * is in use, and serving ours would take it over (and remove it on exit).
 * Called before anything is created.
 */
export async function checkControlFree(name: string): Promise<void> {
  const path = controlPath(name);
  if (existsSync(path) && (await answers(path))) {
    throw Object.assign(
      new Error(`another ustack instance named '${name}' is running (it answers on ${path}): stop it, or give this one another --netns (or --no-control)`),
      { code: 'EADDRINUSE' },
    );
  }
}

/** Answers one request line: a report view, or a command run on the stack. */
export type ControlHandler = (line: string) => string | Promise<string>;

export async function serveControl(name: string, answer: ControlHandler): Promise<Server> {
  mkdirSync(CONTROL_DIR, { recursive: true, mode: 0o755 });
  const path = controlPath(name);
  if (existsSync(path)) rmSync(path); // left by an instance that was killed (checkControlFree ran first)
  const server = createServer((conn) => {
    let req = '';
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      req += d;
      if (req.length > 256) conn.destroy();
      const nl = req.indexOf('\n');
      if (nl < 0) return;
      const line = req.slice(0, nl).trim();
      req = '';
      Promise.resolve()
        .then(() => answer(line))
        .then(
          (text) => conn.end(text),
          (e: Error) => conn.end(`error: ${e.message}\n`),
        );
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => process.stderr.write(`ustack: control socket ${path}: ${e.message}\n`));
  server.unref();
  return server;
}

export function closeControl(server: Server, name: string): void {
  server.close();
  rmSync(controlPath(name), { force: true });
}

/** The answer to a report view line (the default handler's first half). */
export function answerView(line: string, report: (view: ReportView) => string): string | null {
  const view = line as ReportView;
  return REPORT_VIEWS.includes(view) ? report(view) : null;
}

/** Asks a running instance: a report view or a command line. */
export function queryControl(name: string, view: string): Promise<string> {
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
