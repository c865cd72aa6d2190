// netns: the few iproute2 commands `ustack up` runs around the stack —
// create and delete its network namespace, configure the kernel's side of
// the TAP. Each failure becomes an Error that says which command failed and
// what it printed.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT') throw Object.assign(new Error('the `ip` command (iproute2) is not installed: apt-get install iproute2'), { code: 'ENOENT' });
    const said = (err.stderr ?? '').trim() || err.message;
    throw new Error(`\`ip ${args.join(' ')}\` failed: ${said}`);
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`/var/run/netns/${name}`) || existsSync(`/run/netns/${name}`);
}

export function netnsAdd(name: string): void {
  ip(['netns', 'add', name]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
}

export function netnsDelete(name: string): void {
  ip(['netns', 'del', name]);
}

/** Assigns the kernel's side of the TAP its address (and brings it up). */
export function configureHostSide(netns: string | null, ifname: string, cidr: string): void {
  const pre = netns ? ['-n', netns] : [];
  ip([...pre, 'addr', 'add', cidr, 'dev', ifname]);
  ip([...pre, 'link', 'set', ifname, 'up']);
}
