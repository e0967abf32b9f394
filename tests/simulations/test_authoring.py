"""Authoring a scenario: the mode split, "did you mean" for typos, the 1 MB cap, hints fit the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.base import app
from simulations.scenario import ScenarioSpec, mode_split_notes, renormalise
from tests.support.gridnet import grid_network
from twin.errors import InputError


def _error(data: dict[str, object]) -> InputError:
    with pytest.raises(InputError) as e:
        ScenarioSpec.from_dict({"name": "x", "kind": "traffic", **data})
    return e.value


def test_setting_one_share_renormalises_the_others_in_proportion() -> None:
    assert renormalise({"a": 0.7, "b": 0.2, "c": 0.1}, "a", 0.5) == pytest.approx(
        {"a": 0.5, "b": 1 / 3, "c": 1 / 6}
    )
    spec = ScenarioSpec.from_dict({
        "name": "x", "kind": "traffic",
        "changes": [{"type": "set", "param": "traffic.vehicles.motorbike.share", "value": 0.5}],
    })  # fmt: skip
    base = ScenarioSpec.from_dict({"name": "x", "kind": "traffic"}).resolve()["traffic"].vehicles
    v = spec.resolve()["traffic"].vehicles  # type: ignore[attr-defined]
    assert v["motorbike"].share == 0.5
    assert sum(c.share for c in v.values()) == pytest.approx(1.0)
    others = [m for m in base if m != "motorbike"]
    ratio = [v[m].share / base[m].share for m in others]
    assert ratio == pytest.approx([ratio[0]] * len(others))  # proportions kept
    assert "scaled" in mode_split_notes(spec)[0]
    table = ScenarioSpec.from_dict({
        "name": "x", "kind": "traffic",
        "changes": [{"type": "set", "param": "traffic.mode_split", "value": {"motorbike": 3, "car": 1}}],
    }).resolve()["traffic"].vehicles  # type: ignore[attr-defined]  # fmt: skip
    assert (table["motorbike"].share, table["car"].share) == (0.75, 0.25)


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        ({"seedz": [1]}, "seedz", "'seeds'"),
        ({"traffic": {"demand": {"multiplyer": 2}}}, "traffic.demand.multiplyer", "'multiplier'"),
        ({"changes": [{"type": "close", "raod": "QL1A"}]}, "changes[0].raod", "'road'"),
        ({"changes": [{"type": "set", "param": "traffic.demand.multiplyer", "value": 2}]}, "changes[0].param",
         "'demand.multiplier'"),
        ({"changes": [{"type": "set", "param": "traffic.vehicles.motorbik.share", "value": 0.5}]},
         "changes[0].param", "'motorbike'"),
    ],
)  # fmt: skip
def test_typos_get_a_did_you_mean(data: dict[str, object], field: str, suggestion: str) -> None:
    e = _error(data)
    assert e.field == field
    assert f"did you mean {suggestion}?" in e.reason


def test_a_plain_run_never_hints_at_swept_values() -> None:
    e = _error({"changes": [{"type": "set", "param": "traffic.demand.multiplier", "value": -1}]})
    assert e.field == "changes[0].value"
    assert "swept" not in (e.hint or "")


def test_road_names_by_name_or_alias_with_did_you_mean() -> None:
    net = grid_network(4, 4)
    links = net.links.copy()
    links["ref"] = ""
    links.loc[[0, 1], "name"] = "Cầu Đông Kinh"
    links.loc[[2, 3], "ref"] = "QL1A"
    net = type(net).from_frames(net.nodes, links, net.provenance)
    spec = {"name": "x", "kind": "traffic", "changes": [{"type": "close", "road": "ql1a"}]}
    assert ScenarioSpec.from_dict(spec).resolve(net)["traffic"].closures[0].links == (2, 3)  # type: ignore[attr-defined]
    spec["changes"] = [{"type": "close", "road": "Cầu Đông Kin"}]
    assert ScenarioSpec.from_dict(spec).resolve(net)["traffic"].closures[0].links == (0, 1)  # type: ignore[attr-defined]
    spec["changes"] = [{"type": "close", "road": "Cau Dong Kinh"}]
    with pytest.raises(InputError) as e:
        ScenarioSpec.from_dict(spec).resolve(net)
    assert e.value.field == "changes[0].road"
    assert "did you mean 'Cầu Đông Kinh'?" in e.value.reason


def test_cli_validate_and_the_1_mb_cap(tmp_path: Path) -> None:
    good = tmp_path / "ok.toml"
    good.write_text(
        'name = "Xe máy 50 %"\nkind = "traffic"\n[[changes]]\ntype = "set"\n'
        'param = "traffic.vehicles.motorbike.share"\nvalue = 0.5\n',
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["scenario", "validate", str(good), "--offline"])
    assert r.exit_code == 0, r.output
    assert "valid" in r.output
    assert "scaled" in r.output  # the renormalisation is stated
    typo = tmp_path / "typo.toml"
    typo.write_text('name = "x"\nkind = "traffic"\nseedz = [1]\n', encoding="utf-8")
    r = CliRunner().invoke(app, ["scenario", "validate", str(typo), "--offline"])
    assert r.exit_code == 2
    assert "did you mean 'seeds'?" in r.output
    big = tmp_path / "big.json"
    changes = [{"type": "close", "links": [i], "start": "06:00", "end": "07:00"} for i in range(30_000)]
    big.write_text(json.dumps({"name": "x", "kind": "traffic", "changes": changes}), encoding="utf-8")
    assert big.stat().st_size > 1_000_000
    r = CliRunner().invoke(app, ["scenario", "validate", str(big), "--offline"])
    assert r.exit_code == 2
    assert "1 MB" in r.output
