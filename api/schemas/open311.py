"""Open311 GeoReport v2 schemas for citizen reports; contact details are write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.events import Lat, Lon, closed_body


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

    model_config = closed_body(
        {
            "service_code": "illegal_dumping",
            "lat": 21.8530,
            "long": 106.7610,
            "address_string": "Bờ sông Kỳ Cùng gần chợ Kỳ Lừa",
            "description": "Rác thải đổ trộm ven sông",
            "email": "nguoidan@example.org",
            "consent": True,
        }
    )

    jurisdiction_id: str | None = Field(
        default=None, max_length=64, description="Optional; this service has one jurisdiction, `langson`"
    )
    service_code: str = Field(max_length=64)
    lat: Lat | None = Field(default=None, description="With long; or leave both out and name the ward")
    long: Lon | None = None
    address_string: str | None = Field(
        default=None,
        max_length=200,
        description="Required without lat/long: it must then name one ward (the report is placed in it)",
    )
    attributes: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="Answers to the service's attributes (`GET /open311/v2/services/{code}.json`); "
        "a form body sends them as `attribute[code]=value`",
    )
    media_url: str | None = Field(
        default=None, max_length=2000, pattern=r"^https?://[^\s]+$", description="A photo hosted elsewhere"
    )
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

    @model_validator(mode="after")
    def _located(self) -> RequestIn:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together: send both or neither")
        if self.lat is None and not (self.address_string or "").strip():
            raise ValueError("a location is required: lat and long, or an address_string naming the ward")
        return self


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


class AttributeValue(BaseModel):
    """One allowed value of a list attribute."""

    key: str
    name: str


class Attribute(BaseModel):
    """One question a service asks (GeoReport service definition)."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue]


class ServiceDefinition(BaseModel):
    """GeoReport's service definition: the attributes of one service."""

    service_code: str
    attributes: list[Attribute]


class Endpoint(BaseModel):
    """One API endpoint of the discovery document."""

    specification: str
    url: str
    changeset: datetime
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(BaseModel):
    """The Open311 service discovery document."""

    changeset: datetime
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Open311Error(BaseModel):
    """One error as GeoReport v2 writes it (the body is a list of these; XML: ``<errors><error>``)."""

    code: int = Field(examples=[400])
    description: str = Field(examples=["service_code: unknown service 'ufo'"])
