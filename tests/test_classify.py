"""classify(): one mail per rule, built with make_mail."""
from __future__ import annotations

import pytest

from helpdesk.inbox_worker.classify import classify
from helpdesk.inbox_worker.parse import parse

from .mailfactory import make_mail

SUPPORT = ("support@helpdesk.localhost",)


def kind_of(data: bytes, **kwargs) -> tuple[str, str]:
    found = classify(parse(data), support_addresses=SUPPORT, **kwargs)
    return found.kind, found.reason


def test_a_person_writing_is_normal():
    assert kind_of(make_mail()) == ("normal", "no sign of automation")


@pytest.mark.parametrize("headers, reason_part", [
    ({"X_Helpdesk_Loop": "support@helpdesk.localhost"}, "x-helpdesk-loop"),
    ({"X_Helpdesk_Ticket": "42"}, "x-helpdesk-ticket"),
    ({"From": "Helpdesk <support+12-u3-abcdefabcdef@helpdesk.localhost>"}, "our own support address"),
    ({"From": "SUPPORT@helpdesk.localhost"}, "our own support address"),
])
def test_loops(headers, reason_part):
    kind, reason = kind_of(make_mail(**headers))
    assert kind == "loop" and reason_part in reason.lower()


def test_loop_by_our_message_id():
    kind, reason = kind_of(make_mail(), own_message_id=True)
    assert kind == "loop" and "Message-ID" in reason


def test_custom_loop_header_and_foreign_value():
    assert kind_of(make_mail(X_Loop="support@helpdesk.localhost"), loop_header="X-Loop")[0] == "loop"
    # someone else's loop header naming someone else is no loop of ours
    assert kind_of(make_mail(X_Loop="list@example.com"), loop_header="X-Loop")[0] == "normal"


def test_loop_wins_over_autoreply():
    assert kind_of(make_mail(From="support@helpdesk.localhost", Auto_Submitted="auto-replied"))[0] == "loop"


DSN = ("From: MAILER-DAEMON@mx.example.com\r\nReturn-Path: <>\r\nSubject: Undelivered Mail\r\n"
       "Auto-Submitted: auto-replied\r\n"
       "Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n--d\r\n"
       "Content-Type: text/plain\r\n\r\nSorry.\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\n"
       "Reporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; gone@example.org\r\n"
       "Action: {action}\r\nStatus: {status}\r\n\r\n--d--\r\n")


def test_bounce_permanent():
    kind, reason = kind_of(DSN.format(action="failed", status="5.1.1").encode())
    assert kind == "bounce" and "permanent" in reason and "gone@example.org" in reason


def test_delay_is_a_temporary_bounce():
    data = DSN.format(action="delayed", status="4.4.1").encode()
    kind, reason = kind_of(data)
    assert kind == "bounce" and "temporary" in reason
    assert parse(data).report.permanent is False


def test_dsn_that_says_delivered_is_no_bounce():
    assert kind_of(DSN.format(action="delivered", status="2.0.0").encode())[0] == "autoreply"


def test_daemon_sender_with_failure_wording():
    data = make_mail("Hi. This is the qmail-send program.\nI'm afraid I wasn't able to deliver your message.\n",
                     From="MAILER-DAEMON@mx.example.com", Subject="failure notice")
    assert kind_of(data)[0] == "bounce"


def test_null_return_path_and_bounce_subject():
    data = make_mail("Your message could not be delivered to the recipient.\n", Return_Path="<>",
                     From="Mail System <system@mx.example.com>", Subject="Returned mail: see transcript")
    assert kind_of(data)[0] == "bounce"


def test_null_return_path_alone_is_no_bounce():
    assert kind_of(make_mail(Return_Path="<>"))[0] == "normal"


@pytest.mark.parametrize("headers, reason_part", [
    ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
    ({"Auto_Submitted": "auto-generated"}, "Auto-Submitted"),
    ({"X_Autoreply": "yes"}, "x-autoreply"),
    ({"X_Autorespond": "yes"}, "x-autorespond"),
    ({"X_Autoresponder": "yes"}, "x-autoresponder"),
    ({"Precedence": "bulk"}, "Precedence"),
    ({"Precedence": "junk"}, "Precedence"),
    ({"Precedence": "list"}, "Precedence"),
    ({"Precedence": "auto_reply"}, "Precedence"),
    ({"List_Id": "Users <users.lists.example.com>"}, "List-Id"),
    ({"Subject": "Out of Office: Printer broken"}, "out-of-office"),
    ({"Subject": "Automatic reply: Printer broken"}, "out-of-office"),
    ({"Subject": "Autoreply: Printer broken"}, "out-of-office"),
    ({"Subject": "Auto: Printer broken"}, "out-of-office"),
    ({"Subject": "Odpowiedź automatyczna: Drukarka"}, "out-of-office"),
    ({"Subject": "Nieobecność w biurze"}, "out-of-office"),
    ({"Subject": "Poza biurem do 10.11"}, "out-of-office"),
    ({"Subject": "Urlop"}, "out-of-office"),
    ({"Subject": "Abwesenheitsnotiz: Drucker"}, "out-of-office"),
    ({"Subject": "Automatische Antwort: Drucker"}, "out-of-office"),
])
def test_autoreplies(headers, reason_part):
    kind, reason = kind_of(make_mail(**headers))
    assert kind == "autoreply" and reason_part.lower() in reason.lower()


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "no"},
    {"X_Auto_Response_Suppress": "All"},
    {"Precedence": "first-class"},
    {"Subject": "Re: Out of office hours support?"},
])
def test_not_autoreplies(headers):
    assert kind_of(make_mail(**headers))[0] == "normal"


def test_read_receipt_and_feedback_report_are_autoreplies():
    for report_type, part_type in (("disposition-notification", "message/disposition-notification"),
                                   ("feedback-report", "message/feedback-report")):
        data = (f"From: someone@example.com\r\nSubject: Read: Printer\r\n"
                f"Content-Type: multipart/report; report-type={report_type}; boundary=\"r\"\r\n\r\n--r\r\n"
                f"Content-Type: text/plain\r\n\r\nDisplayed.\r\n--r\r\nContent-Type: {part_type}\r\n\r\n"
                f"Final-Recipient: rfc822; someone@example.com\r\nDisposition: manual-action/MDN-sent-manually; "
                f"displayed\r\n\r\n--r--\r\n").encode()
        kind, reason = kind_of(data)
        assert kind == "autoreply" and report_type in reason
