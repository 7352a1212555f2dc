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
//
// Commands (answered with hookwire.result): pairing-code (Baileys requestPairingCode, once the
// socket is open), me (the account, WAHA's MeInfo shape), logout (Baileys logout, then the
// auth state is removed), stop, and the sends on sock.sendMessage (text, quoted, mentions,
// image/document/audio(ptt)/video, location, contacts, poll, react, edit, delete, forward of
// one of the last messages seen), readMessages and sendPresenceUpdate: answered with the
// WebMessageInfo and its id, not_working unless the session is WORKING. Heartbeats report STARTING, SCAN_QR_CODE or WORKING.
//
// Session options (WAHA's config): --proxy (an http(s) or socks agent for the WebSocket and
// media fetches, as WAHA's NOWEB does), --device-name/--browser-name (Baileys `browser`,
// default Ubuntu/Chrome like WAHA), --no-mark-online (Baileys `markOnlineOnConnect: false`).

import fs from 'node:fs/promises';

import makeWASocket, { makeCacheableSignalKeyStore, useMultiFileAuthState } from '@whiskeysockets/baileys';
import { HttpsProxyAgent } from 'https-proxy-agent';
import pino from 'pino';
import qrcode from 'qrcode-terminal';
import { SocksProxyAgent } from 'socks-proxy-agent';

import {
  BoundedMap,
  chatOf,
  contactsOf,
  mediaOf,
  parseMessageId,
  pollOf,
  presenceOf,
  requireWorking,
  stringOf,
  toJid,
} from '../../common/bridge_send.mjs';
import {
  CommandError,
  EXIT,
  errorText,
  exitAfterFlush,
  exitOnBrokenPipe,
  exitOnCrash,
  log,
  parseOptions,
  phoneOf,
  printTerminalQr,
  proxyUrlWithCredentials,
  readCommands,
  routeConsoleToStderr,
  Sent,
  setLogLevel,
  shownOptions,
  startHeartbeats,
  toCus,
  writeRecord,
} from '../../common/bridge_protocol.mjs';

const LOGGED_OUT = 401; // Baileys DisconnectReason.loggedOut
/** Baileys' Browsers.ubuntu('Chrome'), WAHA's NOWEB default. */
const DEFAULT_BROWSER = ['Ubuntu', 'Chrome', '22.04.4'];

const options = parseOptions(process.argv.slice(2));
setLogLevel(options.logLevel);
log('debug', 'bridge options', shownOptions(options));
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
/** The session as this bridge sees it, for heartbeats. */
let status = 'STARTING';
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

function proxyAgent(proxy) {
  if (!proxy) return undefined;
  const url = proxyUrlWithCredentials(proxy);
  return url.startsWith('socks') ? new SocksProxyAgent(url) : new HttpsProxyAgent(url);
}

const agent = proxyAgent(options.proxy);
const sock = makeWASocket({
  auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(keys, logger) },
  logger,
  browser: [options.deviceName ?? DEFAULT_BROWSER[0], options.browserName ?? DEFAULT_BROWSER[1], DEFAULT_BROWSER[2]],
  markOnlineOnConnect: options.markOnline,
  ...(agent ? { agent, fetchAgent: agent } : {}),
});
// An HTTP answer instead of the WebSocket upgrade (a proxy refusing the tunnel: 407, 502...):
// Baileys listens for it without acting on it, so the connection would hang for ever. Close it
// with the reason, as any other failure to connect.
sock.ws.on('unexpected-response', (_request, response) => {
  const error = new Error(`the connection was refused with HTTP ${response?.statusCode} ` +
    `${response?.statusMessage ?? ''}`.trimEnd() + (options.proxy ? ' (through the proxy)' : ''));
  try {
    response?.destroy?.();
  } catch {
    // nothing more to close
  }
  sock.end(error);
});
const heartbeats = startHeartbeats(options.heartbeatSeconds, () => status);
function setStatus(next) {
  if (next !== status) {
    status = next;
    heartbeats.now();
  }
}

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
    if (type === 'messages.upsert') for (const message of data?.messages ?? []) remember(message);
  }
});

