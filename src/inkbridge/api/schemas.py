"""Request bodies at the HTTP edge (Pydantic), converted to service inputs by the routes.

Every string has a maximum length (shown in the OpenAPI document), no longer than the column
that keeps it, so an overlong value is a 422 naming the field here, never an error further in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from inkbridge.domain.attribution import Touchpoint
from inkbridge.domain.signer_session import AuthMethod
from inkbridge.services.leads import ConsentInput, LeadCapture
from inkbridge.services.signer_sessions import SessionRequest

# Lengths shared by several bodies (the columns they end up in are no narrower).
ID_LENGTH = 100
NAME_LENGTH = 200
PHONE_LENGTH = 40  # E.164 is at most 15 digits; room for spaces, dashes and an extension
URL_LENGTH = 2000
CLICK_ID_LENGTH = 300
MAX_INT64 = 2**63 - 1

Id = Annotated[str, Field(max_length=ID_LENGTH)]
ClickIdName = Annotated[str, Field(min_length=1, max_length=40)]
ClickIdValue = Annotated[str, Field(max_length=CLICK_ID_LENGTH)]
MergeFieldName = Annotated[str, Field(min_length=1, max_length=ID_LENGTH)]
MergeFieldValue = Annotated[str, Field(max_length=URL_LENGTH)]


class LandingFields(BaseModel):
    """The attribution of one landing: UTM fields, the common click ids flat, referrer, page."""

    model_config = ConfigDict(extra="forbid")

    utm_source: str | None = Field(None, max_length=NAME_LENGTH)
    utm_medium: str | None = Field(None, max_length=NAME_LENGTH)
    utm_campaign: str | None = Field(None, max_length=NAME_LENGTH)
    utm_term: str | None = Field(None, max_length=NAME_LENGTH)
    utm_content: str | None = Field(None, max_length=NAME_LENGTH)
    gclid: str | None = Field(None, max_length=CLICK_ID_LENGTH)
    fbclid: str | None = Field(None, max_length=CLICK_ID_LENGTH)
    msclkid: str | None = Field(None, max_length=CLICK_ID_LENGTH)
    referrer: str | None = Field(None, max_length=URL_LENGTH)
    landing_page: str | None = Field(None, max_length=URL_LENGTH)


class TouchpointIn(LandingFields):
    occurred_at: datetime | None = None
    click_ids: dict[ClickIdName, ClickIdValue] = Field(default_factory=dict, max_length=20)

    def to_domain(self, default_time: datetime) -> Touchpoint:
        click_ids = dict(self.click_ids)
        for name in ("gclid", "fbclid", "msclkid"):
            value = getattr(self, name)
            if value:
                click_ids[name] = value
        moment = self.occurred_at or default_time
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # The other fields carry the domain's names (the flat click ids are folded in above).
        touch = self.model_dump(exclude={"gclid", "fbclid", "msclkid"})
        return Touchpoint(**{**touch, "occurred_at": moment, "click_ids": click_ids})


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., max_length=60)
    status: str = Field("granted", max_length=20)
    text_version_id: str | None = Field(None, max_length=ID_LENGTH)
    text_sha256: str | None = Field(None, max_length=64, pattern=r"^[0-9a-f]{64}$")
    locale: str | None = Field(None, max_length=20)
    jurisdiction: str | None = Field(None, max_length=20)
    method: str = Field("web_form", max_length=40)
    source: str | None = Field(None, max_length=NAME_LENGTH)


class LeadIn(LandingFields):
    """A lead with the attribution it arrived with and the consents it gave."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(..., max_length=320)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=PHONE_LENGTH)
    anonymous_id: str | None = Field(None, max_length=100)
    owner: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=40)
    # Without a region: the publishable key (pk_…) of the site the lead came from, whose region
    # decides, else the visitor's country (ISO 3166-1 alpha-2) through the configured map.
    publishable_key: str | None = Field(None, max_length=200)
    country: str | None = Field(None, max_length=20)
    # The landing touch can be given flat (the LandingFields), like a form post with UTM
    # fields, and earlier touches as a list.
    touchpoints: list[TouchpointIn] = Field(default_factory=list, max_length=200)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=50)

    def to_capture(self, ip: str | None, user_agent: str | None) -> LeadCapture:
        now = datetime.now(UTC)
        touches = [t.to_domain(now) for t in self.touchpoints]
        landing = {name: getattr(self, name) for name in LandingFields.model_fields}
        flat = TouchpointIn(**landing)
        if any(landing.values()):
            touches.append(flat.to_domain(now))
        # The lead's own fields carry the capture's names; the touches and consents are built.
        person = self.model_dump(exclude={*LandingFields.model_fields, "touchpoints", "consents"})
        return LeadCapture(
            **person,
            touchpoints=tuple(touches),
            consents=tuple(ConsentInput(**c.model_dump()) for c in self.consents),
            evidence_ip=ip,
            evidence_user_agent=user_agent,
        )


class EnvelopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: Id
    template_key: Id
    connection: Id | None = None
    merge_fields: dict[MergeFieldName, MergeFieldValue] = Field(
        default_factory=dict, max_length=100
    )


class SigningSessionIn(BaseModel):
    """The integrator's account of a signer it authenticated itself (login, SSO, a code)."""

    model_config = ConfigDict(extra="forbid")

    recipient_id: str = Field("1", min_length=1, max_length=ID_LENGTH)
    email: str = Field(..., min_length=3, max_length=320, description="the signer's email")
    subject: str = Field(
        ..., min_length=1, max_length=200, description="the integrator's user id for the signer"
    )
    auth_method: AuthMethod
    authenticated_at: AwareDatetime = Field(
        ..., description="when the integrator authenticated the signer"
    )
    return_url: str | None = Field(
        None,
        max_length=URL_LENGTH,
        description="where the provider sends the signer afterwards; its origin must be on "
        "the template's or connection's return_origins",
    )

    def to_request(self) -> SessionRequest:
        return SessionRequest(**self.model_dump())


class SigningSessionOut(BaseModel):
    url: str = Field(description="{public_url}/sign/{opaque}: one-time, short-lived")
    expires_at: datetime
    session_id: str


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=MAX_INT64)]] | None = Field(None, max_length=1000)
    destination: Id | None = None
    # Outbox ids are numbered per region: with more than one region, ids need their region.
    region: Id | None = None


class LeadUpdateIn(BaseModel):
    """The fields of a lead that may change. First touch is not among them, by design."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(None, max_length=NAME_LENGTH)
    first_name: str | None = Field(None, max_length=NAME_LENGTH)
    last_name: str | None = Field(None, max_length=NAME_LENGTH)
    company: str | None = Field(None, max_length=NAME_LENGTH)
    phone: str | None = Field(None, max_length=PHONE_LENGTH)


class ConsentRecordIn(ConsentIn):
    lead_id: Id


class ConsentTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(..., max_length=60)
    # Under the `/v1` body limit (server.max_json_body_bytes) with room for the other fields.
    text: str = Field(..., min_length=1, max_length=60_000)
    locale: str | None = Field(None, max_length=20)
    jurisdiction: str | None = Field(None, max_length=20)
    title: str | None = Field(None, max_length=NAME_LENGTH)


class AnonymousTouchIn(TouchpointIn):
    """A touch from a visitor not yet known: stitched to the lead later by ``anonymous_id``."""

    anonymous_id: str = Field(..., min_length=1, max_length=ID_LENGTH)
