"""The supplier directory: IT keeps it, security judges each supplier's security."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.backlog.models import BacklogItem
from app.core.db import utcnow
from app.core.errors import Conflict, FieldForbidden, Forbidden, NotFound
from app.core.events import diff, record_event
from app.core.pagination import page_of, row_limit
from app.core.schemas import reject_nulls
from app.requests.models import Assessment
from app.suppliers.models import Supplier, SupplierAssessment
from app.suppliers.schemas import SupplierCreate, SupplierUpdate
from app.users.models import Role, User

SECURITY_FIELDS = frozenset({"security_assessment", "valid_until"})
FIELDS = (
    "name",
    "services",
    "contact",
    "contract_end",
    "notes",
    "security_assessment",
    "valid_until",
)


class SupplierNameTaken(Conflict):
    slug, title = "name-taken", "Name already taken"


def _snapshot(supplier: Supplier) -> dict[str, Any]:
    return {name: getattr(supplier, name) for name in FIELDS}


def _authorize(actor: User, fields: set[str]) -> None:
    """Security users set the security assessment; IT and admins everything else."""
    if actor.role is Role.SECURITY:
        if other := sorted(fields - SECURITY_FIELDS):
            raise FieldForbidden(
                f"Security users set only {', '.join(sorted(SECURITY_FIELDS))}.", fields=other
            )
    elif actor.role in (Role.IT, Role.ADMIN):
        if mine := sorted(fields & SECURITY_FIELDS):
            raise FieldForbidden("Only security users assess suppliers.", fields=mine)
    else:
        raise Forbidden(f"Role {actor.role} may not change suppliers.")


async def _flush(session: AsyncSession, supplier: Supplier) -> None:
    """Flush in a savepoint: a name clash undoes (and expunges) only this supplier."""
    name = supplier.name
    try:
        async with session.begin_nested():
            session.add(supplier)
            await session.flush()
    except IntegrityError as exc:
        raise SupplierNameTaken(f"A supplier named {name!r} already exists.") from exc


async def create_supplier(session: AsyncSession, *, data: SupplierCreate, actor: User) -> Supplier:
    if actor.role is Role.SECURITY:
        raise Forbidden("IT and admins add suppliers; security assesses them afterwards.")
    _authorize(actor, set(data.model_dump(exclude_unset=True, exclude_defaults=True)))
    supplier = Supplier(**data.model_dump())
    await _flush(session, supplier)
    record_event(
        session,
        type="supplier.created",
        entity="supplier",
        entity_id=supplier.id,
        actor_id=actor.id,
        data={"before": {}, "after": _snapshot(supplier)},
    )
    return supplier


async def update_supplier(
    session: AsyncSession, *, supplier: Supplier, data: SupplierUpdate, actor: User
) -> Supplier:
    changes = data.model_dump(exclude_unset=True)
    _authorize(actor, set(changes))
    reject_nulls(changes, ("name", "services", "security_assessment"))
    before = _snapshot(supplier)
    for name, value in changes.items():
        setattr(supplier, name, value)
    if "security_assessment" in changes:
        supplier.assessed_at = utcnow()
    await _flush(session, supplier)
    if (change := diff(before, _snapshot(supplier)))["after"]:
        record_event(
            session,
            type="supplier.updated",
            entity="supplier",
            entity_id=supplier.id,
            actor_id=actor.id,
            data=change,
        )
    return supplier


async def get_supplier(session: AsyncSession, *, supplier_id: int) -> Supplier:
    supplier = await session.get(Supplier, supplier_id, populate_existing=True)
    if supplier is None:
        raise NotFound("supplier", supplier_id)
    return supplier


async def list_suppliers(
    session: AsyncSession,
    *,
    assessment: SupplierAssessment | None,
    limit: int,
    after_id: int | None,
) -> tuple[list[Supplier], int | None]:
    query = select(Supplier).order_by(Supplier.id).limit(row_limit(limit + 1))
    if assessment is not None:
        query = query.where(Supplier.security_assessment == assessment)
    if after_id is not None:
        query = query.where(Supplier.id > after_id)
    suppliers, last = page_of(list(await session.scalars(query)), limit)
    return suppliers, last.id if last else None


async def dependents(session: AsyncSession, *, supplier_id: int) -> tuple[list[int], list[int]]:
    """The requests that name this supplier, and their backlog items."""
    request_ids = list(
        await session.scalars(
            select(Assessment.request_id)
            .where(Assessment.supplier_id == supplier_id)
            .order_by(Assessment.request_id)
        )
    )
    item_ids = (
        list(
            await session.scalars(
                select(BacklogItem.id)
                .where(BacklogItem.request_id.in_(request_ids))
                .order_by(BacklogItem.id)
            )
        )
        if request_ids
        else []
    )
    return request_ids, item_ids


def today() -> date:
    return datetime.now(UTC).date()
