"""Reading a secret file (a token, a password, a key): refused when unreadable, empty or world-readable.

A secret that every local user can read is no secret: obsgen refuses it with the fix rather than
using it. Group-readable is fine (0440/0640): that is how containers running as another user share
a secret through a group. Standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def read_secret(path: str | os.PathLike[str], what: str) -> str:
    """The secret in ``path``, stripped of surrounding whitespace; ``ValueError`` naming the fix otherwise."""
    try:
        mode = os.stat(path).st_mode
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc.strerror}) — create the file") from None
    if mode & stat.S_IROTH:
        raise ValueError(f"{path}: the {what} file is readable by every user (mode {stat.S_IMODE(mode):04o}) — "
                         f"run `chmod o-rwx {path}` (0600, or 0440/0640 with a group the reader is in)")
    if not text:
        raise ValueError(f"{path}: the {what} file is empty — write a random secret into it")
    return text
