"""The data catalog: every dataset the twin reads, with source, licence, checksum and CRS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twin.errors import InputError
from twin.provenance import Provenance

_VPD = "https://github.com/thanglequoc/vietnamese-provinces-database"
_CENSUS = "https://github.com/LucieContamin/censusVN2009"
_DVHCVN = "https://github.com/daohoangson/dvhcvn"


@dataclass(frozen=True)
class Dataset:
    """One dataset of the catalog.

    ``source_url`` is where the data originally comes from (for attribution); the prepared file
    itself (clipped, attributes joined, see PROVENANCE.md of the mirror) is fetched from a mirror
    folder or a mirror URL and verified against ``sha256``.
    """

    name: str
    filename: str
    title: str
    source_url: str
    licence: str
    sha256: str
    crs: str | None
    kind: Literal["real", "synthetic"]
    geometry: str | None = None
    columns: tuple[str, ...] = ()

    def provenance(self) -> Provenance:
        """Return the provenance of this dataset."""
        return Provenance(
            name=self.name,
            source=self.kind,
            licence=self.licence,
            description=self.title,
            url=self.source_url,
        )


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="wards_2025",
            filename="wards_2025.geojson",
            title="Wards and communes after the July 2025 reform (4 city wards + 12 neighbours)",
            source_url=f"{_VPD} (geometry from sapnhap.bando.com.vn reference map)",
            licence="MIT",
            sha256="6c39e4c770c7409a7478105dd5751d5fa9a48e6398b5ba0be7734a710c204dbc",
            crs="EPSG:4326",
            kind="real",
            geometry="MultiPolygon",
            columns=(
                "code",
                "full_name",
                "full_name_en",
                "name",
                "type",
                "core_city_ward",
                "area_km2_official",
                "population",
                "predecessors",
                "admin_center",
            ),
        ),
        Dataset(
            name="units_pre2025",
            filename="communes_pre2025_2009census.geojson",
            title="Pre-2025 communes and wards with 2009 census population (generalised polygons)",
            source_url=f"{_CENSUS} (1:250k VIETGIS geodatabase; 2009 census)",
            licence="MIT",
            sha256="f1a7d81f634eeb68c997df77f79d3e9282145f5b3a06fe59271785eb83eb4098",
            crs="EPSG:4326",
            kind="real",
            geometry="Polygon",
            columns=(
                "commune_id",
                "name_vi",
                "name_en",
                "district_vi",
                "in_city_pre2025",
                "population_2009",
                "area_km2_computed",
            ),
        ),
        Dataset(
            name="ward_mapping_2025",
            filename="ward_mapping_2025.csv",
            title="Old (pre-2025) unit code to new 2025 ward code",
            source_url="https://pypi.org/project/onflow-location-platform/ (data/converter_2025.json)",
            licence="MIT",
            sha256="9798f32bad40fba83ae35117b6a195c486571a7de6fb64f73ab3166318328742",
            crs=None,
            kind="real",
            columns=("old_code", "old_name", "old_district", "new_code", "new_name"),
        ),
        Dataset(
            name="province_2025",
            filename="province_2025.geojson",
            title="Tỉnh Lạng Sơn outline (2025)",
            source_url=_VPD,
            licence="MIT",
            sha256="b9b80a3b809488e6cca0e641c8b7abdfa21fc1fab9d81eceb36812f7e55ec3cd",
            crs="EPSG:4326",
            kind="real",
            geometry="MultiPolygon",
        ),
        Dataset(
            name="districts_pre2025",
            filename="districts_pre2025_gisgov.geojson",
            title="Pre-2025 district outlines (gis.chinhphu.vn)",
            source_url=_DVHCVN,
            licence="GPL-3.0",
            sha256="d82fb8e4e7e8e63a72aee51b44ca7ec0ccd722d844466252e2027e60c69f3c80",
            crs="EPSG:4326",
            kind="real",
        ),
        Dataset(
            name="places",
            filename="places.csv",
            title="Sourced reference points (city centre, Tam Thanh cave, ward label points)",
            source_url="see PROVENANCE.md of the mirror (Wikipedia, showcaves.com, derived points)",
            licence="CC BY-SA 4.0 / facts",
            sha256="454020e8bc589f74617a39f5dfc418c949a18181ca616ed6f55461d9cd957e35",
            crs=None,
            kind="real",
            columns=("name", "lat", "lon", "kind", "source"),
        ),
    )
}


def get(name: str) -> Dataset:
    """Return the dataset called `name` or raise `InputError` listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(
            "dataset", f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}"
        ) from None
