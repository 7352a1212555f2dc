// hookwire's WEBJS bridge: one whatsapp-web.js Client on the system Chromium, its events as
// native records on stdout (engine-mapping.md §1.1; the protocol is described in engines/common/bridge_protocol.mjs).
//
// Every event the Client emits is written, by wrapping `client.emit`: `type` is the event name,
// `data` the listener's arguments (one argument as is, several as an array, none as null),
// library objects as JSON.stringify renders them (their `client` field is not enumerable).
// The `tag:receipt`/`tag:presence`/`tag:chatstate` events of WAHA's whatsapp-web.js fork do
// not exist in upstream whatsapp-web.js, so this bridge never writes them: WEBJS sessions on
// the live bridge get no presence.update and no message.ack.group.
//
// One process lives for one browser session. When it ends (whatsapp-web.js cannot start, e.g.
// WhatsApp Web does not load, or `disconnected`), the bridge exits and hookwire starts a new one
// after a backoff. `auth_failure` and `disconnected('LOGOUT')` exit with NEEDS_LOGIN: WAHA marks
// the session FAILED and does not restart it (engine-mapping §6.6).
//
// Auth state: whatsapp-web.js LocalAuth with dataPath = --auth-dir (the Chromium profile), so a
// restart needs no new QR. Chromium: $HOOKWIRE_CHROMIUM, else /usr/bin/chromium; puppeteer
// never downloads a browser (.puppeteerrc.cjs, and install scripts are not allowed).
//
// Commands (answered with hookwire.result): pairing-code (whatsapp-web.js requestPairingCode),
// me (client.info, WAHA's MeInfo shape), logout (client.logout), stop, and the sends:
// Client.sendMessage (quotedMessageId, mentions, linkPreview; MessageMedia, Location, Poll,
// vCards), Message.react/forward/edit/delete, Chat.sendSeen/sendStateTyping/
// sendStateRecording/clearState, sendPresenceAvailable/Unavailable: answered with the
// Message and its id, not_working unless the session is WORKING. On `ready` the bridge
// writes `hookwire.me` (the account), so envelopes carry `me`. Heartbeats report STARTING,
// SCAN_QR_CODE or WORKING; once WORKING, a heartbeat needs WA Web to answer getState() (a hung
// page sends none, and hookwire's watchdog restarts the bridge).
//
// Session options (WAHA's config): --proxy (Chromium --proxy-server, credentials through
// puppeteer's page.authenticate), --device-name/--browser-name (whatsapp-web.js deviceName and
// browserName), --tags-events (WAHA's webjs.tagsEventsOn: WA Web's decoded receipt, presence and
// chatstate nodes are written as `tag:receipt`, `tag:presence`, `tag:chatstate` records, as
// WAHA's client does by wrapping WAWap's decodeStanza).

import path from 'node:path';

import qrcode from 'qrcode-terminal';
import wwebjs from 'whatsapp-web.js';

import {
  chatOf,
  contactsOf,
  mediaOf,
  parseMessageId,
  pollOf,
  presenceOf,
  requireWorking,
  stringOf,
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
  readCommands,
  routeConsoleToStderr,
  Sent,
  setLogLevel,
  shownOptions,
  startHeartbeats,
  toCus,
  writeRecord,
} from '../../common/bridge_protocol.mjs';
import { attachTagsEvents as attachTags } from './tag_events.js';

const { Client, LocalAuth, Location, MessageMedia, Poll } = wwebjs;

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Bound on closing the browser when stopping; the exit hook of puppeteer kills it after. */
const DESTROY_TIMEOUT_MS = 5000;

const options = parseOptions(process.argv.slice(2));
setLogLevel(options.logLevel);
log('debug', 'bridge options', shownOptions(options));
exitOnBrokenPipe();
routeConsoleToStderr();

/** Chromium takes the proxy's address; its credentials go through page.authenticate. */
function proxyFlags(proxy) {
  if (!proxy) return [];
  const url = new URL(proxy.url);
  return [`--proxy-server=${url.protocol}//${url.host}`];
}

const client = new Client({
  authStrategy: new LocalAuth({ dataPath: options.authDir }),
  webVersionCache: { type: 'local', path: path.join(options.authDir, 'web-version-cache') },
  ...(options.deviceName ? { deviceName: options.deviceName } : {}),
  ...(options.browserName ? { browserName: options.browserName } : {}),
  ...(options.proxy?.username
    ? { proxyAuthentication: { username: options.proxy.username, password: options.proxy.password ?? '' } }
    : {}),
  puppeteer: {
    executablePath: process.env.HOOKWIRE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_FLAGS, ...proxyFlags(options.proxy)],
    // Signals are ours (stop the client, then exit); puppeteer still kills the browser on exit.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  },
});

let stopping = false;
let waitingForScan = false;
let finishing = null;
/** The session as this bridge sees it, for heartbeats. */
let status = 'STARTING';
/** How long a heartbeat's getState() may take before WA Web counts as hung. */
const PROBE_TIMEOUT_MS = 10000;

