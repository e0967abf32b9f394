"""H3 resolutions the twin allows: a light module (numpy only) so settings and CLIs can check them cheaply."""

from __future__ import annotations

import numpy as np

from twin.errors import InputError

DEFAULT_RES = 9
MIN_RES = 7
MAX_RES = 11


def check_resolution(res: int, field: str = "res") -> int:
    """Return `res` if it is an allowed resolution, else raise `InputError` naming `field`."""
    if isinstance(res, bool) or not isinstance(res, int | np.integer):
        raise InputError(field, f"must be an integer between {MIN_RES} and {MAX_RES}, got {res!r}")
    if not MIN_RES <= int(res) <= MAX_RES:
        raise InputError(field, f"must be between {MIN_RES} and {MAX_RES}, got {res}")
    return int(res)
