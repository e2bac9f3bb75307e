"""Reading a secret file (a token, a password, a key): refused when unreadable, empty or world-readable.

A secret that every local user can read is no secret: obsgen refuses it with the fix rather than
using it. Group-readable is fine (0440/0640): that is how containers running as another user share
a secret through a group. Standard library only.
"""

from __future__ import annotations

import os
import stat

MAX_BYTES = 64 * 1024
"""A secret is a short line; a larger file is a mistake (the wrong path), not read into memory."""


def read_secret(path: str | os.PathLike[str], what: str) -> str:
    """The secret in ``path``, stripped of surrounding whitespace; ``ValueError`` naming the fix otherwise."""
    try:
        # Opened without blocking and checked before reading: a FIFO would block for ever, a device never end.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as stream:
            mode = os.fstat(stream.fileno()).st_mode
            data = stream.read(MAX_BYTES + 1) if stat.S_ISREG(mode) else b""
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the {what} ({exc.strerror}) — create the file") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: the {what} file is not a regular file — write the secret into a plain file")
    if len(data) > MAX_BYTES:
        raise ValueError(f"{path}: the {what} file is over {MAX_BYTES} bytes — a secret is one short line")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the {what} file is not UTF-8 text — write the secret as text") from None
    if mode & stat.S_IROTH:
        raise ValueError(f"{path}: the {what} file is readable by every user (mode {stat.S_IMODE(mode):04o}) — "
                         f"run `chmod o-rwx {path}` (0600, or 0440/0640 with a group the reader is in)")
    if not text:
        raise ValueError(f"{path}: the {what} file is empty — write a random secret into it")
    return text
