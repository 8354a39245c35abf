"""Reading bridge's /metrics in tests. The counters live in a registry the whole test process shares,
so a test reads them before and after what it does and asserts the increase, never mere presence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Scrape:
    """One reading of a Prometheus exposition."""

    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        return cls(tuple(s for family in text_string_to_metric_families(text) for s in family.samples))

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` that carry these labels (0 when there are none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def increase_since(self, before: Scrape, name: str, **labels: str) -> float:
        return self.value(name, **labels) - before.value(name, **labels)


async def scrape(client: Any, **headers: str) -> Scrape:
    """/metrics of the app behind this aiohttp test client."""
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    return Scrape.parse(await response.text())
