"""A report's Jupyter kernel, started ahead of the notebook run and shut down right after it.

:func:`~footdrop_outcomes.report.render.render_report` used to let papermill start the kernel when
the notebook run began, so the kernel's start (IPython, ZeroMQ) and the notebook's first imports
(pandas, SciPy, statsmodels, Matplotlib and the toolkit's report modules: about 2 s of CPU on the
demo) waited for everything the render process did before. :func:`start` launches the kernel as
soon as the run knows its notebook, and the kernel imports the toolkit modules the notebook imports
(and Matplotlib's pyplot, for a report notebook) while it starts (:func:`preload`); the render process meanwhile simulates the demo cohort, checks
the parameters and prepares typesetting. papermill then runs the notebook on that kernel
(``km=``), exactly as on a kernel it started itself: same kernel command, working folder,
environment and arguments. :meth:`KernelStart.close` stops it at once when the run is over (the
notebook's outputs are all in by then), instead of the graceful shutdown that cost up to a second.

Nothing is kept across runs: every run starts its own kernel, which imports what it needs afresh.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_ARGUMENTS", "KernelStart", "notebook_kernel_name", "notebook_modules", "preload", "quiet_kernel_manager", "start"]

#: Arguments of every report kernel.
KERNEL_ARGUMENTS = (
    # no "running over TCP" notice on stderr, and no kernel log noise when a run is
    # interrupted (the kernel's sockets close under it); cell errors still come back
    "--IPKernelApp.log_level=CRITICAL",
    # command history in memory (what nbclient asks of the kernels it starts)
    "--HistoryManager.hist_file=:memory:",
)
#: Code the kernel runs before it answers (``IPKernelApp.exec_lines``): tqdm.auto (imported by the
#: simulator) warns in a kernel without ipywidgets.
_WARNING_LINES = ("import warnings", "warnings.filterwarnings('ignore', message='IProgress not found')")


def quiet_kernel_manager() -> type:
    """An ``AsyncKernelManager`` whose kernel process writes nothing to this process's stderr.

    Cell output (including a cell's stderr and tracebacks) reaches the notebook through the kernel's
    messages, not through the file descriptor, so nothing an analyst needs is lost. What the kernel
    process itself writes to the descriptor is noise at best -- libzmq can print
    ``Assertion failed: pfd.revents & POLLIN (src/signaler.cpp)`` while the kernel's sockets close at
    shutdown or under an interruption -- and could carry a value of the data at worst.

    The manager remembers the clients it hands out (:attr:`clients`), so that whoever started the
    kernel can close the client papermill opened on it.
    """
    from jupyter_client.manager import AsyncKernelManager

    from footdrop_outcomes.report.render import kernel_environment

    class QuietKernelManager(AsyncKernelManager):
        # jupyter_client >= 7 starts the process through _async_launch_kernel (_launch_kernel is
        # only an alias kept for old callers): override both names
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:  # type: ignore[override]
            kw["stderr"] = subprocess.DEVNULL
            kw["env"] = kernel_environment(kw.get("env"))
            await super()._async_launch_kernel(kernel_cmd, **kw)

        _launch_kernel = _async_launch_kernel

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            self.__dict__.setdefault("_footdrop_clients", []).append(kc)
            return kc

        @property
        def clients(self) -> list[Any]:
            return list(self.__dict__.get("_footdrop_clients", []))

    return QuietKernelManager


def notebook_modules(nb_in: str | os.PathLike[str]) -> list[str]:
    """The toolkit modules a notebook's code cells import (``footdrop_outcomes...``), in order of
    first appearance. ``from footdrop_outcomes.report import notebook`` names the module
    ``footdrop_outcomes.report.notebook``; names that are not modules are skipped by :func:`preload`.
    A cell that is not valid Python is skipped."""
    try:
        cells = json.loads(Path(nb_in).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return []
    found: list[str] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names if a.name != "*"] + [node.module]
            for name in names:
                if (name == "footdrop_outcomes" or name.startswith("footdrop_outcomes.")) and name not in found:
                    found.append(name)
    return found


def preload(modules: list[str]) -> None:
    """Import ``modules`` (in the kernel, while it starts: ipykernel has set Matplotlib's inline backend
    by then); a name that is not a module, or a module that fails to import, is left for the
    notebook's own import to find (and report)."""
    import warnings

    for name in modules:
        # warnings a module raises at import would otherwise land in no cell's output: keep them for
        # the notebook's own import (a module imported here is not imported again there)
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            importlib.import_module(name)


def notebook_kernel_name(nb_in: str | os.PathLike[str], kernel_name: str | None) -> str:
    """The kernel papermill would start for ``nb_in``: ``kernel_name``, else the notebook's
    kernelspec, else ``python3``."""
    if kernel_name:
        return kernel_name
    try:
        meta = json.loads(Path(nb_in).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        meta = {}
    return str((meta.get("kernelspec") or {}).get("name") or "python3")


@dataclass
class KernelStart:
    """A kernel started for one notebook run (:func:`start`)."""

    km: Any
    kernel_name: str
    #: Folder reserved for the run's analysis worker (:mod:`footdrop_outcomes.report.prefetch`), or None.
    prefetch_folder: Path | None = None
    #: The run's analysis worker while it waits for its job (set and taken by the render process).
    worker: Any = None
    closed: bool = False

    def close(self) -> None:
        """Stop the kernel now (it has delivered every output when this is called), close the clients
        opened on it and remove its connection file. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        from jupyter_core.utils import run_sync

        async def stop() -> None:
            km = self.km
            try:
                with contextlib.suppress(RuntimeError):
                    if await km.is_alive():
                        await km.shutdown_kernel(now=True)
            finally:
                with contextlib.suppress(Exception):
                    await km.cleanup_resources()
                for kc in km.clients:
                    with contextlib.suppress(Exception):
                        kc.stop_channels()

        run_sync(stop)()


def start(nb_in: str | os.PathLike[str], *, kernel_name: str | None = None, prefetch_folder: Path | None = None,
          env: Mapping[str, str] | None = None) -> KernelStart:
    """Start the kernel that will run ``nb_in`` (in the notebook's folder, as papermill would), importing
    the toolkit modules the notebook imports (and ``matplotlib.pyplot`` when they include the report's)
    while it starts; returns without waiting for it.

    ``prefetch_folder``: the run's analysis-worker folder (the kernel looks there for the worker's
    result). ``env`` adds variables to the kernel's environment (for a worker, the string-hash seed
    the two share: see :mod:`footdrop_outcomes.report.prefetch`).
    """
    from jupyter_core.utils import run_sync

    from footdrop_outcomes.report.prefetch import FOLDER_VARIABLE

    nb_in = Path(nb_in)
    name = notebook_kernel_name(nb_in, kernel_name)
    extra: dict[str, str] = dict(env or {})
    if prefetch_folder is not None:
        extra[FOLDER_VARIABLE] = str(prefetch_folder)
    lines = [*_WARNING_LINES]
    modules = notebook_modules(nb_in)
    if any(m.startswith("footdrop_outcomes.report") for m in modules):
        # the report's figures: pyplot (with the inline backend the kernel has set by now; ~0.4 s of CPU)
        modules.append("matplotlib.pyplot")
    if modules:
        lines.append(f"__import__('footdrop_outcomes.report._kernel', fromlist=['preload']).preload({modules!r})")
    arguments = [*KERNEL_ARGUMENTS, f"--IPKernelApp.exec_lines={lines!r}"]
    km = quiet_kernel_manager()(kernel_name=name)
    run_sync(km.start_kernel)(cwd=str(nb_in.parent), env={**os.environ, **extra}, extra_arguments=arguments)
    return KernelStart(km=km, kernel_name=name, prefetch_folder=prefetch_folder)
