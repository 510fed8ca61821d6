"""Request bodies at the HTTP edge (Pydantic), converted to service inputs by the routes."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from inkbridge.domain.attribution import Touchpoint
from inkbridge.domain.signer_session import AuthMethod
from inkbridge.services.leads import ConsentInput, LeadCapture
from inkbridge.services.signer_sessions import SessionRequest


class TouchpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    occurred_at: datetime | None = None
    utm_source: str | None = Field(None, max_length=200)
    utm_medium: str | None = Field(None, max_length=200)
    utm_campaign: str | None = Field(None, max_length=200)
    utm_term: str | None = Field(None, max_length=200)
    utm_content: str | None = Field(None, max_length=200)
    gclid: str | None = Field(None, max_length=300)
    fbclid: str | None = Field(None, max_length=300)
    msclkid: str | None = Field(None, max_length=300)
    click_ids: dict[str, str] = Field(default_factory=dict)
    referrer: str | None = Field(None, max_length=2000)
    landing_page: str | None = Field(None, max_length=2000)

    def to_domain(self, default_time: datetime) -> Touchpoint:
        click_ids = dict(self.click_ids)
        for name in ("gclid", "fbclid", "msclkid"):
            value = getattr(self, name)
            if value:
                click_ids[name] = value
        moment = self.occurred_at or default_time
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return Touchpoint(
            occurred_at=moment,
            utm_source=self.utm_source,
            utm_medium=self.utm_medium,
            utm_campaign=self.utm_campaign,
            utm_term=self.utm_term,
            utm_content=self.utm_content,
            click_ids=click_ids,
            referrer=self.referrer,
            landing_page=self.landing_page,
        )


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    status: str = "granted"
    text_version_id: str | None = None
    text_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    locale: str | None = None
    jurisdiction: str | None = None
    method: str = "web_form"
    source: str | None = None


class LeadIn(BaseModel):
    """A lead with the attribution it arrived with and the consents it gave."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(..., max_length=320)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    anonymous_id: str | None = Field(None, max_length=100)
    owner: str | None = Field(None, max_length=200)
    region: str | None = None
    # The landing touch can be given flat, like a form post with UTM fields…
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    gclid: str | None = None
    fbclid: str | None = None
    msclkid: str | None = None
    referrer: str | None = None
    landing_page: str | None = None
    # …and earlier touches as a list.
    touchpoints: list[TouchpointIn] = Field(default_factory=list, max_length=200)
    consents: list[ConsentIn] = Field(default_factory=list, max_length=50)

    def to_capture(self, ip: str | None, user_agent: str | None) -> LeadCapture:
        now = datetime.now(UTC)
        touches = [t.to_domain(now) for t in self.touchpoints]
        flat = TouchpointIn(
            utm_source=self.utm_source,
            utm_medium=self.utm_medium,
            utm_campaign=self.utm_campaign,
            utm_term=self.utm_term,
            utm_content=self.utm_content,
            gclid=self.gclid,
            fbclid=self.fbclid,
            msclkid=self.msclkid,
            referrer=self.referrer,
            landing_page=self.landing_page,
        )
        if any(v for k, v in flat.model_dump().items() if k not in {"click_ids", "occurred_at"}):
            touches.append(flat.to_domain(now))
        return LeadCapture(
            email=self.email,
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            anonymous_id=self.anonymous_id,
            owner=self.owner,
            region=self.region,
            touchpoints=tuple(touches),
            consents=tuple(ConsentInput(**c.model_dump()) for c in self.consents),
            evidence_ip=ip,
            evidence_user_agent=user_agent,
        )


class EnvelopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_id: str
    template_key: str
    connection: str | None = None
    merge_fields: dict[str, str] = Field(default_factory=dict)


class SigningSessionIn(BaseModel):
    """The integrator's account of a signer it authenticated itself (login, SSO, a code)."""

    model_config = ConfigDict(extra="forbid")

    recipient_id: str = Field("1", min_length=1, max_length=200)
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
        max_length=2000,
        description="where the provider sends the signer afterwards; its origin must be on "
        "the template's or connection's return_origins",
    )

    def to_request(self) -> SessionRequest:
        return SessionRequest(
            recipient_id=self.recipient_id,
            email=self.email,
            subject=self.subject,
            auth_method=self.auth_method,
            authenticated_at=self.authenticated_at,
            return_url=self.return_url,
        )


class SigningSessionOut(BaseModel):
    url: str = Field(description="{public_url}/sign/{opaque}: one-time, short-lived")
    expires_at: datetime
    session_id: str


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] | None = None
    destination: str | None = None


class LeadUpdateIn(BaseModel):
    """The fields of a lead that may change. First touch is not among them, by design."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)


class ConsentRecordIn(ConsentIn):
    lead_id: str


class ConsentTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    text: str = Field(..., min_length=1, max_length=100_000)
    locale: str | None = None
    jurisdiction: str | None = None
    title: str | None = None


class AnonymousTouchIn(TouchpointIn):
    """A touch from a visitor not yet known: stitched to the lead later by ``anonymous_id``."""

    anonymous_id: str = Field(..., min_length=1, max_length=100)
