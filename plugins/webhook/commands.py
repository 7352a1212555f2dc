"""CLI commands of the webhook plugin: ``receive``, ``deliveries``, ``endpoints``.

``deliveries`` and ``endpoints`` work on the store directly, also while the service runs (the
SQLite file in WAL mode, or Redis from any host); the running service notices re-sends and
re-enabled endpoints within a second. ``deliveries retry`` and ``endpoints enable`` say on
stderr whether a delivery service runs on the store (:mod:`plugins.webhook.liveness`) or the
re-sends wait for its next start. A listing cut at ``--limit`` says so on stderr. An
unreachable Redis is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from datetime import datetime
from typing import Any

import anyio
import msgspec

from core.app import App
from core.config import ConfigError
from core.events import encoder
from core.logging import get_logger
from core.registry import Command
from plugins.webhook.config import DeliveryConfig
from plugins.webhook.http import redact_url
from plugins.webhook.liveness import ServiceState, redis_state, sqlite_state
from plugins.webhook.receiver import ReceiverOptions, start_receiver
from plugins.webhook.sink import open_store, store_path
from plugins.webhook.sqlite_store import now_ms
from plugins.webhook.store import STATUSES, DeliveryFilter, DeliveryStore

log = get_logger("plugins.webhook.cli")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
#: ``deliveries list --limit``: rows shown by default, and the most one may ask for (``--all``
#: has no bound).
DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000_000
_NO_LIMIT = 1 << 62


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_LIMIT:,} (or --all), found {value}")
    return value


def parse_since(text: str) -> int:
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``7d``) or an ISO time."""
    match = _DURATION.match(text.strip())
    if match:
        seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return now_ms() - int(seconds * 1000)
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        raise ConfigError(f"--since: expected a duration like 15m/2h/7d or an ISO time, found {text!r}") from None


def _iso(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000).isoformat(timespec="seconds")


# -- receive ---------------------------------------------------------------------------------

def _receive_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--hmac-key", help="check X-Webhook-Hmac with this key")
    parser.add_argument("--secret", help="check Standard Webhooks signatures (whsec_…)")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of requests that fail")
    parser.add_argument("--status", type=int, help="status of failing requests (alone: of all)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")


async def _receive(args: argparse.Namespace, app: App) -> int:
    if not 0 <= args.fail_rate <= 1:
        raise ConfigError(f"--fail-rate: expected a number in [0, 1], found {args.fail_rate}")
    options = ReceiverOptions(hmac_key=args.hmac_key, secret=args.secret, fail_rate=args.fail_rate,
                              status=args.status, delay=args.delay, verbose=True)
    try:
        runner, port = await start_receiver(options, args.host, args.port)
    except OSError as exc:
        raise ConfigError(f"--port: cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    log.info("receiver listening", url=f"http://{args.host}:{port}/", hmac=bool(args.hmac_key),
             standard_webhooks=bool(args.secret), fail_rate=args.fail_rate, status=args.status)
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
    return 0


# -- deliveries ------------------------------------------------------------------------------

def _deliveries_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    lister = sub.add_parser("list", help="list deliveries")
    lister.add_argument("--status", choices=STATUSES)
    lister.add_argument("--session")
    lister.add_argument("--event", help="event name")
    lister.add_argument("--endpoint", help="endpoint name or URL")
    lister.add_argument("--since", help="15m, 2h, 7d or an ISO time")
    shown = lister.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=_limit, default=DEFAULT_LIMIT, metavar="N",
                       help=f"show at most N deliveries, oldest first (default {DEFAULT_LIMIT}, "
                            f"at most {MAX_LIMIT:,}); a cut list says so on stderr")
    shown.add_argument("--all", action="store_true", help="show every matching delivery")
    lister.add_argument("--json", action="store_true", help="one JSON object per line")
    show = sub.add_parser("show", help="one delivery with every attempt")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    retry = sub.add_parser("retry", help="re-send deliveries by id, or every dead one (--status dead)")
    retry.add_argument("ids", nargs="*")
    retry.add_argument("--status", choices=["dead"])
    retry.add_argument("--since")


