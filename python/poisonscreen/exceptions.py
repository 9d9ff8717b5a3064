"""The exceptions poisonscreen raises.

Catch :class:`PoisonScreenError` for anything from this library, or one of its subclasses:

- :class:`InputError` — the data cannot be read as a corpus; the message names file, line and field.
- :class:`ConfigError` — an option or argument is out of range or inconsistent.
- :class:`ResourceError` — the run could not finish for want of memory, address space or disk
  (the message names the budgets that bound it: ``token_table_mb``, ``verify_text_mb``, the
  spill directory), or an output could not be written.

The first two also derive from :class:`ValueError`, so code written against plain Python errors keeps working.
Errors raised by the compiled core are mapped onto these classes.
"""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "PoisonScreenError", "ResourceError"]


class PoisonScreenError(Exception):
    """Base class of every error poisonscreen raises."""


class InputError(PoisonScreenError, ValueError):
    """The input data cannot be read as a corpus (file, line and field are named)."""


class ConfigError(PoisonScreenError, ValueError):
    """An option or argument is out of range or inconsistent."""


class ResourceError(PoisonScreenError):
    """Memory, address space or disk ran out, or an output could not be written."""
