// The send commands' arguments, as both bridges read them (the same as the Python side
// writes them: engines/common/sandbox_args.py). Chat ids come in WAHA's form (…@c.us, …@g.us,
// …@lid, …@newsletter), message ids as WAHA writes them ({fromMe}_{chat}_{id}[_{participant}]).

import { CommandError } from './bridge_protocol.mjs';

const CHAT_ID = /^[0-9A-Za-z.:_-]{1,64}@(c\.us|g\.us|lid|newsletter|broadcast|s\.whatsapp\.net)$/;
export const MEDIA_KINDS = ['image', 'file', 'voice', 'video'];
export const PRESENCES = ['online', 'offline', 'typing', 'recording', 'paused'];

/** A send needs a logged-in session: a clear answer, never a library call that would hang. */
export function requireWorking(status, command) {
  if (status !== 'WORKING') {
    throw new CommandError('not_working', `the session is ${status}, not WORKING: ` +
      `${command.cmd} needs a logged-in session`);
  }
}

export function chatOf(command, field = 'chatId') {
  const value = command[field];
  if (typeof value !== 'string' || !CHAT_ID.test(value)) {
    throw new CommandError('invalid', `\`${field}\` must be a chat id such as 11111111111@c.us ` +
      `or …@g.us, got ${JSON.stringify(value ?? null)}`);
  }
  return value;
}

export function stringOf(command, field) {
  const value = command[field];
  if (typeof value !== 'string') {
    throw new CommandError('invalid', `\`${field}\` must be a string, got ${JSON.stringify(value ?? null)}`);
  }
  return value;
}

/** ``{fromMe, chat, id, participant}`` of a WAHA message id. */
export function parseMessageId(value, field = 'messageId') {
  const parts = typeof value === 'string' ? value.split('_') : [];
  if (parts.length !== 3 && parts.length !== 4) {
    throw new CommandError('invalid', `\`${field}\` must be a message id as WAHA writes it ` +
      `(true_11111111111@c.us_AAAA…), got ${JSON.stringify(value ?? null)}`);
  }
  return { fromMe: parts[0] === 'true', chat: parts[1], id: parts[2], participant: parts[3] };
}

export function mediaOf(command) {
  if (!MEDIA_KINDS.includes(command.kind)) {
    throw new CommandError('invalid', `\`kind\` must be one of ${MEDIA_KINDS.join(', ')}`);
  }
  const file = command.file;
  if (!file || typeof file.mimetype !== 'string' || typeof file.data !== 'string') {
    throw new CommandError('invalid', '`file` must be {mimetype, filename?, data (base64)}');
  }
  return { kind: command.kind, mimetype: file.mimetype, filename: file.filename ?? null,
    data: file.data, caption: typeof command.caption === 'string' ? command.caption : undefined,
    asNote: Boolean(command.asNote) };
}

export function contactsOf(command) {
  const contacts = command.contacts;
  if (!Array.isArray(contacts) || contacts.length === 0 || !contacts.every((c) => typeof c === 'string' && c.trim())) {
    throw new CommandError('invalid', '`contacts` must be a non-empty list of vCard strings');
  }
  return contacts;
}

export function pollOf(command) {
  const name = stringOf(command, 'name');
  const options = command.options;
  if (!Array.isArray(options) || options.length < 2 || !options.every((o) => typeof o === 'string')) {
    throw new CommandError('invalid', '`options` must be a list of at least 2 strings');
  }
  return { name, options, multiple: Boolean(command.multipleAnswers) };
}

export function presenceOf(command) {
  if (!PRESENCES.includes(command.presence)) {
    throw new CommandError('invalid', `\`presence\` must be one of ${PRESENCES.join(', ')}`);
  }
  const needsChat = !['online', 'offline'].includes(command.presence);
  return { presence: command.presence, chatId: needsChat ? chatOf(command) : undefined };
}

/** ``…@c.us`` → ``…@s.whatsapp.net`` (Baileys' JIDs); others unchanged. */
export function toJid(chat) {
  return chat.endsWith('@c.us') ? `${chat.slice(0, -'@c.us'.length)}@s.whatsapp.net` : chat;
}

/** A bounded map, oldest first out (messages a bridge keeps for quotes and forwards). */
export class BoundedMap extends Map {
  constructor(limit) {
    super();
    this.limit = limit;
  }

  set(key, value) {
    if (this.has(key)) this.delete(key);
    super.set(key, value);
    while (this.size > this.limit) this.delete(this.keys().next().value);
    return this;
  }
}