async function probe() {
  if (status !== 'WORKING') return status;
  let timer;
  const state = await Promise.race([
    client.getState(),
    new Promise((resolve) => { timer = setTimeout(resolve, PROBE_TIMEOUT_MS, undefined); }),
  ]).finally(() => clearTimeout(timer));
  return state === undefined ? null : status; // no answer: no heartbeat
}
const heartbeats = startHeartbeats(options.heartbeatSeconds, probe);
function setStatus(next) {
  if (next !== status) {
    status = next;
    heartbeats.now();
  }
}

/** Stop forwarding, close the browser (bounded), exit with ``code``. */
function finish(code) {
  if (finishing) return finishing;
  stopping = true;
  finishing = (async () => {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, DESTROY_TIMEOUT_MS, 'timeout');
    });
    const outcome = await Promise.race([client.destroy().then(() => 'closed', (err) => err), timeout]);
    clearTimeout(timer);
    if (outcome !== 'closed') log('debug', 'closing the browser did not finish', { error: errorText(outcome) });
    await exitAfterFlush(code);
  })();
  return finishing;
}

exitOnCrash(() => finish(EXIT.CRASH));

const emit = client.emit.bind(client);
client.emit = (type, ...args) => {
  if (!stopping) {
    writeRecord(type, args.length === 0 ? null : args.length === 1 ? args[0] : args);
    react(type, args);
  }
  return emit(type, ...args);
};

function react(type, args) {
  const details = { session: options.session };
  switch (type) {
    case 'qr':
      waitingForScan = true;
      setStatus('SCAN_QR_CODE');
      log('info', 'QR code received: scan it with WhatsApp (Linked devices)', { ...details, qr: args[0] });
      if (options.qrTerminal) printTerminalQr(qrcode, args[0]);
      break;
    case 'authenticated':
      waitingForScan = false;
      setStatus('WORKING');
      break;
    case 'ready':
      log('info', 'connected to WhatsApp', details);
      setStatus('WORKING');
      void onReady();
      break;
    case 'auth_failure':
      log('error', 'authentication failed: delete the auth directory and scan a new QR code', {
        ...details,
        error: errorText(args[0]),
      });
      void finish(EXIT.NEEDS_LOGIN);
      break;
    case 'disconnected': {
      const reason = String(args[0]);
      if (reason === 'LOGOUT') {
        log('error', 'logged out: scan a new QR code', { ...details, reason });
        void finish(EXIT.NEEDS_LOGIN);
      } else if (waitingForScan) {
        log('error', 'the QR code was not scanned in time', { ...details, reason });
        void finish(EXIT.NEEDS_LOGIN);
      } else {
        log('warn', 'disconnected; hookwire will reconnect', { ...details, reason });
        void finish(EXIT.RECONNECT);
      }
      break;
    }
    default:
      break;
  }
}

/** The account, as WAHA's MeInfo: ``{id, pushName, lid?}``; null before login. */
function me() {
  const info = client.info;
  const id = info?.wid?._serialized;
  if (!id) return null;
  const lid = info?.lid?._serialized ?? info?.wid?.lid?._serialized;
  return { id: toCus(id), pushName: info.pushname ?? undefined, ...(lid ? { lid: toCus(lid) } : {}) };
}

async function onReady() {
  const account = me();
  if (account) writeRecord('hookwire.me', account);
  if (options.tagsEvents) {
    try {
      await attachTagsEvents();
    } catch (err) {
      log('warn', 'tag events (receipts, presence) could not be attached', {
        session: options.session,
        error: errorText(err),
      });
    }
  }
}

async function attachTagsEvents() {
  await attachTags(client.pupPage, (type, node) => client.emit(type, node));
  log('info', 'tag events on: receipts, presence and chat states are forwarded', { session: options.session });
}

/** Run ``fn`` once the current command's answer is written (the bridge may exit in it). */
function afterAnswer(fn) {
  setImmediate(() => void fn());
}

/** whatsapp-web.js's 8-character code, as WAHA answers it: ``ABCD-EFGH``. */
function formatCode(code) {
  return typeof code === 'string' && code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
}

/** whatsapp-web.js's options of a message: the quote, mentions, the link preview. */
function messageOptions(command) {
  const options = {};
  if (command.replyTo) {
    parseMessageId(command.replyTo, "replyTo");
    options.quotedMessageId = command.replyTo;
  }
  if (Array.isArray(command.mentions) && command.mentions.length) options.mentions = command.mentions;
  if (command.linkPreview === false) options.linkPreview = false;
  return options;
}

/** A sent Message: the answer (the Message as JSON) and its id, WAHA's ``true_<chat>_<id>``. */
function sent(message) {
  if (!message) throw new CommandError('failed', 'whatsapp-web.js sent nothing (the chat was not found)');
  return new Sent(message, [message.id?._serialized]);
}

async function messageById(command) {
  parseMessageId(command.messageId);
  const message = await client.getMessageById(command.messageId);
  if (!message) throw new CommandError('failed', `message ${command.messageId} not found`);
  return message;
}

