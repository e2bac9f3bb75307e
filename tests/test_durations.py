"""One duration parser for the spec reader and every emitter (obsgen.model.durations)."""

from __future__ import annotations

import pytest
from obsgen.model.durations import Duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("1y", 31536000), ("1500ms", 1),
])
def test_duration_keeps_its_text_and_counts_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == Duration(text, seconds)
    assert str(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["5 m", "1h30m", "m", "-5m", "5M", "", None, 5])
def test_anything_but_a_single_unit_duration_is_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "999ms"])
def test_durations_below_one_second_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        parse_duration(text)


def test_no_other_module_parses_durations() -> None:
    from pathlib import Path

    import obsgen

    package = Path(obsgen.__file__).parent
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if path.name != "durations.py" and path.parts[-2] != "runtime"
                 and ("DURATION_RE" in path.read_text() or "UNIT_SECONDS" in path.read_text())]
    assert offenders == []
