// state: the connection states of RFC 9293 §3.3.2, numbered as Linux's
// TCP_* so `ss` output reads the same.

export const enum TcpState {
  Established = 1,
  SynSent = 2,
  SynRecv = 3,
  FinWait1 = 4,
  FinWait2 = 5,
  TimeWait = 6,
  Close = 7,
  CloseWait = 8,
  LastAck = 9,
  Listen = 10,
  Closing = 11,
}

export const STATE_NAMES: Record<number, string> = {
  1: 'ESTAB',
  2: 'SYN-SENT',
  3: 'SYN-RECV',
  4: 'FIN-WAIT-1',
  5: 'FIN-WAIT-2',
  6: 'TIME-WAIT',
  7: 'CLOSED',
  8: 'CLOSE-WAIT',
  9: 'LAST-ACK',
  10: 'LISTEN',
  11: 'CLOSING',
};

/** States in which our FIN has been sent. */
export function finSent(s: TcpState): boolean {
  return s === TcpState.FinWait1 || s === TcpState.FinWait2 || s === TcpState.Closing || s === TcpState.LastAck || s === TcpState.TimeWait;
}

/** States in which the peer's FIN has been received. */
export function finReceived(s: TcpState): boolean {
  return s === TcpState.CloseWait || s === TcpState.LastAck || s === TcpState.Closing || s === TcpState.TimeWait;
}
