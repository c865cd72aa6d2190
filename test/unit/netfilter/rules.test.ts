// The netfilter rule language: text and JSON front ends, their messages,
// and printing (src/ipv4/netfilterRules.ts).
import { describe, expect, it } from 'vitest';
import {
  checkRule,
  formatRule,
  formatRuleExtras,
  parseRule,
  parseRulesJson,
  ruleFromObject,
  type NfRuleSpec,
} from '../../../src/ipv4/netfilterRules.js';
import { parseIpv4 } from '../../../src/wire/address.js';

function ok(text: string): NfRuleSpec {
  const r = parseRule(text);
  if (!r.ok) throw new Error(`expected '${text}' to parse, got: ${r.error}`);
  return r.rule;
}

function bad(text: string): string {
  const r = parseRule(text);
  if (r.ok) throw new Error(`expected '${text}' to be rejected, got ${JSON.stringify(r.rule)}`);
  return r.error;
}

const ANY: Omit<NfRuleSpec, 'chain'> = {
  protocol: 0,
  src: 0,
  srcPrefix: 0,
  dst: 0,
  dstPrefix: 0,
  sport: null,
  dport: null,
  icmp: null,
  tcpFlags: null,
  in: null,
  out: null,
  target: null,
  rejectWith: null,
};

describe('parseRule: good rules', () => {
  it('parses the ICMP drop of the host test', () => {
    expect(ok('INPUT -p icmp --icmp-type echo-request -j DROP')).toEqual({
      ...ANY,
      chain: 'INPUT',
      protocol: 1,
      icmp: { type: 8, codeMin: 0, codeMax: 255 },
      target: 'DROP',
    });
  });

  it('parses a TCP REJECT with tcp-reset', () => {
    expect(ok('INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset')).toEqual({
      ...ANY,
      chain: 'INPUT',
      protocol: 6,
      dport: { min: 81, max: 81 },
      target: 'REJECT',
      rejectWith: 'tcp-reset',
    });
  });

  it('defaults REJECT to icmp-port-unreachable, as iptables', () => {
    expect(ok('INPUT -p udp -j REJECT').rejectWith).toBe('icmp-port-unreachable');
  });

  it('accepts the libxt_REJECT aliases', () => {
    expect(ok('INPUT -j REJECT --reject-with admin-prohib').rejectWith).toBe('icmp-admin-prohibited');
    expect(ok('INPUT -p tcp -j REJECT --reject-with tcp-rst').rejectWith).toBe('tcp-reset');
  });

  it('parses addresses with prefixes and keeps only the network part', () => {
    const r = ok('OUTPUT -s 10.0.0.5/24 -d 192.168.1.7 -j ACCEPT');
    expect(r.src).toBe(parseIpv4('10.0.0.0'));
    expect(r.srcPrefix).toBe(24);
    expect(r.dst).toBe(parseIpv4('192.168.1.7'));
    expect(r.dstPrefix).toBe(32);
    expect(ok('INPUT -s 0.0.0.0/0 -j DROP').srcPrefix).toBe(0);
  });

  it('parses ports and ranges the iptables way (MIN:MAX, :MAX, MIN:)', () => {
    expect(ok('INPUT -p udp --sport 1000:2000').sport).toEqual({ min: 1000, max: 2000 });
    expect(ok('INPUT -p udp --dport :1023').dport).toEqual({ min: 0, max: 1023 });
    expect(ok('INPUT -p tcp --dport 1024:').dport).toEqual({ min: 1024, max: 65535 });
    expect(ok('INPUT -p tcp --destination-port 0').dport).toEqual({ min: 0, max: 0 });
  });

  it('parses ICMP types by name, number and type/code', () => {
    expect(ok('INPUT -p icmp --icmp-type port-unreachable').icmp).toEqual({ type: 3, codeMin: 3, codeMax: 3 });
    expect(ok('INPUT -p icmp --icmp-type 3/4').icmp).toEqual({ type: 3, codeMin: 4, codeMax: 4 });
    expect(ok('INPUT -p icmp --icmp-type 0').icmp).toEqual({ type: 0, codeMin: 0, codeMax: 255 });
    expect(ok('INPUT -p icmp --icmp-type any').icmp).toBeNull();
    expect(ok('INPUT -p 1 --icmp-type Echo-Request').icmp?.type).toBe(8);
  });

  it('parses --tcp-flags and --syn', () => {
    expect(ok('INPUT -p tcp --tcp-flags SYN,ACK SYN -j DROP').tcpFlags).toEqual({ mask: 0x12, comp: 0x02 });
    expect(ok('INPUT -p tcp --tcp-flags ALL NONE').tcpFlags).toEqual({ mask: 0xff, comp: 0 });
    expect(ok('INPUT -p tcp --syn').tcpFlags).toEqual({ mask: 0x17, comp: 0x02 });
    expect(ok('INPUT -p tcp --tcp-flags syn,rst rst').tcpFlags).toEqual({ mask: 0x06, comp: 0x04 });
  });

  it('parses interfaces, with the + wildcard', () => {
    expect(ok('PREROUTING -i eth0 -j DROP').in).toBe('eth0');
    expect(ok('POSTROUTING -o ustack+ -j ACCEPT').out).toBe('ustack+');
  });

  it('allows a leading -A, long option names, -m matching -p, and no target (count only)', () => {
    expect(ok('-A INPUT --protocol tcp -m tcp --dport 22 --jump ACCEPT')).toMatchObject({ chain: 'INPUT', protocol: 6, target: 'ACCEPT' });
    expect(ok('INPUT -p tcp').target).toBeNull();
    expect(ok('POSTROUTING').chain).toBe('POSTROUTING');
    expect(ok('  INPUT   -p   all   -j   DROP  ').protocol).toBe(0);
  });

  it('reads the printed form back to the same rule', () => {
    for (const t of [
      'INPUT -p icmp --icmp-type echo-request -j DROP',
      'INPUT -i eth+ -s 10.0.0.0/8 -d 10.0.0.2 -p tcp --sport 1:1023 --dport 81 --tcp-flags SYN,ACK,FIN,RST SYN -j REJECT --reject-with tcp-reset',
      'OUTPUT -o lo -p udp --dport 53 -j ACCEPT',
      'OUTPUT -p icmp --icmp-type 3/8 -j REJECT --reject-with icmp-admin-prohibited',
      'INPUT -p icmp --icmp-type fragmentation-needed',
      'PREROUTING -p 47',
    ]) {
      const r = ok(t);
      expect(formatRule(r)).toBe(t);
      expect(ok(formatRule(r))).toEqual(r);
    }
  });

  it('prints the iptables -L match column', () => {
    expect(formatRuleExtras(ok('INPUT -p icmp --icmp-type echo-request -j DROP'))).toBe('icmptype 8');
    expect(formatRuleExtras(ok('INPUT -p icmp --icmp-type port-unreachable'))).toBe('icmptype 3 code 3');
    expect(formatRuleExtras(ok('INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset'))).toBe('tcp dpt:81 reject-with tcp-reset');
    expect(formatRuleExtras(ok('INPUT -p udp --sport 5:6 --dport 1:2'))).toBe('udp spts:5:6 dpts:1:2');
    expect(formatRuleExtras(ok('INPUT -p tcp --syn'))).toBe('tcp flags:0x17/0x02');
  });
});

