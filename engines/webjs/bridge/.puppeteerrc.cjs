// hookwire runs whatsapp-web.js on the system Chromium (/usr/bin/chromium or $HOOKWIRE_CHROMIUM):
// puppeteer's install step must never download a browser of its own.
module.exports = { skipDownload: true };
