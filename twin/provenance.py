"""Attach and read provenance (real / synthetic / simulated) on every layer the twin produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

Source = Literal["real", "synthetic", "simulated", "derived"]

_ATTR = "provenance"


@dataclass(frozen=True)
class Provenance:
    """Where a layer came from.

    `source` is one of real, synthetic, simulated or derived (computed from other layers; then
    `inputs` names them and `synthetic` is true if any input is synthetic).
    """

    name: str
    source: Source
    licence: str
    description: str = ""
    url: str = ""
    date: str = field(default_factory=lambda: datetime.now(UTC).date().isoformat())
    synthetic: bool = False
    inputs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.source in ("synthetic", "simulated") and not self.synthetic:
            object.__setattr__(self, "synthetic", True)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        d = asdict(self)
        d["inputs"] = list(self.inputs)
        return d

    def derive(self, name: str, description: str = "", *others: Provenance) -> Provenance:
        """Return the provenance of a layer computed from this one (and `others`)."""
        parents = (self, *others)
        return Provenance(
            name=name,
            source="derived",
            licence="; ".join(sorted({p.licence for p in parents})),
            description=description,
            synthetic=any(p.synthetic for p in parents),
            inputs=tuple(p.name for p in parents),
        )


def attach(obj: pd.DataFrame, prov: Provenance) -> pd.DataFrame:
    """Attach `prov` to a (Geo)DataFrame in place and return it."""
    obj.attrs[_ATTR] = prov.to_dict()
    return obj


def of(obj: pd.DataFrame) -> dict[str, Any]:
    """Return the provenance dict attached to a (Geo)DataFrame (empty if none)."""
    value = obj.attrs.get(_ATTR, {})
    return dict(value) if isinstance(value, dict) else {}
