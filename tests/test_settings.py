"""Settings: defaults, the settings file, and clear errors for mistakes in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from salespulse.errors import UserError
from salespulse.settings import Settings, load_settings


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "settings.toml") == Settings()


def test_file_values_are_used(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        "fiscal_year_start_month = 4\nfirst_response_sla_hours = 4\n"
        'business_days = [0, 1, 2, 3]\nreporting_currency = "USD"\n',
        encoding="utf-8",
    )
    s = load_settings(path)
    assert (
        s.fiscal_year_start_month,
        s.first_response_sla_hours,
        s.business_days,
        s.reporting_currency,
    ) == (4, 4.0, (0, 1, 2, 3), "USD")


def test_workspace_file_is_the_default(_isolated_workspace: Path) -> None:
    _isolated_workspace.mkdir(parents=True)
    (_isolated_workspace / "settings.toml").write_text(
        "fiscal_year_start_month = 7\n", encoding="utf-8"
    )
    assert load_settings().fiscal_year_start_month == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fiscal_year_start = 4", "unknown setting 'fiscal_year_start'"),
        ("fiscal_year_start_month = 13", "must be 1-12"),
        ('fiscal_year_start_month = "april"', "must be a int"),
        ('timezone = "Mars/Olympus"', "unknown time zone"),
        ("business_day_start_hour = 19", "business hours"),
        ("first_response_sla_hours = true", "must be a float"),
        ("fiscal_year_start_month = ", "not valid TOML"),
    ],
)
def test_mistakes_are_user_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_settings(path)


@pytest.mark.slow
def test_settings_belong_to_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two databases in one workspace keep their own currency and fiscal year."""
    from salespulse.cli.app import main
    from salespulse.semantic.query import Query, run
    from salespulse.warehouse.store import connect
    from tests.semantic import tiny

    monkeypatch.setenv("SALESPULSE_HOME", str(tmp_path))
    usd, eur = tmp_path / "usd.duckdb", tmp_path / "eur.duckdb"
    for path in (usd, eur):
        tiny.load(connect(path)).close()
    assert main(["settings", "set", "reporting_currency", "USD", "--db", str(usd)]) == 0
    assert main(["settings", "set", "fiscal_year_start_month", "4", "--db", str(usd)]) == 0
    capsys.readouterr()
    a, b = connect(usd), connect(eur)
    assert load_settings(store=a).reporting_currency == "USD"
    assert load_settings(store=a).fiscal_year_start_month == 4
    assert load_settings(store=b) == Settings()
    assert run(a, Query.make("won_revenue", as_of="2024-06-30")).unit == "USD"
    assert run(b, Query.make("won_revenue", as_of="2024-06-30")).unit == "EUR"
    a.close()
    b.close()
    # a wrong type or name is one line, exit 2, and changes nothing
    assert main(["settings", "set", "fiscal_year_start_month", "April", "--db", str(usd)]) == 2
    assert main(["settings", "set", "fiscal_year_start_month", "13", "--db", str(usd)]) == 2
    assert main(["settings", "set", "reporting_curency", "EUR", "--db", str(usd)]) == 2
    assert "did you mean 'reporting_currency'" in capsys.readouterr().err
    assert main(["settings", "show", "--db", str(usd), "--format", "json"]) == 0
    shown = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert shown["fiscal_year_start_month"] == {
        "name": "fiscal_year_start_month",
        "value": 4,
        "source": "database",
    }
    assert shown["timezone"]["source"] == "default"
    assert main(["settings", "unset", "reporting_currency", "--db", str(usd)]) == 0
    a = connect(usd)
    assert load_settings(store=a).reporting_currency == "EUR"
    a.close()
