"""Files: atomic directory swaps (nothing half-written is ever left where a user would read it) and checksums."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

__all__ = ["move_into_place", "sha256_file"]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (cohort files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def move_into_place(tmp: Path, target: Path) -> None:
    """Put a fully written directory ``tmp`` at ``target``, replacing an existing one.

    Both renames are within one parent directory. An existing target is moved aside first and
    removed only after the new one is in place, so a failure leaves either the old or the new
    directory, never a half-written one.
    """
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
