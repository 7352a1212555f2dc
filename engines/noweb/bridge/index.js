// hookwire's NOWEB bridge: one Baileys socket, its events as native records on stdout
// (engine-mapping.md §1.2; the protocol is described in engines/common/bridge_protocol.mjs).
//
// One process lives for one connection. When the connection closes, the bridge writes the
// `connection.update` record and exits; hookwire starts a new bridge after a backoff and keeps
// the session's translator, so state carries. The exit status tells hookwire whether a restart
// can help: 401 loggedOut, and a close while waiting for a QR scan (WAHA's FAILED,
// engine-mapping §7.7), exit with NEEDS_LOGIN; every other close with RECONNECT.
//
// Every Baileys event is forwarded except `creds.update`, which carries the account's private
// keys: of it only `me` (the account's JID, LID and name) is written, when present.
//
// Auth state: Baileys' multi-file auth state in --auth-dir, so a restart needs no new QR.

import fs from 'node:fs/promises';

import makeWASocket, { makeCacheableSignalKeyStore, useMultiFileAuthState } from '@whiskeysockets/baileys';
import pino from 'pino';
import qrcode from 'qrcode-terminal';

import {
  EXIT,
  errorText,
  exitAfterFlush,
  exitOnBrokenPipe,
  exitOnCrash,
  log,
  parseOptions,
  printTerminalQr,
  readCommands,
  routeConsoleToStderr,
  setLogLevel,
  writeRecord,
} from '../../common/bridge_protocol.mjs';

const LOGGED_OUT = 401; // Baileys DisconnectReason.loggedOut

const options = parseOptions(process.argv.slice(2));
setLogLevel(options.logLevel);
exitOnBrokenPipe();
routeConsoleToStderr();

const logger = pino(
  {
    level: options.logLevel,
    base: { lib: 'baileys' },
    timestamp: false,
    formatters: { level: (label) => ({ level: label }) },
  },
  pino.destination({ fd: 2, sync: true }),
);

/** Auth writes in flight: waited for before exiting, so no creds file is left half written. */
const pendingWrites = new Set();
function track(promise) {
  const tracked = Promise.resolve(promise).finally(() => pendingWrites.delete(tracked));
  pendingWrites.add(tracked);
  return tracked;
}
async function writesSettled() {
  await Promise.allSettled([...pendingWrites]);
}

await fs.mkdir(options.authDir, { recursive: true });
const { state, saveCreds } = await useMultiFileAuthState(options.authDir);
const keys = {
  get: (type, ids) => state.keys.get(type, ids),
  set: (data) => track(state.keys.set(data)),
  clear: state.keys.clear ? () => track(state.keys.clear()) : undefined,
};

let stopping = false;
let waitingForScan = false;
let finishing = null;
/** Stop forwarding, close the socket, let auth writes settle, exit with ``code``. */
function finish(code) {
  if (finishing) return finishing;
  stopping = true;
  finishing = (async () => {
    try {
      sock.end(undefined);
    } catch (err) {
      log('debug', 'closing the socket failed', { error: errorText(err) });
    }
    await writesSettled();
    await exitAfterFlush(code);
  })();
  return finishing;
}

const sock = makeWASocket({
  auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(keys, logger) },
  logger,
});

exitOnCrash(() => finish(EXIT.CRASH));

sock.ev.on('creds.update', () => track(saveCreds()));

sock.ev.process((events) => {
  for (const [type, data] of Object.entries(events)) {
    if (stopping) return;
    if (type === 'creds.update') {
      if (data?.me) writeRecord(type, { me: data.me });
      continue;
    }
    writeRecord(type, data);
    if (type === 'connection.update') onConnectionUpdate(data);
  }
});

function onConnectionUpdate(update) {
  if (update.qr) {
    waitingForScan = true;
    log('info', 'QR code received: scan it with WhatsApp (Linked devices)', {
      session: options.session,
      qr: update.qr,
    });
    if (options.qrTerminal) printTerminalQr(qrcode, update.qr);
  }
  if (update.connection === 'open') {
    waitingForScan = false;
    log('info', 'connected to WhatsApp', { session: options.session });
  }
  if (update.connection === 'close') {
    const error = update.lastDisconnect?.error;
    const statusCode = error?.output?.statusCode;
    const details = { session: options.session, status_code: statusCode, error: errorText(error) };
    if (statusCode === LOGGED_OUT) {
      log('error', 'logged out: delete the auth directory and scan a new QR code', details);
      void finish(EXIT.NEEDS_LOGIN);
    } else if (waitingForScan) {
      log('error', 'the QR code was not scanned in time', details);
      void finish(EXIT.NEEDS_LOGIN);
    } else {
      log('info', 'connection closed; hookwire will reconnect', details);
      void finish(EXIT.RECONNECT);
    }
  }
}

readCommands({
  stop: () => finish(EXIT.OK),
  logout: async () => {
    stopping = true;
    log('info', 'logging out', { session: options.session });
    try {
      await sock.logout();
    } finally {
      await writesSettled();
      await fs.rm(options.authDir, { recursive: true, force: true });
      log('info', 'logged out; the auth state was removed', { session: options.session });
      await finish(EXIT.NEEDS_LOGIN);
    }
  },
  'pairing-code': async ({ phone }) => {
    if (typeof phone !== 'string' || !/^\+?\d{6,15}$/.test(phone)) {
      log('error', 'pairing-code needs "phone": the number in international format, digits only', { phone });
      return;
    }
    const code = await sock.requestPairingCode(phone.replace(/^\+/, ''));
    log('info', 'pairing code: enter it on the phone (Linked devices, link with phone number)', {
      session: options.session,
      pairing_code: code,
    });
  },
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => void finish(EXIT.OK));

log('info', 'NOWEB bridge started', { session: options.session, pid: process.pid, baileys: '7.0.0-rc13' });
