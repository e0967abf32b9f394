"""Parameter documents: the one TOML/JSON reader and the one pydantic-error → `InputError` translator.

Scenario specs (`simulations.scenario`), the simulations' own parameter files (`twin simulate traffic
--scenario`, `twin simulate waste --scenario`) and the API's scenario route read documents here, and
turn validation errors into an `InputError` whose field is the error's *location* (never guessed from
the message text): ``changes[1].param``, ``waste.fleet.trucks``.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from twin.errors import InputError

#: Largest document read (bytes): the API's body cap (`api.errors.MAX_BODY_BYTES`), so a file the
#: CLI accepts is one the API accepts too.
MAX_DOCUMENT_BYTES = 1_000_000
#: Deepest nesting of tables/arrays read (a scenario needs 4): deeper is refused before any code
#: walks it recursively (the parser itself would raise RecursionError near 1,000).
MAX_DEPTH = 32
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
    except RecursionError:
        raise InputError(what, f"nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise InputError(what, "must hold a table/object at top level")
    _check_depth(data, what)
    return data


def _check_depth(data: Any, what: str) -> None:
    """Refuse nesting deeper than `MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(what, f"nested deeper than {MAX_DEPTH} levels")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


def read_document(path: Path | str, what: str = "document") -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` file (UTF-8) with `parse_document`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(what, f"file {path} does not exist", hint="check the path")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(what, f"{path.name} is neither .toml nor .json")
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise InputError(
            what,
            f"{path.name} is {size / 1e6:.1f} MB, over the {MAX_DOCUMENT_BYTES / 1e6:.0f} MB document limit",
            hint="select roads by name, area or ward instead of listing every link",
        )
    return parse_document(path.read_text(encoding="utf-8"), fmt, f"{what} {path.name}")


def did_you_mean(name: str, known: Iterable[Any], prefix: str = "") -> str:
    """Return ``" (did you mean 'x'?)"`` for the known name closest to `name` ("" if none is close).

    The one "did you mean" of the project: field names, parameters, road, ward and mode names, so
    the CLI and the API give the same message for the same typo. `prefix` goes before the name
    suggested (the dotted path of its parent).
    """
    options = [str(k) for k in known]
    best = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if not best:
        folded = {o.casefold(): o for o in options}
        best = [folded[b] for b in difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)]
    return f" (did you mean {prefix + best[0]!r}?)" if best else ""


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
    model: type[BaseModel] | None = None,
) -> InputError:
    """Return the `InputError` of the first error of `e`: the field from its location (under
    `prefix`; `root` for an error of the whole document), the reason from its message, and how many
    more errors there are in the hint. With the `model` validated, an unknown field names the
    closest known one ("did you mean")."""
    err = e.errors(include_url=False)[0]
    field = field_of(err["loc"], brackets=brackets)
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    reason = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden" and model is not None:
        name = str(err["loc"][-1])
        reason = f"unknown field {name!r}{did_you_mean(name, _fields_at(model, err['loc']))}"
    more = len(e.errors()) - 1
    note = f"{more} more error(s) after this one" if more else None
    text = "; ".join(t for t in (hint, note) if t) or None
    return InputError(field or root, reason, hint=text)


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...] | list[int | str]) -> list[str]:
    """Return the field names of the (nested) model at the parent of location `loc` ([] if unknown).

    Lists, tuples and dicts are stepped through; a discriminated union follows its tag (``close``).
    """
    options: list[type[BaseModel]] = [model]
    for part in list(loc)[:-1]:
        if isinstance(part, int) or str(part).isdigit():
            continue
        tagged = [m for m in options if _tag(m) == part]
        if tagged:
            options = tagged
            continue
        owner = next((m for m in options if part in m.model_fields), None)
        if owner is None:
            return []
        options = _models_in(owner.model_fields[str(part)].annotation)
        if not options:
            return []
    return list(options[0].model_fields) if len(options) == 1 else []


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    args: tuple[Any, ...] = tuple(getattr(field.annotation, "__args__", ())) if field is not None else ()
    return args[0] if len(args) == 1 else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Return the pydantic models inside an annotation (``X``, ``X | None``, ``tuple[X, ...]``, unions…)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        out.extend(m for m in _models_in(arg) if m not in out)
    if not out and getattr(annotation, "__metadata__", None) is not None:
        out = _models_in(getattr(annotation, "__origin__", None))
    return out
