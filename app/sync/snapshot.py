"""What a push sends: the item as it is now, and the tracker adapter that sends it."""

from typing import Any

from app.backlog.models import BacklogItem
from app.core.crypto import SecretBox
from app.core.http import AsyncClient
from app.sync.checks import auth_headers
from app.sync.github import GitHubTracker
from app.sync.jira import JiraTracker
from app.sync.models import Integration, TrackerKind
from app.sync.status_maps import status_labels, with_defaults
from app.sync.tracker import ItemSnapshot, Tracker, TrackerError

IMPACTS = ("stability_impact", "security_impact", "data_classification")


def snapshot(item: BacklogItem, integration: Integration, *, public_url: str) -> ItemSnapshot:
    impacts: dict[str, str] = {}
    if integration.push_impact:
        impacts = {name: str(getattr(item, name)) for name in IMPACTS if getattr(item, name)}
    return ItemSnapshot(
        key=item.key,
        title=item.title,
        description=item.description,
        acceptance_criteria=list(item.acceptance_criteria),
        status=item.status.value,
        labels=list(item.labels),
        link_back=f"{public_url}/api/v1/items/{item.id}",
        impacts=impacts,
    )


def tracker_for(integration: Integration, box: SecretBox, client: AsyncClient) -> Tracker:
    if integration.auth_sealed is None:
        raise TrackerError("the integration has no credentials", permanent=True)
    auth: dict[str, Any] = box.open_json(integration.auth_sealed)
    status_map = with_defaults(integration.kind, integration.status_map)
    if integration.kind is TrackerKind.GITHUB:
        return GitHubTracker(
            client,
            base_url=integration.base_url,
            repository=integration.repository or "",
            auth=auth,
            to_remote=status_map["to_remote"],
            status_labels=status_labels(integration.kind, integration.status_map),
        )
    return JiraTracker(
        client,
        base_url=integration.base_url,
        project_key=integration.project_key or "",
        headers=auth_headers(integration, box),
        to_remote=status_map["to_remote"],
    )