describe('parseRule: bad rules, each with a sentence that says why', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty rule/],
    ['-p icmp -j DROP', /starts with its chain/],
    ['FORWARD -j DROP', /no FORWARD chain.*does not forward/],
    ['input -j DROP', /unknown chain 'input' \(chain names are upper case: INPUT\)/],
    ['NAT -j DROP', /unknown chain 'NAT'/],
    ['INPUT -p icmpx -j DROP', /-p: unknown protocol 'icmpx'/],
    ['INPUT -p 256', /-p: unknown protocol '256'/],
    ['INPUT -s 10.0.0.300 -j DROP', /-s: '10.0.0.300' is not an IPv4 address/],
    ['INPUT -d 10.0.0.0/33 -j DROP', /-d: '10.0.0.0\/33': the prefix length must be 0-32/],
    ['INPUT --dport 80 -j DROP', /--dport needs -p tcp or -p udp/],
    ['INPUT -p icmp --sport 80', /--sport needs -p tcp or -p udp/],
    ['INPUT -p tcp --dport 70000', /--dport: '70000' is not a port/],
    ['INPUT -p tcp --dport 90:80', /invalid port range '90:80' \(min > max\)/],
    ['INPUT -p tcp --dport http', /--dport: 'http' is not a port/],
    ['INPUT -p tcp --icmp-type echo-request', /--icmp-type needs -p icmp/],
    ['INPUT -p icmp --icmp-type bogus -j DROP', /--icmp-type: unknown ICMP type 'bogus'/],
    ['INPUT -p icmp --icmp-type 3/256', /unknown ICMP type '3\/256'/],
    ['INPUT -p udp --tcp-flags SYN SYN', /--tcp-flags needs -p tcp/],
    ['INPUT -p tcp --tcp-flags SYN', /--tcp-flags needs two values/],
    ['INPUT -p tcp --tcp-flags SYN,BOGUS SYN', /unknown TCP flag 'BOGUS'/],
    ['INPUT -p tcp --tcp-flags SYN FIN', /must be among those examined/],
    ['INPUT -p tcp --syn --tcp-flags SYN SYN', /given twice/],
    ['OUTPUT -i eth0 -j DROP', /-i cannot be used in the OUTPUT chain/],
    ['POSTROUTING -i eth0', /-i cannot be used in the POSTROUTING chain/],
    ['INPUT -o eth0 -j DROP', /-o cannot be used in the INPUT chain/],
    ['PREROUTING -o eth0', /-o cannot be used in the PREROUTING chain/],
    ['INPUT -i this-name-is-too-long0', /-i: 'this-name-is-too-long0' is not an interface name/],
    ['INPUT -j drop', /unknown target 'drop' \(targets are upper case: DROP\)/],
    ['INPUT -j LOG', /unknown target 'LOG'; one of ACCEPT, DROP, REJECT/],
    ['INPUT -j DROP --reject-with tcp-reset', /--reject-with needs -j REJECT/],
    ['INPUT -j REJECT --reject-with icmp-echo-reply', /--reject-with: unknown type 'icmp-echo-reply'/],
    ['PREROUTING -j REJECT', /REJECT is valid only in the INPUT and OUTPUT chains, not PREROUTING/],
    ['POSTROUTING -p tcp -j REJECT --reject-with tcp-reset', /REJECT is valid only in the INPUT and OUTPUT chains/],
    ['INPUT -p udp -j REJECT --reject-with tcp-reset', /tcp-reset needs -p tcp/],
    ['INPUT -j REJECT --reject-with tcp-reset', /tcp-reset needs -p tcp/],
    ['INPUT -p icmp -p tcp', /-p given twice/],
    ['INPUT -p', /-p needs a value/],
    ['INPUT -p -j DROP', /-p needs a value/],
    ['INPUT --state NEW -j DROP', /unknown option '--state'/],
    ['INPUT -p tcp ! --dport 80', /negation .* not supported/],
    ['INPUT -p tcp 80', /unexpected '80'/],
    ['INPUT -m state -j DROP', /-m state: only the tcp, udp and icmp matches/],
    ['INPUT -p udp -m tcp --dport 1', /-m tcp needs -p tcp/],
  ];
  for (const [text, want] of cases) {
    it(`rejects '${text}'`, () => {
      expect(bad(text)).toMatch(want);
    });
  }
});

