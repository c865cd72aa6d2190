// errors: the Error objects Node's dgram module throws and emits, made the
// same way (lib/internal/errors.js) so code written against dgram can test
// `err.code` and `err.syscall` unchanged: system errors carry a negative
// `errno`, `code`, `syscall` and, for bind/send/connect, `address`/`port`;
// API misuse throws with an ERR_* code.

import { constants } from 'node:os';
import { inspect } from 'node:util';

export interface SystemLikeError extends Error {
  errno: number;
  code: string;
  syscall: string;
  address?: string;
  port?: number;
  hostname?: string;
}

function errnoOf(code: string): number {
  const n = (constants.errno as Record<string, number | undefined>)[code];
  return n === undefined ? -1 : -n;
}

/** ErrnoException: "recvmsg ECONNREFUSED". */
export function errnoException(code: string, syscall: string): SystemLikeError {
  return Object.assign(new Error(`${syscall} ${code}`), { errno: errnoOf(code), code, syscall });
}

/** ExceptionWithHostPort: "bind EADDRINUSE 0.0.0.0:41234". */
export function exceptionWithHostPort(code: string, syscall: string, address: string | undefined, port: number | undefined): SystemLikeError {
  let details = '';
  if (port && port > 0) details = ` ${address}:${port}`;
  else if (address) details = ` ${address}`;
  const e: SystemLikeError = Object.assign(new Error(`${syscall} ${code}${details}`), { errno: errnoOf(code), code, syscall });
  if (address !== undefined) e.address = address;
  if (port) e.port = port;
  return e;
}

/** A failed name lookup: "getaddrinfo ENOTFOUND example". */
export function dnsException(hostname: string): SystemLikeError {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    errno: -3008, // UV_EAI_NONAME
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
    hostname,
  });
}

type Ctor = ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor;

/** A Node internal error: message, class and ERR_* code as Node makes them. */
function nodeError(Base: Ctor, code: string, message: string): Error & { code: string } {
  const e = new Base(message) as Error & { code: string };
  e.code = code;
  // Node shows the code in the name part of the stack: "RangeError [ERR_SOCKET_BAD_PORT]: ...".
  if (e.stack) e.stack = e.stack.replace(/^(\w*Error)/, `$1 [${code}]`);
  return e;
}

/** Node's description of a received value in argument errors. */
function describe(v: unknown): string {
  if (v == null) return ` Received ${v}`;
  if (typeof v === 'function') return ` Received function ${v.name || '<anonymous>'}`;
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    return name ? ` Received an instance of ${name}` : ` Received ${inspect(v, { depth: -1 })}`;
  }
  let shown = inspect(v, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof v} (${shown})`;
}

export const ERR = {
  SOCKET_BAD_PORT: (name: string, port: unknown, allowZero: boolean) =>
    nodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536.${describe(port)}.`),
  SOCKET_DGRAM_NOT_RUNNING: () => nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running'),
  SOCKET_DGRAM_IS_CONNECTED: () => nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected'),
  SOCKET_DGRAM_NOT_CONNECTED: () => nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected'),
  SOCKET_ALREADY_BOUND: () => nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound'),
  SOCKET_BAD_TYPE: () => nodeError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4 (udp6 is not supported by this stack)'),
  SOCKET_BAD_BUFFER_SIZE: () => nodeError(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer'),
  SOCKET_BUFFER_SIZE: (syscall: string, code: string, text: string) => {
    const e = nodeError(Error, 'ERR_SOCKET_BUFFER_SIZE', `Could not get or set buffer size: ${syscall} returned ${code} (${text})`);
    e.name = 'SystemError';
    return Object.assign(e, { info: { errno: errnoOf(code), code, message: text, syscall } });
  },
  INVALID_ARG_TYPE: (name: string, expected: string, actual: unknown) =>
    nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}.${describe(actual)}`),
  INVALID_ARG_VALUE: (name: string, value: unknown, reason: string) =>
    nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The argument '${name}' ${reason}. Received ${inspect(value)}`),
  BUFFER_OUT_OF_BOUNDS: (name: string) => nodeError(RangeError, 'ERR_BUFFER_OUT_OF_BOUNDS', `"${name}" is outside of buffer bounds`),
};
