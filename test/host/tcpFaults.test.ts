// Host tests: ustack's TCP over an impaired wire. The TAP driver's fault
// injector (--loss, --reorder, --duplicate, --corrupt: both directions; this
// kernel has no netem) stands between the kernel and the stack. Each
// impairment is its own `ustack up --pcap` run in its own namespace
// (ustack-test-<pid>-faults-<n>), deleted afterwards, pass or fail; traffic
// stays between 10.0.0.1 and 10.0.0.2 inside it. Per run:
//
//   a 10 MB download (GET /bytes) hashed as it streams equals the pattern's hash;
//   a 10 MB upload (POST /sha256) is hashed by the stack to sha256sum of the file;
//   SIGTERM: exit 0 with the Tcp counters;
//   tshark reads the capture: no malformed frame; with no --corrupt, no bad TCP
//   or IP checksum either (retransmissions and other TCP analysis flags are
//   expected and only reported); every byte the stack sent, retransmissions
//   included, equals what it first sent at that sequence number.
//
// Bounded in size (10 MB each way per run) and time; nothing asserts a time or a rate.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { counter, createNetns, deleteNetns, hostTestsEnabled, nsName, startUp, stopAll, type UstackProcess } from './helpers.js';
import { checkCapture, checkRetransmittedBytes, curlHashed, patternSha256, stopAndCheckReport, writeRandomFile } from './tcpHelpers.js';

const enabled = hostTestsEnabled({ file: 'test/host/tcpFaults.test.ts', tools: ['curl', 'tshark', 'sha256sum'] });

const URL = 'http://10.0.0.2';
const SIZE = 10_000_000;

interface Run {
  name: string;
  flags: string[];
  /** Whether frames may reach the stack with bad checksums (and so appear so in its capture). */
  corrupt?: boolean;
  /** Whether the impairment must make the stack retransmit (loss always does over ~15,000 frames). */
  retransmits?: boolean;
}

const RUNS: Run[] = [
  { name: 'loss 1%', flags: ['--loss', '0.01'], retransmits: true },
  { name: 'loss 5%', flags: ['--loss', '0.05'], retransmits: true },
  { name: 'reorder 10% by 2 ms', flags: ['--reorder', '0.1', '--reorder-ms', '2'] },
  { name: 'duplicate 5%', flags: ['--duplicate', '0.05'] },
  { name: 'corrupt 1%', flags: ['--corrupt', '0.01'], corrupt: true, retransmits: true },
];

describe.skipIf(!enabled)('ustack TCP over an impaired TAP: 10 MB each way stays intact', () => {
  let dir = '';
  let upload = '';
  let uploadSha = '';
  const download = patternSha256(SIZE);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-tcpfaults-'));
    upload = join(dir, 'upload.bin');
    uploadSha = await writeRandomFile(upload, SIZE);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe.each(RUNS.map((r, i) => [r.name, r, i] as const))('%s', (_name, run, i) => {
    const ns = nsName(`faults-${i}`);
    const pcap = () => join(dir, `faults-${i}.pcap`);
    let up: UstackProcess;

    beforeAll(async () => {
      createNetns(ns);
      up = await startUp(['--netns', ns, '--pcap', pcap(), ...run.flags]);
      expect(up.stdout).toContain('faults: {');
    });

    afterAll(async () => {
      try {
        await stopAll();
      } finally {
        deleteNetns(ns);
      }
    });

    it('downloads 10 MB (GET /bytes) intact', async () => {
      const r = await curlHashed(ns, [`${URL}/bytes/${SIZE}`], '%{http_code} %{size_download}', 90_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.info).toEqual([`200 ${SIZE}`]);
      expect(r.sha256).toBe(download);
    });

    it('uploads 10 MB (POST /sha256) intact', async () => {
      const r = await curlHashed(ns, ['-H', 'Content-Type: application/octet-stream', '--data-binary', `@${upload}`, `${URL}/sha256`], '%{http_code} %{size_upload}', 90_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.info).toEqual([`200 ${SIZE}`]);
      expect(r.bytes).toBe(65); // 64 hex digits and a newline: the body curl printed
      // The stack's answer is the body; compare it through its hash.
      expect(r.sha256).toBe(createHash('sha256').update(`${uploadSha}\n`).digest('hex'));
    });

    it('exits 0 on SIGTERM with its Tcp counters; tshark reads the capture cleanly', async () => {
      const report = await stopAndCheckReport(up);
      expect(counter(report, 'TcpPassiveOpens'), report).toBe(2);
      if (run.retransmits) expect(counter(report, 'TcpRetransSegs') ?? 0, report).toBeGreaterThan(0);
      // Bit flips in the frames the stack receives are caught by its checksums.
      if (run.corrupt) expect(counter(report, 'TcpInCsumErrors') ?? 0, report).toBeGreaterThan(0);

      const cap = await checkCapture(pcap());
      expect(cap.frames).toBeGreaterThan(7000); // 10 MB each way is ~7,000 full frames each way
      expect(cap.goodTcpChecksums).toBeGreaterThan(7000); // checksum verification was on
      // Every byte the stack sent — originals and retransmissions — agrees with what it sent
      // before at the same sequence numbers (captured before the injector, so exactly as sent).
      const sent = await checkRetransmittedBytes(pcap(), 'ip.src == 10.0.0.2');
      expect(sent.conflicts).toEqual([]);
      expect(sent.bytes).toBeGreaterThan(SIZE);
      if (!run.corrupt) {
        expect(cap.malformed).toEqual([]);
        expect(cap.badTcpChecksums).toEqual([]);
        expect(cap.badIpChecksums).toEqual([]);
      } else {
        // The capture sees received frames after the injector: a flipped bit may make
        // any of them malformed or fail a checksum. Those the stack sent are all sound:
        // they are captured before the injector touches them.
        const fromStack = (l: string) => /^\d+ 10\.0\.0\.2 → /.test(l);
        expect(cap.badTcpChecksums.filter(fromStack)).toEqual([]);
        expect(cap.badIpChecksums.filter(fromStack)).toEqual([]);
      }
      console.log(
        `${run.name}: ${cap.frames} frames, ${cap.analysisFlags} with TCP analysis flags, ${cap.reassemblyOverlaps.length} retransmissions past a reassembled body, ` +
          `TcpRetransSegs ${counter(report, 'TcpRetransSegs') ?? 0}, TcpExtTCPTimeouts ${counter(report, 'TcpExtTCPTimeouts') ?? 0}`,
      );
    });
  });
});
