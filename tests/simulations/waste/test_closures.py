"""Road closures: windows, link and area selection."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from simulations.closures import Closure, closed_links
from twin.errors import InputError
from twin.network import RoadNetwork


def test_window() -> None:
    c = Closure(links=(0,), start_s=3600, end_s=7200)
    assert c.active(0, 3601)
    assert not c.active(0, 3600)
    assert c.active(7199, 9000)
    assert not c.active(7200, 9000)
    assert Closure(links=(0,), start_s=10).active(1e9, 1e9 + 1)


def test_validation() -> None:
    with pytest.raises(ValidationError, match="links"):
        Closure(name="nothing")
    with pytest.raises(ValidationError, match="after start_s"):
        Closure(links=(1,), start_s=10, end_s=5)
    with pytest.raises(ValidationError, match="non-negative"):
        Closure(links=(-1,))
    with pytest.raises(ValidationError, match="lon, lat"):
        Closure(area=((0.0, 0.0), (500.0, 0.0), (0.0, 1.0)))


def test_links_and_area(net: RoadNetwork) -> None:
    x = net.nodes["x"].to_numpy()
    y = net.nodes["y"].to_numpy()
    # a small box around node 13 (row 1, col 1) touches its 4 street segments, both directions
    e = 1e-4
    box = ((x[13] - e, y[13] - e), (x[13] + e, y[13] - e), (x[13] + e, y[13] + e), (x[13] - e, y[13] + e))
    ids = Closure(area=box).link_ids(net)
    links = net.links.loc[ids]
    assert len(ids) == 8
    assert ((links["u"] == 13) | (links["v"] == 13)).all()
    both = closed_links(net, [Closure(area=box, end_s=100), Closure(links=(0, 1), start_s=50)], 60, 70)
    assert set(both) == set(ids) | {0, 1}
    assert closed_links(net, [Closure(area=box, end_s=100)], 200, 300).size == 0


def test_unknown_link(net: RoadNetwork) -> None:
    with pytest.raises(InputError, match="does not exist") as e:
        Closure(links=(net.n_links,)).link_ids(net)
    assert e.value.field == "closures.links"
    assert np.array_equal(Closure(links=(3, 3, 1)).link_ids(net), [1, 3])
