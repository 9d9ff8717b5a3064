"""What a run owns in the process and on disk, and how it ends.

- **Scratch paths** (the spill file while it is being written, an output folder being staged)
  are registered here while they exist, so that an interrupted run removes them.
- **Names with an owner**: such paths are named ``<prefix><host>-<pid>-<random><suffix>``;
  :func:`remove_stale` deletes the ones whose process on this host is gone (a ``SIGKILL``, a
  machine reset), so a later run cleans up after a dead one.
- **Signals** (:func:`handle_signals`, the CLI's): on ``SIGINT`` or ``SIGTERM`` a watcher thread
  removes the registered paths, prints one line and exits 130 or 143 at once, also while the
  main thread is inside a long call of the compiled core.
- **Memory**: :func:`lean_allocators` turns off allocator settings that reserve address space
  without using it, when an address-space limit is set; :func:`resource_error` turns an
  allocation failure into one :class:`~poisonscreen.exceptions.ResourceError` naming the
  budgets that bound the scan's memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .exceptions import ResourceError

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

#: this host's name as it appears in owned names (letters, digits and dots)
HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())[:40] or "host"

_lock = threading.Lock()
_registered: set[str] = set()


def owner_tag() -> str:
    """``<host>-<pid>``: the part of an owned name that says which process made it."""
    return f"{HOST}-{os.getpid()}"


def register(path: str) -> None:
    """Remove ``path`` (a file or a folder) if the run is interrupted before it unregisters it."""
    with _lock:
        _registered.add(str(path))


def unregister(path: str) -> None:
    with _lock:
        _registered.discard(str(path))


def _remove(path: str) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def remove_registered() -> None:
    """Remove every registered path (best effort; nothing raises)."""
    with _lock:
        paths = list(_registered)
        _registered.clear()
    for path in paths:
        _remove(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or cannot tell: keep its files
    return True


#: a dead process's path is removed only once it has not changed for this long (a live writer
#: in another PID namespace on a host of the same name keeps touching its file)
STALE_AFTER_S = 60.0


def remove_stale(directory: str, prefix: str, suffix: str = "") -> list[str]:
    """Remove the entries of ``directory`` named ``<prefix><host>-<pid>-<random><suffix>`` whose
    process (on this host) no longer runs and that have not changed for
    :data:`STALE_AFTER_S` seconds; the names removed. Never raises."""
    pattern = re.compile(
        re.escape(prefix + HOST + "-") + r"(\d+)-[A-Za-z0-9_]+" + re.escape(suffix) + "$"
    )
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None or int(m[1]) == os.getpid() or _alive(int(m[1])):
            continue
        try:
            if now - entry.stat(follow_symlinks=False).st_mtime < STALE_AFTER_S:
                continue
        except OSError:
            continue
        _remove(entry.path)
        removed.append(entry.name)
    return removed


# ---------------------------------------------------------------------------------------------
# signals


_SIGNAL_EXIT: dict[int, int] = {
    int(signal.SIGINT): EXIT_INTERRUPTED,
    int(signal.SIGTERM): EXIT_TERMINATED,
}
_SIGNAL_WORD: dict[int, str] = {
    int(signal.SIGINT): "interrupted",
    int(signal.SIGTERM): "terminated",
}


def _watch(fd: int) -> None:
    """Wait for a signal number on the wakeup pipe; on SIGINT/SIGTERM clean up and exit."""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        for number in data:
            if number == 0:  # handle_signals is done
                return
            if number in _SIGNAL_EXIT:
                remove_registered()
                name = signal.Signals(number).name
                os.write(2, f"poisonscreen: {_SIGNAL_WORD[number]} ({name})\n".encode())
                os._exit(_SIGNAL_EXIT[number])


def _ignore(signum: int, frame: Any) -> None:
    """The Python-level handler: the watcher thread does the work (see handle_signals)."""


@contextmanager
def handle_signals() -> Iterator[None]:
    """While inside: ``SIGINT`` and ``SIGTERM`` remove the registered scratch paths, print one
    line (``poisonscreen: interrupted (SIGINT)``) and exit 130 / 143.

    Python runs signal handlers in the main thread between bytecodes, which can be minutes
    late while the compiled core works; so the C-level handler's wakeup byte is read by a
    watcher thread, which acts at once. Only in the main thread (elsewhere a no-op); the
    previous handlers are restored on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    old_handlers: dict[int, Any] = {}
    old_fd = -1
    watcher = threading.Thread(target=_watch, args=(r,), name="poisonscreen-signals", daemon=True)
    try:
        old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        for sig in _SIGNAL_EXIT:
            old_handlers[sig] = signal.signal(sig, _ignore)
        watcher.start()
        yield
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        if watcher.is_alive():
            try:
                os.write(w, b"\0")
            except OSError:
                pass
            watcher.join(timeout=5)
        os.close(w)
        os.close(r)


