"""A secret file that is no plain file is refused at once: a FIFO is never waited on, a device never read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from obsgen.runtime.secretfile import MAX_BYTES, read_secret


def refusal(path: Path) -> str:
    """``read_secret``'s error for ``path``, from a thread that must finish within 10 s (a FIFO blocked for ever)."""
    outcome: list[BaseException | str] = []

    def read() -> None:
        try:
            outcome.append(read_secret(path, "token"))
        except ValueError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), f"read_secret({path}) blocked"
    assert isinstance(outcome[0], ValueError), outcome
    return str(outcome[0])


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo, 0o600)
    assert "not a regular file" in refusal(fifo)


def test_a_device_is_refused_without_reading_it() -> None:
    assert "not a regular file" in refusal(Path("/dev/zero"))


@pytest.mark.parametrize(("data", "problem"), [(b"x" * (MAX_BYTES + 1), "over"), (b"\xff\xfe t", "not UTF-8")])
def test_a_huge_or_undecodable_file_is_refused_with_the_fix(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "token"
    path.write_bytes(data)
    path.chmod(0o600)
    assert problem in refusal(path)


def test_a_plain_secret_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("s3cret\n")
    path.chmod(0o600)
    assert read_secret(path, "token") == "s3cret"
