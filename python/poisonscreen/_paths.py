"""Input fingerprints, output paths that cannot clobber inputs, and outputs that appear whole.

- :func:`fingerprint_files`: per input file its size and SHA-256 (the same digest as
  ``sha256sum``), recorded by the scan and checked by ``split``.
- :func:`input_roots` / :func:`check_apart`: an output may not be, contain or lie inside an
  input (paths compared after resolving links and ``..``).
- :func:`staged_dir`: an output folder is written as a hidden folder beside it and swapped in
  when complete, so a reader sees the old folder or the new one, never a mix.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import _process
from .exceptions import ConfigError, InputError, ResourceError

HASH = "sha256"
_CHUNK = 1 << 20


def fingerprint_file(path: str) -> dict[str, Any]:
    """``{"source", "path", "bytes", "sha256"}`` of the file ``path`` (``path``: resolved),
    with its ``mtime_ns`` for :func:`check_unchanged` (not part of the identity)."""
    try:
        with open(path, "rb", buffering=0) as fh:
            before = os.fstat(fh.fileno())
            digest = hashlib.sha256()
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while n := fh.readinto(buf):
                digest.update(view[:n])
            after = os.fstat(fh.fileno())
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise InputError(f"{path}: changed while it was being fingerprinted; try again")
    return {
        "source": path,
        "path": os.path.realpath(path),
        "bytes": after.st_size,
        HASH: digest.hexdigest(),
        "mtime_ns": after.st_mtime_ns,
    }


def fingerprint_files(files: Iterable[str]) -> list[dict[str, Any]]:
    """:func:`fingerprint_file` of each file in order (a file named twice is hashed once)."""
    done: dict[str, dict[str, Any]] = {}
    out = []
    for f in files:
        real = os.path.realpath(f)
        if real not in done:
            done[real] = fingerprint_file(f)
        out.append({**done[real], "source": f})
    return out


def public(fingerprints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The fingerprints as recorded (without the modification times)."""
    return [{k: v for k, v in fp.items() if k != "mtime_ns"} for fp in fingerprints]


def check_unchanged(fingerprints: list[dict[str, Any]]) -> None:
    """Raise :class:`InputError` if a fingerprinted file changed since (size or mtime): the
    rows read may not be the bytes fingerprinted."""
    for fp in fingerprints:
        try:
            st = os.stat(fp["source"])
        except OSError as exc:
            raise InputError(f"{fp['source']}: gone while it was being read: {exc}") from exc
        if (st.st_size, st.st_mtime_ns) != (fp["bytes"], fp["mtime_ns"]):
            raise InputError(f"{fp['source']}: changed while it was being read; scan it again")


# ---------------------------------------------------------------------------------------------
# outputs apart from inputs


def real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def input_roots(source: Any) -> list[Path]:
    """The resolved paths an input covers: each file and directory named; for a glob whose
    last part alone has wildcards (``data/*.jsonl``) what it matches now, and for one that
    recurses or has wildcards in a folder (``data/**/*.jsonl``, ``*/x.jsonl``) the folder it
    starts in (``data``), anything under which a later run may read. Empty for frames."""
    if isinstance(source, (str, os.PathLike)):
        items: list[Any] = [source]
    elif isinstance(source, (list, tuple)):
        items = list(source)
    else:
        return []
    roots: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            continue
        p = os.fspath(item)
        if not isinstance(p, str):
            continue
        if not os.path.exists(p) and glob.has_magic(p):
            parts = Path(p).parts
            first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
            if first == len(parts) - 1 and "**" not in parts[-1]:
                roots.extend(real(m) for m in glob.glob(p))
            else:
                roots.append(real(Path(*parts[:first]) if first else Path(".")))
        else:
            roots.append(real(p))
    return roots


def check_apart(
    what: str, path: str | os.PathLike[str], others: Iterable[tuple[str, Path]]
) -> Path:
    """Raise :class:`ConfigError` if ``path`` is, contains or lies inside any of ``others``
    (``(description, resolved path)`` pairs); the resolved ``path``."""
    mine = real(path)
    for desc, other in others:
        if mine == other:
            raise ConfigError(f"{what} {os.fspath(path)!r} is {desc} ({other})")
        if _within(mine, other):
            raise ConfigError(f"{what} {os.fspath(path)!r} lies inside {desc} ({other})")
        if _within(other, mine):
            raise ConfigError(f"{what} {os.fspath(path)!r} contains {desc} ({other})")
    return mine


# ---------------------------------------------------------------------------------------------
# staged output folders

#: the files a scan writes into --out, and the Ray engine's default work directory
SCAN_OUTPUTS = frozenset(
    {"rows.parquet", "triggers.parquet", "clusters.parquet", "summary.json", "report.html"}
)
KEEP = ("_work",)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap the two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); whether it did."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_out(out: str | os.PathLike[str], allowed: frozenset[str] = SCAN_OUTPUTS) -> Path:
    """Raise :class:`ConfigError` unless ``out`` is new, an empty folder or a folder of earlier
    outputs (only ``allowed`` names and ``_work``), which a write replaces whole."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {os.fspath(out)!r} exists and is not a directory")
    if path.is_dir():
        foreign = sorted(e for e in os.listdir(path) if e not in allowed and e not in KEEP)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ConfigError(
                f"--out {os.fspath(out)!r} holds files that are not poisonscreen output ({shown}); "
                "it would be replaced whole: choose a new or empty directory"
            )
    return path


@contextmanager
def staged_dir(
    out: str | os.PathLike[str], allowed: frozenset[str] = SCAN_OUTPUTS
) -> Iterator[Path]:
    """A hidden folder beside ``out`` to write into; when the block ends without an error it
    replaces ``out`` in one step (``_work`` of the old folder is carried over) and the old
    folder is removed; on an error (or a signal) it is removed and ``out`` is left as it was.

    A reader of ``out`` sees the old folder or the new one, complete: with
    ``renameat2(RENAME_EXCHANGE)`` (Linux) the two are swapped atomically; elsewhere the old
    folder is renamed away first, so for an instant there is no ``out``."""
    target = check_out(out, allowed)
    target = target.parent.resolve() / target.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.name}.tmp-"
        _process.remove_stale(str(target.parent), prefix)
        stage = Path(tempfile.mkdtemp(prefix=f"{prefix}{_process.owner_tag()}-", dir=target.parent))
    except OSError as exc:
        raise ResourceError(f"cannot write --out {os.fspath(out)!r}: {exc}") from exc
    _process.register(str(stage))
    try:
        yield stage
        mode = target.stat().st_mode & 0o7777 if target.is_dir() else 0o777 & ~_umask()
        os.chmod(stage, mode)
        check_out(target, allowed)  # still ours (another process may have written there)
        if not target.is_dir():
            os.rename(stage, target)
            return
        if _exchange(stage, target):
            old = stage  # now the old folder
        else:
            old = stage.with_name(stage.name + "_old")  # an owned name, for remove_stale
            os.rename(target, old)
            try:
                os.rename(stage, target)
            except OSError:
                os.rename(old, target)
                raise
        _process.register(str(old))
        for keep in KEEP:
            if (old / keep).exists():
                os.rename(old / keep, target / keep)
        try:
            os.chmod(old, 0o700)  # a read-only old folder: its files can be removed all the same
        except OSError:
            pass
        shutil.rmtree(old, ignore_errors=True)
        _process.unregister(str(old))
    except BaseException:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        _process.unregister(str(stage))


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON, flushed to disk."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(value, indent=2, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
