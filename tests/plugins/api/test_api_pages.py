"""The pages, clicked through in a real browser (headless Debian chromium, selenium, Debian's
chromium-driver): the dashboard (the key entered once, a dead delivery found, re-sent and its
new attempt shown; a session's QR code shown and replaced; endpoints; the live tail over a
one-time ticket) and the API explorer (Swagger UI from the package: Authorize with the key, Try
it out). A screenshot of each page is taken (``HOOKWIRE_TEST_SCREENSHOTS``: where to copy them).
"""

from __future__ import annotations

from api_service import API_KEY, build, msg, record, serving
from browser import browser
from live_bridge import LiveBridgePlugin
from webhook_receiver import Receiver, fail, ok
from webhook_service import watch_logs

FIRST_QR, SECOND_QR = "2@first-code,AAAA,BBBB", "2@second-code,CCCC,DDDD"


def qr_bridge(tmp_path) -> LiveBridgePlugin:
    """Live sessions (engine TEST, the scripted fake bridge) waiting for a scan: a first QR
    code, replaced by a second one when the test asks (a ``pairing-code`` command makes the
    bridge report it), as WhatsApp replaces its code every ~20 s."""
    return LiveBridgePlugin([[
        {"record": {"type": "status", "data": "SCAN_QR_CODE"}}, {"heartbeat": "SCAN_QR_CODE"},
        {"record": {"type": "qr", "data": FIRST_QR}},
        {"answers": {"pairing-code": {"result": {"code": "ABCD-EFGH"},
                                      "then": [{"type": "qr", "data": SECOND_QR}]}}},
        {"wait": True}]], tmp_path / "bridge-data")


async def test_the_dashboard_resends_a_dead_delivery_and_shows_the_qr_code(tmp_path):
    async with Receiver() as rx:
        rx.respond("/hook", then=fail(503))
        service = build(tmp_path, api={"api_key": API_KEY}, extra_plugins=[("live", qr_bridge(tmp_path))])
        dead_rec = service.recording("dead.jsonl", [msg(n) for n in range(3)])
        live_rec = service.recording("live.jsonl", [msg(n, chat="2@c.us") for n in range(100, 103)])
        hooks = [{"url": rx.url("/hook"), "events": ["message"], "name": "crm",
                  "retries": {"attempts": 0}}]
        with watch_logs() as logs:
            async with serving(service, key=API_KEY, timeout=90) as api, browser(tmp_path) as page:
                code, _ = await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED", "config": {
                    "source": "replay", "replay": dead_rec, "webhooks": hooks}})
                assert code == 201
                await rx.wait_for(3, "/hook", timeout=15)

                # The key, once, in the form: the page is public, the data is not.
                await page.get(f"{api.base}/dashboard")
                await page.css("#login input#key")
                assert not await page.run(lambda: page.driver.find_element("id", "nav").is_displayed())
                await page.screenshot("dashboard-login")
                await page.type("#key", API_KEY)
                await page.click("#key-form button[type=submit]")
                await page.css('#sessions-body tr[data-session="s"]')
                assert await page.js("return sessionStorage.getItem('hookwire.apiKey')") == API_KEY
                assert API_KEY not in await page.run(lambda: page.driver.current_url)

                # A session waiting for a scan: its QR code, replaced when it changes.
                code, _ = await api.post("/api/sessions", {"name": "q", "engine": "TEST"})
                assert code == 201
                qr = '[data-qr-session="q"]'
                await page.wait(lambda d: d.find_element("css selector", qr).get_attribute("data-qr-value")
                                == FIRST_QR, what="the first QR code")
                first = await page.run(lambda: page.driver.find_element("css selector", qr + " img")
                                       .get_attribute("src"))
                assert first.startswith("data:image/png;base64,")
                code, _ = await api.post("/api/q/auth/request-code", {"phoneNumber": "12132132130"})
                assert code == 201  # the bridge answers, then reports its next QR code
                await page.wait(lambda d: d.find_element("css selector", qr).get_attribute("data-qr-value")
                                == SECOND_QR, what="the replaced QR code")
                second = await page.run(lambda: page.driver.find_element("css selector", qr + " img")
                                        .get_attribute("src"))
                assert second.startswith("data:image/png;base64,") and second != first
                status = await page.text('#sessions-body tr[data-session="q"] .badge')
                assert status == "SCAN_QR_CODE"
                await page.screenshot("dashboard-sessions")

                # Endpoints: state, pending and dead counts.
                await page.click('#nav a[data-tab="endpoints"]')
                row = '#endpoints-body tr[data-endpoint="s/crm"]'
                await page.wait(lambda d: d.find_element("css selector", row).text.split()[-3:-2] == ["3"]
                                or "3" in d.find_element("css selector", row).text, what="3 dead")
                cells = await page.run(lambda: [c.text for c in page.driver.find_elements(
                    "css selector", row + " td")])
                assert cells[1].startswith("active") and cells[5:7] == ["0", "3"], cells
                await page.screenshot("dashboard-endpoints")

                # Deliveries: find a dead one, see its attempt, re-send it, watch the new one.
                await page.click('#nav a[data-tab="deliveries"]')
                await page.select('#filters select[name="status"]', "dead")
                await page.click("#filters button[type=submit]")
                await page.wait(lambda d: len(d.find_elements("css selector", 'tr.delivery[data-status="dead"]')) == 3,
                                what="3 dead deliveries")
                rows = await page.all("tr.delivery")
                assert len(rows) == 3  # the filter: only dead ones
                delivery_id = await page.run(lambda: rows[0].get_attribute("data-id"))
                await page.run(rows[0].click)
                attempts = f'tr.attempts[data-for="{delivery_id}"] tr.attempt'
                await page.wait(lambda d: len(d.find_elements("css selector", attempts)) == 1, what="1 attempt")
                assert "HTTP 503" in await page.text(attempts)
                rx.respond("/hook", then=ok())
                await page.click(f'tr.delivery[data-id="{delivery_id}"] button')
                await page.wait(lambda d: len(d.find_elements("css selector", attempts)) == 2, timeout=20,
                                what="the new attempt")
                second = await page.text(attempts + '[data-attempt="2"]')
                assert "HTTP 200" in second
                await page.wait(lambda d: d.find_element("css selector", f'tr.delivery[data-id="{delivery_id}"]')
                                .get_attribute("data-status") == "delivered", what="delivered")
                await page.screenshot("dashboard-deliveries")

                # Re-send all matching: the two dead ones left.
                await page.click("#resend-all")
                await page.wait(lambda d: "2 dead deliveries queued" in d.find_element("id", "status-line").text,
                                what="2 queued")
                await rx.wait_delivered(3, "/hook", timeout=15)

                # The live tail, over a one-time ticket (no key in the WebSocket's URL).
                await page.click('#nav a[data-tab="events"]')
                await page.click("#tail-start")
                await page.wait(lambda d: d.find_element("id", "tail-state").text == "connected",
                                what="the tail connected")
                code, _ = await api.post("/api/sessions", {"name": "t", "engine": "SCRIPTED", "config": {
                    "source": "replay", "replay": live_rec}})
                await page.wait(lambda d: len(d.find_elements("css selector", '#tail li[data-event="message"]')) == 3,
                                what="3 live events")
                assert "t · message" in await page.text("#tail li")
                await page.screenshot("dashboard-events")
    assert not any(API_KEY in str(entry) for entry in logs.entries), "the key is in a log line"


