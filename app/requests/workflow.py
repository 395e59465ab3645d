"""The request lifecycle as one table: (state, action) -> possible new states, and who may act.

Services look a move up here before doing anything; nothing else decides whether a move is
legal. Where an action has several outcomes (approve, security review) the table lists them and
the action picks one by its own rule.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from app.core.errors import AppError, Conflict, Forbidden
from app.requests.models import MarketingRequest, RequestStatus, ReviewDecision, Sourcing
from app.users.models import Role, User

S = RequestStatus


class Action(StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    RETURN = "return"
    ASSESS = "assess"
    APPROVE = "approve"
    REJECT = "reject"
    SECURITY_REVIEW = "security-review"
    CONVERT = "convert"


@dataclass(frozen=True)
class Rule:
    targets: tuple[RequestStatus, ...]
    roles: frozenset[Role]
    requester_only: bool = False  # the requester, or an admin
    not_requester: bool = False  # separation of duties: never the requester


_OWNER = frozenset({Role.MARKETING, Role.IT, Role.ADMIN})
_IT = frozenset({Role.IT, Role.ADMIN})
_SECURITY = frozenset({Role.SECURITY})  # an admin does not stand in for security

_edit = Rule((S.DRAFT,), _OWNER, requester_only=True)
_withdraw = Rule((S.WITHDRAWN,), _OWNER, requester_only=True)
_return = Rule((S.DRAFT,), _IT)
_assess = Rule((S.IN_ASSESSMENT,), _IT)
_reject = Rule((S.REJECTED,), _IT)

TRANSITIONS: dict[tuple[RequestStatus, Action], Rule] = {
    (S.DRAFT, Action.EDIT): _edit,
    (S.DRAFT, Action.SUBMIT): Rule((S.SUBMITTED,), _OWNER, requester_only=True),
    (S.DRAFT, Action.WITHDRAW): _withdraw,
    (S.SUBMITTED, Action.WITHDRAW): _withdraw,
    (S.SUBMITTED, Action.RETURN): _return,
    (S.SUBMITTED, Action.ASSESS): _assess,
    (S.SUBMITTED, Action.REJECT): _reject,
    (S.IN_ASSESSMENT, Action.WITHDRAW): _withdraw,
    (S.IN_ASSESSMENT, Action.RETURN): _return,
    (S.IN_ASSESSMENT, Action.ASSESS): _assess,
    (S.IN_ASSESSMENT, Action.REJECT): _reject,
    (S.IN_ASSESSMENT, Action.APPROVE): Rule(
        (S.APPROVED, S.SECURITY_REVIEW), _IT, not_requester=True
    ),
    (S.SECURITY_REVIEW, Action.WITHDRAW): _withdraw,
    (S.SECURITY_REVIEW, Action.ASSESS): _assess,
    (S.SECURITY_REVIEW, Action.REJECT): _reject,
    (S.SECURITY_REVIEW, Action.APPROVE): Rule((S.APPROVED,), _IT, not_requester=True),
    (S.SECURITY_REVIEW, Action.SECURITY_REVIEW): Rule(
        (S.SECURITY_REVIEW, S.IN_ASSESSMENT, S.REJECTED), _SECURITY, not_requester=True
    ),
    (S.APPROVED, Action.WITHDRAW): _withdraw,
    (S.APPROVED, Action.CONVERT): Rule((S.PLANNED,), _IT),
}


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Not allowed in this state"


class SecurityReviewRequired(Conflict):
    slug, title = "security-review-required", "Security review required"


class SupplierNotApproved(Conflict):
    slug, title = "supplier-not-approved", "Supplier not security-approved"


def _permitted(rule: Rule, request: MarketingRequest, actor: User) -> str | None:
    """Why `actor` may not make this move, or None when they may."""
    if actor.role not in rule.roles:
        return f"role {actor.role} may not do this (allowed: {', '.join(sorted(rule.roles))})"
    if rule.requester_only and actor.role is not Role.ADMIN and actor.id != request.requester_id:
        return "only the requester (or an admin) may do this"
    if rule.not_requester and actor.id == request.requester_id:
        return "nobody approves or reviews a request they requested"
    return None


def _rules_for(action: Action) -> list[Rule]:
    return [rule for (_, act), rule in TRANSITIONS.items() if act is action]


def has_current_approval(request: MarketingRequest) -> bool:
    """An approved security review of the assessment as it stands now."""
    review = request.current_review
    return (
        review is not None
        and review.decision is ReviewDecision.APPROVED
        and review.assessment_version == request.assessment_version
    )


def _approval_refusal(request: MarketingRequest) -> AppError | None:
    """The security rules of `approve`: a request that needs a review goes to security first
    (approve from `in_assessment` routes it there); from `security_review` it needs an
    approved review of its current assessment, and then its supplier's approval."""
    assessment = request.assessment
    if assessment is None or not assessment.review_required:
        return None
    if not has_current_approval(request):
        if request.status is S.IN_ASSESSMENT:
            return None  # approve succeeds: it moves the request to security_review
        return SecurityReviewRequired(
            "This request needs an approved security review of its current assessment "
            "before it can be approved."
        )
    if assessment.sourcing is Sourcing.IN_HOUSE or assessment.supplier_id is None:
        return None
    supplier = assessment.supplier
    if supplier is None or not supplier.approved_on(datetime.now(UTC).date()):
        state = supplier.security_assessment if supplier else "missing"
        return SupplierNotApproved(
            f"The supplier's security assessment is {state} (or expired); "
            "security must approve the supplier first.",
            supplier_id=assessment.supplier_id,
        )
    return None


# Rules beyond role and state, by action: the error the action would answer now, or None.
_BUSINESS_RULES: dict[Action, Callable[[MarketingRequest], AppError | None]] = {
    Action.APPROVE: _approval_refusal,
}


def _business_refusal(request: MarketingRequest, action: Action) -> AppError | None:
    rule = _BUSINESS_RULES.get(action)
    return rule(request) if rule else None


def check_role(request: MarketingRequest, action: Action, actor: User) -> None:
    """403 when the actor may never make this move on this request, whatever its state."""
    # Role before state (the API's refusal order): judge the role by any state's rule.
    probe = TRANSITIONS.get((request.status, action)) or next(iter(_rules_for(action)), None)
    if probe is not None and (reason := _permitted(probe, request, actor)):
        raise Forbidden(reason)


def check(request: MarketingRequest, action: Action, actor: User) -> Rule:
    """The rule for this move; 403 when the actor may never do it, 409 when the state is wrong
    or a business rule refuses it now. `allowed_actions` is built from the same checks."""
    check_role(request, action, actor)
    rule = TRANSITIONS.get((request.status, action))
    if rule is None:
        allowed = allowed_actions(request, actor)
        raise InvalidTransition(
            f"A request in state {request.status} cannot {action}; "
            f"allowed now: {', '.join(allowed) or 'nothing'}.",
            state=request.status.value,
            allowed_actions=allowed,
        )
    if refusal := _business_refusal(request, action):
        raise refusal
    return rule


def allowed_actions(request: MarketingRequest, actor: User) -> list[str]:
    """What `actor` may do to this request now: the moves `check` lets through."""
    return [
        action.value
        for (state, action), rule in TRANSITIONS.items()
        if state is request.status
        and _permitted(rule, request, actor) is None
        and _business_refusal(request, action) is None
    ]
