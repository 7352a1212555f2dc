// The bridge side of hookwire's bridge protocol, one module shared by the WEBJS and NOWEB bridges.
//
// stdout: records, one JSON object per line:
//   {"type": "<library event name>", "data": <listener argument(s)>, "ts": <Unix ms>}
//   Bytes (Buffer, Uint8Array) are written as base64 text, BigInt as decimal text; everything
//   else is what JSON.stringify renders (enumerable fields, toJSON). Protocol records have a
//   type starting with "hookwire.": "hookwire.result" (a command's answer), "hookwire.heartbeat"
//   ({"status": the bridge's view: STARTING, SCAN_QR_CODE, WORKING}, every --heartbeat-seconds
//   and at once when the status changes), "hookwire.me" (the session's own account).
// stderr: the bridge's and the library's logs, one JSON object per line
//   {"level": "info", "msg": "...", ...fields}, plus raw lines (a terminal QR when asked).
// stdin: commands, one JSON object per line, {"cmd": NAME, "id": ID, "timeout_ms": N, ...args}:
//   pairing-code {phone}, me, logout, stop, and the send commands (send-text, send-media,
//   send-location, send-contacts, send-poll, react, forward, edit, delete, send-seen,
//   presence: arguments in engines/common/sandbox_args.py, helpers in bridge_send.mjs).
//   A command with an id is answered with
//   {"type":"hookwire.result","data":{"id","ok":true,"result","sent"?}} or
//   {"type":"hookwire.result","data":{"id","ok":false,"error":{"code","message"}}};
//   id-less commands ({"cmd":"stop"}) are carried out without an answer. End of stdin (the
//   parent is gone) means stop.
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
  'usage: node index.js --session NAME --auth-dir DIR [--qr-terminal] [--log-level LEVEL] ' +
  '[--heartbeat-seconds N] [--proxy URL [--proxy-username USER]] [--device-name NAME] ' +
  '[--browser-name NAME] [--no-mark-online] [--tags-events]   ' +
  '(the proxy password comes from $HOOKWIRE_PROXY_PASSWORD)';

/** Each bridge applies the options its library has: --no-mark-online is Baileys',
 * --tags-events whatsapp-web.js'; the other bridge accepts them and does nothing. */
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
        'heartbeat-seconds': { type: 'string', default: '0' },
        proxy: { type: 'string' },
        'proxy-username': { type: 'string' },
        'device-name': { type: 'string' },
        'browser-name': { type: 'string' },
        'no-mark-online': { type: 'boolean', default: false },
        'tags-events': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    usageError(err.message);
  }
  if (!values.session) usageError('--session is required');
  if (!values['auth-dir']) usageError('--auth-dir is required');
  if (!(values['log-level'] in LEVELS)) usageError(`--log-level must be one of ${Object.keys(LEVELS).join(', ')}`);
  const heartbeatSeconds = Number(values['heartbeat-seconds']);
  if (!(heartbeatSeconds === 0 || (heartbeatSeconds >= 0.05 && heartbeatSeconds <= 3600))) {
    usageError('--heartbeat-seconds must be 0 (off) or a number from 0.05 to 3600');
  }
  let proxy = null;
  if (values.proxy !== undefined) {
    let url;
    try {
      url = new URL(values.proxy);
    } catch {
      usageError(`--proxy must be a URL such as http://host:3128, got ${JSON.stringify(values.proxy)}`);
    }
    if (!['http:', 'https:', 'socks:', 'socks4:', 'socks5:'].includes(url.protocol)) {
      usageError(`--proxy: unsupported scheme ${url.protocol} (http, https, socks4, socks5)`);
    }
    proxy = {
      url: values.proxy,
      username: values['proxy-username'] ?? null,
      password: process.env.HOOKWIRE_PROXY_PASSWORD || null,
    };
  }
  return {
    session: values.session,
    authDir: values['auth-dir'],
    qrTerminal: values['qr-terminal'],
    logLevel: values['log-level'],
    heartbeatSeconds,
    proxy,
    deviceName: values['device-name'] ?? null,
    browserName: values['browser-name'] ?? null,
    markOnline: !values['no-mark-online'],
    tagsEvents: values['tags-events'],
  };
}

/** The options for a debug log line: the proxy password masked. */
export function shownOptions(options) {
  return { ...options, proxy: options.proxy && { ...options.proxy, password: options.proxy.password ? '***' : null } };
}

