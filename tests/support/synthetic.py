"""A synthetic day of a service's metrics, as the OTel collector would expose them.

Series names and label names come from the model (``Metric.series_names``, attribute label names), so
they are exactly what the instrumentation produces through the collector's Prometheus exporter, which
also adds ``job`` (service.namespace/service.name) and ``instance`` (service.instance.id). Label values
come from the attributes' enums. Counters are cumulative integers; histograms are cumulative buckets
drawn from log-normal values. The output is OpenMetrics text for ``promtool tsdb create-blocks-from
openmetrics``.

``Day`` derives a day from the model alone, for any spec: every event follows one diurnal curve with
noise; each metric gets as many series as its largest label enum has values, the i-th series taking the
i-th value of every label (cycling), so every value of every label has data; numeric values centre on
the event's example (or the middle bucket), gauges saw-tooth around it.

``RecommenderDay`` is the built-in spec's hand-tuned day (a small simulation of its traffic):

* requests follow a diurnal curve (low at night, peak in the evening) with noise and one short spike;
* two buckets split traffic about 50/50; treatment engages a little more and ranks a little faster;
* cohorts, regions, surfaces and clients each get a share of traffic, so every slice value has data;
* warm users mostly hit the cache; cold users are slower; a few misses fall back (popular, cached,
  editorial); impressions are a few per request and clicks a few percent of impressions;
* errors are rare (about 0.05% of requests) and come in a small burst once;
* the ranker's data snapshot ages in a 10-minute saw-tooth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from obsgen.emit.prometheus import promql as q
from obsgen.model import Metric, Model

DAY_START = 1757203200
"""2025-09-07T00:00:00Z, the seeds' date: a fixed day, so the data (and every test) is reproducible."""
DAY_SECONDS = 86400
STEP = 60
"""One sample a minute, as a 1m scrape would give; every 5m rate window holds several samples."""
REQUESTS_PER_MINUTE = 600.0
"""Requests a minute at the evening peak (10 per second)."""


def diurnal(t: int) -> float:
    """Traffic factor over the day: about 0.2 at 08:00 UTC, 1.0 at 20:00 UTC, plus a spike at 15:00."""
    hour = ((t - DAY_START) % DAY_SECONDS) / 3600
    base = 0.6 + 0.4 * math.cos(2 * math.pi * (hour - 20) / 24)
    spike = 1.8 if 15.0 <= hour < 15.25 else 1.0
    return base * spike


def lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if x <= 0:
        return 0.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


@dataclass
class Series:
    name: str
    labels: dict[str, str]
    values: list[float] = field(default_factory=list)


@dataclass
class Family:
    name: str
    type: str
    series: list[Series] = field(default_factory=list)


