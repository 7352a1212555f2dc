"""One door between plugins: the API reaches delivery only through ``core.delivery`` (the
service the webhook plugin registers), never the webhook plugin's modules, and it runs without
a delivery plugin at all."""

from __future__ import annotations

import ast
from pathlib import Path

import scripted_engine
from api_service import ME, build, serving

import plugins.api.plugin as api_plugin
from core.app import App
from core.delivery import DELIVERY_SERVICE, DeliveryService
from core.kernel import Kernel
from core.supervisor import Backoff

ROOT = Path(__file__).resolve().parents[3]


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Every module each file of ``package`` imports (``import x``, ``from x import y``)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_api_plugin_imports_no_other_plugin_and_no_engine():
    graph = imported_modules(ROOT / "plugins" / "api")
    assert len(graph) >= 20  # the walk found the plugin's modules
    crossing = {path: sorted(n for n in names if n.split(".")[0] == "engines"
                             or (n.startswith("plugins.") and not n.startswith("plugins.api")))
                for path, names in graph.items()}
    assert {path: names for path, names in crossing.items() if names} == {}


def test_core_imports_no_plugin_and_no_engine():
    graph = imported_modules(ROOT / "core")
    crossing = {path: sorted(n for n in names if n.split(".")[0] in ("plugins", "engines"))
                for path, names in graph.items()}
    assert {path: names for path, names in crossing.items() if names} == {}


def test_the_webhook_plugin_registers_the_delivery_service(tmp_path):
    service = build(tmp_path)
    registered = service.app.registry.service(DELIVERY_SERVICE)
    assert isinstance(registered, DeliveryService)
    assert "service delivery" in service.app.registry.provided["webhook"]


async def test_the_api_runs_without_a_delivery_plugin(tmp_path):
    config = tmp_path / "hookwire.toml"
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "r.jsonl").write_text('{"type": "message", "data": {"id": "m1"}}\n')
    config.write_text(f'[kernel]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[api]\nenabled = true\nport = 0\nreplay_dir = "{recordings}"\n')
    app = App.load(extra_plugins=[("scripted", scripted_engine), ("api", api_plugin)],
                   entry_points=False)
    app.load_config(config, environ={})
    assert app.registry.service(DELIVERY_SERVICE) is None
    kernel = Kernel(app, restart_backoff=lambda: Backoff(initial=0.05, maximum=0.1))
    service = type("Service", (), {"kernel": kernel, "api": app.registry.sinks[0]})()
    async with serving(service) as api:  # type: ignore[arg-type]
        code, info = await api.post("/api/sessions", {"name": "s", "engine": "SCRIPTED", "config": {
            "source": "replay", "replay": "r.jsonl", "me_id": ME}})
        assert code == 201, info
        code, error = await api.post("/api/sessions", {"name": "t", "engine": "SCRIPTED", "config": {
            "source": "replay", "replay": "r.jsonl",
            "webhooks": [{"url": "http://127.0.0.1:9/", "events": ["message"]}]}})
        assert (code, error["error"], error["path"]) == (503, "no_delivery_plugin", "$.config.webhooks")
        code, error = await api.get("/api/deliveries")
        assert (code, error["error"]) == (503, "no_delivery_plugin")
        code, health = await api.get("/health")
        assert code == 200 and "delivery" not in health["details"]
