// The UDP echo service (RFC 862) on one stack over loopback, and the
// `ustack up` flags that configure it.
import { describe, expect, it } from 'vitest';
import { VirtualRuntime } from '../../../src/core/runtime.js';
import { parseUpArgs, UP_HELP, UsageError, type UpConfig } from '../../../src/cli/args.js';
import { startUdpEcho } from '../../../src/services/udpEcho.js';
import { Stack } from '../../../src/stack.js';

describe('UDP echo service', () => {
  it('echoes on a chosen port and address, and stops on close', async () => {
    const rt = new VirtualRuntime();
    const s = new Stack({ runtime: rt });
    const started = startUdpEcho(s, { port: 7007, address: '127.0.0.1' });
    rt.run();
    const echo = await started;
    expect(echo.port).toBe(7007);
    expect(echo.socket.address().address).toBe('127.0.0.1');
    const cli = s.createSocket('udp4');
    const got: string[] = [];
    cli.on('message', (m: Buffer) => got.push(m.toString()));
    cli.send('ping?', 7007, '127.0.0.1');
    rt.run();
    expect(got).toEqual(['ping?']);

    const closed = echo.close();
    rt.run();
    await closed;
    // Closed: the port answers with port unreachable now (over loopback, to a connected socket).
    const conn = s.createSocket('udp4');
    const errs: string[] = [];
    conn.on('error', (e: Error & { code?: string }) => errs.push(e.code!));
    conn.connect(7007);
    conn.send('anyone?');
    rt.run();
    expect(errs).toEqual(['ECONNREFUSED']);
  });

  it('rejects a port that is taken, or not a port', async () => {
    const rt = new VirtualRuntime();
    const s = new Stack({ runtime: rt });
    s.createSocket('udp4').bind(7);
    const p = startUdpEcho(s);
    rt.run();
    await expect(p).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    await expect(startUdpEcho(s, { port: 70000 })).rejects.toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
  });
});

describe('ustack up: UDP echo flags', () => {
  const parse = (...argv: string[]): UpConfig => {
    const c = parseUpArgs(argv);
    if (c === 'help') throw new Error('help');
    return c;
  };

  it('runs the echo service on port 7 unless told otherwise', () => {
    expect(parse().udpEchoPort).toBe(7);
    expect(parse('--udp-echo-port', '7777').udpEchoPort).toBe(7777);
    expect(parse('--no-udp-echo').udpEchoPort).toBeNull();
  });

  it('refuses bad values and contradictions with a usage error', () => {
    for (const argv of [['--udp-echo-port', '0'], ['--udp-echo-port', '65536'], ['--udp-echo-port', 'seven'], ['--no-udp-echo', '--udp-echo-port', '7']]) {
      expect(() => parseUpArgs(argv), argv.join(' ')).toThrow(UsageError);
    }
    expect(() => parseUpArgs(['--udp-echo-port', '0'])).toThrow(/--udp-echo-port must be from 1 to 65535/);
  });

  it('documents them in the help', () => {
    expect(UP_HELP).toContain('--udp-echo-port N');
    expect(UP_HELP).toContain('--no-udp-echo');
  });
});