describe('JSON rules', () => {
  it('builds the same rule as the text form', () => {
    const j = ruleFromObject({ chain: 'INPUT', protocol: 'tcp', dport: 81, target: 'REJECT', rejectWith: 'tcp-reset' });
    expect(j).toEqual(parseRule('INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset'));
    const k = ruleFromObject({
      chain: 'INPUT',
      protocol: 6,
      source: '10.0.0.0/24',
      destination: '10.0.0.2',
      sport: '1000:2000',
      tcpFlags: 'SYN,ACK SYN',
      in: 'eth0',
      target: 'DROP',
    });
    expect(k).toEqual(parseRule('INPUT -i eth0 -s 10.0.0.0/24 -d 10.0.0.2 -p tcp --sport 1000:2000 --tcp-flags SYN,ACK SYN -j DROP'));
    expect(ruleFromObject({ chain: 'INPUT', protocol: 'icmp', icmpType: 8, target: 'DROP' })).toEqual(
      parseRule('INPUT -p icmp --icmp-type 8 -j DROP'),
    );
  });

  it('takes tcpFlags as a string, a pair or an object; null as absent', () => {
    const want = { mask: 0x12, comp: 0x02 };
    for (const tcpFlags of ['SYN,ACK SYN', ['SYN,ACK', 'SYN'], { mask: 'SYN,ACK', comp: 'SYN' }]) {
      const r = ruleFromObject({ chain: 'INPUT', protocol: 'tcp', tcpFlags });
      expect(r.ok && r.rule.tcpFlags).toEqual(want);
    }
    const r = ruleFromObject({ chain: 'INPUT', protocol: 'tcp', dport: null, target: 'DROP' });
    expect(r.ok && r.rule.dport).toBeNull();
  });

  it('names the field in its messages', () => {
    const msg = (o: unknown) => {
      const r = ruleFromObject(o);
      return r.ok ? 'ok' : r.error;
    };
    expect(msg({ chain: 'INPUT', dport: 80 })).toMatch(/"dport" needs "protocol": "tcp" or "udp"/);
    expect(msg({ chain: 'INPUT', protocol: 'icmp', icmpType: 'bogus' })).toMatch(/"icmpType": unknown ICMP type 'bogus'/);
    expect(msg({ chain: 'INPUT', target: 'DROP', action: 'x' })).toMatch(/unknown field "action"/);
    expect(msg({ target: 'DROP' })).toMatch(/no chain/);
    expect(msg({ chain: 'INPUT', source: 10 })).toMatch(/"source": '10' is not an IPv4 address/);
    expect(msg({ chain: 'INPUT', protocol: true })).toMatch(/"protocol" must be a string/);
    expect(msg({ chain: 'INPUT', protocol: 'tcp', dport: 1.5 })).toMatch(/"dport": 1.5 is not a port/);
    expect(msg('INPUT -j DROP')).toMatch(/a rule must be an object/);
    expect(msg({ chain: 'OUTPUT', protocol: 'tcp', target: 'REJECT', rejectWith: 'tcp-reset', in: 'eth0' })).toMatch(/"in" cannot be used in the OUTPUT chain/);
  });

  it('parses a file, naming a bad rule by its index', () => {
    const good = parseRulesJson(JSON.stringify([{ chain: 'INPUT', protocol: 'icmp', target: 'DROP' }, { chain: 'OUTPUT', target: 'ACCEPT' }]));
    expect(good.ok && good.rules.map(formatRule)).toEqual(['INPUT -p icmp -j DROP', 'OUTPUT -j ACCEPT']);
    const r = parseRulesJson(JSON.stringify([{ chain: 'INPUT', target: 'DROP' }, { chain: 'INPUT', protocol: 'udp', target: 'REJECT', rejectWith: 'tcp-reset' }]));
    expect(r).toEqual({ ok: false, error: 'rule [1]: "rejectWith" tcp-reset needs "protocol": "tcp"' });
    expect(parseRulesJson('{"chain": "INPUT"}')).toEqual({ ok: false, error: 'expected a JSON array of rule objects' });
    const j = parseRulesJson('[{"chain": "INPUT",}]');
    expect(!j.ok && j.error).toMatch(/^not valid JSON: /);
    expect(parseRulesJson('[]')).toEqual({ ok: true, rules: [] });
  });
});

describe('checkRule', () => {
  it('checks specs built in code', () => {
    expect(checkRule({ ...ANY, chain: 'INPUT', target: 'DROP' })).toBeNull();
    expect(checkRule({ ...ANY, chain: 'INPUT', dport: { min: 1, max: 2 } })).toMatch(/--dport needs -p tcp/);
    expect(checkRule({ ...ANY, chain: 'INPUT', protocol: 6, dport: { min: 3, max: 2 } })).toMatch(/invalid port range 3:2/);
    expect(checkRule({ ...ANY, chain: 'FORWARD' as 'INPUT' })).toMatch(/unknown chain 'FORWARD'/);
    expect(checkRule({ ...ANY, chain: 'OUTPUT', srcPrefix: 33 })).toMatch(/prefix length 33/);
  });
});