# ---------------------------------------------------------------------------------------------
# memory

_M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)


def address_space_limit() -> int | None:
    """The soft address-space limit (``ulimit -v``, ``prlimit --as``) in bytes, or None."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not Unix
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _mapped_bytes() -> int | None:
    """The process's mapped address space (``VmSize``), or None where /proc has none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


_lean_done = False


def lean_allocators() -> bool:
    """Under an address-space limit (``ulimit -v``, ``prlimit --as``), stop the allocators from
    reserving address space they never use; without a limit reserved space costs nothing and
    nothing changes. Called when ``poisonscreen`` is imported, before polars, pyarrow and
    NumPy load (later calls do nothing):

    - glibc keeps at most two malloc arenas (``mallopt(M_ARENA_MAX, 2)``; each reserves 64 MB,
      and by default there may be eight per core);
    - Arrow allocates with the system allocator (``ARROW_DEFAULT_MEMORY_POOL=system``; mimalloc,
      its default, reserves 1 GiB at its first allocation);
    - OpenBLAS starts one thread (``OPENBLAS_NUM_THREADS=1``; each thread reserves a stack and
      buffers).

    Settings the environment already holds are kept. Whether a limit is set."""
    global _lean_done
    if _lean_done or address_space_limit() is None:
        return _lean_done
    _lean_done = True
    name = ctypes.util.find_library("c")
    try:
        if name:
            ctypes.CDLL(name).mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return True


lean_allocators()  # at import: poisonscreen/__init__ imports this module before polars and pyarrow


#: the address space a scan needs beyond what the process maps when it starts: below this the
#: compiled core's first allocations may fail, which aborts the process rather than raise
MIN_HEADROOM = 320 << 20


def check_headroom() -> None:
    """Raise :class:`ResourceError` up front when an address-space limit leaves less than
    :data:`MIN_HEADROOM` beyond what the process maps already."""
    limit = address_space_limit()
    mapped = _mapped_bytes()
    if limit is None or mapped is None:
        return
    if limit - mapped < MIN_HEADROOM:
        raise ResourceError(
            f"the address-space limit (ulimit -v) of {limit >> 20:,} MB leaves "
            f"{max(0, limit - mapped) >> 20:,} MB beyond the {mapped >> 20:,} MB this process "
            f"maps already; a scan needs at least {MIN_HEADROOM >> 20} MB more: raise the limit"
        )


_BUDGETS = (
    "lower token_table_mb (--token-table-mb) and verify_text_mb (--verify-text-mb), keep the "
    "text spilled to disk (spill=True, the default; --spill-dir DIR), use fewer threads "
    "(--threads), or allow the process more memory"
)


def resource_error(exc: BaseException) -> ResourceError | None:
    """``exc`` as one :class:`ResourceError` when it is an allocation failure (Python's, NumPy's,
    Arrow's, a memory map or a thread the core could not start) or a full disk; else None."""
    if isinstance(exc, ResourceError):
        return exc
    text = str(exc) or type(exc).__name__
    limit = address_space_limit()
    where = f" under an address-space limit of {limit >> 20:,} MB" if limit is not None else ""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ResourceError(
            f"no space left on the device ({text}): the spill file needs about 2.5x the "
            "corpus text; set spill_dir (--spill-dir) to a directory with room"
        )
    low = text.lower()
    memory = isinstance(exc, MemoryError) or (
        isinstance(exc, OSError) and exc.errno == errno.ENOMEM
    )
    if not memory and (isinstance(exc, OSError) or type(exc).__name__ == "PanicException"):
        memory = any(
            k in low
            for k in (
                "cannot allocate memory",
                "out of memory",
                "memory allocation",
                "failed to launch worker thread",
                "memory mapping file failed",
                "resource temporarily unavailable",
            )
        )
    if not memory:
        return None
    return ResourceError(f"out of memory{where} ({text.strip().splitlines()[0]}): {_BUDGETS}")


def print_line(message: str) -> None:
    """One line on stderr (control and bidi characters made visible)."""
    from .report import visible

    print(visible(message).replace("\n", " "), file=sys.stderr)