function onConnectionUpdate(update) {
  if (update.qr) {
    waitingForScan = true;
    setStatus('SCAN_QR_CODE');
    log('info', 'QR code received: scan it with WhatsApp (Linked devices)', {
      session: options.session,
      qr: update.qr,
    });
    if (options.qrTerminal) printTerminalQr(qrcode, update.qr);
  }
  if (update.connection === 'open') {
    waitingForScan = false;
    setStatus('WORKING');
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
      // A warning, as WEBJS's failure to start: the same cause logs at the same level.
      log('warn', 'connection closed; hookwire will reconnect', details);
      void finish(EXIT.RECONNECT);
    }
  }
}

/** Run ``fn`` once the current command's answer is written (the bridge may exit in it). */
function afterAnswer(fn) {
  setImmediate(() => void fn());
}

/** Baileys' 8-character code, as WAHA answers it: ``ABCD-EFGH``. */
function formatCode(code) {
  return typeof code === 'string' && code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
}

/** The messages this bridge saw last (received and sent), by WAHA's id: Baileys needs the
 * original message to quote it in full and to forward it. */
const KEPT_MESSAGES = 1000;
const recent = new BoundedMap(KEPT_MESSAGES);

/** WAHA's ``buildMessageId``: ``{fromMe}_{chat}_{id}[_{participant}]`` in @c.us form. */
function wahaId(key) {
  const base = `${key.fromMe ? 'true' : 'false'}_${toCus(key.remoteJid)}_${key.id}`;
  return key.participant ? `${base}_${toCus(key.participant)}` : base;
}

function remember(message) {
  if (message?.key?.remoteJid && message.key.id) recent.set(wahaId(message.key), message);
}

/** The Baileys key of a WAHA message id. */
function keyOf(value, field = 'messageId') {
  const parsed = parseMessageId(value, field);
  return {
    remoteJid: toJid(parsed.chat),
    fromMe: parsed.fromMe,
    id: parsed.id,
    ...(parsed.participant ? { participant: toJid(parsed.participant) } : {}),
  };
}

/** sendMessage's options: the quoted message (the one kept, else its key alone), a given id. */
function messageOptions(command) {
  const options = {};
  if (command.replyTo) {
    options.quoted = recent.get(command.replyTo) ?? { key: keyOf(command.replyTo, 'replyTo'), message: { conversation: '' } };
  }
  if (typeof command.id === 'string' && command.id) options.messageId = command.id;
  return options;
}

function mentionsOf(command) {
  return Array.isArray(command.mentions) && command.mentions.length ? command.mentions.map(toJid) : undefined;
}

/** Send ``content`` to ``chat``: the WebMessageInfo (the answer) and WAHA's id of it. */
async function send(chat, content, options = {}) {
  const message = await sock.sendMessage(toJid(chat), content, options);
  if (!message) throw new CommandError('failed', 'Baileys sent nothing');
  remember(message);
  return new Sent(message, [wahaId(message.key)]);
}

const BAILEYS_PRESENCE = { online: 'available', offline: 'unavailable', typing: 'composing',
  recording: 'recording', paused: 'paused' };

