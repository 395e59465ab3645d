from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from app.core.schemas import InputModel, OutputModel, fields_of
from app.suppliers.models import SupplierAssessment

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Service = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Services = Annotated[list[Service], Field(max_length=50)]
Contact = Annotated[str, StringConstraints(max_length=500)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class SupplierCreate(InputModel):
    name: Name
    services: Services = Field(default_factory=list)
    contact: Contact | None = None
    contract_end: date | None = None
    notes: Notes | None = None
    security_assessment: SupplierAssessment = Field(
        default=SupplierAssessment.NONE, description="security users only"
    )
    valid_until: date | None = Field(default=None, description="security users only")


class SupplierUpdate(InputModel):
    name: Name | None = None
    services: Services | None = None
    contact: Contact | None = None
    contract_end: date | None = None
    notes: Notes | None = None
    security_assessment: SupplierAssessment | None = Field(
        default=None, description="security users only"
    )
    valid_until: date | None = Field(default=None, description="security users only")


class SupplierOut(OutputModel):
    id: int
    name: str
    services: list[str]
    contact: str | None
    contract_end: date | None
    security_assessment: SupplierAssessment
    assessed_at: datetime | None
    valid_until: date | None
    security_approved: bool = Field(description="approved and not expired today")
    notes: str | None
    created_at: datetime
    updated_at: datetime
    version: int


class SupplierDetail(SupplierOut):
    request_ids: list[int] = Field(description="requests whose assessment names this supplier")
    item_ids: list[int] = Field(description="backlog items of those requests")


SupplierCreate.read_only = SupplierUpdate.read_only = fields_of(SupplierDetail)
