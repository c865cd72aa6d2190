// main: the `ustack` command. Subcommands:
//   up      bring the stack up on a TAP device (see `ustack up --help`)
//   stats   print a running instance's counters and tables

import { parseArgs } from 'node:util';
import { parseUpArgs, UP_HELP, UsageError } from './args.js';
import { queryControl } from './control.js';
import { REPORT_VIEWS, type ReportView } from './report.js';
import { runUp } from './up.js';

const HELP = `Usage: ustack <command> [options]

A userspace TCP/IP stack on a Linux TAP device.

Commands:
  up       create a TAP device and run the stack on it (ustack up --help)
  stats    show a running stack's counters: ustack stats [VIEW] [--name NAME]
           VIEW is one of ${REPORT_VIEWS.join(', ')} (default: all);
           NAME is the instance's namespace (default: ustack)
  ping     make the running stack ping: ustack ping [--name NAME] [-c COUNT] [-s SIZE] ADDR
           (its own address goes through lo, never the TAP)
  fetch    make the running stack GET a URL over its TCP: ustack fetch [--name NAME] URL
           (prints status, length and SHA-256 of the body)
  help     this text
`;

let epipeQuiet = false;

/**
 * `ustack stats | head`: when the reader goes away, stop quietly, as SIGPIPE
 * ends a C tool — not with an unhandled EPIPE and a stack trace. Only for the
 * commands that print and exit: `up` must shut down (and clean up) on its own.
 */
function exitQuietlyOnEpipe(): void {
  if (epipeQuiet) return;
  epipeQuiet = true;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

async function stats(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const view = (positionals[0] ?? 'all') as ReportView;
  if (positionals.length > 1 || !REPORT_VIEWS.includes(view)) throw new UsageError(`stats: the view must be one of ${REPORT_VIEWS.join(', ')}`);
  exitQuietlyOnEpipe();
  process.stdout.write(await queryControl(values.name ?? 'ustack', view));
  return 0;
}

/** `ustack ping` / `ustack fetch`: a command the running stack carries out as a client. */
async function client(cmd: 'ping' | 'fetch', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      count: { type: 'string', short: 'c' },
      size: { type: 'string', short: 's' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(cmd === 'ping' ? 'ping: give one address (ustack ping [-c N] [-s SIZE] ADDR)' : 'fetch: give one URL');
  if (cmd === 'fetch' && (values.count !== undefined || values.size !== undefined)) throw new UsageError('fetch takes no -c/-s');
  for (const [flag, v] of [['-c', values.count], ['-s', values.size]] as const) {
    if (v !== undefined && !/^[0-9]+$/.test(v)) throw new UsageError(`ping ${flag} expects a whole number, got '${v}'`);
  }
  const line = cmd === 'ping' ? `ping ${positionals[0]} ${values.count ?? 3} ${values.size ?? 56}` : `fetch ${positionals[0]}`;
  const out = await queryControl(values.name ?? 'ustack', line);
  exitQuietlyOnEpipe();
  process.stdout.write(out);
  if (out.startsWith('error:')) return 1;
  if (cmd === 'ping') return / 0 received,/.test(out) ? 1 : 0;
  return /^status 2\d\d /.test(out) ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'up': {
        const cfg = parseUpArgs(rest);
        if (cfg === 'help') {
          process.stdout.write(UP_HELP);
          return 0;
        }
        return await runUp(cfg);
      }
      case 'stats':
        return await stats(rest);
      case 'ping':
      case 'fetch':
        return await client(cmd, rest);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}' (try: ustack help)`);
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err instanceof UsageError || err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ustack: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`ustack: ${err.message}${err.code && !err.message.includes(err.code) ? ` (${err.code})` : ''}\n`);
    return 1;
  }
}