async function chatById(chatId) {
  const chat = await client.getChatById(chatId);
  if (!chat) throw new CommandError('failed', `chat ${chatId} not found`);
  return chat;
}

/** The send commands, on whatsapp-web.js (each needs a WORKING session). */
const SENDS = {
  'send-text': async (command) => sent(await client.sendMessage(chatOf(command),
    stringOf(command, 'text'), messageOptions(command))),
  'send-media': async (command) => {
    const media = mediaOf(command);
    const file = new MessageMedia(media.mimetype, media.data, media.filename);
    return sent(await client.sendMessage(chatOf(command), file, {
      ...messageOptions(command),
      ...(media.caption ? { caption: media.caption } : {}),
      sendAudioAsVoice: media.kind === 'voice',
      sendMediaAsDocument: media.kind === 'file',
    }));
  },
  'send-location': async (command) => {
    const { latitude, longitude } = command;
    if (typeof latitude !== 'number' || typeof longitude !== 'number') {
      throw new CommandError('invalid', 'send-location needs numbers latitude and longitude');
    }
    const location = new Location(latitude, longitude, command.title ? { name: command.title } : {});
    return sent(await client.sendMessage(chatOf(command), location, messageOptions(command)));
  },
  'send-contacts': async (command) => {
    const chatId = chatOf(command);
    const messages = [];
    for (const vcard of contactsOf(command)) {
      messages.push(await client.sendMessage(chatId, vcard, { ...messageOptions(command), parseVCards: true }));
    }
    return new Sent(messages.length === 1 ? messages[0] : messages, messages.map((m) => m?.id?._serialized));
  },
  'send-poll': async (command) => {
    const poll = pollOf(command);
    const content = new Poll(poll.name, poll.options, { allowMultipleAnswers: poll.multiple });
    return sent(await client.sendMessage(chatOf(command), content, messageOptions(command)));
  },
  react: async (command) => {
    const message = await messageById(command);
    return message.react(stringOf(command, 'reaction'));
  },
  forward: async (command) => {
    const chatId = chatOf(command);
    const message = await messageById(command);
    await message.forward(chatId);
    return null; // Message.forward resolves to nothing
  },
  edit: async (command) => {
    const message = await messageById(command);
    const options = messageOptions(command);
    const edited = await message.edit(stringOf(command, 'text'), options);
    return edited ?? null;
  },
  delete: async (command) => {
    const message = await messageById(command);
    await message.delete(true);
    return null;
  },
  'send-seen': async (command) => {
    const chat = await chatById(chatOf(command));
    await chat.sendSeen();
    return null;
  },
  presence: async (command) => {
    const { presence, chatId } = presenceOf(command);
    if (presence === 'online') await client.sendPresenceAvailable();
    else if (presence === 'offline') await client.sendPresenceUnavailable();
    else {
      const chat = await chatById(chatId);
      if (presence === 'typing') await chat.sendStateTyping();
      else if (presence === 'recording') await chat.sendStateRecording();
      else await chat.clearState();
    }
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
    if (!client.pupPage) throw new CommandError('not_working', 'WhatsApp Web is not open yet; try again');
    log('info', 'logging out', { session: options.session });
    stopping = true;
    try {
      await client.logout(); // also removes the LocalAuth profile
    } catch (err) {
      stopping = false; // not logged out: the session carries on
      throw err;
    }
    afterAnswer(() => finish(EXIT.NEEDS_LOGIN));
    return null;
  },
  'pairing-code': async (command) => {
    const phone = phoneOf(command);
    const page = client.pupPage;
    if (!page) throw new CommandError('not_working', 'WhatsApp Web is not open yet; try again');
    if (status === 'WORKING') throw new CommandError('failed', 'the session is logged in already');
    // whatsapp-web.js reports a code through window.onCodeReceivedEvent, which it exposes only
    // when pairing was asked for at start-up: expose it here when it is missing.
    const exposed = await page.evaluate(() => typeof window.onCodeReceivedEvent === 'function');
    if (!exposed) await page.exposeFunction('onCodeReceivedEvent', (code) => { client.emit('code', code); return code; });
    const code = formatCode(await client.requestPairingCode(phone));
    log('info', 'pairing code: enter it on the phone (Linked devices, link with phone number)', {
      session: options.session,
      pairing_code: code,
    });
    return { code };
  },
  me: () => {
    const account = status === 'WORKING' ? me() : null;
    if (!account) throw new CommandError('not_working', `the session is ${status}: no account is logged in`);
    return account;
  },
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => void finish(EXIT.OK));

log('info', 'WEBJS bridge started', { session: options.session, pid: process.pid, 'whatsapp-web.js': '1.34.6' });

try {
  await client.initialize();
} catch (err) {
  if (!stopping) {
    // A warning, as NOWEB's closed connection: the same cause logs at the same level.
    log('warn', 'whatsapp-web.js could not start; hookwire will retry', {
      session: options.session,
      error: errorText(err),
    });
    await finish(EXIT.RECONNECT);
  }
}
