"""The output tree of specs as they were at a git revision (``obsgen diff --base REV``).

Each spec file is read with ``git show REV:./<file>``, validated as ``load_all`` does and generated in
memory with the current obsgen, under the same header name as today's spec (so only what the spec says
differs). The built-in spec is read from the repository's copy of it. A spec that did not exist at REV
contributes nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from obsgen import conflicts, contract
from obsgen.demo import BUILTIN
from obsgen.diff.trees import Tree
from obsgen.generate import TARGETS, build_tree, spec_paths
from obsgen.spec.build import build_model
from obsgen.spec.source import SpecError, SpecInvalid, load_text

BUILTIN_PATH = Path(BUILTIN.__file__).resolve().parent / "spec.yaml"


class RevisionError(ValueError):
    """git could not read a spec at the revision (not a repository, unknown revision)."""


def spec_at(rev: str, path: Path) -> bytes | None:
    """``path``'s bytes at ``rev``, or None when it did not exist there."""
    if not rev or rev.startswith("-") or ":" in rev:  # git would read an option, the index, or a path in a tree
        raise RevisionError(f"{rev!r}: not a revision name (it is empty, starts with `-` or holds `:`)")
    path = path.resolve()
    run = subprocess.run(["git", "-C", str(path.parent), "show", f"{rev}:./{path.name}"], capture_output=True,
                         check=False)
    if run.returncode == 0:
        return run.stdout
    check = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                           capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise RevisionError(f"{rev}: not a revision of the git repository holding {path} "
                            f"({run.stderr.decode(errors='replace').strip() or check.stderr.strip()})")
    return None


def tree_at(rev: str, specs: Sequence[Path], targets: Iterable[str] = tuple(TARGETS)) -> Tree:
    """The tree ``obsgen generate SPECS`` would have produced from the specs as they were at ``rev``.

    Raises ``RevisionError`` for a bad revision and ``SpecInvalid`` (errors named ``REV:path``) when the
    old specs do not validate.
    """
    checked: list[conflicts.Spec] = []
    errors: list[SpecError] = []
    for path in spec_paths(specs) if specs else [BUILTIN_PATH]:
        data = spec_at(rev, path)
        if data is None:
            continue
        shown = f"{rev}:{BUILTIN.SPEC_NAME if not specs else path}"
        try:
            doc = load_text(data.decode("utf-8"), shown)
            model = build_model(doc, BUILTIN.SOURCE if not specs else f"spec {path.name}")
        except SpecInvalid as exc:
            errors += exc.errors
            continue
        except UnicodeDecodeError as exc:
            errors.append(SpecError(shown, 1, "", f"cannot read the spec: {exc}",
                                    "it was not UTF-8 text at that revision: compare with a later one"))
            continue
        errors += contract.check(model)
        checked.append(conflicts.Spec(doc, model))
    errors += conflicts.check(checked)
    if errors:
        raise SpecInvalid(errors)
    return build_tree([spec.model for spec in checked], targets) if checked else {}
