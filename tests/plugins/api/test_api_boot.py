"""Which sessions start with the service, as WAHA's variables say: ``WHATSAPP_START_SESSION``
(created when missing), ``WAHA_WORKER_RESTART_SESSIONS`` (those running before, on by default),
``WHATSAPP_RESTART_ALL_SESSIONS`` (every one), and the global ``WHATSAPP_PROXY_SERVER``."""

from __future__ import annotations

from api_service import build, serving
from live_bridge import LiveBridgePlugin, working


def service(tmp_path, plugin, name: str, **environ: str):
    return build(tmp_path, name=name, extra_plugins=[("live", plugin)],
                 environ={"WHATSAPP_DEFAULT_ENGINE": "TEST", **environ},
                 delivery={"store_path": str(tmp_path / "deliveries.sqlite3")})


async def test_start_session_creates_and_starts_and_restarts_follow_the_variables(tmp_path):
    plugin = LiveBridgePlugin([working()], tmp_path / "bridge")
    first = service(tmp_path, plugin, "first", WHATSAPP_START_SESSION="alpha,beta",
                    WHATSAPP_PROXY_SERVER="proxy.internal:3128")
    async with serving(first) as api:
        for name in ("alpha", "beta"):
            info = await api.wait_status(name, "WORKING")
            assert info["engine"] == {"engine": "TEST", "source": "bridge"} and info["origin"] == "api"
        args = plugin.args("alpha")
        assert "proxy.internal:3128" in args[args.index("--proxy") + 1]  # the global proxy
        await api.post("/api/sessions/beta/stop")

    # Default: the sessions that were running come back; a stopped one stays stopped.
    async with serving(service(tmp_path, plugin, "second")) as api:
        await api.wait_status("alpha", "WORKING")
        code, beta = await api.get("/api/sessions/beta")
        assert (code, beta["status"]) == (200, "STOPPED")

    async with serving(service(tmp_path, plugin, "third", WAHA_WORKER_RESTART_SESSIONS="false")) as api:
        code, listed = await api.get("/api/sessions?all=true")
        assert {s["name"]: s["status"] for s in listed} == {"alpha": "STOPPED", "beta": "STOPPED"}

    async with serving(service(tmp_path, plugin, "fourth", WHATSAPP_RESTART_ALL_SESSIONS="true")) as api:
        for name in ("alpha", "beta"):
            await api.wait_status(name, "WORKING")
