"""Heavy imports load only where they are used: `obsgen generate` for a spec without dashboards never imports
grafanalib, a spec whose examples are valid never needs jsonschema, and no command but `simulate`/`killswitch`
imports the runtime or the simulator.

Each check runs in a fresh interpreter, since this test session has imported everything already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from obsgen.init_spec import TEMPLATE

CHECK = """
import sys
from pathlib import Path
from obsgen.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
loaded = sorted({name.split(".")[0] if not name.startswith("obsgen.") else ".".join(name.split(".")[:2])
                 for name in sys.modules})
print(" ".join(loaded))
"""


def loaded_by(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, check=True)
    return set(result.stdout.split("\n")[-2].split())


def test_a_spec_without_dashboards_generates_without_grafanalib(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    # No dashboards and no error budgets (a budgeted SLO gets a generated SLO board).
    text = "".join(line for line in text[:text.index("\ndashboards:")].splitlines(keepends=True)
                   if "dashboard_tile" not in line and "error_budget" not in line)
    spec = tmp_path / "plain.yaml"
    spec.write_text(text)
    loaded = loaded_by("generate", str(spec), "--out", str(tmp_path / "out"))
    assert "obsgen.emit" in loaded and (tmp_path / "out" / "alerting" / "my-service" / "alerts.yml").is_file()
    assert "grafanalib" not in loaded
    assert not {"obsgen.runtime", "obsgen.simulate", "opentelemetry"} & loaded


def test_validate_and_schema_load_neither_the_runtime_nor_the_simulator() -> None:
    for args in (["validate"], ["schema"]):
        loaded = loaded_by(*args)
        assert not {"obsgen.runtime", "obsgen.simulate", "opentelemetry"} & loaded, args
        # The built-in spec's examples pass the compiled field checks: jsonschema only explains a rejection.
        assert "jsonschema" not in loaded, args
