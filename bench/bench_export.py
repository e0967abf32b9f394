"""Researchers' exports: our GeoJSON / GeoParquet writers against GDAL (pyogrio) and geopandas, same run.

Layers of the city model: the road links (4,343 LineStrings), the H3 cells of the 4 wards at
resolution 10 (10,888 hexagons with their attributes) and the wards (16 detailed MultiPolygons).

* ``export_geojson_<layer>``: ours, ``gis_data.io.write_geojson`` (RFC 7946: lon/lat, right-hand rule,
  6 decimals (~0.1 m), no ``crs`` member, provenance per feature and per collection, atomic rename) against
  ``GeoDataFrame.to_file(driver="GeoJSON", engine="pyogrio", RFC7946="YES")`` (GDAL's RFC 7946 mode:
  the same winding, 7 decimals, no provenance).
* ``export_geoparquet_<layer>``: ours, ``gis_data.io.write_geoparquet`` (geo metadata + provenance,
  atomic) against ``GeoDataFrame.to_parquet``.
Best of 3 each, in one process per tool; both outputs are read back and compared (feature count,
same geometry within 1e-7°).

Run: ``python -m bench.run_all export`` (writes ``bench/results/export.json``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Row, isolated, write_results

RES = 10
REPEATS = 3
LAYERS = ("roads", "cells", "wards_2025")


def _layer(name: str) -> Any:
    from gis_data.city import build_city  # noqa: PLC0415  (heavy; imported in the measured child)

    return build_city(None, res=RES).layer(name, res=RES)


def _best(func: Any) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def ours(name: str, fmt: str, out: str) -> dict[str, Any]:
    """Write the layer with our writer; return the time and the output size."""
    from gis_data import io  # noqa: PLC0415

    gdf = _layer(name)
    path = Path(out)
    wall = _best(lambda: io.write(gdf, path, fmt))
    return {"wall_s": wall, "bytes": path.stat().st_size, "features": len(gdf)}


def peer(name: str, fmt: str, out: str) -> dict[str, Any]:
    """Write the layer with GDAL (pyogrio, RFC 7946 mode) or geopandas' GeoParquet writer."""
    gdf = _layer(name)
    path = Path(out)
    if fmt == "geojson":

        def write() -> None:
            path.unlink(missing_ok=True)
            gdf.to_file(path, driver="GeoJSON", engine="pyogrio", RFC7946="YES")

    else:

        def write() -> None:
            gdf.to_parquet(path)

    wall = _best(write)
    return {"wall_s": wall, "bytes": path.stat().st_size, "features": len(gdf)}


def _same(a: Path, b: Path) -> float:
    """Return the largest vertex distance (degrees) between the two files' geometries, row by row."""
    import geopandas as gpd  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    ga = gpd.read_parquet(a) if a.suffix == ".parquet" else gpd.read_file(a)
    gb = gpd.read_parquet(b) if b.suffix == ".parquet" else gpd.read_file(b)
    if len(ga) != len(gb):
        raise AssertionError(f"{a.name}: {len(ga)} features, {b.name}: {len(gb)}")
    # orientation may differ (the peer of GeoParquet keeps the input's): compare normalised shapes
    na = shapely.normalize(ga.geometry.to_numpy())
    nb = shapely.normalize(gb.geometry.to_numpy())
    return float(np.max(shapely.hausdorff_distance(na, nb)))


def main() -> None:
    """Run ours and the peers on each layer and format; write bench/results/export.json."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for name in LAYERS:
            for fmt, suffix, peer_name in (
                ("geojson", ".geojson", "GDAL GeoJSON via pyogrio (RFC7946=YES)"),
                ("geoparquet", ".parquet", "geopandas to_parquet"),
            ):
                a = str(Path(tmp) / f"ours_{name}{suffix}")
                b = str(Path(tmp) / f"peer_{name}{suffix}")
                o, _, o_mem = isolated(ours, name, fmt, a)
                p, _, p_mem = isolated(peer, name, fmt, b)
                dist = _same(Path(a), Path(b))
                print(
                    f"{fmt:>10} {name:<11} {o['features']:>6} features: ours {o['wall_s']:.3f} s "
                    f"({o['bytes'] / 1e6:.1f} MB), peer {p['wall_s']:.3f} s ({p['bytes'] / 1e6:.1f} MB), "
                    f"max distance {dist:.1e}°",
                    flush=True,
                )
                rows.append(
                    Row(
                        f"export_{fmt}_{name}",
                        o["wall_s"],
                        peer_name,
                        p["wall_s"],
                        "s",
                        "lower",
                        o_mem,
                        p_mem,
                        {
                            "features": o["features"],
                            "bytes_ours": o["bytes"],
                            "bytes_peer": p["bytes"],
                            "max_geometry_distance_deg": dist,
                        },
                    )
                )
    print(f"wrote {write_results('export', rows)}")


if __name__ == "__main__":
    main()
