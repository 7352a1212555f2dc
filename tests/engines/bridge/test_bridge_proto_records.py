"""Baileys' messages are protobuf objects whose ``toJSON`` writes enums by name
(``protocolMessage.type: "REVOKE"``, ``status: "PENDING"``). The NOWEB bridge writes event
records with enums as numbers, as the library's listeners see them and as the NOWEB translator
reads them (engine-mapping §1.2), while a command's answer keeps the ``toJSON`` form WAHA's HTTP
answers have. Run with the real ``node`` and the real Baileys ``proto`` of the NOWEB bridge."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from engines.noweb.plugin import create_translator

BRIDGE = Path(__file__).resolve().parents[3] / "engines" / "noweb" / "bridge"

SCRIPT = """
import { proto } from '@whiskeysockets/baileys';
import { writeRecord } from '../../common/bridge_protocol.mjs';
const key = { remoteJid: '22222222222@s.whatsapp.net', fromMe: true, id: '3EB0REVOKE' };
const revoke = proto.WebMessageInfo.fromObject({
  key, messageTimestamp: 1796122324, status: 2,
  message: { protocolMessage: { type: 0, key: { ...key, id: '3EB0FIRST' } } },
});
writeRecord('messages.upsert', { messages: [revoke], type: 'notify' });
writeRecord('hookwire.result', { id: '1', ok: true, result: revoke });
"""


def run_bridge_script() -> list[dict]:
    node = shutil.which(os.environ.get("HOOKWIRE_NODE") or "node")
    assert node, "node is not installed: install Node.js 20 (Debian: apt-get install nodejs)"
    assert (BRIDGE / "node_modules").is_dir(), "run `python -m core engines install` first"
    done = subprocess.run([node, "--input-type=module", "-e", SCRIPT], cwd=BRIDGE,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_event_records_carry_numeric_enums_and_answers_the_json_form() -> None:
    record, answer = run_bridge_script()
    message = record["data"]["messages"][0]
    assert message["message"]["protocolMessage"]["type"] == 0
    assert message["status"] == 2
    result = answer["data"]["result"]
    assert result["message"]["protocolMessage"]["type"] == "REVOKE"
    assert result["status"] == "SERVER_ACK"


def test_a_live_revoke_record_is_translated_to_message_revoked() -> None:
    record, _ = run_bridge_script()
    translator = create_translator("default", "11111111111@c.us", None)
    names = [e.name for e in translator.translate_line(json.dumps(record), "line 1")]
    assert translator.bad_records == 0
    assert "message.revoked" in names, names
