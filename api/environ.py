"""Secrets that config files name by environment variable: the one raw reader of the environment.

`api.settings.Settings` reads every ``TWIN_*`` setting (through pydantic-settings). Config files of other
processes, the camera gateway's TOML, name their secrets (the twin's API key, a camera's password) by the
variable that holds them instead of holding them; `secret_from_env` reads those. The gateway cannot import
`api.settings` (it runs on a site box without the geodata stack), hence this dependency-free module.
"""

from __future__ import annotations

import os


def secret_from_env(variable: str) -> str | None:
    """Return the value of ``variable``, or None when it is unset or empty."""
    return os.environ.get(variable) or None
