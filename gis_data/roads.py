"""Build the city's road network (synthetic or OSM), cache it as GeoParquet, write, read and plot it.

`build_network` is the one entry point the rest of the twin uses: ``source="synthetic"`` runs the
grounded generator of `gis_data.roads_synthetic` (the default here: no OSM extract of Lạng Sơn is
reachable offline); ``source="osm"`` imports an ``.osm.pbf`` extract through `gis_data.osm`, clipped
to the 4 city wards. Built networks are cached under ``<cache_dir>/roads/<key>/`` as two GeoParquet
files (``nodes.parquet``, ``links.parquet``) whose key-value metadata hold the provenance and the
network's meta; the key is the source, the generator/importer version, the seed (or the PBF's
SHA-256) and a digest of the ward geometry, so a cached build loads in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pyarrow.parquet as pq
import shapely

from gis_data import io, roads_synthetic
from gis_data.fetch import default_cache_dir, sha256_of
from twin import provenance
from twin.crs import METRIC, WGS84, plot_aspect
from twin.errors import DataError, InputError
from twin.network import ROAD_CLASSES, RoadNetwork
from twin.provenance import Provenance

RoadSource = Literal["synthetic", "osm"]
NetworkFormat = Literal["geoparquet", "geojson"]

_META_PROV = b"provenance"
_META_NET = b"network_meta"
_EXT = {"geoparquet": "parquet", "geojson": "geojson"}


def build_network(
    wards: gpd.GeoDataFrame,
    units: gpd.GeoDataFrame,
    *,
    source: RoadSource = "synthetic",
    seed: int = 2025,
    osm_file: Path | None = None,
    cache_dir: Path | None = None,
) -> RoadNetwork:
    """Return the road network of Lạng Sơn city, from the cache when it was built before.

    Parameters
    ----------
    wards
        The 2025 wards (`gis_data.load.wards_2025`); the 4 flagged ``core_city_ward`` bound the network.
    units
        The pre-2025 units (`gis_data.load.units_pre2025`): they place the dense old urban core.
    source
        ``"synthetic"`` (generated, labelled synthetic) or ``"osm"`` (imported from `osm_file`, real).
    seed
        Seed of the synthetic generator (ignored for OSM).
    osm_file
        The ``.osm.pbf`` extract to import when ``source="osm"``.
    cache_dir
        Data cache; the network is cached under ``<cache_dir>/roads/`` (default: the twin's data cache).

    Returns
    -------
    RoadNetwork
        A strongly connected directed network (the largest SCC of what was built).
    """
    core = roads_synthetic.core_wards(wards)
    wkb = shapely.to_wkb(core.geometry.to_numpy(), output_dimension=2, byte_order=1)
    digest = hashlib.sha256(b"".join(wkb.tolist())).hexdigest()[:12]
    if source == "synthetic":
        key = f"synthetic-v{roads_synthetic.GENERATOR_VERSION}-seed{seed}-{digest}"
    elif source == "osm":
        from gis_data import osm  # noqa: PLC0415  (pyrosm, networkx: slow to import, OSM only)

        if osm_file is None:
            raise InputError(
                "osm_file",
                "is required when source is 'osm'",
                hint="pass the .osm.pbf extract, or use source='synthetic'",
            )
        osm_file = Path(osm_file)
        if not osm_file.is_file():
            raise DataError(f"{osm_file}: OSM file not found", hint="check the path of the .osm.pbf extract")
        key = f"osm-v{osm.IMPORTER_VERSION}-{sha256_of(osm_file)[:16]}-{digest}"
    else:
        raise InputError("source", f"must be 'synthetic' or 'osm', got {source!r}")
    folder = (cache_dir or default_cache_dir()) / "roads" / key
    if (folder / "links.parquet").is_file():
        try:
            return read_network(folder)
        except DataError:
            shutil.rmtree(folder, ignore_errors=True)  # a corrupt cache entry is rebuilt below
    if source == "synthetic":
        net = roads_synthetic.generate(wards, units, seed=seed)
    else:
        assert osm_file is not None
        boundary = shapely.union_all(core.to_crs(WGS84).geometry.to_numpy())
        net = osm.read_pbf(osm_file, boundary=boundary)
    try:
        write_network(net, folder)
    except OSError as e:
        # a read-only or full cache must not stop the twin: build again next time, and say so
        net.meta["cache_error"] = f"not cached in {folder}: {e.strerror or e}"
    return net


def river(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the Kỳ Cùng river centreline across the city (synthetic, approximate position).

    The line is the one the synthetic generator keeps streets away from, clipped to 1 km around the
    4 city wards. Columns: ``name``, ``width_m``, ``geometry`` (LineString, EPSG:4326).
    """
    core = roads_synthetic.core_wards(wards).to_crs(METRIC)
    area = shapely.union_all(core.geometry.to_numpy()).buffer(1000.0)
    line = roads_synthetic.river_line().intersection(area)
    gdf = gpd.GeoDataFrame(
        {"name": [roads_synthetic.RIVER_NAME], "width_m": [roads_synthetic.RIVER_WIDTH_M]},
        geometry=[line],
        crs=METRIC,
    ).to_crs(WGS84)
    prov = Provenance(
        name="river",
        source="synthetic",
        licence="CC0-1.0",
        description=(
            "Approximate centreline of the Kỳ Cùng river through Lạng Sơn city, drawn between the "
            "pre-2025 phường on either bank; not surveyed"
        ),
        inputs=("wards_2025", "units_pre2025"),
        params={"generator_version": roads_synthetic.GENERATOR_VERSION},
    )
    return provenance.attach(gdf, prov)  # type: ignore[return-value]


# -- reading and writing ------------------------------------------------------------------------------
def write_network(net: RoadNetwork, folder: Path, fmt: NetworkFormat = "geoparquet") -> Path:
    """Write `net` to `folder` as ``nodes`` and ``links`` files (GeoParquet or GeoJSON), atomically.

    Both files carry the provenance (GeoParquet: key-value metadata ``provenance`` and
    ``network_meta``; GeoJSON: the foreign member ``provenance`` and per-feature ``source`` and
    ``synthetic``). The folder appears complete or not at all.
    """
    if fmt not in _EXT:
        raise InputError("format", f"must be one of {', '.join(_EXT)}, got {fmt!r}")
    folder = Path(folder)
    if folder.exists() and not _is_network_folder(folder):
        raise InputError(
            "out",
            f"{folder} exists and is not a road network folder; it would be replaced",
            hint="choose a new folder (only a folder holding nodes/links files is overwritten)",
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        prov = net.provenance.to_dict()
        for label, frame in (("nodes", net.nodes), ("links", net.links)):
            target = tmp / f"{label}.{_EXT[fmt]}"
            if fmt == "geoparquet":
                frame.to_parquet(target, index=True)
                table = pq.read_table(target)
                meta = dict(table.schema.metadata or {})
                meta[_META_PROV] = json.dumps(prov, ensure_ascii=False).encode()
                meta[_META_NET] = json.dumps(net.meta, ensure_ascii=False, default=str).encode()
                pq.write_table(table.replace_schema_metadata(meta), target)
            else:
                doc = io.to_geojson_dict(frame, {**prov, "network_meta": net.meta})
                target.write_text(json.dumps(doc, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _is_network_folder(folder: Path) -> bool:
    """Return whether `folder` holds only the files `write_network` writes (so it may be replaced)."""
    names = {f"{label}.{ext}" for label in ("nodes", "links") for ext in _EXT.values()}
    return folder.is_dir() and {p.name for p in folder.iterdir()} <= names


def read_network(folder: Path) -> RoadNetwork:
    """Read a network written by `write_network` (GeoParquet) and validate it."""
    folder = Path(folder)
    paths = {label: folder / f"{label}.parquet" for label in ("nodes", "links")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(
            f"{folder}: not a saved road network (missing {', '.join(missing)})",
            hint="write it with `twin data import-osm` or gis_data.roads.write_network",
        )
    try:
        frames = {label: gpd.read_parquet(p) for label, p in paths.items()}
        meta = pq.read_schema(paths["links"]).metadata or {}
        prov: dict[str, Any] = json.loads(meta[_META_PROV])
        net_meta: dict[str, Any] = json.loads(meta.get(_META_NET, b"{}"))
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{folder}: unreadable road network ({e})", hint="write it again") from e
    prov["inputs"] = tuple(prov.get("inputs", ()))
    return RoadNetwork.from_frames(frames["nodes"], frames["links"], Provenance(**prov), net_meta)


# -- a picture -----------------------------------------------------------------------------------------
_CLASS_STYLE: dict[str, tuple[str, float]] = {
    "trunk": ("#d7191c", 2.4),
    "primary": ("#f07c00", 1.8),
    "secondary": ("#e6c300", 1.3),
    "tertiary": ("#1a9641", 0.9),
    "residential": ("#7f7f7f", 0.45),
    "service": ("#bdbdbd", 0.35),
}


def plot_network(
    net: RoadNetwork, path: Path, *, river_gdf: gpd.GeoDataFrame | None = None, dpi: int = 120
) -> Path:
    """Draw `net` by road class (bridges magenta, signals black dots) to a PNG at `path`."""
    from matplotlib.figure import Figure  # noqa: PLC0415  (matplotlib is slow to import)

    fig = Figure(figsize=(10, 10))
    ax = fig.add_subplot()
    if river_gdf is not None:
        river_gdf.plot(ax=ax, color="#6baed6", linewidth=4, alpha=0.6)
    for cls in reversed(ROAD_CLASSES):
        sub = net.links[net.links["road_class"] == cls]
        if len(sub):
            color, width = _CLASS_STYLE[cls]
            sub.plot(ax=ax, color=color, linewidth=width, label=cls)
    bridges = net.links[net.links["bridge"]]
    if len(bridges):
        bridges.plot(ax=ax, color="#c51b7d", linewidth=3.5, label="bridge")
    signals = net.nodes[net.nodes["signal"]]
    if len(signals):
        signals.plot(ax=ax, color="black", markersize=6, label="signal")
    kind = "SYNTHETIC" if net.is_synthetic else net.provenance.source
    ax.set_title(f"{net.provenance.name} ({kind}): {net.n_nodes} nodes, {net.n_links} links")
    ax.set_aspect(plot_aspect())  # metres look square
    ax.legend(loc="lower left", fontsize=8)
    with io.atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
