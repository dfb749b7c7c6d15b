"""Exceptions. Every error a user can cause is a PxprofileError; cli.py prints it as one line."""

from __future__ import annotations


class PxprofileError(Exception):
    """An error with a message fit for the user: what is wrong, then what to do."""

    exit_code = 1


class InputError(PxprofileError):
    """A file or argument the user gave cannot be used (unknown format, invalid JSON, ...)."""


class UsageError(InputError):
    """The command line asks for something impossible (exit 2, like a usage error)."""

    exit_code = 2


class FormatError(InputError):
    """An export is malformed in a way that stops the whole file from being read."""


class TooLargeError(InputError):
    """An input exceeds a safety limit (size, nesting, zip expansion, nodes)."""


class StoreError(PxprofileError):
    """The database cannot be opened or written (locked, disk full, read-only)."""


class ModelError(PxprofileError):
    """A model cannot be found, downloaded or loaded."""


class ModelCrashedError(ModelError):
    """llama.cpp's process died (a signal such as SIGSEGV, or the out-of-memory killer) while it
    ran a model; the message is one line: the signal, the model, llama.cpp's last log lines, what
    to try."""


class InferenceError(PxprofileError):
    """The model's output could not be used; nothing was changed."""


class ProfileError(PxprofileError):
    """The profile file cannot be parsed, merged or written."""


class ConflictError(ProfileError):
    """The user changed the profile while pxprofile was writing it."""


class ExportError(PxprofileError):
    """The profile cannot be exported as asked (egress check, budget, target)."""


class ExportUsageError(UsageError, ExportError):
    """Export options that do not go together (--style without --for claude, ...): exit 2."""
