"""`POST /integrations/{id}/test`: do the credentials open the repository or project?"""

import base64
from typing import Any

from app.core.crypto import SecretBox
from app.core.http import AsyncClient, Response, tracker_client
from app.sync.models import Integration, TrackerKind
from app.sync.schemas import CredentialCheck
from app.sync.tracker import segment

GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def auth_headers(integration: Integration, box: SecretBox) -> dict[str, str]:
    """Authorization for a tracker: GitHub and Jira bearer tokens, or Jira basic (email)."""
    if integration.auth_sealed is None:
        return {}
    auth: dict[str, Any] = box.open_json(integration.auth_sealed)
    if integration.kind is TrackerKind.JIRA and auth.get("email"):
        pair = f"{auth['email']}:{auth['token']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    return {"Authorization": f"Bearer {auth['token']}"}


async def _probe(client: AsyncClient, integration: Integration, box: SecretBox) -> Response:
    headers = auth_headers(integration, box)
    if integration.kind is TrackerKind.GITHUB:
        owner, _, name = (integration.repository or "").partition("/")
        url = f"{integration.base_url}/repos/{segment(owner)}/{segment(name)}"
        return await client.get(url, headers=headers | GITHUB_HEADERS)
    url = f"{integration.base_url}/rest/api/3/project/{segment(integration.project_key or '')}"
    return await client.get(url, headers=headers | {"Accept": "application/json"})


async def check_credentials(
    integration: Integration, box: SecretBox, *, client: AsyncClient | None = None
) -> CredentialCheck:
    if integration.auth_sealed is None:
        return CredentialCheck(ok=False, status=None, detail="no credentials are set")
    own = client is None
    client = client or tracker_client()
    try:
        response = await _probe(client, integration, box)
    except Exception as exc:  # any transport failure is an answer, not a crash
        return CredentialCheck(ok=False, status=None, detail=f"unreachable: {type(exc).__name__}")
    finally:
        if own:
            await client.aclose()
    ok = response.status_code == 200
    detail = "credentials work" if ok else f"the tracker answered {response.status_code}"
    return CredentialCheck(ok=ok, status=response.status_code, detail=detail)
