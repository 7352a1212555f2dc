"""WAHA's session config, as hookwire applies it: the engine session's config, the webhook
targets for the delivery service, warnings for what is kept but not applied, and secrets
masked when shown and kept when their mask is sent back.

Secrets are: webhook HMAC keys, Standard Webhooks secrets, the values of custom headers whose
name looks secret (``Authorization``, ``X-Api-Key``, ``…token…`` …), the proxy password and a
password in a webhook URL. They are shown as ``***``; a config sent back (PUT) with ``***``
where a secret was keeps the stored secret (WAHA clients do read-modify-write). ``***`` where
no secret is stored is refused: it would silently become the secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
from yarl import URL

from core.config import SessionConfig, SessionIgnore, SessionProxy, SessionSandbox
from core.delivery import WebhookRetries, WebhookTarget
from plugins.api.errors import ApiError
from plugins.api.session_models import MASK, ProxyBody, SessionConfigBody, WebhookBody

#: Custom headers whose value is a secret (shown masked).
SECRET_HEADER = re.compile(r"(authori[sz]ation|api[-_]?key|token|secret|passw|signature|cookie|"
                           r"credential|session|auth)", re.I)

WEBHOOKS_PATH = "$.config.webhooks"


# -- applying --------------------------------------------------------------------------------

def webhook_targets(bodies: list[WebhookBody] | None) -> list[WebhookTarget]:
    """The delivery service's targets; 422 naming the field for what the body alone shows
    is wrong (the service checks the rest)."""
    targets: list[WebhookTarget] = []
    for index, body in enumerate(bodies or []):
        where = f"{WEBHOOKS_PATH}[{index}]"
        retries = None
        if body.retries is not None:
            attempts = body.retries.attempts
            if attempts is not None and not float(attempts).is_integer():
                raise ApiError(422, "invalid_webhook", f"retries.attempts must be a whole number, "
                               f"found {attempts!r}", f"{where}.retries.attempts")
            retries = WebhookRetries(policy=body.retries.policy,
                                     delay_seconds=body.retries.delay_seconds,
                                     attempts=None if attempts is None else int(attempts))
        headers: dict[str, str] = {}
        for position, header in enumerate(body.custom_headers or []):
            if header.name.lower() in (name.lower() for name in headers):
                raise ApiError(422, "invalid_webhook", f"custom header {header.name!r} is given "
                               "twice", f"{where}.customHeaders[{position}].name")
            headers[header.name] = header.value
        targets.append(WebhookTarget(
            url=body.url, events=list(body.events), name=body.name,
            hmac_key=body.hmac.key if body.hmac is not None else None,
            retries=retries, headers=headers, secrets=list(body.secrets or [])))
    return targets


def session_config(name: str, engine: str, body: SessionConfigBody, *, replay: str | None,
                   default_proxy: SessionProxy | None = None,
                   seed: str | None = None) -> SessionConfig:
    """The engine session's config (``replay``: the recording's resolved path; ``seed``: the
    sandbox's seed recording, resolved)."""
    ignore = body.ignore
    proxy = default_proxy
    if body.proxy is not None:
        proxy = SessionProxy(server=body.proxy.server, username=body.proxy.username,
                             password=body.proxy.password)
    client = body.client
    mark_online = True  # NOWEB's and WEBJS's own settings apply to their engine only
    if engine == "NOWEB" and body.noweb is not None and body.noweb.markOnline is not None:
        mark_online = body.noweb.markOnline
    return SessionConfig(
        name=name, engine=engine, source=body.source or "bridge", replay=replay,
        pace=body.pace or "max", metadata=body.metadata, me_id=body.me_id, me_lid=body.me_lid,
        me_push_name=body.me_push_name,
        ignore=SessionIgnore(status=bool(ignore and ignore.status),
                             groups=bool(ignore and ignore.groups),
                             channels=bool(ignore and ignore.channels),
                             broadcast=bool(ignore and ignore.broadcast)),
        debug=bool(body.debug), proxy=proxy,
        device_name=client.deviceName if client is not None else None,
        browser_name=client.browserName if client is not None else None,
        mark_online=mark_online,
        tags_events_on=engine == "WEBJS" and bool(body.webjs and body.webjs.tagsEventsOn),
        sandbox=_sandbox(body, seed))


def _sandbox(body: SessionConfigBody, seed: str | None) -> SessionSandbox:
    given = body.sandbox
    if given is None:
        return SessionSandbox(seed=seed)
    values = {k: v for k, v in msgspec.structs.asdict(given).items()
              if v is not None and k != "seed"}
    return SessionSandbox(**values, seed=seed)


