"""Project errors that say what went wrong and what to do about it."""

from __future__ import annotations


class TwinError(Exception):
    """Base class of every error the twin raises on purpose.

    Parameters
    ----------
    message
        What went wrong, in one sentence.
    hint
        What the user can do about it (a command to run, a parameter to change).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class DataError(TwinError):
    """A dataset is missing, corrupt, or does not follow its contract (CRS, geometry, columns)."""


class InputError(TwinError):
    """A parameter or a field of user input is invalid.

    Parameters
    ----------
    field
        The parameter or field name (dotted path for nested input).
    reason
        Why it is invalid.
    """

    def __init__(self, field: str, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {reason}", hint)
        self.field = field
        self.reason = reason


class OutOfCityError(InputError):
    """A position lies outside the modelled area."""


class UnknownLayerError(InputError):
    """A layer name that the twin does not know."""
