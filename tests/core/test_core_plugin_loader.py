"""The entry-point loader, in-process, against the two test distributions installed for real."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from core.app import App
from core.plugins import PluginInfo, PluginLoadError, load_entry_points, new_plugin_manager

BROKEN_ERROR = "RuntimeError: hookwire-broken-plugin fails on import (on purpose)"


def load(**kwargs) -> tuple[list[PluginInfo], list[dict], object]:
    pm = new_plugin_manager()
    with capture_logs() as logs:
        infos = load_entry_points(pm, **kwargs)
    return infos, logs, pm


def test_a_third_party_plugin_is_discovered_with_its_distribution(installed):
    infos, logs, pm = load(block=["hookwire"])  # first-party plugins aside
    by_name = {info.name: info for info in infos}
    assert set(by_name) == {"broken", "hello"}
    assert by_name["hello"] == PluginInfo(name="hello", distribution="hookwire-hello-plugin",
                                          version="0.3.1", module="hookwire_hello.plugin")
    assert pm.get_plugin("hello") is not None


def test_a_plugin_that_fails_to_import_is_logged_by_distribution_and_the_rest_load(installed):
    infos, logs, pm = load(block=["hookwire"])
    broken = next(info for info in infos if info.name == "broken")
    assert (broken.loaded, broken.error) == (False, BROKEN_ERROR)
    assert broken.distribution == "hookwire-broken-plugin" and broken.version == "0.0.1"
    failures = [r for r in logs if r["event"] == "plugin failed to load"]
    assert failures == [{"plugin": "broken", "distribution": "hookwire-broken-plugin",
                         "version": "0.0.1", "error": BROKEN_ERROR, "event": "plugin failed to load",
                         "log_level": "error"}]
    assert pm.get_plugin("broken") is None
    assert pm.get_plugin("hello") is not None  # loaded after the broken one (names are sorted)


def test_first_party_plugins_come_through_the_same_group(installed):
    infos, _, _ = load(block=["broken"])
    first_party = {info.name for info in infos if info.distribution == "hookwire"}
    assert first_party == {"webjs", "noweb", "webhook", "engines", "api"}


def test_strict_makes_a_load_failure_fatal_and_says_which_distribution(installed):
    pm = new_plugin_manager()
    with capture_logs() as logs, pytest.raises(PluginLoadError) as info:
        load_entry_points(pm, block=["hookwire"], strict=True)
    assert str(info.value) == (f"plugin 'broken' from distribution 'hookwire-broken-plugin' "
                               f"failed to load: {BROKEN_ERROR}")
    assert [r for r in logs if r["log_level"] == "error"] == []  # the caller prints it, once


@pytest.mark.parametrize("name", ["broken", "hookwire-broken-plugin", "Hookwire_Broken.Plugin"])
def test_a_blocked_plugin_is_skipped_by_entry_point_or_distribution_name(installed, name):
    infos, logs, pm = load(block=["hookwire", name], strict=True)
    assert [info.name for info in infos] == ["hello"]
    assert {"plugin": "broken", "distribution": "hookwire-broken-plugin", "event": "plugin blocked",
            "log_level": "info"} in logs


def test_another_distribution_with_a_taken_name_is_skipped_and_logged(installed, tmp_path,
                                                                        monkeypatch):
    site = tmp_path / "other-site"
    dist_info = site / "hookwire_impostor-2.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: hookwire-impostor\nVersion: 2.0\n")
    (dist_info / "entry_points.txt").write_text("[hookwire]\nhello = hookwire_impostor\n")
    (site / "hookwire_impostor.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(installed))  # the real hello plugin comes first on the path
    infos, logs, pm = load(block=["hookwire", "broken"])
    assert [(i.name, i.distribution, i.loaded) for i in infos] == [
        ("hello", "hookwire-hello-plugin", True)]
    assert {"plugin": "hello", "distribution": "hookwire-impostor",
            "loaded_from": "hookwire-hello-plugin", "event": "plugin name already taken, skipped",
            "log_level": "warning"} in logs


def test_the_same_distribution_twice_on_the_path_loads_once(installed, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "copy-of-site"
    shutil.copytree(installed, copy)
    monkeypatch.syspath_prepend(str(copy))
    infos, logs, _ = load(block=["hookwire", "broken"])
    assert [i.name for i in infos] == ["hello"]
    assert not [r for r in logs if r["log_level"] in ("warning", "error")]


def test_app_load_fires_the_plugins_hooks(installed):
    with capture_logs():
        app = App.load(block=["hookwire"])
    assert "hello.ping" in app.registry.event_types
    assert "hello" in app.registry.config_sections
    assert "hello" in app.registry.commands
    assert app.registry.provided["hello"] == ["event hello.ping", "config [hello]", "command hello"]
    assert [info.name for info in app.plugins] == ["broken", "hello"]
