"""schemathesis against the OpenAPI schema, in-process: no 500 on any generated input."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.xdist_group("web")

#: Examples per operation: each new filter combination computes a page, so keep it small.
EXAMPLES = 3


@pytest.fixture
def app(demo_db: str) -> FastAPI:
    """Its own app: schemathesis ends the lifespan of every app it reached after each test,
    which would stop the shared app's page cache and workers for the tests after this one."""
    from salespulse.settings import Settings
    from salespulse.web.app import create_app
    from tests.web.conftest import add_users

    app = create_app(demo_db, Settings(), warm=False, workers=2)
    app.state.test_tokens = add_users(app)
    return app


@pytest.mark.slow
def test_no_server_errors(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = {"Authorization": f"Bearer {app.state.test_tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=600, headers=auth)

        check()
