"""The spec loader (``obsgen.spec.source``): values and line numbers from libyaml's C parser or the
pure-Python one alike, aliases expanded within a budget, and problems it can name kept for one report."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from obsgen.spec import default_spec_text, source
from obsgen.spec.source import SpecInvalid, load_text

TEXT = default_spec_text()


def test_the_c_and_the_python_parser_give_the_same_values_and_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = load_text(TEXT, "spec.yaml")
    monkeypatch.setattr(source, "LOADER", yaml.SafeLoader)
    slow = load_text(TEXT, "spec.yaml")
    assert fast.data == slow.data == yaml.safe_load(TEXT)
    assert fast.lines == slow.lines
    assert fast.spans == slow.spans


def test_a_key_names_its_own_line_and_a_list_item_the_line_it_starts_on() -> None:
    doc = load_text("a:\n  b: 1\n  c:\n    - x\n    - {y: 2}\n", "f.yaml")
    assert doc.lines[("a", "b")] == 2
    assert doc.lines[("a", "c")] == 3
    assert doc.lines[("a", "c", 1)] == 5
    assert doc.lines[("a", "c", 1, "y")] == 5


def test_an_alias_is_expanded_into_a_copy_with_the_anchor_lines() -> None:
    doc = load_text("base: &b {x: 1, y: [2]}\nother: *b\n", "f.yaml")
    assert doc.data["other"] == {"x": 1, "y": [2]}
    assert doc.data["other"] is not doc.data["base"]
    assert doc.lines[("other", "y")] == 1


def test_a_multi_line_text_remembers_its_lines_so_errors_can_name_a_token() -> None:
    doc = load_text("q:\n  expr: |-\n    sum(\n      rate(bad_metric[5m])\n    )\n", "f.yaml")
    assert doc.spans["q.expr"] == (2, 5)
    assert doc.token_line("q.expr", "bad_metric", default=2) == 4
    assert doc.token_line("q.expr", "absent", default=2) == 2


def test_dates_stay_text_and_plain_scalars_keep_their_types() -> None:
    doc = load_text("d: 2024-01-31\nn: 3\nf: 0.5\nb: true\nz: null\ns: '3'\n", "f.yaml")
    assert doc.data == {"d": "2024-01-31", "n": 3, "f": 0.5, "b": True, "z": None, "s": "3"}


def test_problems_the_loader_names_are_kept_and_the_rest_still_loads() -> None:
    doc = load_text("a: 1\na: 2\nb: .nan\nc: !!binary aGk=\n3: x\nd: ok\n", "f.yaml")
    assert [str(e) for e in doc.errors] == [
        "f.yaml:2: a: duplicate key — remove one of the two entries",
        "f.yaml:3: b: `.nan` is not a finite number — write a finite number (infinity and NaN cannot be written "
        "to JSON or PromQL tests)",
        "f.yaml:4: c: YAML tag `!!binary` is not supported — remove the tag",
        "f.yaml:5: (top level): key `3` is not a string — quote the key",
    ]
    assert doc.data["a"] == 1 and doc.data["d"] == "ok"
    assert doc.was_reported(("b",)) and not doc.was_reported(("d",))


@pytest.mark.parametrize("text,words", [
    ("a: [" * 70 + "]" * 70, "nested more than 64 levels"),
    ("a: &a [" + ", ".join(["x"] * 300) + "]\n" + "".join(f"b{i}: *a\n" for i in range(200)),
     "expands to more than 50,000 values"),
    ("a: &a [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[x]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
     "b: [[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n", "nested more than 64 levels"),
    ("a: 1\n---\nb: 2\n", "more than one YAML document"),
    ("a: *missing\n", "alias *missing names no anchor"),
])
def test_what_cannot_be_read_within_bounds_stops_reading(text: str, words: str) -> None:
    with pytest.raises(SpecInvalid) as caught:
        load_text(text, "f.yaml")
    assert len(caught.value.errors) == 1
    assert words in caught.value.errors[0].problem


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "big.yaml"  # type: ignore[operator]
    path.write_bytes(b"#" * (source.MAX_BYTES + 1))
    with pytest.raises(SpecInvalid, match="over the limit of 5,242,880"):
        source.load_file(path)


def _limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # reading /dev/zero to its end fails, not the host


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_spec_that_is_not_a_regular_file_is_refused_without_reading_it(kind: str, tmp_path: Path) -> None:
    if kind == "fifo":  # no writer ever opens it: reading it would block forever
        spec = tmp_path / "spec.yaml"
        os.mkfifo(spec)
    else:
        spec = Path("/dev/zero")
    result = subprocess.run([sys.executable, "-m", "obsgen.cli", "validate", str(spec)], capture_output=True,
                            text=True, timeout=30, preexec_fn=_limited_memory)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[0] == (f"{spec}:1: (top level): cannot read the spec: it is not a regular file "
                                             "(a device, FIFO or socket) — pass the path of a YAML spec file")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_utf16_spec_is_refused_with_the_encoding_to_save_it_in(encoding: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes("version: 1\n".encode(encoding))
    with pytest.raises(SpecInvalid, match=r"it is UTF-16 or UTF-32 text .* — save it as UTF-8"):
        source.load_file(path)


def test_a_utf8_byte_order_mark_and_crlf_line_ends_read_as_plain_yaml(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode())
    doc = source.load_file(path)
    assert doc.data == load_text(TEXT, "x").data
