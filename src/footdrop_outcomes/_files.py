"""Files: safe output (nothing half-written is ever left where a user would read it), signals, checksums.

Every output of the package -- cohort directories (``simulate``, ``import``), report PDFs and
executed notebooks, study folders -- is written the same way:

1. the target is checked: a symbolic link is refused (:func:`refuse_symlink`), so nothing is
   ever written through a link or leaves a broken one;
2. missing parent folders are created and remembered (:func:`make_parents`), so a run that fails
   removes the folders it created (:func:`remove_created`);
3. everything is written to a hidden temporary file or directory beside the target
   (:func:`staging_dir`, :func:`staging_file`), then renamed into place
   (:func:`move_into_place`) with SIGINT and SIGTERM held back for the few system calls of the
   swap, so the target holds either its previous content or the complete new one;
4. on any failure or interruption the temporary output is removed, again with signals held back.

The command line turns SIGTERM into an exception (:func:`signals_raise`) so that step 4 runs for
a ``kill`` as for Ctrl-C.

Test hook (test-only, documented in ``docs/privacy.md``): when the environment variable
``FOOTDROP_TEST_PAUSE`` is ``STAGE=MARKER_FILE``, :func:`pause_point` at that stage creates
``MARKER_FILE`` and waits (up to 60 s, or until a held-back signal arrives) so that a test can send a
signal at a known point. It is read nowhere else and does nothing when unset.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from footdrop_outcomes.errors import CohortIOError, FootdropError, Interrupted

__all__ = [
    "sha256_file",
    "move_into_place",
    "refuse_symlink",
    "make_parents",
    "remove_created",
    "staging_dir",
    "staging_file",
    "staged_directory",
    "discard",
    "blocked_signals",
    "signals_raise",
    "pause_point",
    "describe_os_error",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PAUSE_ENV = "FOOTDROP_TEST_PAUSE"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (cohort files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_os_error(err: OSError) -> str:
    """``"permission denied"``-style text for an OS error, without a traceback."""
    if err.errno is not None and err.errno in errno.errorcode:
        return (err.strerror or os.strerror(err.errno)).lower()
    return type(err).__name__


# ------------------------------------------------------------------------------------------------
# signals


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_held: list[list[int]] = []  # signals caught inside blocked_signals blocks (innermost last)


@contextlib.contextmanager
def blocked_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back: they are noted, and acted on at the end of the block.

    Used around the renames of :func:`move_into_place` and around clean-up, so an interruption
    can neither leave the target missing nor stop a clean-up half-way. The handlers are swapped
    for the block (a process-directed signal may reach any thread, so masking the main thread
    is not enough; Python runs handlers in the main thread only). Does nothing outside the
    main thread.
    """
    if not _main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def hold(signum: int, frame: object) -> None:
        held.append(signum)

    for s in _SIGNALS:
        signal.signal(s, hold)
    _held.append(held)
    try:
        yield
    finally:
        _held.pop()
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if held:  # now act on the first one as it would have been
            handler = previous[held[0]]
            if callable(handler):
                handler(held[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(held[0])


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """For the duration of the block, SIGTERM and SIGINT raise :class:`~footdrop_outcomes.errors.Interrupted`.

    Python's default for SIGTERM is to end the process at once, skipping every ``finally``
    block, which would leave temporary output behind; with this handler clean-up runs. The
    previous handlers are restored afterwards. Does nothing outside the main thread.
    """
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    for s in _SIGNALS:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def pause_point(stage: str) -> None:
    """Test-only hook: wait at ``stage`` when ``FOOTDROP_TEST_PAUSE`` names it (see the module docs)."""
    spec = os.environ.get(_PAUSE_ENV)
    if not spec:
        return
    name, _, marker = spec.partition("=")
    if name != stage:
        return
    if marker:
        Path(marker).write_text(stage)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _held and _held[-1]:
            return  # a signal is held back here (blocked_signals): go on, it is acted on at the block's end
        time.sleep(0.02)


# ------------------------------------------------------------------------------------------------
# targets and parents


def refuse_symlink(target: Path, *, error: type[FootdropError] = CohortIOError) -> None:
    """Refuse an output path that is a symbolic link (also a broken one).

    Writing through a link would put the output somewhere the user did not name, and replacing
    it could leave a broken link; give the real path instead.
    """
    if target.is_symlink():
        raise error(f"{target} is a symbolic link; outputs are never written through a link: give the real path")


def make_parents(target: Path, *, error: type[FootdropError] = CohortIOError) -> list[Path]:
    """Create the missing parent folders of ``target``; return those created (outermost first)."""
    missing: list[Path] = []
    parent = target.parent
    while not parent.exists():
        if parent.is_symlink():
            raise error(f"{parent} is a broken symbolic link; give an existing folder")
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    missing.reverse()
    created: list[Path] = []
    try:
        for d in missing:
            d.mkdir()
            created.append(d)
    except OSError as err:
        remove_created(created)
        raise error(f"cannot create folder {d} ({describe_os_error(err)}); nothing was written") from None
    if not target.parent.is_dir():
        raise error(f"{target.parent} is not a folder; nothing was written")
    return created


def remove_created(created: list[Path]) -> None:
    """Remove folders made by :func:`make_parents`, innermost first, if they are still empty."""
    with blocked_signals():
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                break  # not empty (someone else wrote there) or already gone: leave it


def discard(path: Path) -> None:
    """Remove a temporary file or directory, with signals held back (a clean-up is never cut short)."""
    with blocked_signals():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def staging_dir(target: Path, *, error: type[FootdropError] = CohortIOError) -> Path:
    """A new hidden temporary directory beside ``target`` (same file system, so renames are atomic)."""
    try:
        path = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as err:
        raise error(f"cannot write in {target.parent} ({describe_os_error(err)}); nothing was written") from None
    _normal_mode(path, 0o777)  # mkdtemp makes 0700; an output folder gets a normal folder's mode
    return path


def _normal_mode(path: str | os.PathLike[str], base: int) -> None:
    """Give a new file or folder the mode a plain ``open`` / ``mkdir`` would (``base`` less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, base & ~mask)


def staging_file(target: Path, *, suffix: str = ".tmp", error: type[FootdropError] = CohortIOError) -> Path:
    """A new, empty, hidden temporary file beside ``target`` with a normal file's mode."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as err:
        raise error(f"cannot write in {target.parent} ({describe_os_error(err)}); nothing was written") from None
    os.close(fd)
    _normal_mode(name, 0o666)  # mkstemp makes 0600; outputs get a normal file's mode
    return Path(name)


# ------------------------------------------------------------------------------------------------
# the swap


def move_into_place(tmp: Path, target: Path, *, error: type[FootdropError] = CohortIOError) -> None:
    """Put a fully written file or directory ``tmp`` at ``target``, replacing an existing one.

    Both renames are within one parent directory, with SIGINT and SIGTERM held back. An existing
    target is moved aside first and removed only after the new one is in place, so a failure
    leaves either the old or the new output, never a half-written one and never none.
    """
    refuse_symlink(target, error=error)
    pause_point("move")
    with blocked_signals():
        try:
            if tmp.is_dir() and target.exists():
                old = target.with_name(f".{target.name}.{os.getpid()}.old")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
                pause_point("move-between-renames")
                try:
                    tmp.rename(target)
                except OSError:
                    old.rename(target)  # put the previous output back
                    raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)  # a file replaces a file atomically
        except OSError as err:
            raise error(f"cannot write {target} ({describe_os_error(err)}); the previous output, if any, is unchanged") from None


def write_atomic(target: Path, data: bytes, *, error: type[FootdropError] = CohortIOError) -> Path:
    """Write ``data`` to ``target`` through a staging file beside it, renamed into place (nothing
    half-written is ever at ``target``; the staging file is removed on any failure or interrupt)."""
    tmp = staging_file(target, error=error)
    try:
        tmp.write_bytes(data)
        move_into_place(tmp, target, error=error)
    except BaseException:
        discard(tmp)
        raise
    return target


@contextlib.contextmanager
def staged_directory(target: Path, *, error: type[FootdropError] = CohortIOError) -> Iterator[Path]:
    """Write a directory safely: yields a temporary directory beside ``target``, renamed into place at the end.

    Refuses a ``target`` that is a symbolic link; creates missing parents. If the block raises
    (an error, Ctrl-C, SIGTERM under :func:`signals_raise`), the temporary directory and every
    parent folder this call created are removed and the previous ``target`` is unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with staged_directory(pathlib.Path(d) / "new" / "out") as tmp:
    ...         _ = (tmp / "a.txt").write_text("x")
    ...     print(sorted(p.name for p in (pathlib.Path(d) / "new" / "out").iterdir()))
    ['a.txt']
    """
    refuse_symlink(target, error=error)
    created = make_parents(target, error=error)
    try:
        tmp = staging_dir(target, error=error)
    except BaseException:
        remove_created(created)
        raise
    try:
        pause_point("staging")
        yield tmp
        pause_point("before-move")
        move_into_place(tmp, target, error=error)
    except BaseException:
        discard(tmp)
        remove_created(created)
        raise
