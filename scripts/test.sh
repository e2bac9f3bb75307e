#!/usr/bin/env bash
# The README's test command: installs obsgen and the real tools the tests drive, then runs the suite.
# Idempotent and non-interactive; a warm run (tools cached under ~/.cache) costs only the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

bash scripts/install-tools.sh
export PATH="$HOME/.cache/obsgen-tools/bin:$PATH"

.venv/bin/ruff check generator tests benchmarks
# Most of the suite waits on real servers and tools, so test files run in parallel workers (one file per
# worker: a file's module-scoped stack stays in one process). OBSGEN_TEST_WORKERS=0 runs them serially.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${OBSGEN_TEST_WORKERS:-3}" --dist loadfile "$@"
