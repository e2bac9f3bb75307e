"""`obsgen diff` and `generate --check --format`: spec edits on a copy of the built-in spec read as
changes in rule terms (summary lines, JSON, GitHub annotations); the textual diff stays as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.diff import diff_trees, render
from obsgen.generate import build_tree, load
from obsgen.spec import default_spec_text

SPEC = "movie-recommender.yaml"


def edited(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def tile_block(text: str, tile: str) -> str:
    start = text.index(f"      - id: {tile}\n")
    return text[start:text.index("      - id: ", start + 1)]


THRESHOLD = (("    summary: Ranking p95 latency for warm users is above 100 ms.",
              "    summary: Ranking p95 latency for warm users is above 150 ms."),
             ('    match: {user_state: warm}\n    op: ">"\n    threshold: 100',
              '    match: {user_state: warm}\n    op: ">"\n    threshold: 150'))
OBJECTIVE = (("    description: Error rate under 0.1% (99.9% of requests succeed).\n    indicator: errors\n"
              '    objective: {op: "<", value: 0.001}',
              "    description: Error rate under 0.5% (99.5% of requests succeed).\n    indicator: errors\n"
              '    objective: {op: "<", value: 0.005}'),)
NEW_ALERT = (("  RecsysCoverageLow:\n", "  RecsysCoverageCritical:\n    summary: Mean recommendation coverage is below "
              '80%.\n    indicator: coverage\n    op: "<"\n    threshold: 0.8\n    for: 15m\n    severity: P3\n'
              "  RecsysCoverageLow:\n"),)
NEW_TILE = (("      - id: cache\n", "      - id: fallback-rate\n        title: Fallback Rate\n        row: Serving\n"
             "        description: Errors per request.\n        unit: percentunit\n"
             "        queries:\n          - {indicator: errors, legend: errors}\n"
             "      - id: cache\n"),)
ROUTE = (("P3: {class: warning, response: 4h, escalation: 1d, receiver: team-ticket,",
          "P3: {class: warning, response: 4h, escalation: 1d, receiver: oncall-page,"),)


def moved_tile(text: str) -> str:
    """The freshness tile moved to right after the latency tile."""
    block = tile_block(text, "freshness")
    text = text.replace(block, "")
    anchor = tile_block(text, "latency")
    return text.replace(anchor, anchor + block)


def tree_of(tmp_path: Path, text: str, name: str) -> dict[str, str]:
    spec = tmp_path / name / SPEC
    spec.parent.mkdir()
    spec.write_text(text, encoding="utf-8")
    return build_tree(load(spec))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return tree_of(tmp_path_factory.mktemp("base"), default_spec_text(), "base")


def summary_after(tmp_path: Path, base: dict[str, str], text: str) -> list[str]:
    return render.summary_lines(diff_trees(base, tree_of(tmp_path, text, "new")))


def test_threshold_change_reads_as_the_alerts_threshold(tmp_path: Path, base: dict[str, str]) -> None:
    lines = summary_after(tmp_path, base, edited(default_spec_text(), *THRESHOLD))
    assert lines[0] == "~ alert RecsysRankingLatencyHigh: threshold > 100 → > 150; annotations.description; " \
                       "annotations.summary"
    assert "~ file alerting/movie-recommender/tests/alerts_test.yml" in lines


def test_objective_change_reads_as_slo_objective_budget_and_burn_thresholds(tmp_path: Path,
                                                                            base: dict[str, str]) -> None:
    result = diff_trees(base, tree_of(tmp_path, edited(default_spec_text(), *OBJECTIVE), "new"))
    lines = render.summary_lines(result)
    assert lines[0] == ("~ SLO movie-recommender/error_rate: objective 99.9% → 99.5%; budget 0.1% → 0.5%; "
                        "burn_thresholds 1h:0.0144 6h:0.006 1d:0.003 3d:0.001 → 1h:0.072 6h:0.03 1d:0.015 3d:0.005")
    assert not [line for line in lines if line.startswith("~ alert")]  # the SLO line says it; the JSON keeps them
    burns = [c for c in result.changes if c.kind == "alert" and c.context == "movie-recommender/error_rate"]
    assert [c.name for c in burns] == [f'RecsysErrorRateErrorBudgetBurn{{severity="{s}"}}' for s in ("P1", "P3")]
    assert {f.field for c in burns for f in c.fields} == {"threshold", "annotations.description"}


def test_new_alert_is_one_added_alert(tmp_path: Path, base: dict[str, str]) -> None:
    lines = summary_after(tmp_path, base, edited(default_spec_text(), *NEW_ALERT))
    assert lines == ["+ alert RecsysCoverageCritical: P3 < 0.8 for 15m",
                     "~ file alerting/movie-recommender/tests/alerts_test.yml", "~ file kubernetes/… (1 resource)"]


def test_inserted_tile_is_one_added_panel_and_moves_not_renames(tmp_path: Path, base: dict[str, str]) -> None:
    result = diff_trees(base, tree_of(tmp_path, edited(default_spec_text(), *NEW_TILE), "new"))
    lines = render.summary_lines(result)
    added = [line for line in lines if line.startswith("+ panel")]
    assert len(added) == 1 and added[0].startswith("+ panel Fallback Rate (id ")
    assert added[0].endswith("on movie-recommender-health: x=12 y=9 w=12 h=8")
    assert not [line for line in lines if line.startswith("~ panel")]  # no tile "became" another
    (reflow,) = [line for line in lines if line.startswith("~ dashboard")]
    assert reflow.startswith("~ dashboard movie-recommender-health: 9 panels moved: Cache Efficacy, Data Freshness, ")
    panels = [c for c in result.changes if c.kind == "panel" and c.action != "added"]
    assert len(panels) == 9 and {f.field for c in panels for f in c.fields} == {"position"}


def test_moved_tile_is_a_move(tmp_path: Path, base: dict[str, str]) -> None:
    result = diff_trees(base, tree_of(tmp_path, moved_tile(default_spec_text()), "new"))
    (freshness,) = [c for c in result.changes if c.name == "Data Freshness (id 678390997)"]
    assert (freshness.action, freshness.fields[0].old, freshness.fields[0].new) == (
        "moved", "x=18 y=9 w=6 h=8", "x=12 y=1 w=6 h=8")
    lines = render.summary_lines(result)
    assert lines[0].startswith("~ dashboard movie-recommender-health: 11 panels moved: Data Freshness, ")
    assert not [line for line in lines if line.startswith(("+", "-", "~ panel"))]


def test_route_change_names_route_and_receiver(tmp_path: Path, base: dict[str, str]) -> None:
    lines = summary_after(tmp_path, base, edited(default_spec_text(), *ROUTE))
    assert lines[0] == ('~ route service="movie-recommender" > severity="P3": receiver movie-recommender/team-ticket '
                        "→ movie-recommender/oncall-page")


def test_json_shape_for_bots(tmp_path: Path, base: dict[str, str]) -> None:
    text = edited(default_spec_text(), *THRESHOLD, *NEW_ALERT, *ROUTE)
    data = json.loads(render.as_json(diff_trees(base, tree_of(tmp_path, text, "new"))))
    assert set(data) == {"format", "clean", "counts", "summary", "changes", "files"}
    assert data["format"] == "obsgen-diff/1" and data["clean"] is False
    assert data["counts"] == {"added": 1, "removed": 0, "changed": 5, "moved": 0}
    added = next(c for c in data["changes"] if c["action"] == "added")
    assert added == {"kind": "alert", "action": "added", "name": "RecsysCoverageCritical", "context": "",
                     "path": "alerting/movie-recommender/alerts.yml", "line": added["line"],
                     "detail": "P3 < 0.8 for 15m", "fields": []}
    new_alerts = tree_of(tmp_path, text, "again")["alerting/movie-recommender/alerts.yml"].splitlines()
    assert new_alerts[added["line"] - 1].strip() == "- alert: RecsysCoverageCritical"
    threshold = next(c for c in data["changes"] if c["name"] == "RecsysRankingLatencyHigh")
    assert threshold["fields"][0] == {"field": "threshold", "old": "> 100", "new": "> 150"}


def test_no_change_is_clean(base: dict[str, str]) -> None:
    result = diff_trees(base, dict(base))
    assert result.clean and render.summary_lines(result) == ["no changes"]
    assert json.loads(render.as_json(result))["changes"] == []


# --- the CLI --------------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def drifted(tmp_path: Path) -> tuple[Path, Path]:
    """A tree generated from the built-in spec copy, and the spec then edited (threshold and route)."""
    spec = tmp_path / SPEC
    spec.write_text(default_spec_text(), encoding="utf-8")
    assert run("generate", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    spec.write_text(edited(default_spec_text(), *THRESHOLD, *ROUTE), encoding="utf-8")
    return spec, tmp_path / "out"


def test_check_text_format_is_the_unchanged_unified_diff(drifted: tuple[Path, Path]) -> None:
    spec, out = drifted
    plain, text = run("generate", str(spec), "--out", str(out), "--check"), \
        run("generate", str(spec), "--out", str(out), "--check", "--format", "text")
    assert plain.exit_code == text.exit_code == 1
    assert plain.output == text.output
    assert plain.output.startswith("--- a/alerting/alertmanager.yml (on disk)\n")
    assert "obsgen diff" not in plain.output


def test_check_summary_puts_the_summary_before_the_textual_diff(drifted: tuple[Path, Path]) -> None:
    spec, out = drifted
    result = run("generate", str(spec), "--out", str(out), "--check", "--format", "summary")
    assert result.exit_code == 1
    summary, _, diff = result.stdout.partition("\n\n")
    assert summary.splitlines()[0].startswith("obsgen diff: 5 changed")
    assert "  ~ alert RecsysRankingLatencyHigh: threshold > 100 → > 150" in summary
    assert diff.startswith("--- a/alerting/alertmanager.yml (on disk)\n")


def test_check_github_annotates_file_and_line(drifted: tuple[Path, Path]) -> None:
    spec, out = drifted
    result = run("generate", str(spec), "--out", str(out), "--check", "--format", "github")
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::warning ")]
    route = next(line for line in annotations if "route" in line)
    line_no = (out / "alerting/alertmanager.yml").read_text().splitlines().index('      - severity="P3"') + 1
    assert route.startswith(f"::warning file={out}/alerting/alertmanager.yml,line={line_no},"
                            "title=obsgen%3A route changed::~ route ")


def test_diff_json_against_the_committed_tree(drifted: tuple[Path, Path]) -> None:
    spec, out = drifted
    result = run("diff", str(spec), "--out", str(out), "--format", "json")
    assert result.exit_code == 1
    assert [c["kind"] for c in json.loads(result.stdout)["changes"]] == ["alert", "route", "file", "file", "file"]


def test_diff_base_compares_two_git_revisions(tmp_path: Path) -> None:
    spec = tmp_path / SPEC
    spec.write_text(default_spec_text(), encoding="utf-8")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", SPEC], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    spec.write_text(edited(default_spec_text(), *NEW_ALERT, *OBJECTIVE), encoding="utf-8")
    result = run("diff", str(spec), "--base", "HEAD")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("  ~ SLO movie-recommender/error_rate: objective 99.9% → 99.5%")
    assert "  + alert RecsysCoverageCritical: P3 < 0.8 for 15m" in lines
    assert "--- a/alerting/movie-recommender/alerts.yml (HEAD)" in lines
    assert run("diff", str(spec), "--base", "no-such-rev").exit_code == 2


@pytest.mark.parametrize("rev", ["--output=written", "", "HEAD:other.yaml"])
def test_diff_base_that_is_no_revision_name_is_bad_input_and_git_never_reads_it_as_an_option(
        rev: str, tmp_path: Path) -> None:
    """`--output=FILE` made `git show` write the spec into a file of the caller's choosing; `''` compared with
    the index, `HEAD:other.yaml` with another file."""
    spec = tmp_path / "checkout.yaml"
    spec.write_bytes((Path(__file__).parent / "fixtures" / "specs" / "checkout.yaml").read_bytes())
    (tmp_path / "written:.").mkdir()
    (tmp_path / "other.yaml").write_text("version: 1\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "checkout.yaml", "other.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    result = CliRunner().invoke(main, ["diff", str(spec), "--base", rev])
    assert result.exit_code == 2, result.output
    assert result.output == (f"obsgen diff: --base {rev!r}: not a revision name (it is empty, starts with `-` or "
                             "holds `:`) — name a commit, branch or tag\n")
    assert not any((tmp_path / "written:.").iterdir())


def test_github_format_never_lets_a_title_start_a_workflow_command(tmp_path: Path, base: dict[str, str]) -> None:
    """A tile title is free text; with a line break in it, `::error …` reached the start of a summary line."""
    text = edited(default_spec_text(), ("        title: Coverage Analysis\n",
                                        '        title: "Coverage\\n::error file=x::injected\\r::add-mask::y"\n'))
    diff = diff_trees(base, tree_of(tmp_path, text, "new"))
    lines = (render.github(diff) + render.summary(diff)).splitlines()
    assert [x for x in lines if x.lstrip().startswith("::") and not x.startswith("::warning ")] == []
    assert ("  ~ panel Coverage\\n::error file=x::injected\\r::add-mask::y (id 1828503101) on "
            "movie-recommender-health: title") in lines


def test_collector_pipeline_and_receiver_changes(base: dict[str, str]) -> None:
    new = dict(base)
    new["otel/collector.yaml"] = base["otel/collector.yaml"].replace(
        "      exporters: [otlp/jaeger, file/landing_traces]", "      exporters: [otlp/jaeger, debug]", 1)
    new["alerting/alertmanager.yml"] = base["alerting/alertmanager.yml"].replace(
        "http://alert-sink:9096/oncall-page", "http://pager:9096/oncall-page")
    lines = render.summary_lines(diff_trees(base, new))
    assert lines == ["~ receiver movie-recommender/oncall-page: webhook_configs",
                     "~ pipeline traces: exporters otlp/jaeger, file/landing_traces → otlp/jaeger, debug"]


def test_diff_base_with_a_spec_that_was_not_utf8_at_the_revision_names_it(tmp_path: Path) -> None:
    """It was a UnicodeDecodeError traceback."""
    spec = tmp_path / "checkout.yaml"
    spec.write_bytes(b"\xff\xfe not text")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "checkout.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    spec.write_bytes((Path(__file__).parent / "fixtures" / "specs" / "checkout.yaml").read_bytes())
    result = CliRunner().invoke(main, ["diff", str(spec), "--base", "HEAD"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert result.output.splitlines()[0] == (
        f"HEAD:{spec}:1: (top level): cannot read the spec: 'utf-8' codec can't decode byte 0xff in position 0: "
        "invalid start byte — it was not UTF-8 text at that revision: compare with a later one")