class Day:
    """Builds every series of the day from the model alone; ``families`` then holds them per metric family."""

    def __init__(self, model: Model, start: int = DAY_START, seconds: int = DAY_SECONDS, step: int = STEP,
                 seed: int = 7):
        self.model = model
        self.times = list(range(start, start + seconds + 1, step))
        self.step = step
        self.rng = random.Random(seed)
        self.resource = {"job": f"{model.service.namespace}/{model.service.name}",
                         "instance": f"{model.service.name}-0"}
        self.metrics = {m.name: m for m in model.metrics}
        self.families: dict[str, Family] = {}

    # --- building blocks ---------------------------------------------------------------------------
    def enum(self, attribute: str) -> tuple[str, ...]:
        values = self.model.attributes[attribute].enum
        assert values, attribute
        return values

    def _labels(self, metric: Metric, values: Mapping[str, str]) -> dict[str, str]:
        assert set(values) == set(metric.labels), (metric.name, sorted(values), metric.labels)
        labels = {self.model.attributes[k].label_name: v for k, v in values.items()}
        return {**labels, **self.resource}

    def _family(self, metric: Metric) -> Family:
        kind = {"counter": "counter", "histogram": "histogram"}.get(metric.instrument, "gauge")
        name = metric.prom_name[: -len("_total")] if kind == "counter" else metric.prom_name
        return self.families.setdefault(metric.name, Family(name, kind))

    def noisy(self, expected: float) -> float:
        """An event count for one step: the expectation with noise, never negative."""
        return max(0.0, expected * (1 + 0.08 * self.rng.gauss(0, 1)))

    def counter(self, metric_name: str, values: Mapping[str, str], per_step: list[float]) -> None:
        metric = self.metrics[metric_name]
        series = Series(metric.count_series, self._labels(metric, values))
        total = 0.0
        for amount in per_step:
            total += amount
            series.values.append(float(math.floor(total)))
        self._family(metric).series.append(series)

    def gauge(self, metric_name: str, values: Mapping[str, str], samples: list[float]) -> None:
        metric = self.metrics[metric_name]
        self._family(metric).series.append(Series(metric.prom_name, self._labels(metric, values), list(samples)))

    def histogram(self, metric_name: str, values: Mapping[str, str], counts: list[float], median: float,
                  sigma: float) -> None:
        """Cumulative ``_bucket``/``_sum``/``_count`` series for ``counts`` observations a step."""
        metric = self.metrics[metric_name]
        assert metric.buckets is not None
        labels = self._labels(metric, values)
        bounds: list[Decimal | None] = [*metric.buckets, None]
        shares = [1.0 if b is None else lognormal_cdf(float(b), median, sigma) for b in bounds]
        mean = median * math.exp(sigma * sigma / 2)
        family = self._family(metric)
        totals = [0.0] * len(bounds)
        cumulative = [Series(f"{metric.prom_name}_bucket", {**labels, "le": "+Inf" if b is None else q.number(b)})
                      for b in bounds]
        count = Series(f"{metric.prom_name}_count", labels)
        total_sum = Series(f"{metric.prom_name}_sum", labels)
        observed = observed_sum = 0.0
        for n in counts:
            for i, share in enumerate(shares):
                totals[i] += n * share
                cumulative[i].values.append(float(math.floor(totals[i])))
            observed += n
            observed_sum += n * mean
            count.values.append(float(math.floor(observed)))
            total_sum.values.append(round(observed_sum, 3))
        family.series.extend([*cumulative, total_sum, count])

    def traffic(self, share: float) -> list[float]:
        return [self.noisy(REQUESTS_PER_MINUTE * self.step / 60 * diurnal(t) * share) for t in self.times]

    # --- the day -------------------------------------------------------------------------------------
    def build(self) -> Day:
        for metric in self.model.metrics:
            event = next(e for e in self.model.events if e.name == metric.event)
            enums = [self._values(event.example, label) for label in metric.labels]
            combos = max((len(values) for values in enums), default=1)
            typical = self._typical(metric, event.example)
            for i in range(combos):
                values = {label: enum[i % len(enum)] for label, enum in zip(metric.labels, enums, strict=True)}
                events = self.traffic(1 / combos)
                if metric.instrument == "histogram":
                    self.histogram(metric.name, values, events, typical, 0.6)
                elif metric.instrument in ("gauge", "updowncounter"):
                    self.gauge(metric.name, values, [typical * (0.5 + (t // self.step + 3 * i) % 10 / 10)
                                                     for t in self.times])
                else:
                    self.counter(metric.name, values, [n * (typical if metric.value else 1) for n in events])
        return self

    def _values(self, example: Mapping[str, object], label: str) -> tuple[str, ...]:
        """Every value of an enum label; a label without an enum takes the event example's value."""
        attribute = self.model.attributes[label]
        if attribute.enum:
            return attribute.enum
        return (str(example.get(label, "other")),)

    def _typical(self, metric: Metric, example: Mapping[str, object]) -> float:
        """The measured field's usual value: the example's, else the middle bucket boundary, else 1."""
        value = example.get(metric.value) if metric.value else None
        if isinstance(value, list):
            return float(len(value))
        if isinstance(value, int | float) and value > 0:
            return float(value)
        if metric.buckets:
            return float(metric.buckets[len(metric.buckets) // 2])
        return 1.0

    # --- output --------------------------------------------------------------------------------------
    def openmetrics(self) -> Iterator[str]:
        for family in self.families.values():
            yield f"# TYPE {family.name} {family.type}\n"
            for series in family.series:
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()))
                prefix = f"{series.name}{{{inner}}} "
                for t, value in zip(self.times, series.values, strict=True):
                    yield f"{prefix}{_format(value)} {t}\n"
        yield "# EOF\n"

    def write(self, path: Path) -> Path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(self.openmetrics())
        return path

    @property
    def end(self) -> int:
        return self.times[-1]

    @property
    def start(self) -> int:
        return self.times[0]


class RecommenderDay(Day):
    """The built-in movie recommender's day, with the traffic shape its dashboards are meant to show."""

    # --- the day -------------------------------------------------------------------------------------
    def build(self) -> Day:
        buckets = {"control": 0.505, "treatment": 0.495}
        lift = {"control": 1.0, "treatment": 1.12}
        speed = {"control": 1.0, "treatment": 0.9}
        cohorts, regions = self.enum("cohort"), self.enum("region")
        surfaces, clients = self.enum("surface"), self.enum("device_type")
        genres, providers = self.enum("genre"), self.enum("provider")
        engagements = {"click": 0.025, "play": 0.006, "trailer": 0.003, "save": 0.0025, "add_to_list": 0.0015}
        for bucket, bucket_share in buckets.items():
            # Requests over 16 slices that cover every cohort, region and surface.
            for i in range(16):
                cohort, region = cohorts[i % 4], regions[(i // 4) % 4]
                surface = surfaces[(i + i // 4) % 4]
                state = "cold" if cohort == "new" else "warm"
                per_step = self.traffic(bucket_share / 16)
                self.counter("recsys.requests", {"bucket": bucket, "cohort": cohort, "user_state": state,
                                                 "region": region, "surface": surface}, per_step)
            for cohort in cohorts:
                self.counter("recsys.sessions", {"bucket": bucket, "cohort": cohort},
                             self.traffic(bucket_share / 4 / 4))
            requests = self.traffic(bucket_share)
            self.counter("recsys.ranking.slots.requested", {"bucket": bucket}, [n * 20 for n in requests])
            self.counter("recsys.ranking.slots.filled", {"bucket": bucket}, [n * 20 * 0.996 for n in requests])
            self.counter("recsys.requests.engaged", {"bucket": bucket},
                         [n * 0.2 * lift[bucket] for n in requests])
            # Rankings: warm users mostly hit the cache; misses sometimes fall back.
            rankings = [
                ("warm", "hybrid", "hit", "none", 0.70, 8.0), ("warm", "hybrid", "miss", "none", 0.12, 35.0),
                ("warm", "hybrid", "miss", "popular", 0.015, 14.0), ("warm", "hybrid", "bypass", "cached", 0.01, 6.0),
                ("cold", "popularity", "hit", "none", 0.07, 12.0), ("cold", "popularity", "miss", "none", 0.08, 120.0),
                ("cold", "popularity", "miss", "editorial", 0.005, 9.0),
            ]
            for state, algorithm, cache, fallback, share, median in rankings:
                self.histogram("recsys.ranking.duration", {"bucket": bucket, "user_state": state,
                                                           "algorithm": algorithm, "cache_result": cache,
                                                           "fallback": fallback},
                               self.traffic(bucket_share * share), median * speed[bucket], 0.6)
            for algorithm, share in (("hybrid", 0.85), ("popularity", 0.15)):
                self.histogram("recsys.ranking.coverage", {"bucket": bucket, "algorithm": algorithm},
                               self.traffic(bucket_share * share), 0.975, 0.015)
            # Impressions: three a request, over 10 slices covering every surface, client, genre, provider.
            for i in range(10):
                slice_ = {"bucket": bucket, "surface": surfaces[i % 4], "device_type": clients[(i + i // 4) % 4],
                          "genre": genres[i], "provider": providers[i % 7]}
                shown = self.traffic(bucket_share * 3 / 10)
                self.counter("recsys.impressions", slice_, shown)
                for engagement, rate in engagements.items():
                    values = {k: v for k, v in slice_.items() if k != "device_type"}
                    self.counter("recsys.clicks", {**values, "engagement_type": engagement},
                                 [self.noisy(n * rate * lift[bucket]) for n in shown])
            # Errors: rare, with a burst at 03:00.
            for component, severity, code, rate in (("ranker", "error", "RANKER_TIMEOUT", 0.0003),
                                                    ("feature_store", "warning", "FEATURE_TIMEOUT", 0.0004),
                                                    ("cache", "warning", "CACHE_UNAVAILABLE", 0.0002),
                                                    ("api", "critical", "UPSTREAM_UNAVAILABLE", 0.00005)):
                per_step = []
                for t, n in zip(self.times, requests, strict=True):
                    burst = 20 if 3 * 3600 <= t - DAY_START < 3 * 3600 + 600 else 1
                    expected = n * rate * burst
                    per_step.append(math.floor(expected + self.rng.random()))
                self.counter("recsys.errors", {"component": component, "severity": severity, "error_code": code,
                                               "bucket": bucket}, per_step)
        for engagement, median in (("click", 20000.0), ("play", 600000.0), ("trailer", 90000.0),
                                   ("save", 8000.0), ("add_to_list", 6000.0)):
            self.histogram("recsys.click.dwell", {"engagement_type": engagement},
                           self.traffic(0.003 * 3), median, 1.0)
        for algorithm, offset in (("hybrid", 0), ("popularity", 240)):
            self.gauge("recsys.data.age", {"algorithm": algorithm},
                       [60.0 + float((t - DAY_START + offset) % 600) for t in self.times])
        return self


def _format(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def synthetic_day(model: Model, path: Path, kind: type[Day] = Day) -> Day:
    """Build the day for ``model`` (with the traffic model ``kind``) and write it as OpenMetrics to ``path``."""
    day = kind(model).build()
    day.write(path)
    return day
