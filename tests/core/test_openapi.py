import json
from pathlib import Path

from app.cli import openapi_json
from app.main import create_app

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    committed = SPEC_PATH.read_text()
    assert json.loads(committed) == json.loads(openapi_json()), (
        "openapi/openapi.json is stale: run `backlog-bridge openapi > openapi/openapi.json`"
    )


def test_every_operation_has_summary_tags_and_problem_errors() -> None:
    spec = create_app().openapi()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where} has no summary"
            assert operation.get("tags"), f"{where} has no tags"
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            assert errors, f"{where} documents no error responses"
            for status, response in errors.items():
                assert list(response["content"]) == ["application/problem+json"], (
                    f"{where} {status} is not problem+json"
                )
