"""The parsing processes fetch an IMAP mailbox by UID on their own read-only connections
(inbox_worker/by_uid.py): the writer lists, claims, writes and marks. Against a real
Dovecot: every message once, nothing marked before its commit, no flag but the done
keyword, and the ways a fetch goes wrong (a cut connection, a UID expunged between the
listing and the fetch, a message over the size cap, a refused login, a parser that dies)."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from helpdesk.config import parse_mailbox_url
from helpdesk.domain.storage import BlobStore
from helpdesk.inbox_worker.by_uid import FetchOrder, fetch_and_prepare, fetched_by_uid, forget
from helpdesk.inbox_worker.fetch import SourceError
from helpdesk.inbox_worker.imap import DONE_KEYWORD, ImapSource
from helpdesk.inbox_worker.pipeline import Prepared, Worker, prepare
from helpdesk.models import InboundMail, Message
from tests.mailfactory import make_mail
from tests.test_oauth import oauth_config
from tests.test_resilience import (
    assert_each_once,
    assert_only_the_misbehaving_quarantined,
    conversation,
    filled_mailbox,
    misbehaving_mail,
    pending_on_server,
)

pytestmark = pytest.mark.slow


class ListsOnly(ImapSource):
    """The writer's source, which must not be asked for a message's bytes."""

    def fetch(self, uids, max_bytes):
        raise AssertionError(f"the writer fetched {uids}")


def order_for(dovecot, url: str, via: str | None = None) -> FetchOrder:
    """An order for the mailbox at `url`, reaching it through `via` (a proxy, a wrong password)."""
    return FetchOrder(parse_mailbox_url(via or url), dovecot.uidvalidity(url), 25 * 1024 * 1024)


def test_the_writer_lists_and_marks_and_the_parsing_processes_fetch(db, config, dovecot):
    n = 30
    url = filled_mailbox(dovecot, n)
    imap = config.with_(mailbox_url=url, fetch_batch=10)
    with Worker(imap, source=ListsOnly(imap.mailbox, batch=10), parse_workers=2) as worker:
        assert worker._fetch_in_parsers
        summary = worker.run_once()

    assert summary.processed == n
    assert_each_once(n)
    assert pending_on_server(dovecot, url) == 0
    # BODY.PEEK on an EXAMINEd folder: the only flag anything set is the writer's, after its commit.
    assert all(flags == {DONE_KEYWORD} for flags in dovecot.flags(url).values())


def test_mail_that_arrives_after_the_parsers_connected_is_fetched_on_the_next_pass(db, config, dovecot):
    url = dovecot.new_mailbox()
    mail = conversation(9)
    for raw in mail[:3]:
        dovecot.append(url, raw)
    imap = config.with_(mailbox_url=url, fetch_batch=2)
    with Worker(imap, source=ListsOnly(imap.mailbox, batch=2), parse_workers=2) as worker:
        assert worker.run_once().processed == 3
        for raw in mail[3:]:  # the parsing processes' sessions have not heard of these yet
            dovecot.append(url, raw)
        assert worker.run_once().processed == 6

    assert_each_once(9)
    assert pending_on_server(dovecot, url) == 0


def test_a_parsing_process_reconnects_when_its_connection_is_cut(db, config, dovecot, imap_proxy):
    url = filled_mailbox(dovecot, 8)
    order = order_for(dovecot, url, via=dovecot.url_through(url, imap_proxy))
    uids = dovecot.uids(url)
    try:
        first = fetched_by_uid(order, uids[:4])
        accepted = imap_proxy.accepted
        assert imap_proxy.cut() == 1
        second = fetched_by_uid(order, uids[4:])
    finally:
        forget(order)

    assert [f.uid for f in first + second] == uids
    assert all(f.raw.startswith(b"Message-ID") or b"Message-ID" in f.raw for f in first + second)
    assert imap_proxy.accepted == accepted + 1  # one new connection, after the cut


def test_a_parsing_process_that_cannot_log_in_raises_source_error(db, config, dovecot):
    url = filled_mailbox(dovecot, 2)
    parsed = parse_mailbox_url(url)
    wrong = url.replace(f":{quote(parsed.password)}@", ":wrong-password@")
    order = order_for(dovecot, url, via=wrong)
    with pytest.raises(SourceError, match="login"):
        fetched_by_uid(order, dovecot.uids(url))


def test_a_uidvalidity_other_than_the_writers_is_refused(db, config, dovecot):
    url = filled_mailbox(dovecot, 2)
    order = order_for(dovecot, url)
    order = FetchOrder(order.url, order.uidvalidity + 1, order.max_bytes)
    with pytest.raises(SourceError, match="UIDVALIDITY"):
        fetched_by_uid(order, dovecot.uids(url))


def test_every_connection_cut_mid_run_loses_and_duplicates_nothing(db, config, dovecot, imap_proxy):
    n = 60
    url = filled_mailbox(dovecot, n)
    proxied = config.with_(mailbox_url=dovecot.url_through(url, imap_proxy), fetch_batch=10)
    cuts: list[int] = []

    def cut_once(done: int, total: int) -> None:
        if not cuts:  # after the first batch's commit: later batches are being fetched
            cuts.append(imap_proxy.cut())

    with Worker(proxied, parse_workers=2) as worker:
        worker.progress = cut_once
        worker.run_once(max_failures=5)

    assert cuts and cuts[0] >= 2  # the writer's connection and at least one parsing process's
    assert_each_once(n)
    assert pending_on_server(dovecot, url) == 0


def test_a_uid_expunged_between_listing_and_fetching_is_left_out(db, config, dovecot):
    n = 12
    url = filled_mailbox(dovecot, n)
    imap = config.with_(mailbox_url=url, fetch_batch=5)
    gone: list[str] = []

    class ExpungedMeanwhile(ListsOnly):
        def pending(self):
            uids = super().pending()
            if not gone:  # another client deletes the fourth message right after our listing
                gone.append(uids[3])
                with dovecot.client(url) as other:
                    other.select_folder("INBOX")
                    other.add_flags([int(uids[3])], [b"\\Deleted"], silent=True)
                    other.uid_expunge([int(uids[3])])
            return uids

    with Worker(imap, source=ExpungedMeanwhile(imap.mailbox, batch=5), parse_workers=2) as worker:
        summary = worker.run_once()

    assert summary.processed == n - 1
    assert sorted(row.message_id for row in InboundMail.select()) == sorted(
        f"m{i}@example.com" for i in range(n) if i != 3)
    assert gone[0] not in dovecot.uids(url)
    assert pending_on_server(dovecot, url) == 0


def test_a_message_over_the_size_cap_is_imported_by_its_header(db, config, dovecot):
    url = dovecot.new_mailbox()
    small = make_mail("Short.\n", Message_ID="<small@example.com>", Subject="Small")
    big = make_mail("x" * 60_000 + "\n", Message_ID="<big@example.com>", Subject="Big")
    for raw in (small, big):
        dovecot.append(url, raw)
    imap = config.with_(mailbox_url=url, max_message_bytes=20_000)
    with Worker(imap, source=ListsOnly(imap.mailbox), parse_workers=2) as worker:
        assert worker.run_once().outcomes == {"new_ticket": 2}

    row = InboundMail.get(InboundMail.message_id == "big@example.com")
    assert row.size > 60_000
    body = Message.get(Message.message_id == "big@example.com").body_text
    assert "over the limit" in body and "x" * 100 not in body
    assert "Short." in Message.get(Message.message_id == "small@example.com").body_text


def test_what_a_parsing_process_sends_back_carries_bytes_only_when_the_writer_needs_them(tmp_path, dovecot):
    url = dovecot.new_mailbox()
    dovecot.append(url, make_mail("Hello.\n", Message_ID="<fine@example.com>"))
    order = order_for(dovecot, url)
    store = BlobStore(tmp_path / "blobs", tmp_path / "raw", sync_each=False)
    try:
        [fine] = fetch_and_prepare(prepare, order, dovecot.uids(url), store, 1 << 20)
        [failed] = fetch_and_prepare(_store_fails, order, dovecot.uids(url), store, 1 << 20)
    finally:
        forget(order)

    assert isinstance(fine.prepared, Prepared) and fine.fetched.raw == b""
    assert fine.fetched.size > 0 and not fine.fetched.truncated
    assert isinstance(failed.prepared, OSError) and b"<fine@example.com>" in failed.fetched.raw


def _store_fails(raw, store, limit, **limits):
    raise OSError(28, "No space left on device")


def test_a_message_that_kills_or_hangs_its_parser_is_quarantined_when_parsers_fetch(db, config, dovecot):
    from tests.crashers import prepare_or_misbehave

    url = dovecot.new_mailbox()
    for raw in misbehaving_mail(12):
        dovecot.append(url, raw)
    impatient = config.with_(mailbox_url=url, parse_timeout_seconds=3, fetch_batch=5)
    with Worker(impatient, parse_workers=2, prepare=prepare_or_misbehave) as worker:
        assert worker._fetch_in_parsers
        summary = worker.run_once()

    assert_only_the_misbehaving_quarantined(summary, 12)
    assert pending_on_server(dovecot, url) == 0


def test_parsing_processes_fetch_with_the_writers_oauth2_token(config, db, oauth_dovecot, token_server):
    url = oauth_dovecot.new_mailbox()
    user = oauth_dovecot.user_of(url)
    for i in range(12):
        oauth_dovecot.append(url, make_mail(f"Message {i}\n", Message_ID=f"<o{i}@example.com>", Subject=f"P {i}"))
    c = oauth_config(config, token_server, HELPDESK_MAILBOX_URL=oauth_dovecot.oauth_url(url),
                         HELPDESK_OAUTH_REFRESH_TOKEN=token_server.grant(user), HELPDESK_FETCH_BATCH="4")
    with Worker(c, source=ListsOnly(c.mailbox, batch=4, tokens=_tokens(c)), parse_workers=2) as worker:
        assert worker.run_once().outcomes == {"new_ticket": 12}

    assert token_server.refreshes == 1  # the writer's; the parsing processes used its token
    assert all(flags == {DONE_KEYWORD} for flags in oauth_dovecot.flags(url).values())
    logins = [line for line in oauth_dovecot.log_tail(400).splitlines()
              if f"user=<{user}>" in line and "method=XOAUTH2" in line]
    assert len(logins) >= 2  # the writer's, and a parsing process's with the writer's token


def _tokens(config):
    from helpdesk.domain.oauth import AccessTokens

    return AccessTokens(config)
