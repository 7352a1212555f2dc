"""The session's own account and the Baileys JID rules that compare accounts.

``me_id`` is kept in WAHA's ``@c.us`` form (``11111111111@c.us``) and ``me_lid`` normalized
(``44444444444:7@lid`` → ``44444444444@lid``, Baileys ``jidNormalizedUser``), which is how WAHA's
``getSessionMeInfo`` reports them and how ``fixMessages`` compares the LID.
"""

from __future__ import annotations

from typing import Any

from engines.common.waha import to_cus_format


def jid_user(jid: Any) -> str | None:
    """Baileys ``jidDecode(jid).user``: the part before ``@``, without ``:device`` or
    ``_agent``; ``None`` when ``jid`` is not a string with ``@``."""
    if not isinstance(jid, str) or "@" not in jid:
        return None
    combined = jid.split("@", 1)[0]
    return combined.split(":", 1)[0].split("_", 1)[0]


def are_jids_same_user(a: Any, b: Any) -> bool:
    """Baileys ``areJidsSameUser``: the user parts are equal (servers are not compared)."""
    return jid_user(a) == jid_user(b)


def is_pn_user(jid: Any) -> bool:
    """WAHA ``isPnUser``: a phone-number JID (``@s.whatsapp.net`` or ``@c.us``)."""
    return isinstance(jid, str) and jid.endswith(("@s.whatsapp.net", "@c.us"))


def normalize_own_jid(jid: str | None) -> str | None:
    """``me.id`` → ``user@c.us``; ``me.lid`` → ``user@lid`` (device removed)."""
    if not jid:
        return None
    return to_cus_format(jid)


def is_own(jid: Any, own_ids: list[str]) -> bool:
    """WAHA ``participantsIncludeMe`` for one id: the same user as ``me.id`` or ``me.lid``."""
    return any(are_jids_same_user(jid, mine) for mine in own_ids)
