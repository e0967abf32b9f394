"""Parameters and scenario files: defaults, loading, and errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulations.closures import Closure
from simulations.waste.params import Scenario, WasteParams
from twin.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


def test_defaults_are_valid_and_documented() -> None:
    p = WasteParams()
    assert 0.8 <= p.bins.generation_kg_per_person_day <= 1.0
    assert p.policy.kind == "fixed"
    assert p.fleet.capacity_l == pytest.approx(12.0 * 1000 * 2.5)
    assert WasteParams.from_dict(p.to_dict()) == p


def test_frozen() -> None:
    p = WasteParams()
    with pytest.raises(ValueError, match="frozen"):
        p.days = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"fleet": {"trucks": 0}}, "fleet.trucks"),
        ({"fleet": {"capacity_m3": 0.2}}, "fleet.capacity_m3"),
        ({"fleet": {"capacity_kg": 50.0}}, "fleet.capacity_kg"),
        ({"policy": {"kind": "magic"}}, "policy.kind"),
        ({"policy": {"threshold": 1.5}}, "policy.threshold"),
        ({"market_days": [8]}, "market_days"),
        ({"days": 0}, "days"),
        ({"fleet": {"truckz": 3}}, "fleet.truckz"),
        ({"closures": [{"name": "x"}]}, "closures.0"),
        ({"bins": {"sizes_l": [-240]}}, "bins.sizes_l"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as e:
        WasteParams.from_dict(data)
    assert e.value.field == field
    assert e.value.hint


def test_toml_and_json_round_trip(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text(
        'name = "sensor trial"\ndescription = "Cảm biến 80 %"\ndays = 10\n'
        '[fleet]\ntrucks = 5\n[policy]\nkind = "sensor"\nthreshold = 0.75\n'
        "[[closures]]\nlinks = [1, 2]\nstart_s = 3600\nend_s = 7200\n",
        encoding="utf-8",
    )
    sc = Scenario.from_file(toml)
    assert sc.name == "sensor trial"
    assert sc.description == "Cảm biến 80 %"
    assert sc.params.fleet.trucks == 5
    assert sc.params.policy.threshold == 0.75
    assert sc.params.closures == (Closure(links=(1, 2), start_s=3600, end_s=7200),)
    js = tmp_path / "s.json"
    js.write_text(json.dumps(sc.params.to_dict()))
    assert WasteParams.from_file(js) == sc.params
    assert WasteParams.from_file(toml) == sc.params


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        WasteParams.from_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("days = = 3")
    with pytest.raises(InputError, match="not valid TOML"):
        WasteParams.from_file(bad)
    other = tmp_path / "s.yaml"
    other.write_text("days: 3")
    with pytest.raises(InputError, match="neither"):
        WasteParams.from_file(other)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("waste_baseline.toml", "fixed"), ("waste_sensor.toml", "sensor"), ("waste_hybrid.toml", "hybrid")],
)
def test_example_scenarios_load(name: str, kind: str) -> None:
    sc = Scenario.from_file(EXAMPLES / name)
    assert sc.name
    assert sc.params.policy.kind == kind
    assert sc.params.days == 30


def test_with_policy() -> None:
    p = WasteParams().with_policy("sensor", threshold=0.6)
    assert (p.policy.kind, p.policy.threshold) == ("sensor", 0.6)
    with pytest.raises(InputError) as e:
        WasteParams().with_policy("sensor", threshold=2.0)
    assert e.value.field == "policy.threshold"
