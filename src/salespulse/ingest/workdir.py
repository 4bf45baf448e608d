"""The import's private scratch folder (transcoded copies of non-UTF-8 exports).

Every import works in ``<temp>/salespulse-import.<uid>/<pid>-<random>/`` (mode 0700) and
removes it when it ends. A process killed with SIGKILL cannot clean up, so every import
first removes the folders of processes that are no longer running: a copy of a customer
export never outlives the next import.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


def base_dir() -> Path:
    """The parent of all import scratch folders of this user."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"salespulse-import.{uid}"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def clean_stale(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders of dead processes; returns what was removed."""
    base = base or base_dir()
    removed: list[Path] = []
    if not base.is_dir():
        return removed
    for d in base.iterdir():
        pid_text = d.name.split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh private folder for one import, removed afterwards (stale ones first)."""
    base = base_dir()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(base, 0o700)
    clean_stale(base)
    d = base / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    d.mkdir(mode=0o700)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
