"""Demo direction: suppliers in every security state and two business plans both owners agreed
to (one of them over budget), with the demo requests filed under them."""

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.plans import service as plans_service
from app.plans.schemas import PlanCreate
from app.reports.quarters import Quarter
from app.requests import service as requests_service
from app.requests.models import MarketingRequest
from app.requests.schemas import RequestUpdate
from app.suppliers import service as suppliers_service
from app.suppliers.schemas import SupplierCreate, SupplierUpdate
from app.users.models import User

# name, services, security assessment (None: never assessed), valid for (days; negative: expired)
SUPPLIERS = (
    ("Loyalty Cloud BV", ["loyalty platform", "points engine"], "approved", 365),
    ("Adyen-achtige PSP", ["payments"], "approved", -30),
    ("ChatPro Ltd", ["chatbot", "live chat"], "pending", None),
    ("CheapHosting4U", ["hosting"], "rejected", None),
    ("Drukkerij De Vries", ["print"], None, None),
)


async def _suppliers(session: AsyncSession, *, it: User, security: User, today: date) -> None:
    for index, (name, services, assessment, days) in enumerate(SUPPLIERS):
        data = SupplierCreate(
            name=name,
            services=services,
            contact=f"accountmanager@{name.split()[0].lower()}.example",
            contract_end=today + timedelta(days=120 + 200 * index),
        )
        supplier = await suppliers_service.create_supplier(session, data=data, actor=it)
        if assessment is not None:
            valid_until = today + timedelta(days=days) if days is not None else None
            update = SupplierUpdate.model_validate(
                {"security_assessment": assessment, "valid_until": valid_until}
            )
            await suppliers_service.update_supplier(
                session, supplier=supplier, data=update, actor=security
            )


async def _plan(
    session: AsyncSession, *, title: str, objective: str, budget_eur: str, marketing: User,
    it: User, today: date, requests: list[MarketingRequest],
) -> None:  # fmt: skip
    first = Quarter.of(today)
    data = PlanCreate.model_validate({
        "title": title, "objective": objective, "marketing_owner_id": marketing.id,
        "it_owner_id": it.id, "budget": {"amount": budget_eur, "currency": "EUR"},
        "kpis": [{"name": "conversion", "target": "3.5", "unit": "%"}],
        "horizon": {"from": str(first), "to": str(first.next().next().next())},
    })  # fmt: skip
    plan = await plans_service.create_plan(session, data=data, actor=marketing)
    for request in requests:
        requester = await session.get(User, request.requester_id)
        assert requester is not None
        await requests_service.update_request(
            session, request=request, data=RequestUpdate(plan_id=plan.id), actor=requester
        )
    await plans_service.agree(session, plan=plan, actor=marketing)
    await plans_service.agree(session, plan=plan, actor=it)


async def load_direction(
    session: AsyncSession, *, requests: list[MarketingRequest], users: dict[str, User],
    marketing: str, it: str, security: str, today: date,
) -> None:  # fmt: skip
    await _suppliers(session, it=users[it], security=users[security], today=today)
    assessed = [
        r for r in requests
        if r.assessment is not None and r.status not in requests_service.PLAN_FROZEN
    ]  # fmt: skip
    await _plan(
        session, title="Webshop growth 2027", budget_eur="250000.00", marketing=users[marketing],
        it=users[it], today=today,
        objective="More online revenue from the shop: faster, simpler, more trusted checkout.",
        requests=assessed[: len(assessed) // 2],
    )  # fmt: skip
    await _plan(
        session, title="Klantcontact vernieuwen", budget_eur="40000.00",
        marketing=users[marketing], it=users[it], today=today,
        objective="Klanten sneller helpen via chat en app, met minder telefoontjes.",
        requests=assessed[len(assessed) // 2 :],
    )  # fmt: skip