async def test_the_api_explorer_authorizes_with_the_key_and_tries_a_route(tmp_path):
    service = build(tmp_path, api={"api_key": API_KEY})
    async with serving(service, key=API_KEY, timeout=90) as api, browser(tmp_path) as page:
        working = [record("session.status", {"name": "x", "status": "WORKING"}, ts=0),
                   record("session.status", {"name": "x", "status": "WORKING"}, ts=3_600_000)]
        await api.post("/api/sessions", {"name": "x", "engine": "SCRIPTED", "config": {
            "source": "replay", "replay": service.recording("x.jsonl", working), "pace": "recorded"}})
        await api.wait_status("x", "WORKING")
        for path in ("/", "/docs"):  # both, as WAHA has it at /
            await page.get(api.base + path)
            title = await page.text(".swagger-ui .info .title")
            assert title.startswith("hookwire API")
        # Nothing from the network: every resource came from the service itself.
        await page.screenshot("api-explorer")
        sources = await page.js("return performance.getEntriesByType('resource').map(e => e.name)")
        assert sources and all(s.startswith(api.base) for s in sources), sources
        await page.click(".swagger-ui .auth-wrapper .authorize")
        await page.type(".modal-ux input[type=text], .modal-ux input[type=password]", API_KEY)
        await page.click(".modal-ux .auth-btn-wrapper .authorize")
        await page.click(".modal-ux .auth-btn-wrapper .btn-done")
        await page.click("#operations-sessions-get__api_sessions .opblock-summary")
        await page.click("#operations-sessions-get__api_sessions .try-out__btn")
        await page.click("#operations-sessions-get__api_sessions .execute")
        status = await page.text("#operations-sessions-get__api_sessions .live-responses-table tbody .response-col_status")
        assert status.startswith("200")
        body = await page.text("#operations-sessions-get__api_sessions .live-responses-table .microlight")
        assert '"name": "x"' in body and '"status": "WORKING"' in body
        await page.js("document.querySelector('#operations-sessions-get__api_sessions "
                      ".live-responses-table').scrollIntoView({block: 'center'})")
        await page.screenshot("api-explorer-try-it-out")
