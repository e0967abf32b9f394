"""Schemathesis sends ``application/toml`` bodies as TOML (imported for its registration)."""

from __future__ import annotations

from typing import Any

import schemathesis
import tomli_w


def _tomlable(value: Any) -> Any:
    """Return `value` without the nulls TOML cannot write."""
    if isinstance(value, dict):
        return {str(k): _tomlable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_tomlable(v) for v in value if v is not None]
    return value


@schemathesis.serializer("application/toml")
def toml_body(ctx: Any, value: Any) -> bytes:
    """Write a generated document as TOML (text as it is; a non-table as the string it is)."""
    if isinstance(value, dict):
        return tomli_w.dumps(_tomlable(value)).encode("utf-8")
    return str(value).encode("utf-8")