def warnings_for(engine: str, body: SessionConfigBody, apps: Any) -> list[str]:
    """What the config asks for that hookwire keeps and returns but does not apply."""
    found: list[str] = []
    live = (body.source or "bridge") == "bridge"
    if body.noweb is not None and body.noweb.store is not None:
        found.append("config.noweb.store: kept, not applied (hookwire keeps no store of chats, "
                     "contacts or messages)")
    if body.noweb is not None and body.noweb.markOnline is not None and engine != "NOWEB":
        found.append(f"config.noweb.markOnline: kept, not applied (NOWEB only; this session is "
                     f"{engine})")
    if body.webjs is not None and body.webjs.tagsEventsOn is not None and engine != "WEBJS":
        found.append(f"config.webjs.tagsEventsOn: kept, not applied (WEBJS only; this session "
                     f"is {engine})")
    if body.gows is not None:
        found.append("config.gows: kept, not applied (hookwire has no GOWS engine)")
    if not live:
        for key, value in (("proxy", body.proxy), ("client", body.client), ("debug", body.debug)):
            if value is not None:
                found.append(f"config.{key}: kept, not applied (a replay session has no bridge "
                             "to pass it to)")
    if apps:
        found.append("apps: kept, not applied (hookwire runs no WAHA apps)")
    return found


# -- showing and taking back secrets ---------------------------------------------------------

def _mask_url(url: str) -> str:
    try:
        parsed = URL(url)
    except ValueError:
        return url
    return str(parsed.with_password(MASK)) if parsed.password else url


def _mask(value: str | None) -> str | None:
    return MASK if value else value


def masked(body: SessionConfigBody) -> SessionConfigBody:
    """The config as shown: every secret replaced by ``***``."""
    hooks = None
    if body.webhooks is not None:
        hooks = [msgspec.structs.replace(
            hook, url=_mask_url(hook.url),
            hmac=msgspec.structs.replace(hook.hmac, key=_mask(hook.hmac.key)) if hook.hmac else None,
            secrets=[MASK for _ in hook.secrets] if hook.secrets else hook.secrets,
            custom_headers=[msgspec.structs.replace(h, value=_mask(h.value) or h.value)
                            if SECRET_HEADER.search(h.name) else h
                            for h in hook.custom_headers] if hook.custom_headers else hook.custom_headers)
            for hook in body.webhooks]
    proxy = body.proxy
    if proxy is not None and proxy.password:
        proxy = msgspec.structs.replace(proxy, password=MASK)
    return msgspec.structs.replace(body, webhooks=hooks, proxy=proxy)


def _identity(hook: WebhookBody) -> str:
    return hook.name or _mask_url(hook.url)


def _keep(sent: str | None, stored: str | None, path: str) -> str | None:
    """``sent``, or the stored secret where ``sent`` is its mask."""
    if sent != MASK:
        return sent
    if not stored:
        raise ApiError(422, "masked_secret", f"{MASK} is how a secret is shown; no secret is "
                       "stored here to keep: send the secret itself", path)
    return stored


def unmasked(body: SessionConfigBody, stored: SessionConfigBody | None) -> SessionConfigBody:
    """``body`` with every ``***`` replaced by the stored secret it stands for. A webhook is
    matched to a stored one by its name or (masked) URL, else by its position."""
    old_hooks = list(stored.webhooks or []) if stored is not None else []
    by_identity = {_identity(hook): hook for hook in old_hooks}
    hooks = None
    if body.webhooks is not None:
        hooks = []
        for index, hook in enumerate(body.webhooks):
            where = f"{WEBHOOKS_PATH}[{index}]"
            old = by_identity.get(_identity(hook))
            if old is None and index < len(old_hooks) and not hook.name:
                old = old_hooks[index]
            hooks.append(_unmask_hook(hook, old, where))
    proxy = body.proxy
    if proxy is not None:
        old_proxy: ProxyBody | None = stored.proxy if stored is not None else None
        password = _keep(proxy.password, old_proxy.password if old_proxy else None,
                         "$.config.proxy.password")
        proxy = msgspec.structs.replace(proxy, password=password)
    return msgspec.structs.replace(body, webhooks=hooks, proxy=proxy)


def _unmask_hook(hook: WebhookBody, old: WebhookBody | None, where: str) -> WebhookBody:
    def stored(get: Callable[[WebhookBody], Any]) -> Any:
        return get(old) if old is not None else None

    url = hook.url
    if old is not None and hook.url == _mask_url(old.url):
        url = old.url
    elif _password(hook.url) == MASK:
        raise ApiError(422, "masked_secret", f"{MASK} is how a secret is shown; the URL's "
                       "password is not stored for this webhook: send it itself", f"{where}.url")
    hmac = hook.hmac
    if hmac is not None:
        hmac = msgspec.structs.replace(hmac, key=_keep(
            hmac.key, stored(lambda h: h.hmac.key if h.hmac else None), f"{where}.hmac.key"))
    secrets = hook.secrets
    if secrets and MASK in secrets:
        old_secrets = stored(lambda h: h.secrets) or []
        secrets = [_keep(secret, old_secrets[i] if i < len(old_secrets) else None,
                         f"{where}.secrets[{i}]") for i, secret in enumerate(secrets)]
    headers = hook.custom_headers
    if headers:
        old_headers = {h.name.lower(): h.value for h in stored(lambda h: h.custom_headers) or []}
        headers = [msgspec.structs.replace(h, value=_keep(h.value, old_headers.get(h.name.lower()),
                                                          f"{where}.customHeaders[{i}].value"))
                   for i, h in enumerate(headers)]
    return msgspec.structs.replace(hook, url=url, hmac=hmac, secrets=secrets, custom_headers=headers)


def _password(url: str) -> str | None:
    try:
        return URL(url).password
    except ValueError:
        return None
