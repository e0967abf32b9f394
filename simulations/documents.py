"""Parameter documents: the one TOML/JSON reader and the one pydantic-error → `InputError` translator.

Scenario specs (`simulations.scenario`), the simulations' own parameter files (`twin simulate traffic
--scenario`, `twin simulate waste --scenario`) and the API's scenario route read documents here, and
turn validation errors into an `InputError` whose field is the error's *location* (never guessed from
the message text): ``changes[1].param``, ``waste.fleet.trucks``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.errors import InputError

#: Suffix → document format.
FORMATS = {".toml": "toml", ".json": "json"}
#: Tags that discriminated unions add to an error's location (dropped from the field name).
_UNION_TAGS = frozenset({"set", "scale", "close"})


class DocumentSyntaxError(InputError):
    """A document that is not valid TOML or JSON at all (a malformed body, not a bad field)."""


def parse_document(text: str, fmt: str, what: str = "document") -> dict[str, Any]:
    """Parse a TOML or JSON document that must hold a table/object at top level.

    Raises
    ------
    InputError
        Naming `what` when the text is not valid in `fmt` or is not a table/object.
    """
    try:
        data: Any = tomllib.loads(text) if fmt == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise DocumentSyntaxError(what, f"not valid {fmt.upper()}: {e}") from None
    if not isinstance(data, dict):
        raise InputError(what, "must hold a table/object at top level")
    return data


def read_document(path: Path | str, what: str = "document") -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` file (UTF-8) with `parse_document`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(what, f"file {path} does not exist", hint="check the path")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(what, f"{path.name} is neither .toml nor .json")
    return parse_document(path.read_text(encoding="utf-8"), fmt, f"{what} {path.name}")


def field_of(loc: tuple[int | str, ...] | list[int | str], *, brackets: bool = True) -> str:
    """Return the field name of an error location: ``("changes", 1, "close", "road")`` →
    ``changes[1].road`` (union tags dropped; list indices in brackets, or as dotted parts
    ``closures.0`` with ``brackets=False``, the style of the simulations' own parameter files)."""
    parts: list[str] = []
    for p in loc:
        text = str(p)
        if brackets and (isinstance(p, int) or text.isdigit()):
            if parts:
                parts[-1] += f"[{text}]"
            else:
                parts.append(f"[{text}]")
        elif text in _UNION_TAGS and parts and parts[-1].endswith("]"):
            continue
        else:
            parts.append(text)
    return ".".join(parts)


def input_error(
    e: ValidationError,
    prefix: str = "",
    hint: str | None = None,
    *,
    root: str = "input",
    brackets: bool = True,
) -> InputError:
    """Return the `InputError` of the first error of `e`: the field from its location (under
    `prefix`; `root` for an error of the whole document), the reason from its message, and how many
    more errors there are in the hint."""
    err = e.errors(include_url=False)[0]
    field = field_of(err["loc"], brackets=brackets)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    reason = str(err["msg"]).removeprefix("Value error, ")
    more = len(e.errors()) - 1
    note = f"{more} more error(s) after this one" if more else None
    text = "; ".join(t for t in (hint, note) if t) or None
    return InputError(field or root, reason, hint=text)
