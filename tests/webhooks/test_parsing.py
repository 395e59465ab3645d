"""Reading a tracker's payload: timestamps, and our own text recognised in every format."""

import json
from datetime import UTC, datetime
from pathlib import Path

from app.webhooks.parsing import adf_text, description_of, from_jira

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_jira_orders_by_the_issue_update_time_else_by_the_event_time() -> None:
    payload = json.loads(
        (FIXTURES / "jira/webhooks/webhook-issue-updated-started-working.json").read_text()
    )
    change = from_jira(payload["webhookEvent"], payload)
    assert change is not None
    assert change.updated_at == datetime(2019, 2, 16, 3, 14, 22, 2000, tzinfo=UTC)
    del payload["issue"]["fields"]["updated"]
    change = from_jira(payload["webhookEvent"], payload)
    assert change is not None
    assert change.updated_at == datetime.fromtimestamp(payload["timestamp"] / 1000, UTC)


def test_our_header_and_sections_are_stripped_in_markdown_wiki_markup_and_adf() -> None:
    markdown = (
        "<!-- backlog-bridge:BB-7 -->\n**BB-7** · [Backlog Bridge](http://x/items/7)\n\n"
        "Points for loyal customers\n\n### Acceptance criteria\n- [ ] Balance shown\n"
    )
    wiki = "BB-7 · http://x/items/7\n\nPoints for loyal customers\n\nh3. Impact\n\nrisk: low"
    adf = {
        "type": "doc",
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "BB-7 · http://x/items/7"}]},
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "Points for loyal customers"}],
            },
            {"type": "heading", "content": [{"type": "text", "text": "Acceptance criteria"}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": []}]},
        ],
    }
    for text in (markdown, wiki, adf_text(adf)):
        assert description_of(text) == "Points for loyal customers", text
    assert description_of("Someone else's issue\n\nwith two paragraphs") == (
        "Someone else's issue\n\nwith two paragraphs"
    )
