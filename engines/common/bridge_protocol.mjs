// The bridge side of hookwire's bridge protocol, one module shared by the WEBJS and NOWEB bridges.
//
// stdout: native event records only, one JSON object per line:
//   {"type": "<library event name>", "data": <listener argument(s)>, "ts": <Unix ms>}
//   Bytes (Buffer, Uint8Array) are written as base64 text, BigInt as decimal text; everything
//   else is what JSON.stringify renders (enumerable fields, toJSON).
// stderr: the bridge's and the library's logs, one JSON object per line
//   {"level": "info", "msg": "...", ...fields}, plus raw lines (a terminal QR when asked).
// stdin: commands, one JSON object per line: {"cmd":"stop"}, {"cmd":"logout"},
//   {"cmd":"pairing-code","phone":"..."}. End of stdin (the parent is gone) means stop.
// exit status: see EXIT below.

import readline from 'node:readline';
import { format, parseArgs } from 'node:util';

export const EXIT = Object.freeze({
  OK: 0, // stopped on request (a stop command, end of stdin, a signal)
  CRASH: 1, // an unexpected error; hookwire restarts the bridge after a backoff
  USAGE: 2, // bad command-line arguments
  NEEDS_LOGIN: 3, // logged out, or the login failed: restarting cannot help, a person must act
  RECONNECT: 75, // the connection closed; hookwire starts a new bridge after a backoff
});

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
let minimumLevel = LEVELS.info;

const USAGE =
  'usage: node index.js --session NAME --auth-dir DIR [--qr-terminal] [--log-level LEVEL]';

export function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        session: { type: 'string' },
        'auth-dir': { type: 'string' },
        'qr-terminal': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
      },
      strict: true,
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (!values.session) usageError('--session is required');
  if (!values['auth-dir']) usageError('--auth-dir is required');
  if (!(values['log-level'] in LEVELS)) usageError(`--log-level must be one of ${Object.keys(LEVELS).join(', ')}`);
  return {
    session: values.session,
    authDir: values['auth-dir'],
    qrTerminal: values['qr-terminal'],
    logLevel: values['log-level'],
  };
}

function usageError(message) {
  log('error', `bad arguments: ${message}`, { usage: USAGE });
  process.exit(EXIT.USAGE);
}

/** JSON.stringify replacer: ``this[key]`` is the value before ``toJSON`` (a Buffer's toJSON
 * would give ``{type, data: [...]}``). */
function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Write one native event record on stdout. Returns false when ``data`` cannot be encoded
 * (the record is then logged on stderr and skipped). */
export function writeRecord(type, data) {
  let line;
  try {
    line = JSON.stringify({ type, data: data === undefined ? null : data, ts: Date.now() }, replacer);
  } catch (err) {
    log('error', 'native event not written: it cannot be encoded as JSON', {
      record_type: type,
      error: String(err?.message ?? err),
    });
    return false;
  }
  process.stdout.write(`${line}\n`);
  return true;
}

/** Log lines below ``level`` (trace, debug, info, warn, error, fatal) are not written. */
export function setLogLevel(level) {
  minimumLevel = LEVELS[level] ?? LEVELS.info;
}

/** One log line on stderr. */
export function log(level, msg, fields = {}) {
  if ((LEVELS[level] ?? LEVELS.info) < minimumLevel) return;
  let line;
  try {
    line = JSON.stringify({ level, msg, ...fields }, replacer);
  } catch {
    line = JSON.stringify({ level, msg });
  }
  process.stderr.write(`${line}\n`);
}

export function errorText(err) {
  return String(err?.message ?? err);
}

/** Read commands from stdin and call ``handlers[cmd](command)``, one after another in the
 * order they came; ``stop`` runs at once (a command still running must not hold it up). End
 * of stdin (the parent is gone) calls ``handlers.stop`` at once too. A handler that throws is logged; a bad line is logged and
 * skipped. */
export function readCommands(handlers) {
  let queue = Promise.resolve();
  const run = (command) => () =>
    Promise.resolve()
      .then(() => handlers[command.cmd](command))
      .catch((err) => log('error', `command ${command.cmd} failed`, { error: errorText(err) }));
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let command;
    try {
      command = JSON.parse(line);
    } catch (err) {
      log('error', 'command is not JSON; ignored', { line: line.slice(0, 200), error: errorText(err) });
      return;
    }
    if (!command || typeof command.cmd !== 'string' || !Object.hasOwn(handlers, command.cmd)) {
      log('error', 'unknown command; ignored', { command, known: Object.keys(handlers) });
      return;
    }
    if (command.cmd === 'stop') void run(command)();
    else queue = queue.then(run(command));
  });
  lines.on('close', () => void run({ cmd: 'stop', reason: 'end of stdin' })());
}

/** stdout carries records only: a library's console.log becomes a log line on stderr. */
export function routeConsoleToStderr() {
  const levels = { debug: 'debug', log: 'info', info: 'info', warn: 'warn', error: 'error', trace: 'debug' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => log(level, format(...args), { source: `console.${method}` });
  }
}

/** The parent closed our stdout or stderr (it is gone): there is no one left to tell. */
export function exitOnBrokenPipe() {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => process.exit(err?.code === 'EPIPE' ? EXIT.OK : EXIT.CRASH));
  }
}

/** Exit once stdout and stderr have taken everything written so far. */
export async function exitAfterFlush(code) {
  await Promise.all([
    new Promise((resolve) => process.stdout.write('', resolve)),
    new Promise((resolve) => process.stderr.write('', resolve)),
  ]);
  process.exit(code);
}

/** Crash handling shared by both bridges: log, then exit so hookwire restarts the bridge. */
export function exitOnCrash(cleanup) {
  const crash = (kind) => (err) => {
    log('error', `bridge crashed (${kind})`, { error: errorText(err) });
    Promise.resolve()
      .then(cleanup)
      .catch(() => {})
      .finally(() => exitAfterFlush(EXIT.CRASH));
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}

/** Print ``qr`` as a scannable QR code on stderr (for a person running the bridge by hand). */
export function printTerminalQr(qrcode, qr) {
  qrcode.generate(qr, { small: true }, (art) => process.stderr.write(`${art}\n`));
}
