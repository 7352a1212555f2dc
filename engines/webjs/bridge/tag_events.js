// WAHA's webjs.tagsEventsOn for upstream whatsapp-web.js: WA Web's decoded stanzas whose tag is
// receipt, presence or chatstate become `tag:receipt`, `tag:presence`, `tag:chatstate` client
// events, as WAHA's own client does (it wraps WAWap's decodeStanza, `window.Store.SocketWap`).
// Those records give message.ack.group and presence.update (engine-mapping §6).

export const TAGS = Object.freeze(['receipt', 'presence', 'chatstate']);

/** Wrap decodeStanza in ``page`` (once; a second call changes nothing) so that each such node
 * is handed to ``emit(type, node)`` after WA Web got it. Returns false when it was wrapped
 * already. */
export async function attachTagsEvents(page, emit) {
  const exposed = await page.evaluate(() => typeof window.onHookwireTag === 'function');
  if (!exposed) await page.exposeFunction('onHookwireTag', (node) => emit(`tag:${node?.tag}`, node));
  return page.evaluate((tags) => {
    const wap = window.Store?.SocketWap;
    if (typeof wap?.decodeStanza !== 'function') throw new Error('WA Web has no SocketWap.decodeStanza');
    if (window.hookwireDecodeStanza) return false;
    window.hookwireDecodeStanza = wap.decodeStanza;
    wap.decodeStanza = async (...args) => {
      const node = await window.hookwireDecodeStanza(...args);
      // after WA Web has the node: forwarding never delays or breaks WA Web's own handling
      if (tags.includes(node?.tag)) setTimeout(() => window.onHookwireTag(node), 0);
      return node;
    };
    return true;
  }, TAGS);
}
