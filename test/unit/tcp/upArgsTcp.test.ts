// The TCP sysctl flags of `ustack up` as parseUpArgs reads them: on by
// default, as Linux's net.ipv4.tcp_syncookies and tcp_sack; --no-syncookies
// and --no-sack turn each off. (test/host/cli.test.ts and
// test/host/experimentsTcp.test.ts run them through the whole command.)
import { describe, expect, it } from 'vitest';
import { parseUpArgs, UP_HELP, type UpConfig } from '../../../src/cli/args.js';

function config(argv: string[]): UpConfig {
  const cfg = parseUpArgs(argv);
  if (cfg === 'help') throw new Error('help');
  return cfg;
}

describe('ustack up: --no-syncookies, --no-sack', () => {
  it('both on by default', () => {
    expect(config([])).toMatchObject({ syncookies: true, sack: true });
  });

  it('each flag turns its own off', () => {
    expect(config(['--no-syncookies'])).toMatchObject({ syncookies: false, sack: true });
    expect(config(['--no-sack'])).toMatchObject({ syncookies: true, sack: false });
    expect(config(['--no-sack', '--no-syncookies'])).toMatchObject({ syncookies: false, sack: false });
  });

  it('a value is refused (they are switches), and the help names the sysctls', () => {
    expect(() => parseUpArgs(['--no-sack=1'])).toThrow(/--no-sack/);
    expect(UP_HELP).toMatch(/--no-syncookies[\s\S]*net\.ipv4\.tcp_syncookies=0/);
    expect(UP_HELP).toMatch(/--no-sack[\s\S]*net\.ipv4\.tcp_sack=0/);
  });
});