/** The send commands, on Baileys (each needs a WORKING session). */
const SENDS = {
  'send-text': (command) => send(chatOf(command), {
    text: stringOf(command, 'text'),
    ...(mentionsOf(command) ? { mentions: mentionsOf(command) } : {}),
    ...(command.linkPreview === false ? { linkPreview: null } : {}),
  }, messageOptions(command)),
  'send-media': (command) => {
    const media = mediaOf(command);
    const data = Buffer.from(media.data, 'base64');
    const common = { mimetype: media.mimetype, ...(mentionsOf(command) ? { mentions: mentionsOf(command) } : {}) };
    const caption = media.caption ? { caption: media.caption } : {};
    const content = {
      image: { image: data, ...common, ...caption },
      file: { document: data, fileName: media.filename ?? 'file', ...common, ...caption },
      voice: { audio: data, ptt: true, ...common },
      video: { video: data, ptv: media.asNote, ...common, ...caption },
    }[media.kind];
    return send(chatOf(command), content, messageOptions(command));
  },
  'send-location': (command) => {
    const { latitude, longitude } = command;
    if (typeof latitude !== 'number' || typeof longitude !== 'number') {
      throw new CommandError('invalid', 'send-location needs numbers latitude and longitude');
    }
    return send(chatOf(command), { location: { degreesLatitude: latitude, degreesLongitude: longitude,
      ...(command.title ? { name: command.title } : {}) } }, messageOptions(command));
  },
  'send-contacts': (command) => send(chatOf(command), {
    contacts: { contacts: contactsOf(command).map((vcard) => ({ vcard })) },
  }, messageOptions(command)),
  'send-poll': (command) => {
    const poll = pollOf(command);
    return send(chatOf(command), { poll: { name: poll.name, values: poll.options,
      selectableCount: poll.multiple ? poll.options.length : 1 } }, messageOptions(command));
  },
  react: (command) => {
    const key = keyOf(command.messageId);
    return send(key.remoteJid, { react: { text: stringOf(command, 'reaction'), key } });
  },
  forward: (command) => {
    const chat = chatOf(command);
    parseMessageId(command.messageId);
    const original = recent.get(command.messageId);
    if (!original) {
      throw new CommandError('unsupported', `forwarding needs the original message, and ${command.messageId} ` +
        `is not among the last ${KEPT_MESSAGES} messages this bridge saw`);
    }
    return send(chat, { forward: original, force: true });
  },
  edit: (command) => send(chatOf(command), {
    text: stringOf(command, 'text'),
    ...(mentionsOf(command) ? { mentions: mentionsOf(command) } : {}),
    edit: keyOf(command.messageId),
  }),
  delete: (command) => send(chatOf(command), { delete: keyOf(command.messageId) }),
  'send-seen': async (command) => {
    const chat = chatOf(command);
    const ids = Array.isArray(command.messageIds) ? command.messageIds : [];
    const participant = command.participant ? toJid(command.participant) : undefined;
    const keys = ids.map((id) => ({ ...keyOf(id, 'messageIds'), ...(participant ? { participant } : {}) }));
    if (keys.length === 0) throw new CommandError('invalid', `send-seen in ${chat} needs messageIds (NOWEB reads messages by id)`);
    await sock.readMessages(keys);
    return null;
  },
  presence: async (command) => {
    const { presence, chatId } = presenceOf(command);
    await sock.sendPresenceUpdate(BAILEYS_PRESENCE[presence], chatId ? toJid(chatId) : undefined);
    return null;
  },
};

const sendHandlers = Object.fromEntries(Object.entries(SENDS).map(([name, handler]) => [name, (command) => {
  requireWorking(status, command);
  return handler(command);
}]));

readCommands({
  ...sendHandlers,
  stop: () => finish(EXIT.OK),
  logout: async () => {
    stopping = true;
    log('info', 'logging out', { session: options.session });
    let remote = null;
    try {
      await sock.logout();
    } catch (err) {
      remote = errorText(err);
      log('warn', 'WhatsApp was not told of the logout; the local auth state is removed anyway', {
        session: options.session,
        error: remote,
      });
    }
    await writesSettled();
    await fs.rm(options.authDir, { recursive: true, force: true });
    log('info', 'logged out; the auth state was removed', { session: options.session });
    afterAnswer(() => finish(EXIT.NEEDS_LOGIN));
    return remote ? { removedLocally: true, error: remote } : null;
  },
  'pairing-code': async (command) => {
    const phone = phoneOf(command);
    if (state.creds.registered) throw new CommandError('failed', 'the session is logged in already');
    await sock.waitForSocketOpen(); // Baileys needs the socket open to ask for a code
    const code = formatCode(await sock.requestPairingCode(phone));
    log('info', 'pairing code: enter it on the phone (Linked devices, link with phone number)', {
      session: options.session,
      pairing_code: code,
    });
    return { code };
  },
  me: () => {
    const user = sock.user;
    if (status !== 'WORKING' || !user?.id) {
      throw new CommandError('not_working', `the session is ${status}: no account is logged in`);
    }
    return {
      id: toCus(user.id),
      pushName: user.name ?? user.notify ?? undefined,
      ...(user.lid ? { lid: toCus(user.lid) } : {}),
      jid: user.id,
    };
  },
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => void finish(EXIT.OK));

log('info', 'NOWEB bridge started', { session: options.session, pid: process.pid, baileys: '7.0.0-rc13' });
