"""The command line (and environment) a bridge is started with, from its session's config.

    --session NAME --auth-dir DIR [--log-level L] [--qr-terminal] [--heartbeat-seconds N]
    [--proxy URL [--proxy-username U]] [--device-name D] [--browser-name B]
    [--no-mark-online] [--tags-events]

Both bridges accept every flag; each applies those its library has (``--no-mark-online`` is
Baileys', ``--tags-events`` whatsapp-web.js'). A proxy password is never put on the command
line (any local user can read it there): it goes in the bridge's environment as
``HOOKWIRE_PROXY_PASSWORD``.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.config import SessionConfig
from engines.common.bridge_settings import BridgeSettings

PROXY_PASSWORD_ENV = "HOOKWIRE_PROXY_PASSWORD"


def proxy_url(server: str) -> str:
    """WAHA's ``proxy.server`` is ``host:port`` or a URL; the bridges take a URL."""
    return server if "://" in server else f"http://{server}"


def session_arguments(config: SessionConfig, settings: BridgeSettings, auth_dir: Path) -> list[str]:
    args = ["--session", config.name, "--auth-dir", str(auth_dir)]
    level = "debug" if config.debug else settings.log_level
    if level:
        args += ["--log-level", level]
    if settings.heartbeat_seconds > 0:
        args += ["--heartbeat-seconds", f"{settings.heartbeat_seconds:g}"]
    if config.proxy is not None:
        args += ["--proxy", proxy_url(config.proxy.server)]
        if config.proxy.username:
            args += ["--proxy-username", config.proxy.username]
    if config.device_name:
        args += ["--device-name", config.device_name]
    if config.browser_name:
        args += ["--browser-name", config.browser_name]
    if not config.mark_online:
        args.append("--no-mark-online")
    if config.tags_events_on:
        args.append("--tags-events")
    return args


def bridge_environment(config: SessionConfig) -> dict[str, str] | None:
    """The bridge's environment: ours, plus the proxy password when there is one (else
    ``None``: inherit ours as it is)."""
    password = config.proxy.password if config.proxy is not None else None
    env = {k: v for k, v in os.environ.items() if k != PROXY_PASSWORD_ENV}
    if password:
        env[PROXY_PASSWORD_ENV] = password
        return env
    return env if PROXY_PASSWORD_ENV in os.environ else None