async def _deliveries(args: argparse.Namespace, app: App) -> int:
    store = open_store(app.config, for_cli=True)
    await store.open()
    try:
        if args.action == "list":
            limit = _NO_LIMIT if args.all else args.limit
            flt = DeliveryFilter(status=args.status, session=args.session, event=args.event,
                                 endpoint=args.endpoint, limit=limit if args.all else limit + 1,
                                 since=parse_since(args.since) if args.since else None)
            rows = await store.list_deliveries(flt)
            cut = len(rows) > limit
            for row in rows[:limit]:
                row.url, row.endpoint = redact_url(row.url), redact_url(row.endpoint)
                if args.json:
                    print(encoder.encode(row).decode())
                else:
                    print(f"{row.id}  {row.status:<9} {row.event_name:<20} {row.session:<10} "
                          f"attempts={row.attempts} last={row.last_status or row.last_error or '-'}  "
                          f"next={_iso(row.next_attempt_at) if row.status == 'pending' else '-'}  {row.url}")
            if cut:
                sys.stdout.flush()  # the notice comes after the rows when both go to a terminal
                print(f"# the list is cut at {limit} deliveries (--limit); more match: "
                      f"--limit N shows up to N, --all shows every one", file=sys.stderr)
            return 0
        if args.action == "show":
            found = await store.get_delivery(args.id)
            if found is None:
                print(f"hookwire: no delivery {args.id!r}", file=sys.stderr)
                return 1
            row, attempts = found
            row.url, row.endpoint = redact_url(row.url), redact_url(row.endpoint)
            data: dict[str, Any] = {**msgspec.structs.asdict(row),
                                    "attempt_log": [msgspec.structs.asdict(a) for a in attempts]}
            text = encoder.encode(data)
            print((text if args.json else msgspec.json.format(text, indent=2)).decode())
            return 0
        if not args.ids and args.status != "dead":
            raise ConfigError("deliveries retry: give delivery ids, or --status dead")
        if args.ids:
            count = await store.retry(args.ids, None)
        else:
            count = await store.retry(None, DeliveryFilter(
                status="dead", since=parse_since(args.since) if args.since else None))
        print(f"{count} deliveries queued for re-sending")
        if count:
            await _say_who_sends(app, store)
        return 0 if count or not args.ids else 1
    finally:
        await store.close()


async def service_state(app: App, store: DeliveryStore) -> ServiceState:
    """Whether a delivery service runs on the configured store (``liveness.py``)."""
    delivery: DeliveryConfig = app.config.section("delivery")
    if delivery.backend == "redis":
        return await redis_state(store)
    return sqlite_state(store_path(app.config, delivery))


async def _say_who_sends(app: App, store: DeliveryStore) -> None:
    state = await service_state(app, store)
    sys.stdout.flush()
    if state.running:
        print(f"# {state.detail} sends them within a second", file=sys.stderr)
    else:
        print(f"hookwire: {state.detail}: they wait in the store and are sent when a service "
              "starts on it (python -m core, or --role worker)", file=sys.stderr)


# -- endpoints -------------------------------------------------------------------------------

def _endpoints_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    lister = sub.add_parser("list", help="endpoints with their health")
    lister.add_argument("--json", action="store_true")
    enable = sub.add_parser("enable", help="re-enable a disabled or paused endpoint")
    enable.add_argument("endpoint", help="endpoint name or URL")


async def _endpoints(args: argparse.Namespace, app: App) -> int:
    store = open_store(app.config, for_cli=True)
    await store.open()
    try:
        if args.action == "list":
            for row in await store.endpoints():
                row.url, row.endpoint = redact_url(row.url), redact_url(row.endpoint)
                if args.json:
                    print(encoder.encode(row).decode())
                else:
                    print(f"{row.endpoint:<24} {row.state:<8} failures={row.consecutive_failures} "
                          f"pending={row.pending} dead={row.dead} last_success={_iso(row.last_success_at)} "
                          f"{row.reason or ''}  {row.url}")
            return 0
        count = await store.enable_endpoint(args.endpoint)  # type: ignore[attr-defined]
        if count < 0:
            print(f"hookwire: no endpoint {args.endpoint!r} (see `endpoints list`)", file=sys.stderr)
            return 1
        print(f"endpoint {args.endpoint} enabled; {count} held deliveries queued")
        await _say_who_sends(app, store)
        return 0
    finally:
        await store.close()


def commands() -> list[Command]:
    return [
        Command("receive", "run a local webhook receiver that logs, checks signatures, misbehaves",
                _receive_args, _receive, needs_config=False),
        Command("deliveries", "list, show and re-send deliveries in the store", _deliveries_args,
                _deliveries),
        Command("endpoints", "list endpoints with their health; re-enable one", _endpoints_args,
                _endpoints),
    ]
