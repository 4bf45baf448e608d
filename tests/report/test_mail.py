"""Mail over a real (local) SMTP server: the report and the weekly alert digest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from salespulse.cli.app import main
from salespulse.errors import UserError
from salespulse.report import report_mail
from salespulse.report.build import Report
from salespulse.report.mail import Mail, recipients, send, team_managers
from salespulse.report.render import render_html
from salespulse.settings import Settings, load_settings
from salespulse.warehouse.store import connect
from tests.report.conftest import Inbox, workspace_settings

pytestmark = pytest.mark.xdist_group("report")


def body(msg: object) -> str:
    part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(part.get_content())


@pytest.mark.slow
def test_report_mail_in_dutch_with_attachment(
    demo_db: str, built: Report, smtp_server: Inbox, tmp_path: Path
) -> None:
    html = tmp_path / "rapport-2026-10.html"
    html.write_text(render_html(built, "nl"), encoding="utf-8")
    settings = Settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        report_recipients=("managers", "directie@poldermachines.example"),
    )
    store = connect(demo_db, create=False)
    try:
        mail = report_mail(store, settings, built, html, "nl")
        managers = team_managers(store)["email"].tolist()
    finally:
        store.close()
    assert send(settings, [mail]) == 1
    ((rcpt, msg),) = smtp_server.messages
    assert sorted(rcpt) == sorted([*managers, "directie@poldermachines.example"])
    assert msg["Subject"] == "Verkooprapport okt 2026"
    assert msg["From"] == "salespulse@localhost"
    text = body(msg)
    assert "in de bijlage het verkooprapport over okt 2026" in text
    assert "Kwartaal tot nu:" in text and " doel (" in text
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "rapport-2026-10.html"
    assert att.get_content_type() == "text/html"
    assert "Verkooprapport okt 2026" in att.get_content()


@pytest.mark.slow
def test_cli_report_mail_sends_the_pdf(
    demo_db: str, smtp_server: Inbox, tmp_path: Path, _isolated_workspace: Path
) -> None:
    workspace_settings(
        _isolated_workspace,
        smtp_server.settings_toml(report_recipients=("rep",)),
    )
    out = tmp_path / "r.pdf"
    code = main(["report", "--month", "2020-01", "--rep", "R00002", "--out", str(out),
                 "--mail", "--db", demo_db])  # fmt: skip
    assert code == 0
    store = connect(demo_db, create=False)
    try:
        reps = store.table("reps").execute().set_index("rep_id")
    finally:
        store.close()
    ((rcpt, msg),) = smtp_server.messages
    assert rcpt == [reps.loc["R00002", "email"]]
    assert msg["Subject"] == f"Sales report Jan 2020 — {reps.loc['R00002', 'name']}"
    assert msg["From"] == "reports@poldermachines.example"
    assert "No data for this month" in body(msg)
    (att,) = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf" and att.get_filename() == "r.pdf"
    assert att.get_content().startswith(b"%PDF")


@pytest.mark.slow
def test_alert_digest_per_manager_and_address(
    demo_db: str, smtp_server: Inbox, _isolated_workspace: Path
) -> None:
    workspace_settings(
        _isolated_workspace,
        smtp_server.settings_toml(alert_recipients=("managers", "head@poldermachines.example")),
    )
    code = main(["alerts", "--mail", "--as-of", "2026-10-31", "--lang", "nl", "--db", demo_db])
    assert code == 0
    by_rcpt = {rcpt[0]: msg for rcpt, msg in smtp_server.messages}
    store = connect(demo_db, create=False)
    try:
        managers = team_managers(store)
    finally:
        store.close()
    assert set(by_rcpt) == {*managers["email"], "head@poldermachines.example"}
    head = by_rcpt["head@poldermachines.example"]
    assert head["Subject"].startswith("Wekelijkse signalen voor head")
    assert "het hele bedrijf" in body(head)
    assert "Leads zonder eigenaar" in body(head)  # company-wide: nobody owns them
    first = managers.iloc[0]
    msg = by_rcpt[first["email"]]
    assert f"Wekelijkse signalen voor {first['team_name']}" in msg["Subject"]
    text = body(msg)
    assert f"Hallo {first['name']}" in text and f"team {first['team_name']}" in text
    assert "per 31-10-2026" in text
    assert "Leads zonder eigenaar" not in text  # not the team's: they have no owner


def test_recipients_roles_and_mistakes(demo_db: str) -> None:
    store = connect(demo_db, create=False)
    try:
        day = date(2026, 10, 31)
        team = recipients(store, ("managers",), day, team="T01")
        assert len(team) == 1 and team[0].endswith("@poldermachines.example")
        reps = recipients(store, ("reps", "x@y.example", "x@y.example"), day, team="T01")
        assert reps.count("x@y.example") == 1 and len(reps) > 3
        with pytest.raises(UserError, match="unknown recipient 'bosses'"):
            recipients(store, ("bosses",), day)
    finally:
        store.close()


def test_send_errors_are_user_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mail = Mail(to=["a@b.example"], subject="s", text="t")
    with pytest.raises(UserError, match="no SMTP server configured"):
        send(Settings(), [mail])
    monkeypatch.delenv("SALESPULSE_SMTP_PASSWORD", raising=False)
    with pytest.raises(UserError, match="SALESPULSE_SMTP_PASSWORD is empty"):
        send(Settings(smtp_host="127.0.0.1", smtp_user="me"), [mail])
    with pytest.raises(UserError, match=r"could not send mail via 127\.0\.0\.1:9"):
        send(Settings(smtp_host="127.0.0.1", smtp_port=9, smtp_security="none"), [mail])


def test_mail_settings_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('smtp_security = "ssl"\n', encoding="utf-8")
    with pytest.raises(UserError, match="starttls, tls or none"):
        load_settings(path)
    path.write_text("report_recipients = [1, 2]\n", encoding="utf-8")
    with pytest.raises(UserError, match="list of strs"):
        load_settings(path)
    path.write_text('report_recipients = ["a@b.example", "managers"]\n', encoding="utf-8")
    assert load_settings(path).report_recipients == ("a@b.example", "managers")
