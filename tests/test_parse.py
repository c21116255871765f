"""parse(): one-off cases built with make_mail or as raw bytes, plus corpus samples (TNEF)."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from mailparser_reply import EmailReplyParser

from helpdesk.domain.storage import safe_filename
from helpdesk.inbox_worker import reply
from helpdesk.inbox_worker.parse import ParseError, parse

from .conftest import CORPUS, corpus_rows, need_corpus
from .mailfactory import make_mail


def raw(text: str, charset: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(charset)


def test_basic_fields():
    inbound = parse(make_mail(
        From='"Kowalski, Jan" <Jan.Kowalski@Example.COM>', Reply_To="Biuro <BIURO@example.com>",
        Cc="a@example.com, B <b@Example.com>", Message_ID=" <abc.123@example.com> ",
        In_Reply_To="<x1@example.com> garbage", References="<r1@example.com> <r2@example.com> <x1@example.com>",
        Delivered_To="support+1-0-abc@helpdesk.localhost",
    ))
    assert inbound.from_addr == "jan.kowalski@example.com"
    assert inbound.from_name == "Kowalski, Jan"
    assert inbound.reply_to == ("biuro@example.com",)
    assert inbound.cc == ("a@example.com", "b@example.com")
    assert inbound.to == ("support@helpdesk.localhost",)
    assert inbound.delivered_to == ("support+1-0-abc@helpdesk.localhost",)
    assert inbound.message_id == "abc.123@example.com"
    assert inbound.in_reply_to == ("x1@example.com",)
    assert inbound.references == ("r1@example.com", "r2@example.com", "x1@example.com")
    assert inbound.date == dt.datetime(2026, 11, 2, 10, 0)
    assert inbound.return_path is None
    assert inbound.header("subject") == "Printer broken"
    assert inbound.text.startswith("Hello,")


def test_missing_message_id_is_synthesised_from_the_hash():
    data = make_mail(Message_ID=None)
    inbound = parse(data)
    assert inbound.message_id == f"sha256-{hashlib.sha256(data).hexdigest()}@helpdesk.invalid"
    assert inbound.raw_sha256 == hashlib.sha256(data).hexdigest()
    assert inbound.size == len(data)


def test_date_is_naive_utc_and_garbage_is_none():
    assert parse(make_mail(Date="Mon, 02 Nov 2026 12:30:00 +0230")).date == dt.datetime(2026, 11, 2, 10, 0)
    assert parse(raw("From: a@example.com\nDate: yesterday-ish\n\nx\n")).date is None


def test_null_return_path():
    assert parse(raw("Return-Path: <>\nFrom: a@example.com\n\nx\n")).return_path == ""
    assert parse(raw("Return-Path: <A@Example.com>\nFrom: a@example.com\n\nx\n")).return_path == "a@example.com"


def test_mbox_from_line_and_bare_cr_line_endings():
    data = b"From MAILER-DAEMON Mon Nov  2 10:00:00 2026\rFrom: a@example.com\rSubject: Hi\r\rBody\r"
    inbound = parse(data)
    assert (inbound.from_addr, inbound.subject, inbound.text.strip()) == ("a@example.com", "Hi", "Body")


def test_iso_8859_2_body_and_subject():
    data = (b"From: =?iso-8859-2?Q?Pawe=B3_=AFak?= <pawel@example.pl>\r\n"
            b"Subject: =?iso-8859-2?Q?Zg=B3oszenie_awarii_drukarki?=\r\n"
            b"Content-Type: text/plain; charset=iso-8859-2\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + "Drukarka nie działa, proszę o pomoc. Zażółć gęślą jaźń.\r\n".encode("iso-8859-2"))
    inbound = parse(data)
    assert inbound.from_name == "Paweł Żak"
    assert inbound.subject == "Zgłoszenie awarii drukarki"
    assert "Zażółć gęślą jaźń" in inbound.text


def test_windows_1250_body_and_raw_8bit_subject():
    data = ("From: biuro@example.pl\r\nSubject: Faktura za październik\r\n"
            "Content-Type: text/plain; charset=windows-1250\r\n\r\nŚciągnij fakturę, żółw.\r\n").encode("cp1250")
    inbound = parse(data)
    assert inbound.subject == "Faktura za październik"
    assert "Ściągnij fakturę, żółw." in inbound.text


def test_unknown_charset_is_decoded_with_replacement():
    data = b"From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nabc \xff\xfe def\r\n"
    inbound = parse(data)
    assert inbound.text.startswith("abc ") and "def" in inbound.text
    assert "unknown-charset:x-klingon" in inbound.defects


def test_encoded_words_split_across_a_multibyte_character_and_folded():
    data = (b"From: a@example.com\r\nSubject: =?utf-8?B?xbs=?=\r\n =?utf-8?B?w7PFgnc=?= i\r\n\t=?utf-8?Q?=C5=BC?=aba\r\n"
            b"\r\nx\r\n")
    assert parse(data).subject == "Żółw i żaba"  # the space between a word and an encoded word stays


def test_html_only_mail_is_sanitised_and_turned_into_text():
    html = ('<html><head><script>alert("x")</script><style>p{}</style></head>'
            '<body><p onclick="evil()">Hello <b>world</b></p><a href="javascript:x()">link</a></body></html>')
    data = raw("From: a@example.com\nSubject: html\nContent-Type: text/html; charset=utf-8\n\n" + html + "\n")
    inbound = parse(data)
    assert "<script" not in inbound.html and "alert" not in inbound.html
    assert "onclick" not in inbound.html and "javascript:" not in inbound.html
    assert "Hello **world**" in inbound.text and "alert" not in inbound.text


def test_plain_part_preferred_and_html_kept_sanitised():
    inbound = parse(make_mail("Plain body\n", html="<p>HTML body<script>x()</script></p>"))
    assert inbound.text.strip() == "Plain body"
    assert inbound.html.strip() == "<p>HTML body</p>"


def test_rfc2231_filename_is_decoded():
    data = make_mail(attachments=[("Zażółć gęślą jaźń – raport.pdf", "application/pdf", b"%PDF-1.4")])
    assert b"filename*" in data and b"utf-8''" in data  # the stdlib writes RFC 2231 for non-ASCII names
    (part,) = parse(data).attachments
    assert part.filename == "Zażółć gęślą jaźń – raport.pdf"
    assert part.content_type == "application/pdf" and part.payload == b"%PDF-1.4"


def test_rfc2047_filename_in_quotes_is_decoded():
    data = raw('From: a@example.com\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
               'Content-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n'
               'Content-Disposition: attachment; filename="=?utf-8?Q?umowa_=C5=BC.doc?="\n'
               'Content-Transfer-Encoding: base64\n\nAAEC\n--b--\n')
    (part,) = parse(data).attachments
    assert (part.filename, part.payload) == ("umowa ż.doc", b"\x00\x01\x02")


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system32\\evil.exe", "evil.exe"),
    ("/abs/path/x.txt", "x.txt"),
    ("a\x00b\x1f.txt", "a_b_.txt"),
    ("..", "attachment-3.pdf"),
    ("", "attachment-3.pdf"),
    ("name..with..dots.txt", "name.with.dots.txt"),
])
def test_safe_filename(name, expected):
    assert safe_filename(name, "application/pdf", 3) == expected


def test_path_traversal_filename_in_a_mail():
    data = make_mail(attachments=[("../../../etc/cron.d/evil", "application/octet-stream", b"x")])
    (part,) = parse(data).attachments
    assert part.filename == "evil"


def test_missing_filename_gets_a_default():
    data = raw('From: a@example.com\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n'
               'Content-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\n\nxyz\n--b--\n')
    (part,) = parse(data).attachments
    assert part.filename == "attachment-1.bin"


def test_inline_image_with_content_id():
    data = raw('From: a@example.com\nContent-Type: multipart/related; boundary="r"\n\n--r\n'
               'Content-Type: text/html; charset=utf-8\n\n<p>Logo: <img src="cid:logo123@example.com"></p>\n--r\n'
               'Content-Type: image/png; name="logo.png"\nContent-ID: <logo123@example.com>\n'
               'Content-Disposition: inline; filename="logo.png"\nContent-Transfer-Encoding: base64\n\n'
               'iVBORw0KGgo=\n--r--\n')
    inbound = parse(data)
    (part,) = inbound.attachments
    assert (part.filename, part.content_id, part.inline) == ("logo.png", "logo123@example.com", True)
    assert part.payload.startswith(b"\x89PNG")
    assert "Logo:" in inbound.text


def test_attached_message_is_kept_as_eml():
    inner = make_mail("inner body\n", Subject="Original question")
    data = raw('From: a@example.com\nSubject: Fwd\nContent-Type: multipart/mixed; boundary="m"\n\n--m\n'
               'Content-Type: text/plain\n\nsee attached\n--m\nContent-Type: message/rfc822\n\n') \
        + inner + b"\r\n--m--\r\n"
    (part,) = parse(data).attachments
    assert part.filename == "Original question.eml"
    assert part.content_type == "message/rfc822"
    assert b"inner body" in part.payload


def test_english_reply_quote_is_folded():
    body = ("Thanks, that fixed it.\n\nJohn\n\n"
            "On Mon, Nov 2, 2026 at 10:00 AM Support <support@helpdesk.localhost> wrote:\n"
            "> Please restart the printer.\n> Regards\n")
    inbound = parse(make_mail(body))
    assert inbound.reply_text.startswith("Thanks, that fixed it.")
    assert "restart the printer" not in inbound.reply_text
    assert "restart the printer" in inbound.text


def test_polish_reply_quote_is_folded():
    body = ("Dziękuję, już działa.\n\n"
            "W dniu 2.11.2026 o 10:00, Pomoc <support@helpdesk.localhost> pisze:\n"
            "> Proszę zrestartować drukarkę.\n")
    inbound = parse(make_mail(body))
    assert inbound.reply_text.startswith("Dziękuję, już działa.")
    assert "zrestartować" not in inbound.reply_text


def test_polish_gmail_reply_quote_is_folded():
    body = ("Nadal nie działa.\n\npon., 2 lis 2026 o 10:00 Pomoc <support@helpdesk.localhost> napisał(a):\n\n"
            "> Proszę zrestartować drukarkę.\n")
    assert parse(make_mail(body)).reply_text == "Nadal nie działa."


def test_reply_text_falls_back_to_text():
    inbound = parse(make_mail("> only a quote\n"))
    assert inbound.reply_text.strip()


# Texts where the reply parser's quote headers sit in awkward places: first line, after
# blank lines, spread over lines, nested in quotes, next to separator lines, CRLF.
QUOTE_HEADER_CASES = [
    "",
    "just a line",
    "On Mon, Nov 2, 2026 at 10:00 Bob <b@example.com> wrote:\n> first line is a header",
    "\n\nThanks.\n\nOn Mon, Nov 2, 2026 at 10:00 Bob\n<b@example.com> wrote:\n> quote\n",
    "Thanks.\nFrom: Bob\nSent: Monday\nTo: support\nSubject: Re: x\n\nold text",
    "Thanks.\r\n\r\nOd: Jan\r\nTemat: drukarka\r\n\r\nstara treść",
    "Danke.\n\nAm 2. Nov 2026 schrieb Jan <j@example.de>:\n> alt",
    "Danke.\nVon: Jan\nBetreff: x\nGesendet: Montag\n",
    "Reply.\n\n-----Original Message-----\nFrom: a@example.com\nSent: x\n\nold",
    "> > On x wrote:\n> From: a\n> Sent: b\nnew text below\n",
    "Reply\n\n" + "_" * 40 + "\nFrom: a\nSent: b\n\nold",
    "Reply" + "\n\n " + "-" * 33 + "\nOriginal",
    "\nFrom: only\nSent: headers\n",
    "Data: wczoraj\nText: nie nagłówek\nDo: jutra",
]


@pytest.mark.parametrize("text", QUOTE_HEADER_CASES)
def test_latest_reply_agrees_with_the_reply_parser(text):
    expected = EmailReplyParser(languages=list(reply.REPLY_LANGUAGES)).parse_reply(text)
    assert reply._latest_reply(text) == expected


@pytest.mark.slow
def test_latest_reply_agrees_with_the_reply_parser_on_the_corpus():
    need_corpus()
    parser = EmailReplyParser(languages=list(reply.REPLY_LANGUAGES))
    for row in corpus_rows():
        text = parse((CORPUS / row["path"]).read_bytes()).text
        if len(text) <= reply.MAX_REPLY_FOLD_CHARS:
            assert reply._latest_reply(text) == parser.parse_reply(text), row["path"]


def test_dsn_report():
    data = raw('From: MAILER-DAEMON@mx.example.com\nReturn-Path: <>\nSubject: Undelivered Mail Returned to Sender\n'
               'Content-Type: multipart/report; report-type=delivery-status; boundary="d"\n\n--d\n'
               'Content-Type: text/plain\n\nI could not deliver it.\n--d\nContent-Type: message/delivery-status\n\n'
               'Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; Gone@Example.org\nAction: failed\n'
               'Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: User unknown\n\n'
               '--d\nContent-Type: text/rfc822-headers\n\nFrom: support@helpdesk.localhost\n'
               'Message-ID: <hd-42@helpdesk.localhost>\nSubject: [HD-42] Printer\n\n--d--\n')
    inbound = parse(data)
    report = inbound.report
    assert report.failed == ("gone@example.org",)
    assert report.permanent and report.status == "5.1.1" and report.action == "failed"
    assert "User unknown" in report.diagnostic
    assert report.original_message_id == "hd-42@helpdesk.localhost"
    assert inbound.attachments == ()  # report parts are not attachments


def test_delay_dsn_is_not_permanent():
    data = raw('From: MAILER-DAEMON@mx.example.com\nSubject: Delayed Mail (still being retried)\n'
               'Content-Type: multipart/report; report-type=delivery-status; boundary="d"\n\n--d\n'
               'Content-Type: text/plain\n\nwarning only\n--d\nContent-Type: message/delivery-status\n\n'
               'Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; slow@example.org\n'
               'Action: delayed\nStatus: 4.4.1\n\n--d--\n')
    report = parse(data).report
    assert (report.failed, report.permanent, report.action) == (("slow@example.org",), False, "delayed")


@pytest.mark.parametrize("body, failed", [
    ("Hi. This is the qmail-send program at mx.example.com.\nI'm afraid I wasn't able to deliver your message "
     "to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n"
     "<gone@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy "
     "of the message.\n\nMessage-ID: <orig-1@helpdesk.localhost>\n", "gone@example.org"),
    ("This message was created automatically by mail delivery software.\n\nA message that you sent could not "
     "be delivered to one or more of its recipients. This is a permanent error. The following address(es) "
     "failed:\n\n  gone@example.org\n    SMTP error from remote mail server after RCPT TO:<gone@example.org>:\n"
     "    550 5.1.1 User unknown\n\n------ This is a copy of the message, including all the headers. ------\n"
     "Message-ID: <orig-1@helpdesk.localhost>\n", "gone@example.org"),
    ("Delivery has failed to these recipients or groups:\n\ngone@example.org\nThe e-mail address you entered "
     "couldn't be found.\n", "gone@example.org"),
])
def test_non_dsn_bounces(body, failed):
    report = parse(make_mail(body, From="Mail Delivery System <MAILER-DAEMON@mx.example.com>",
                             Subject="Mail delivery failed")).report
    assert report is not None and report.permanent
    assert report.failed == (failed,)


def test_normal_mail_has_no_report():
    assert parse(make_mail("Your message could not be delivered? I got an error.\n")).report is None


def test_not_a_mail_raises_parse_error():
    with pytest.raises(ParseError):
        parse(b"   \r\n")
    with pytest.raises(ParseError):
        parse("text")  # type: ignore[arg-type]


def test_headerless_text_still_parses():
    inbound = parse(b"Lorem ipsum dolor sit amet\nsecond line\n")
    assert inbound.from_addr == "" and "Lorem ipsum" in inbound.text


def test_tnef_from_the_corpus_is_unpacked():
    need_corpus()
    inbound = parse((CORPUS / "mimekit/tnef/rich-text.eml").read_bytes())
    names = [p.filename for p in inbound.attachments]
    assert "kitten-playing-with-a-christmas-tree.jpg" in names
    assert "winmail.dat" not in names
    assert "Christmas to remember" in inbound.text


def test_tnef_body_is_not_duplicated_when_the_mail_has_a_text_part():
    need_corpus()
    inbound = parse((CORPUS / "mimekit/tnef/ukr.eml").read_bytes())
    assert inbound.text.count("шостий") == 1


def test_unreadable_tnef_is_kept_as_winmail_dat():
    data = make_mail(attachments=[("winmail.dat", "application/ms-tnef", b"not tnef at all")])
    inbound = parse(data)
    assert [p.filename for p in inbound.attachments] == ["winmail.dat"]
    assert "tnef-unreadable" in inbound.defects