/** The proxy's URL with its credentials in it (what an http(s)/socks agent takes). */
export function proxyUrlWithCredentials(proxy) {
  const url = new URL(proxy.url);
  if (proxy.username) url.username = proxy.username;
  if (proxy.password) url.password = proxy.password;
  return url.toString();
}

function usageError(message) {
  log('error', `bad arguments: ${message}`, { usage: USAGE });
  process.exit(EXIT.USAGE);
}

/** JSON.stringify replacer: ``this[key]`` is the value before ``toJSON`` (a Buffer's toJSON
 * would give ``{type, data: [...]}``). A command's answer keeps each object's ``toJSON`` form,
 * as WAHA's HTTP answers do (a protobuf message's enums by name: ``status: "PENDING"``). */
function replacer(key, value) {
  const raw = this[key];
  if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** How a protobuf message (Baileys' ``proto.*``) is written in an event record: as its
 * ``toJSON`` does, but with enums as numbers, as the library's listeners (and so the
 * translators, engine-mapping §1.2) see them: ``protocolMessage.type: 0``, not ``"REVOKE"``. */
const PROTO_AS_RECORD = { longs: String, bytes: String, json: true };

function isProtoMessage(value) {
  return value !== null && typeof value === 'object' && typeof value.toJSON === 'function'
    && typeof value.constructor?.toObject === 'function';
}

/** The replacer of event records: :func:`replacer`, protobuf messages with numeric enums. */
export function recordReplacer(key, value) {
  const raw = this[key];
  if (isProtoMessage(raw)) return raw.constructor.toObject(raw, PROTO_AS_RECORD);
  return replacer.call(this, key, value);
}

/** While a send command runs, native records wait (in order) until its answer is written:
 * hookwire then knows the ids it sent before it translates their events (source "api"). */
let holding = 0;
const held = [];

/** Write one native event record on stdout. Returns false when ``data`` cannot be encoded
 * (the record is then logged on stderr and skipped). */
export function writeRecord(type, data) {
  let line;
  try {
    line = JSON.stringify({ type, data: data === undefined ? null : data, ts: Date.now() },
      type.startsWith('hookwire.') ? replacer : recordReplacer);
  } catch (err) {
    log('error', 'native event not written: it cannot be encoded as JSON', {
      record_type: type,
      error: String(err?.message ?? err),
    });
    return false;
  }
  if (holding > 0 && !type.startsWith('hookwire.')) held.push(line);
  else process.stdout.write(`${line}\n`);
  return true;
}

function releaseRecords() {
  holding -= 1;
  if (holding === 0) {
    for (const line of held.splice(0)) process.stdout.write(`${line}\n`);
  }
}

/** A send command's result and the ids (WAHA's format) of the messages it sent. */
export class Sent {
  constructor(result, ids) {
    this.result = result;
    this.ids = ids.filter((id) => typeof id === 'string' && id);
  }
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

/** A command that could not be carried out; ``code`` is one of hookwire's CommandError codes:
 * not_working, unsupported, timeout, busy, gone, failed, invalid. */
export class CommandError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const DEFAULT_COMMAND_TIMEOUT_MS = 30000;

/** Commands that send: native records wait for their answer (see ``writeRecord``). */
export const SEND_COMMANDS = new Set(['send-text', 'send-media', 'send-location', 'send-contacts',
  'send-poll', 'react', 'forward', 'edit', 'delete']);

/** Write the answer to command ``id``. */
export function writeResult(id, outcome) {
  let data;
  if (!outcome.ok) data = { id, ok: false, error: outcome.error };
  else if (outcome.result instanceof Sent) {
    const { result, ids } = outcome.result;
    data = { id, ok: true, result: result === undefined ? null : result, sent: ids };
  } else data = { id, ok: true, result: outcome.result === undefined ? null : outcome.result };
  if (!writeRecord('hookwire.result', data)) {
    writeRecord('hookwire.result', {
      id,
      ok: false,
      error: { code: 'failed', message: 'the result cannot be encoded as JSON' },
    });
  }
}

/** ``handler(command)``, bounded by the command's ``timeout_ms``: a library call that never
 * settles must not hold up the commands queued after it. */
async function carryOut(handler, command) {
  const timeoutMs = Number.isFinite(command.timeout_ms) && command.timeout_ms > 0
    ? command.timeout_ms : DEFAULT_COMMAND_TIMEOUT_MS;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CommandError('timeout',
      `${command.cmd}: the library gave no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return { ok: true, result: await Promise.race([Promise.resolve().then(() => handler(command)), timeout]) };
  } catch (err) {
    const code = err instanceof CommandError ? err.code : 'failed';
    return { ok: false, error: { code, message: errorText(err) } };
  } finally {
    clearTimeout(timer);
  }
}

/** Read commands from stdin and call ``handlers[cmd](command)``, one after another in the
 * order they came; ``stop`` runs at once (a command still running must not hold it up). A
 * command with an ``id`` is answered with its handler's result, or the error it threw (the
 * library's reason); a handler's ``CommandError`` keeps its code, anything else is
 * ``failed``. ``stop`` is answered before it runs (the bridge then exits). End of stdin (the
 * parent is gone) calls ``handlers.stop`` at once too. A bad line is logged and skipped; an
 * id-less command that fails is logged. */
export function readCommands(handlers) {
  let queue = Promise.resolve();
  const run = (command) => async () => {
    const handler = handlers[command.cmd];
    if (command.id === undefined) {
      try {
        await handler(command);
      } catch (err) {
        log('error', `command ${command.cmd} failed`, { error: errorText(err) });
      }
      return;
    }
    if (command.cmd === 'stop') {
      writeResult(command.id, { ok: true, result: null });
      await handler(command);
      return;
    }
    const holds = SEND_COMMANDS.has(command.cmd);
    if (holds) holding += 1;
    try {
      const outcome = await carryOut(handler, command);
      if (!outcome.ok) log('warn', `command ${command.cmd} failed`, { request_id: command.id, ...outcome.error });
      writeResult(command.id, outcome);
    } finally {
      if (holds) releaseRecords();
    }
  };
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
    if (!command || typeof command.cmd !== 'string') {
      log('error', 'command without a "cmd"; ignored', { command });
      return;
    }
    const id = command.id;
    if (id !== undefined && typeof id !== 'string') {
      log('error', 'command id must be a string; ignored', { command });
      return;
    }
    if (!Object.hasOwn(handlers, command.cmd)) {
      log('error', 'unknown command; ignored', { command, known: Object.keys(handlers) });
      if (id !== undefined) {
        writeResult(id, { ok: false, error: {
          code: 'unsupported', message: `this bridge has no command ${JSON.stringify(command.cmd)} ` +
            `(it has ${Object.keys(handlers).join(', ')})`,
        } });
      }
      return;
    }
    if (command.cmd === 'stop') void run(command)();
    else queue = queue.then(run(command));
  });
  lines.on('close', () => void run({ cmd: 'stop', reason: 'end of stdin' })());
}

/** Heartbeats: ``hookwire.heartbeat`` every ``seconds`` with the status ``probe()`` returns;
 * no heartbeat when the probe fails or hangs (the library is stuck: hookwire's watchdog then
 * restarts the bridge). ``now()`` writes one at once (the status changed). */
export function startHeartbeats(seconds, probe) {
  if (!seconds) return { now: () => {} };
  const probeTimeoutMs = Math.min(seconds * 1000, 10000);
  let beating = false;
  const beat = async () => {
    if (beating) return;
    beating = true;
    let timer;
    try {
      const status = await Promise.race([
        Promise.resolve().then(probe),
        new Promise((resolve) => { timer = setTimeout(resolve, probeTimeoutMs, null); }),
      ]);
      if (typeof status === 'string') writeRecord('hookwire.heartbeat', { status });
    } catch (err) {
      log('debug', 'heartbeat probe failed', { error: errorText(err) });
    } finally {
      clearTimeout(timer);
      beating = false;
    }
  };
  setInterval(beat, seconds * 1000).unref();
  void beat();
  return { now: () => void beat() };
}

/** Check a pairing-code command's phone: digits in international format, a leading + dropped. */
export function phoneOf(command) {
  const phone = command.phone;
  if (typeof phone !== 'string' || !/^\+?\d{6,15}$/.test(phone)) {
    throw new CommandError('invalid', 'pairing-code needs "phone": the number in international ' +
      `format, 6 to 15 digits (got ${JSON.stringify(phone ?? null)})`);
  }
  return phone.replace(/^\+/, '');
}

/** ``user[:device]@server`` -> ``user@c.us`` (a ``@lid`` loses only its device part). */
export function toCus(jid) {
  if (typeof jid !== 'string' || !jid) return jid;
  if (jid.endsWith('@lid')) return jid.replace(/:\d+(?=@)/, '');
  return `${jid.split('@')[0].split(':')[0]}@c.us`;
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
