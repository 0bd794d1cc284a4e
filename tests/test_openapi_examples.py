"""Server A's OpenAPI: every JSON request body and every success answer carries an
example (Swagger's "Try it out" starts from it), and each example is valid for its model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protocol import messages
from server_a.app import create_app
from tests.servers import a_settings

pytest_plugins = ["tests.servers"]


def _schema_names(operation: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, schema name) of the operation's JSON request body and 2xx answers."""
    found: list[tuple[str, str]] = []
    bodies = [("request", operation.get("requestBody", {}))]
    bodies += [(code, answer) for code, answer in operation["responses"].items() if code < "300"]
    for where, part in bodies:
        schema = part.get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
        if ref:
            found.append((where, ref.rsplit("/", 1)[-1]))
    return found


def test_every_body_and_answer_has_a_valid_example(key_dir: Path, tmp_path: Path) -> None:
    app = create_app(a_settings(key_dir, f"sqlite:///{tmp_path / 'a.sqlite3'}"))
    spec = app.openapi()
    checked: set[str] = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for where, name in _schema_names(operation):
                if name == "ErrorOut":
                    continue
                examples = spec["components"]["schemas"][name].get("examples")
                assert examples, f"{method.upper()} {path} {where}: {name} has no example"
                getattr(messages, name).model_validate(examples[0])
                checked.add(name)
    assert {"ReadingIn", "RangeIn", "ResultOut", "PatientCreate", "TallyOut"} <= checked
