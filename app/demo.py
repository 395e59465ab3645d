"""Demo data: users of every role and requests in every state reachable so far.

`load_demo` drives each request through the real services and actions with the right actors,
so events, history and comments look like real use; `demo_delivery` then converts the
approved ones into backlog items and plays two closed sprints and an active one.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import assert_never

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_delivery, demo_direction
from app.comments import service as comments_service
from app.core.config import Settings
from app.core.money import Money
from app.core.pagination import row_limit
from app.requests import actions
from app.requests import service as requests_service
from app.requests.models import (
    DataClassification,
    Impact,
    MarketingRequest,
    ReviewDecision,
    Sourcing,
)
from app.requests.schemas import AssessmentIn, RequestCreate, SecurityReviewIn
from app.users import service as users_service
from app.users.models import Role, User
from app.users.schemas import UserCreate

IT_LEAD, SECURITY_OFFICER, ADMIN = "pieter", "ingrid", "eva"
USERS: dict[str, UserCreate] = {
    "sanne": UserCreate(name="Sanne de Vries", role=Role.MARKETING, email="sanne@example.com"),
    "daan": UserCreate(name="Daan Jansen", role=Role.MARKETING, email="daan@example.com"),
    "fatima": UserCreate(name="Fatima El Amrani", role=Role.MARKETING, email="fatima@example.com"),
    "joost": UserCreate(name="Joost Bakker", role=Role.MARKETING, email="joost@example.com"),
    IT_LEAD: UserCreate(name="Pieter Visser", role=Role.IT, email="pieter@example.com"),
    SECURITY_OFFICER: UserCreate(
        name="Ingrid Mulder", role=Role.SECURITY, email="ingrid@example.com"
    ),
    ADMIN: UserCreate(name="Eva Smit", role=Role.ADMIN, email="eva@example.com"),
}
DEPARTMENTS = {"sanne": "Brand", "daan": "E-commerce", "fatima": "CRM", "joost": "Customer Service"}


# The steps a request goes through, each done by the actor the workflow expects: the requester
# submits and withdraws, the IT lead returns, assesses, approves and rejects, the security
# officer reviews, and a comment is written by its author.
class Move(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Return:
    reason: str


@dataclass(frozen=True)
class Assess:
    assessment: AssessmentIn


@dataclass(frozen=True)
class Review:
    decision: ReviewDecision
    notes: str


@dataclass(frozen=True)
class Reject:
    reason: str


@dataclass(frozen=True)
class Comment:
    author: str
    body: str


Step = Move | Return | Assess | Review | Reject | Comment
SUBMIT, APPROVE, WITHDRAW = Move.SUBMIT, Move.APPROVE, Move.WITHDRAW


@dataclass(frozen=True)
class DemoRequest:
    requester: str
    title: str
    description: str
    business_goal: str
    kpi: str
    value: int  # business_value, 1-10
    urgency: int  # time_criticality, 1-10
    due_in_days: int
    budget_eur: str
    steps: tuple[Step, ...] = ()


# fmt: off
def _assess(
    stability: Impact, security: Impact, data: DataClassification, systems: tuple[str, ...], *,
    points: int, cost_eur: str, personal: bool = False, external: bool = False,
    risk: str | None = None, mitigation: str | None = None,
) -> Assess:
    # Sourcing stays in_house: purchased/outsourced need a supplier_id, and suppliers do not
    # exist yet.
    return Assess(AssessmentIn(
        stability_impact=stability, security_impact=security, affected_systems=list(systems),
        data_classification=data, personal_data=personal, external_exposure=external,
        sourcing=Sourcing.IN_HOUSE, estimated_cost=Money(amount=cost_eur, currency="EUR"),
        effort_points=points, risk_notes=risk, mitigation=mitigation,
    ))


IMP, DATA = Impact, DataClassification
REQUESTS: tuple[DemoRequest, ...] = (
    DemoRequest(
        "sanne", "Employer branding pagina's vernieuwen",
        "De werkenbij-pagina's in de nieuwe employer brand: teamverhalen, video en vacatures "
        "rechtstreeks uit het ATS.", "Meer sollicitaties via de eigen site.",
        "+25% sollicitaties via werkenbij binnen een kwartaal", 4, 3, 120, "18000.00",
    ),
    DemoRequest(
        "fatima", "Nieuwsbriefaanmelding in de app",
        "Newsletter sign-up in the mobile app with double opt-in and interest selection.",
        "Grow the newsletter audience.", "5,000 new subscribers per month", 5, 4, 90, "9500.00",
        (SUBMIT, Return("Graag de doelgroep en de KPI concreet maken; welke interesses?")),
    ),
    DemoRequest(
        "daan", "Black Friday landing pages",
        "Five campaign landing pages with countdown timer and deal blocks, editable by the web "
        "team in the CMS.", "Maximise Black Friday revenue.",
        "Conversion >= 3.5% on campaign traffic", 8, 9, 60, "35000.00",
        (SUBMIT, Comment(IT_LEAD, "We can likely reuse last year's Cyber Monday templates.")),
    ),
    DemoRequest(
        "joost", "Chatbot op de klantenservicepagina",
        "Een chatbot die de twintig meest gestelde vragen beantwoordt en anders doorverbindt "
        "met een medewerker.", "Minder telefoontjes over standaardvragen.",
        "-20% contactvolume over bezorging en retouren", 6, 4, 150, "40000.00", (SUBMIT,),
    ),
    DemoRequest(  # personal data exposed outside: review asks for changes, back to assessment
        "fatima", "Loyaltyprogramma koppelen aan de webshop",
        "Spaarpunten tonen en inwisselen in de webshop en in Mijn Account, via een koppeling "
        "met het loyaltyplatform.", "Klanten vaker laten terugkomen.",
        "+10% herhaalaankopen binnen zes maanden", 9, 6, 180, "85000.00",
        (SUBMIT, _assess(IMP.MEDIUM, IMP.MEDIUM, DATA.CONFIDENTIAL,
                         ("Webshop", "CRM", "Loyalty platform"), points=40, cost_eur="78000.00",
                         personal=True, external=True,
                         risk="Member data leaves the CRM through a new public API.",
                         mitigation="OAuth2 client credentials, rate limiting, balance only."),
         APPROVE, Review(ReviewDecision.CHANGES_REQUESTED,
                         "Please add a DPIA and describe the retention of points history."),
         Comment("fatima", "De DPIA loopt via de privacy officer; verwacht over twee weken.")),
    ),
    DemoRequest(
        "daan", "Product reviews on product pages",
        "Show verified customer reviews and star ratings on product and category pages.",
        "Increase trust and conversion.", "+0.3 pp conversion on product pages", 7, 5, 100,
        "15000.00",
        (SUBMIT,
         _assess(IMP.LOW, IMP.LOW, DATA.PUBLIC, ("Webshop",), points=13, cost_eur="12000.00")),
    ),
    DemoRequest(  # restricted data: waits for the security officer
        "fatima", "Klantdata-export naar e-mailplatform",
        "Dagelijkse export van klantsegmenten naar het nieuwe e-mailplatform voor "
        "gepersonaliseerde campagnes.", "Relevantere e-mails, minder afmeldingen.",
        "Open rate 35%, afmeldingen < 0.3% per mailing", 7, 7, 75, "22000.00",
        (SUBMIT, _assess(IMP.LOW, IMP.MEDIUM, DATA.RESTRICTED, ("CRM", "E-mailplatform"),
                         points=21, cost_eur="19500.00", personal=True,
                         risk="Full customer profiles incl. purchase history leave the CRM.",
                         mitigation="Export only segment ids and e-mail; SFTP with key rotation."),
         APPROVE),
    ),
    DemoRequest(  # personal data exposed outside: reviewed, then approved
        "joost", "Self-service returns portal",
        "Customers register a return online, print a label and follow their refund status.",
        "Fewer return calls, faster refunds.", "60% of returns registered online", 8, 7, 130,
        "48000.00",
        (SUBMIT, _assess(IMP.MEDIUM, IMP.MEDIUM, DATA.CONFIDENTIAL,
                         ("Webshop", "OMS", "Carrier API"), points=34, cost_eur="45000.00",
                         personal=True, external=True,
                         risk="Order lookup by anonymous visitors could leak addresses.",
                         mitigation="Order number plus postcode, rate limited, addresses masked."),
         APPROVE, Review(ReviewDecision.APPROVED, "Approved with the stated mitigation."), APPROVE),
    ),
    DemoRequest(
        "sanne", "Nieuwe huisstijl doorvoeren op de website",
        "Nieuwe kleuren, typografie en logo in het design system en op alle templates.",
        "Eén herkenbaar merk online en offline.", "Merkherkenning +5 punten in de brand tracker",
        6, 8, 45, "30000.00",
        (SUBMIT, _assess(IMP.LOW, IMP.NONE, DATA.PUBLIC, ("Webshop", "CMS"), points=20,
                         cost_eur="26000.00"), APPROVE),
    ),
    DemoRequest(  # high security impact: reviewed, then approved
        "daan", "Achteraf betalen in de checkout",
        "Buy now, pay later (in3 and Klarna) as payment methods in the checkout.",
        "Hogere gemiddelde orderwaarde.", "+8% average order value", 8, 6, 110, "25000.00",
        (SUBMIT, _assess(IMP.MEDIUM, IMP.HIGH, DATA.CONFIDENTIAL,
                         ("Checkout", "Payment service provider"), points=21, cost_eur="23000.00",
                         external=True, risk="New payment flows and callbacks in the checkout.",
                         mitigation="PSP-hosted payment pages; signed callbacks only."),
         APPROVE, Review(ReviewDecision.APPROVED, "Approved: no payment data touches our servers."),
         APPROVE),
    ),
    DemoRequest(
        "sanne", "TikTok-pixel op alle pagina's",
        "De TikTok-pixel op elke pagina voor retargeting van bezoekers.",
        "Betere retargeting op TikTok.", "ROAS 4 op TikTok-campagnes", 5, 6, 30, "2500.00",
        (SUBMIT, Reject("Tracking on every page conflicts with our cookie policy; please use "
                        "server-side conversions through the existing tag manager.")),
    ),
    DemoRequest(  # critical impact, restricted data: rejected in security review
        "joost", "Klantgesprekken transcriberen met AI",
        "Record customer calls and have them transcribed and summarised by an AI service.",
        "Faster follow-up and quality insights.", "Average handling time -15%", 7, 5, 160,
        "60000.00",
        (SUBMIT, _assess(IMP.MEDIUM, IMP.CRITICAL, DATA.RESTRICTED, ("Telephony", "CRM"),
                         points=55, cost_eur="58000.00", personal=True, external=True,
                         risk="Voice recordings with personal data processed by a third party.",
                         mitigation="None proposed yet."),
         APPROVE, Review(ReviewDecision.REJECTED,
                         "Recordings would be processed outside the EU without a DPA.")),
    ),
    DemoRequest(
        "daan", "Valentine's Day gift finder",
        "A quiz that suggests gifts by budget and interests, linked to the product catalogue.",
        "Seasonal revenue.", "EUR 150k revenue via the gift finder", 4, 7, 40, "12000.00",
        (SUBMIT, WITHDRAW,
         Comment("daan", "Withdrawn: the campaign runs on the marketplace partner this year.")),
    ),
)
# fmt: on


async def is_loaded(session: AsyncSession) -> bool:
    """Whether any demo user exists already; loading again would clash on their names."""
    names = [data.name for data in USERS.values()]
    found = await session.scalar(select(User.id).where(User.name.in_(names)).limit(row_limit(1)))
    return found is not None


async def load_demo(session: AsyncSession, *, settings: Settings) -> str:
    """Create the demo users and requests; flushes, never commits. Returns the admin's token."""
    users = {
        handle: await users_service.create_user(session, data=data)
        for handle, data in USERS.items()
    }
    today = datetime.now(UTC).date()
    requests = [await _file(session, spec, users=users, today=today) for spec in REQUESTS]
    await demo_direction.load_direction(
        session, requests=requests, users=users, marketing="daan", it=IT_LEAD,
        security=SECURITY_OFFICER, today=today,
    )  # fmt: skip
    await demo_delivery.load_delivery(
        session,
        requests=requests,
        it=users[IT_LEAD],
        security=users[SECURITY_OFFICER],
        today=today,
    )
    ttl = timedelta(days=settings.token_ttl_days)
    _, secret = await users_service.create_token(session, user=users[ADMIN], name="demo", ttl=ttl)
    return secret


