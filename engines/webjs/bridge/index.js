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

import path from 'node:path';

import qrcode from 'qrcode-terminal';
import wwebjs from 'whatsapp-web.js';

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

const { Client, LocalAuth } = wwebjs;

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
exitOnBrokenPipe();
routeConsoleToStderr();

const client = new Client({
  authStrategy: new LocalAuth({ dataPath: options.authDir }),
  webVersionCache: { type: 'local', path: path.join(options.authDir, 'web-version-cache') },
  puppeteer: {
    executablePath: process.env.HOOKWIRE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
    // Signals are ours (stop the client, then exit); puppeteer still kills the browser on exit.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  },
});

let stopping = false;
let waitingForScan = false;
let finishing = null;

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
      log('info', 'QR code received: scan it with WhatsApp (Linked devices)', { ...details, qr: args[0] });
      if (options.qrTerminal) printTerminalQr(qrcode, args[0]);
      break;
    case 'authenticated':
      waitingForScan = false;
      break;
    case 'ready':
      log('info', 'connected to WhatsApp', details);
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
        log('info', 'disconnected; hookwire will reconnect', { ...details, reason });
        void finish(EXIT.RECONNECT);
      }
      break;
    }
    default:
      break;
  }
}

readCommands({
  stop: () => finish(EXIT.OK),
  logout: async () => {
    log('info', 'logging out', { session: options.session });
    stopping = true;
    try {
      await client.logout(); // also removes the LocalAuth profile
    } finally {
      await finish(EXIT.NEEDS_LOGIN);
    }
  },
  'pairing-code': async ({ phone }) => {
    if (typeof phone !== 'string' || !/^\+?\d{6,15}$/.test(phone)) {
      log('error', 'pairing-code needs "phone": the number in international format, digits only', { phone });
      return;
    }
    const code = await client.requestPairingCode(phone.replace(/^\+/, ''));
    log('info', 'pairing code: enter it on the phone (Linked devices, link with phone number)', {
      session: options.session,
      pairing_code: code,
    });
  },
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => void finish(EXIT.OK));

log('info', 'WEBJS bridge started', { session: options.session, pid: process.pid, 'whatsapp-web.js': '1.34.6' });

try {
  await client.initialize();
} catch (err) {
  if (!stopping) {
    log('error', 'whatsapp-web.js could not start; hookwire will retry', {
      session: options.session,
      error: errorText(err),
    });
    await finish(EXIT.RECONNECT);
  }
}
