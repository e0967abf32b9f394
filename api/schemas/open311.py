"""Open311 GeoReport v2 (JSON) schemas for citizen reports; contact details are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.events import Lat, Lon


class Service(BaseModel):
    """One GeoReport service (a kind of problem citizens can report)."""

    service_code: str
    service_name: str
    service_name_vi: str
    service_name_en: str
    description: str
    metadata: bool = False
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str
    group: str


class RequestIn(BaseModel):
    """A citizen's report. Contact fields are kept private: never returned by public endpoints."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "service_code": "illegal_dumping",
                    "lat": 21.8530,
                    "long": 106.7610,
                    "address_string": "Bờ sông Kỳ Cùng gần chợ Kỳ Lừa",
                    "description": "Rác thải đổ trộm ven sông",
                    "email": "nguoidan@example.org",
                    "consent": True,
                }
            ]
        },
    )

    service_code: str = Field(max_length=64)
    lat: Lat
    long: Lon
    address_string: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=3, max_length=2000)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    first_name: str | None = Field(default=None, max_length=80)
    last_name: str | None = Field(default=None, max_length=80)
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9 .\-]{6,20}$")
    device_id: str | None = Field(default=None, max_length=64)
    consent: bool = Field(
        default=False,
        description="The reporter agrees that the city keeps the contact details to follow up "
        "(Law 91/2025/QH15); without consent they are not stored.",
    )
    synthetic: bool = Field(default=False, description="Sent by the replayer (labelled synthetic).")


class RequestCreated(BaseModel):
    """GeoReport's answer to a new request."""

    service_request_id: str
    service_notice: str
    account_id: str | None = None


class RequestOut(BaseModel):
    """A service request as the public sees it: no contact details, the position coarsened to ~170 m."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str | None
    service_notice: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None = None
    address: str | None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float
    long: float
    ward_code: str
    media_url: str | None = None
    synthetic: bool


class RequestUpdate(BaseModel):
    """An operator's update: new status, notes and the agency responsible."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed"]
    status_notes: str | None = Field(default=None, max_length=1000)
    agency_responsible: str | None = Field(default=None, max_length=200)
