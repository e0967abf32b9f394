"""Scenario specs: good files load, bad ones fail naming the field and the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.closures import Closure
from simulations.scenario import SCHEMA_VERSION, ScenarioSpec, merge_base, parse_duration
from simulations.traffic.params import TrafficParams
from simulations.waste.params import WasteParams
from tests.support.gridnet import grid_network
from twin.errors import InputError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("combined_*.toml")), ids=lambda p: p.name)
def test_example_files_load(path: Path) -> None:
    spec = ScenarioSpec.from_file(path)
    params = spec.resolve()
    assert set(params) == set(spec.kinds)
    assert isinstance(params.get("traffic", TrafficParams()), TrafficParams)
    assert isinstance(params.get("waste", WasteParams()), WasteParams)
    # the dict form round-trips
    again = ScenarioSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_a_full_spec_resolves_to_both_models() -> None:
    spec = ScenarioSpec.from_text(
        """
        name = "Đóng QL1A"
        kind = "both"
        seeds = 2
        horizon = "2h"
        [waste]
        fleet.trucks = 6
        [[changes]]
        type = "close"
        road = "QL1A"
        start = "07:00"
        end = "09:00"
        [[changes]]
        type = "scale"
        param = "waste.fleet.trucks"
        factor = 1.5
        [[changes]]
        type = "set"
        param = "traffic.demand.multiplier"
        value = 1.2
        """
    )
    assert spec.seeds == (1, 2)
    assert spec.horizon == 7200.0
    p = spec.resolve()
    traffic, waste = p["traffic"], p["waste"]
    assert isinstance(traffic, TrafficParams)
    assert isinstance(waste, WasteParams)
    assert traffic.horizon_s == 7200.0
    assert traffic.demand.multiplier == 1.2
    assert traffic.closures[0].names == ("QL1A",)
    assert (traffic.closures[0].start, traffic.closures[0].end) == ("07:00", "09:00")
    assert waste.days == 1  # 2 h rounds up to one day
    assert waste.fleet.trucks == 9  # 6 × 1.5
    assert spec.without_changes().resolve()["waste"].fleet.trucks == 6


def test_closures_resolve_on_a_network() -> None:
    net = grid_network(4, 4)
    links = net.links.copy()
    links.loc[[0, 1], "name"] = "QL1A"
    links.loc[[1], "bridge"] = True
    net = type(net).from_frames(net.nodes, links, net.provenance)
    spec = ScenarioSpec.from_dict(
        {"name": "x", "kind": "both",
         "changes": [{"type": "close", "road": "ql 1a", "bridges_only": True,
                      "start": "06:00", "end": "07:00"}]}
    )  # fmt: skip
    p = spec.resolve(net)
    assert p["traffic"].closures[0].links == (1,)
    waste_closure = p["waste"].closures[0]
    assert isinstance(waste_closure, Closure)
    assert waste_closure.links == (1,)
    assert (waste_closure.start_s, waste_closure.end_s) == (6 * 3600, 7 * 3600)
    assert [ids.tolist() for _, ids in spec.closures(net)] == [[1]]
    with pytest.raises(InputError) as e:
        ScenarioSpec.from_dict(
            {"name": "x", "kind": "waste", "changes": [{"type": "close", "road": "QL9"}]}
        ).resolve(net)
    assert e.value.field == "changes[0].road"
    assert "QL1A" in (e.value.hint or "")


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "traffic"}, "name", "Field required"),
    ({"name": "", "kind": "waste"}, "name", "at least 1 character"),
    ({"name": "x", "kind": "bus"}, "kind", "'traffic', 'waste' or 'both'"),
    ({"name": "x", "kind": "waste", "schema_version": 2}, "schema_version", "not supported"),
    ({"name": "x", "kind": "waste", "seeds": [1, 1]}, "seeds", "distinct"),
    ({"name": "x", "kind": "waste", "seeds": 0}, "seeds", "between 1 and 1000"),
    ({"name": "x", "kind": "waste", "horizon": "soon"}, "horizon", "not a duration"),
    ({"name": "x", "kind": "waste", "horizon": -5}, "horizon", "positive"),
    ({"name": "x", "kind": "waste", "extra": 1}, "extra", "Extra inputs"),
    ({"name": "x", "kind": "waste", "waste": {"fleet": {"trucks": 0}}},
     "waste.fleet.trucks", "greater than 0"),
    ({"name": "x", "kind": "traffic", "traffic": {"demand": {"multiplier": -1}}}, "traffic.demand.multiplier",
     "greater than or equal to 0"),
    ({"name": "x", "kind": "traffic", "waste": {"days": 2}}, "kind", "has a [waste] section"),
    ({"name": "x", "kind": "traffic", "changes": [{"type": "set", "param": "traffic.nope", "value": 1}]},
     "changes[0].param", "no parameter"),
    ({"name": "x", "kind": "traffic", "changes": [{"type": "set", "param": "waste.days", "value": 1}]},
     "changes[0].param", "not simulated"),
    ({"name": "x", "kind": "traffic", "changes": [{"type": "set", "param": "days", "value": 1}]},
     "changes[0].param", "must start with"),
    ({"name": "x", "kind": "waste", "changes": [{"type": "close"}]}, "changes[0]", "needs `road`"),
    ({"name": "x", "kind": "waste", "changes": [{"type": "explode"}]}, "changes[0]", "does not match"),
    ({"name": "x", "kind": "waste",
      "changes": [{"type": "scale", "param": "waste.policy.kind", "factor": 2}]},
     "changes[0].param", "not a number"),
    ({"name": "x", "kind": "waste", "changes": [{"type": "scale", "param": "waste.days", "factor": 0}]},
     "changes[0].factor", "greater than 0"),
    ({"name": "x", "kind": "traffic",
      "changes": [{"type": "close", "road": "QL1A", "start": "09:00", "end": "08:00"}]},
     "changes[0]", "ends (08:00) before it starts"),
    ({"name": "x", "kind": "traffic", "changes": [{"type": "close", "road": "QL1A", "start": "7h"}]},
     "start", "HH:MM"),
    ({"name": "x", "kind": "traffic", "changes": [{"type": "set", "param": "traffic.demand.multiplier",
                                                    "value": "abc"}]}, "changes[0].value", "valid number"),
    ({"name": "x", "kind": "waste", "changes": [{"type": "close", "area": [[106.7, 21.8], [106.8, 21.9]]}]},
     "changes[0]", "at least 3"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "field", "reason"), BAD, ids=[f"{b[1]}:{b[2][:20]}" for b in BAD])
def test_bad_specs_name_the_field_and_the_reason(data: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InputError) as e:
        ScenarioSpec.from_dict(data)
    assert field in e.value.field, (e.value.field, e.value.reason)
    assert reason in e.value.reason, (e.value.field, e.value.reason)


def test_bad_documents() -> None:
    with pytest.raises(InputError, match="not valid TOML"):
        ScenarioSpec.from_text("name = ")
    with pytest.raises(InputError, match="not valid JSON"):
        ScenarioSpec.from_text("{", "json")
    with pytest.raises(InputError, match="top level"):
        ScenarioSpec.from_text("[1, 2]", "json")


def test_files_bases_merge_and_cycles_are_refused(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        'name = "base"\nkind = "waste"\nseeds = [4, 5]\n[waste]\ndays = 3\nfleet.trucks = 5\n'
        '[[changes]]\ntype = "set"\nparam = "waste.solver_time_s"\nvalue = 1.0\n'
    )
    (tmp_path / "child.json").write_text(
        json.dumps({"name": "child", "base": "base.toml", "waste": {"fleet": {"trucks": 7}},
                    "changes": [{"type": "scale", "param": "waste.days", "factor": 2}]})
    )  # fmt: skip
    spec = ScenarioSpec.from_file(tmp_path / "child.json")
    assert (spec.kind, spec.seeds, spec.base) == ("waste", (4, 5), "base.toml")
    p = spec.resolve()["waste"]
    assert isinstance(p, WasteParams)
    assert (p.days, p.fleet.trucks, p.solver_time_s) == (6, 7, 1.0)
    (tmp_path / "a.toml").write_text('name = "a"\nkind = "waste"\nbase = "b.toml"\n')
    (tmp_path / "b.toml").write_text('name = "b"\nkind = "waste"\nbase = "a.toml"\n')
    with pytest.raises(InputError, match="cycle"):
        ScenarioSpec.from_file(tmp_path / "a.toml")
    with pytest.raises(InputError, match="does not exist"):
        ScenarioSpec.from_file(tmp_path / "missing.toml")
    (tmp_path / "c.yaml").write_text("name: c\n")
    with pytest.raises(InputError, match="neither"):
        ScenarioSpec.from_file(tmp_path / "c.yaml")


def test_merge_base_keeps_the_child_values() -> None:
    out = merge_base({"seeds": [1], "waste": {"fleet": {"trucks": 5, "shift_hours": 6}}},
                     {"waste": {"fleet": {"trucks": 9}}})  # fmt: skip
    assert out["waste"] == {"fleet": {"trucks": 9, "shift_hours": 6}}
    assert out["seeds"] == [1]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90min", 5400.0), ("2h", 7200.0), ("7d", 604800.0), ("45 s", 45.0), (30, 30.0)]
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.floats(0.01, 5.0))
def test_scale_changes_multiply_and_keep_integers_positive(trucks: int, factor: float) -> None:
    spec = ScenarioSpec.from_dict(
        {"name": "s", "kind": "waste", "waste": {"fleet": {"trucks": trucks}},
         "changes": [{"type": "scale", "param": "waste.fleet.trucks", "factor": factor}]}
    )  # fmt: skip
    got = spec.resolve()["waste"].fleet.trucks  # type: ignore[attr-defined]
    assert got == max(1, round(trucks * factor))
    assert SCHEMA_VERSION == 1
