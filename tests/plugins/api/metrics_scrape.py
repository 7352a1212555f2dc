"""Reading ``/metrics`` as Prometheus does: ``prometheus_client``'s own parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """The families and samples of one scrape."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: dict[tuple[str, Labels], float] = {}
        for family in self.families.values():
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                assert key not in self.samples, f"duplicate sample {key}"
                self.samples[key] = sample.value

    def value(self, name: str, default: float | None = None, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        if key not in self.samples:
            if default is not None:
                return default
            raise AssertionError(f"no sample {name}{labels}; have "
                                 f"{sorted(k for k in self.samples if k[0] == name)}")
        return self.samples[key]

    def labelled(self, name: str, **fixed: str) -> dict[Labels, float]:
        """Samples of ``name`` whose labels include ``fixed``."""
        return {labels: value for (sample, labels), value in self.samples.items()
                if sample == name and all((k, v) in labels for k, v in fixed.items())}

    def kind(self, family: str) -> Any:
        return self.families[family].type


async def scrape(api: Any, **headers: str) -> Scrape:
    code, body = await api.get("/metrics", headers=headers or None)
    assert code == 200, body
    return Scrape(body.decode())