async def _file(
    session: AsyncSession, spec: DemoRequest, *, users: dict[str, User], today: date
) -> MarketingRequest:
    """File one request as its requester, then play its steps."""
    data = RequestCreate(
        title=spec.title,
        description=spec.description,
        business_goal=spec.business_goal,
        kpi=spec.kpi,
        business_value=spec.value,
        time_criticality=spec.urgency,
        target_date=today + timedelta(days=spec.due_in_days),
        budget=Money(amount=spec.budget_eur, currency="EUR"),
        department=DEPARTMENTS[spec.requester],
    )
    requester = users[spec.requester]
    request = await requests_service.create_request(session, data=data, actor=requester)
    for step in spec.steps:
        await _perform(session, request, step, requester=requester, users=users)
    return request


async def _perform(
    session: AsyncSession,
    request: MarketingRequest,
    step: Step,
    *,
    requester: User,
    users: dict[str, User],
) -> None:
    it, security = users[IT_LEAD], users[SECURITY_OFFICER]
    match step:
        case Move.SUBMIT:
            await actions.submit(session, request=request, actor=requester)
        case Return(reason):
            await actions.return_to_requester(session, request=request, reason=reason, actor=it)
        case Assess(assessment):
            await actions.put_assessment(session, request=request, data=assessment, actor=it)
        case Move.APPROVE:
            await actions.approve(session, request=request, actor=it)
        case Review(decision, notes):
            review = SecurityReviewIn(decision=decision, notes=notes)
            await actions.record_security_review(
                session, request=request, data=review, actor=security
            )
        case Reject(reason):
            await actions.reject(session, request=request, reason=reason, actor=it)
        case Move.WITHDRAW:
            await actions.withdraw(session, request=request, actor=requester)
        case Comment(author, body):
            await comments_service.add_comment(
                session, parent="request", parent_id=request.id, body=body, actor=users[author]
            )
        case _:
            assert_never(step)
