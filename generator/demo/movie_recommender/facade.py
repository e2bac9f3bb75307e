# Generated from obsgen built-in spec movie-recommender.yaml by `python -m obsgen.runtime.stubgen`. Do not edit.
"""Typed facade of the obsgen runtime for movie-recommender: event methods with their fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from obsgen.runtime.config import RuntimeConfig
from obsgen.runtime.core import RequestScope, Telemetry
from obsgen.runtime.killswitch import KillSwitchState

EVENTS = ("request", "ranking", "impression", "click", "error")
KILL_SWITCHES = ("disable_experiment", "use_cached_recommendations", "disable_cache", "pause_experiment")
KillSwitch = Literal["disable_experiment", "use_cached_recommendations", "disable_cache", "pause_experiment"]
Bucket = Literal["control", "treatment"]
Cohort = Literal["new", "casual", "engaged", "power"]
UserState = Literal["warm", "cold"]
Region = Literal["na", "eu", "apac", "latam"]
Surface = Literal["home", "search", "detail", "email"]
DeviceType = Literal["web", "ios", "android", "tv"]
Algorithm = Literal["collaborative", "content_based", "hybrid", "popularity"]
CacheResult = Literal["hit", "miss", "bypass"]
Fallback = Literal["none", "popular", "cached", "editorial"]
Genre = Literal["action", "comedy", "documentary", "drama", "family", "horror", "romance", "scifi", "thriller", "other"]
Provider = Literal["netflix", "prime_video", "disney_plus", "hulu", "max", "apple_tv", "other"]
EngagementType = Literal["click", "save", "add_to_list", "play", "trailer"]
Component = Literal["api", "candidate_generation", "ranker", "feature_store", "cache", "telemetry"]
Severity = Literal["warning", "error", "critical"]


class MovieRecommenderTelemetry(Telemetry):
    """The runtime for movie-recommender; see ``Telemetry``. Event methods are declared for type checkers
    only: at run time the runtime builds them from the spec."""

    if TYPE_CHECKING:
        def is_active(self, kill_switch: KillSwitch) -> bool: ...

        def request(
            self,
            *,
            request_id: str | None = None,
            user_id: str,
            timestamp_ms: int | None = None,
            experiment_id: str,
            bucket: Bucket,
            k: int,
            session_id: str | None = None,
            cohort: Cohort | None = None,
            user_state: UserState | None = None,
            region: Region | None = None,
            locale: str | None = None,
            surface: Surface | None = None,
            device_type: DeviceType | None = None,
            filters: dict[str, Any] | None = None,
        ) -> RequestScope:
            """A recommendation request arrived."""
            ...

        def ranking(
            self,
            *,
            request_id: str | None = None,
            user_id: str | None = None,
            timestamp_ms: int | None = None,
            experiment_id: str | None = None,
            bucket: Bucket | None = None,
            k: int | None = None,
            latency_ms: float,
            coverage: float,
            algorithm: Algorithm,
            items: list[str],
            cache_result: CacheResult,
            fallback: Fallback,
            user_state: UserState | None = None,
            data_age_s: float,
            alpha: float | None = None,
        ) -> None:
            """The ranker answered a request."""
            ...

        def impression(
            self,
            *,
            request_id: str | None = None,
            user_id: str | None = None,
            session_id: str | None = None,
            timestamp_ms: int | None = None,
            experiment_id: str | None = None,
            bucket: Bucket | None = None,
            canonical_id: str,
            position: int,
            surface: Surface | None = None,
            visible_ms: float | None = None,
            device_type: DeviceType | None = None,
            genre: Genre | None = None,
            provider: Provider | None = None,
        ) -> None:
            """A recommended item became visible to the user."""
            ...

        def click(
            self,
            *,
            request_id: str | None = None,
            user_id: str | None = None,
            session_id: str | None = None,
            timestamp_ms: int | None = None,
            experiment_id: str | None = None,
            bucket: Bucket | None = None,
            canonical_id: str,
            position: int,
            engagement_type: EngagementType,
            dwell_ms: float | None = None,
            surface: Surface | None = None,
            device_type: DeviceType | None = None,
            genre: Genre | None = None,
            provider: Provider | None = None,
        ) -> None:
            """The user engaged with an impressed item."""
            ...

        def error(
            self,
            *,
            timestamp_ms: int | None = None,
            component: Component,
            severity: Severity,
            error_code: str,
            message: str,
            request_id: str | None = None,
            user_id: str | None = None,
            experiment_id: str | None = None,
            bucket: Bucket | None = None,
        ) -> None:
            """A component failed while serving recommendations."""
            ...


def telemetry(config: RuntimeConfig | None = None, *,
              kill_switches: KillSwitchState | None = None) -> MovieRecommenderTelemetry:
    """The runtime for the built-in movie-recommender spec, typed."""
    from obsgen.spec import load_default

    runtime = MovieRecommenderTelemetry(load_default(), config, kill_switches=kill_switches)
    if runtime.events != EVENTS:
        runtime.shutdown(0)
        raise TypeError(f"the spec's events {runtime.events} differ from this facade's {EVENTS}: "
                        "regenerate it with `python -m obsgen.runtime.stubgen`")
    return runtime
