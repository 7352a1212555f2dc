"""``python -m core receive``: the receiver for humans, as a real subprocess. It answers, checks
signatures (a wrong key is answered 401) and misbehaves on purpose."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from datetime import UTC, datetime

import aiohttp
import anyio
from standardwebhooks.webhooks import Webhook
from webhook_process import core_process, run_core
from webhook_receiver import free_port
from webhook_service import build_service, message, watch_logs

KEY = "receiver-hmac-key"
SECRET = "whsec_" + base64.b64encode(b"the receiver's test secret!").decode()
BODY = json.dumps({"id": "evt_01test", "event": "message", "session": "default", "payload": {}}).encode()


def signed_headers(body: bytes, key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    """Headers signed independently of hookwire's own code (hashlib, standardwebhooks)."""
    stamp = int(time.time())
    return {
        "Content-Type": "application/json", "X-Webhook-Request-Id": "dlv_test", "X-Webhook-Attempt": "1",
        "X-Webhook-Hmac": hmac.new(key.encode(), body, hashlib.sha512).hexdigest(),
        "X-Webhook-Hmac-Algorithm": "sha512",
        "webhook-id": "evt_01test", "webhook-timestamp": str(stamp),
        "webhook-signature": Webhook(secret).sign("evt_01test", datetime.fromtimestamp(stamp, tz=UTC),
                                                  body.decode()),
    }


async def _post(http: aiohttp.ClientSession, port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with http.post(f"http://127.0.0.1:{port}/anything", data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_receive_checks_signatures_and_the_service_delivers_to_it(tmp_path, scripted_site):
    port = free_port()
    async with core_process(scripted_site, "receive", "--port", str(port), "--hmac-key", KEY,
                            "--secret", SECRET, cwd=tmp_path) as receiver:
        listening = await receiver.wait_log("receiver listening")
        assert listening["url"] == f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession() as http:
            assert await _post(http, port, BODY, signed_headers(BODY)) == (200, {"ok": True})
            status, answer = await _post(http, port, BODY, signed_headers(BODY, key="wrong-key"))
            assert (status, answer) == (401, {"error": "X-Webhook-Hmac does not match"})
            other_secret = "whsec_" + base64.b64encode(b"some other secret, not it").decode()
            status, answer = await _post(http, port, BODY, signed_headers(BODY, secret=other_secret))
            assert (status, answer) == (401, {"error": "webhook-signature does not match"})
            tampered = BODY.replace(b"default", b"another")
            assert (await _post(http, port, tampered, signed_headers(BODY)))[0] == 401
            not_json = b"{not json"
            assert (await _post(http, port, not_json, signed_headers(not_json)))[0] == 400

        # The service itself, signing with the right key and secret, then a wrong one.
        url = f"http://127.0.0.1:{port}/hook"
        service = build_service(
            tmp_path, sessions={"default": [message("1@c.us", 1)]},
            webhooks=[{"url": url, "events": ["message"], "hmac_key": KEY, "secrets": [SECRET]},
                      {"url": url + "/wrong", "events": ["message"], "hmac_key": "not-the-key",
                       "retries": {"attempts": 0}}])
        with watch_logs() as logs:
            await service.run_to_end()
        received = await receiver.wait_log("webhook received", request_id=logs.find(
            "delivery attempt", url=url)[0]["delivery_id"])
        rejected = await receiver.wait_logs("webhook rejected: bad signature", 4)
        receiver.process.terminate()
        assert await receiver.wait() == 0
    assert [(e["url"], e["status"], e["outcome"]) for e in logs.find("delivery attempt")] == [
        (url, 200, "delivered")]
    [dead] = logs.find("delivery dead")
    assert (dead["url"], dead["status"]) == (url + "/wrong", 401)
    assert received["event_name"] == "message" and received["signed"] is True
    assert received["body"]["payload"]["seq"] == 1 and received["headers"]["X-Webhook-Attempt"] == "1"
    assert len(rejected) == 4 and all(e["level"] == "warning" for e in rejected)


async def test_receive_misbehaves_on_purpose(tmp_path, scripted_site):
    flaky_port, failing_port = free_port(), free_port()
    async with core_process(scripted_site, "receive", "--port", str(flaky_port), "--fail-rate", "0.5",
                            "--status", "503", "--delay", "0.2", cwd=tmp_path) as flaky, \
            core_process(scripted_site, "receive", "--port", str(failing_port), "--status", "500",
                         cwd=tmp_path) as failing:
        await flaky.wait_log("receiver listening")
        await failing.wait_log("receiver listening")
        async with aiohttp.ClientSession() as http:
            statuses: Counter[int] = Counter()

            async def one(port: int) -> tuple[int, float]:
                started = time.monotonic()
                status, _ = await _post(http, port, BODY, {"Content-Type": "application/json"})
                return status, time.monotonic() - started

            async def flaky_one() -> None:
                status, took = await one(flaky_port)
                statuses[status] += 1
                assert took >= 0.19

            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    for _ in range(60):
                        tg.start_soon(flaky_one)
                assert {(await one(failing_port))[0] for _ in range(5)} == {500}
        for process in (flaky, failing):
            process.process.terminate()
            assert await process.wait() == 0
    assert set(statuses) == {200, 503} and sum(statuses.values()) == 60


async def test_receive_rejects_bad_options(tmp_path, scripted_site):
    code, _, err = await run_core(scripted_site, "receive", "--fail-rate", "2", cwd=tmp_path)
    assert code == 2 and "--fail-rate: expected a number in [0, 1], found 2.0" in err
    port = free_port()
    async with core_process(scripted_site, "receive", "--port", str(port), cwd=tmp_path) as first:
        await first.wait_log("receiver listening")
        code, _, err = await run_core(scripted_site, "receive", "--port", str(port), cwd=tmp_path)
        first.process.terminate()
        assert await first.wait() == 0
    assert code == 2 and f"--port: cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
