from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from app.core.db import SessionDep
from app.core.errors import error_responses
from app.core.etag import IfMatch, check_if_match, etag, set_etag
from app.core.idempotency import IdempotencyKey, fingerprint, run_once
from app.core.pagination import (
    Cursor,
    Limit,
    decode_id_cursor,
    id_page,
)
from app.core.schemas import Page, PathId
from app.suppliers import service
from app.suppliers.models import Supplier, SupplierAssessment
from app.suppliers.schemas import SupplierCreate, SupplierDetail, SupplierOut, SupplierUpdate
from app.users.auth import CurrentUser, ITUser
from app.users.models import Role, User
from app.users.service import ensure_role

router = APIRouter(prefix="/api/v1/suppliers", tags=["suppliers"], responses=error_responses(401))


def supplier_out(supplier: Supplier, viewer: User) -> SupplierOut:
    """Notes are IT's and security's: null for marketing, as in the change feed."""
    out = SupplierOut.model_validate(
        {
            **{c.key: getattr(supplier, c.key) for c in Supplier.__table__.columns},
            "security_approved": supplier.approved_on(service.today()),
        }
    )
    if viewer.role is Role.MARKETING:
        out.notes = None
    return out


async def _supplier(supplier_id: PathId, session: SessionDep) -> Supplier:
    return await service.get_supplier(session, supplier_id=supplier_id)


LoadedSupplier = Annotated[Supplier, Depends(_supplier)]


async def _kept_supplier(actor: CurrentUser, supplier: LoadedSupplier) -> Supplier:
    ensure_role(actor, Role.IT, Role.ADMIN, Role.SECURITY)
    return supplier


@router.post(
    "",
    status_code=201,
    summary="Add a supplier (IT)",
    response_model=SupplierOut,
    responses=error_responses(403, 409, 422),
)
async def create_supplier(
    actor: ITUser,
    body: SupplierCreate,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def create() -> tuple[SupplierOut, dict[str, str]]:
        supplier = await service.create_supplier(session, data=body, actor=actor)
        headers = {"ETag": etag(supplier.version), "Location": f"{router.prefix}/{supplier.id}"}
        return supplier_out(supplier, actor), headers

    return await run_once(
        session,
        user_id=actor.id,
        key=idempotency_key,
        print_=fingerprint("POST /suppliers", body),
        create=create,
    )


@router.get("", summary="The supplier directory", responses=error_responses(400, 422))
async def list_suppliers(
    request: Request,
    response: Response,
    session: SessionDep,
    viewer: CurrentUser,
    security_assessment: SupplierAssessment | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SupplierOut]:
    suppliers, last_id = await service.list_suppliers(
        session, assessment=security_assessment, limit=limit, after_id=decode_id_cursor(cursor)
    )
    return id_page(request, response, [supplier_out(s, viewer) for s in suppliers], last_id)


@router.get(
    "/{supplier_id}",
    summary="A supplier, with the requests and items depending on it",
    responses=error_responses(404),
)
async def get_supplier(
    viewer: CurrentUser, supplier: LoadedSupplier, response: Response, session: SessionDep
) -> SupplierDetail:
    request_ids, item_ids = await service.dependents(session, supplier_id=supplier.id)
    set_etag(response, supplier.version)
    return SupplierDetail(
        **supplier_out(supplier, viewer).model_dump(), request_ids=request_ids, item_ids=item_ids
    )


@router.patch(
    "/{supplier_id}",
    summary="Edit a supplier (IT); its security assessment (security)",
    responses=error_responses(403, 404, 409, 412, 422),
)
async def update_supplier(
    actor: CurrentUser,
    supplier: Annotated[Supplier, Depends(_kept_supplier)],
    body: SupplierUpdate,
    response: Response,
    session: SessionDep,
    if_match: IfMatch = None,
) -> SupplierOut:
    check_if_match(if_match, supplier.version)
    await service.update_supplier(session, supplier=supplier, data=body, actor=actor)
    await session.commit()
    set_etag(response, supplier.version)
    return supplier_out(supplier, actor)
