"""Errors that are the user's to fix.

A :class:`UserError` is shown as one clear line by the CLI (and as a 4xx by the API),
never as a traceback. Everything else is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix: bad input, a missing file, an unknown name.

    ``hint`` says what to do about it.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
