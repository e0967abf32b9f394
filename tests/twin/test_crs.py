"""twin.crs: the one local metric projection agrees with the great circle and with UTM 48N in town."""

from __future__ import annotations

import numpy as np
import pytest

from twin import crs

# a few km around the centre of Lạng Sơn city
RNG = np.random.default_rng(11)
LON = RNG.uniform(106.70, 106.80, 200)
LAT = RNG.uniform(21.80, 21.90, 200)


def test_local_metres_matches_the_great_circle_in_town() -> None:
    xy = crs.local_metres(LON, LAT)
    assert xy.shape == (200, 2)
    plane = np.hypot(*(xy[1:] - xy[:-1]).T)
    sphere = crs.haversine_m(LON[:-1], LAT[:-1], LON[1:], LAT[1:])
    np.testing.assert_allclose(plane, sphere, rtol=1e-3)


def test_distance_m_is_the_plane_at_the_reference_point() -> None:
    lon0, lat0 = crs.CITY_POINT
    d = crs.distance_m(LON, LAT, lon0, lat0)
    np.testing.assert_allclose(d, crs.haversine_m(lon0, lat0, LON, LAT), rtol=2e-3)
    # one degree of latitude on the sphere, one of longitude shrunk by cos(lat)
    assert crs.distance_m(lon0, lat0 + 1.0, lon0, lat0) == pytest.approx(crs.M_PER_DEG)
    kx, ky = crs.metres_per_degree(lat0)
    assert float(kx) == pytest.approx(ky * np.cos(np.radians(lat0)))


def test_utm_round_trip_and_scale() -> None:
    x, y = crs.to_metric_xy(LON, LAT)
    lon, lat = crs.to_wgs84_xy(x, y)
    np.testing.assert_allclose(lon, LON, atol=1e-9)
    np.testing.assert_allclose(lat, LAT, atol=1e-9)
    utm = np.hypot(np.diff(x), np.diff(y))
    # UTM is on the ellipsoid, with its scale factor: within 0.6 % of the sphere here
    np.testing.assert_allclose(utm, crs.haversine_m(LON[:-1], LAT[:-1], LON[1:], LAT[1:]), rtol=6e-3)


def test_plot_aspect_is_one_over_cos_lat() -> None:
    assert crs.plot_aspect() == pytest.approx(1.0 / np.cos(np.radians(crs.LAT0)))
    assert crs.plot_aspect(0.0) == 1.0


def test_local_time_is_utc_plus_7_all_year_as_tzdata_says() -> None:
    """The fixed offset agrees with the IANA zone on every day of the years the twin handles."""
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    zone = ZoneInfo(crs.LOCAL_TZ)
    day = datetime(1990, 1, 1, 12, tzinfo=UTC)
    while day.year < 2041:
        assert day.astimezone(zone).utcoffset() == crs.LOCAL_OFFSET, day
        assert day.astimezone(crs.LOCAL_ZONE).isoformat()[-6:] == "+07:00"
        day += timedelta(days=1)
    assert crs.LOCAL_OFFSET.total_seconds() == 7 * 3600
