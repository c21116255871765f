"""ImapSource against a real Dovecot on 127.0.0.1 (see tests/dovecot.py)."""
from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest

from helpdesk.config import parse_mailbox_url
from helpdesk.inbox_worker.fetch import SourceError, open_source
from helpdesk.inbox_worker.imap import DONE_KEYWORD, ImapSource
from tests.mailfactory import make_mail


def crlf(raw: bytes) -> bytes:
    """IMAP stores and returns CRLF line endings; compare like with like."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def mail(subject: str, body: str = "Hello,\n\nthe printer is broken.\n") -> bytes:
    return crlf(make_mail(body, Subject=subject))


@pytest.fixture
def source_for():
    """source_for(url, **kwargs): an opened ImapSource, closed after the test."""
    opened = []

    def make(url: str, done: str = "flag", **kwargs) -> ImapSource:
        source = ImapSource(parse_mailbox_url(url), done=done, **kwargs)
        opened.append(source)
        source.open()
        return source

    yield make
    for source in opened:
        source.close()


def test_open_source_picks_imap(imap_url):
    source = open_source(parse_mailbox_url(imap_url))
    assert isinstance(source, ImapSource)
    assert source.name == parse_mailbox_url(imap_url).name
    assert ":" + parse_mailbox_url(imap_url).password + "@" not in source.name


def test_pending_lists_messages_oldest_first(dovecot, imap_url, source_for):
    uids = [dovecot.append(imap_url, mail(f"m{i}")) for i in range(3)]
    dovecot.append(imap_url, mail("deleted"), flags=["\\Deleted"])
    dovecot.append(imap_url, mail("done before"), flags=[DONE_KEYWORD])
    source = source_for(imap_url)
    assert source.pending() == uids
    assert uids == sorted(uids, key=int)


def test_fetch_returns_exact_bytes_without_setting_seen(dovecot, imap_url, source_for):
    raws = [mail(f"m{i}", body=f"message number {i}\n" * (i + 1)) for i in range(3)]
    uids = [dovecot.append(imap_url, raw) for raw in raws]
    source = source_for(imap_url)

    got = list(source.fetch(source.pending(), max_bytes=1_000_000))

    assert [f.uid for f in got] == uids
    assert [f.raw for f in got] == raws
    for f, raw in zip(got, raws):
        assert (f.mailbox, f.uidvalidity, f.size, f.truncated) == (
            source.name, source.uidvalidity(), len(raw), False)
    assert all("\\Seen" not in flags for flags in dovecot.flags(imap_url).values())


def test_oversize_message_comes_back_truncated_to_its_header(dovecot, imap_url, source_for):
    small = mail("small")
    big = crlf(make_mail("line of a long body\n" * 500, Subject="big"))
    uid_small = dovecot.append(imap_url, small)
    uid_big = dovecot.append(imap_url, big)
    source = source_for(imap_url)

    got = {f.uid: f for f in source.fetch([uid_small, uid_big], max_bytes=2000)}

    assert got[uid_small].raw == small and not got[uid_small].truncated
    f = got[uid_big]
    assert f.truncated and f.size == len(big)
    header = big.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert f.raw == header
    assert b"Subject: big" in f.raw and b"long body" not in f.raw
    assert "\\Seen" not in dovecot.flags(imap_url)[uid_big]


def test_fetch_is_lazy_batched_in_uid_order_and_skips_vanished(dovecot, imap_url, source_for):
    raws = [mail(f"m{i}", body=("long\n" * 400) if i in (1, 4) else "short\n") for i in range(6)]
    uids = [dovecot.append(imap_url, raw) for raw in raws]
    source = source_for(imap_url, batch=2)

    # Asked out of order, with a duplicate and a UID that never existed.
    stream = source.fetch([uids[5], uids[0], "999", *uids[1:5], uids[0]], max_bytes=1000)
    first = next(stream)
    assert first.uid == uids[0]
    # Removed by someone else after the fetch started: simply left out.
    with dovecot.client(imap_url, select=False) as c:
        c.select_folder("INBOX")
        c.delete_messages([int(uids[3])])
        c.expunge()
    rest = list(stream)

    assert [f.uid for f in [first, *rest]] == [uids[i] for i in (0, 1, 2, 4, 5)]
    assert [f.truncated for f in rest] == [True, False, True, False]


def test_mark_done_with_flag(dovecot, imap_url, source_for):
    uids = [dovecot.append(imap_url, mail(f"m{i}")) for i in range(3)]
    source = source_for(imap_url)

    source.mark_done([uids[0], uids[2]])
    source.mark_done([uids[0], "999"])  # idempotent; unknown UIDs are ignored

    assert source.pending() == [uids[1]]
    flags = dovecot.flags(imap_url)
    assert DONE_KEYWORD in flags[uids[0]] and DONE_KEYWORD not in flags[uids[1]]
    assert "\\Seen" not in flags[uids[0]]
    source.close()
    source.open()  # the keyword is permanent: a new session sees it too
    assert source.pending() == [uids[1]]


def test_mark_done_with_move_creates_the_folder(dovecot, imap_url, source_for):
    uids = [dovecot.append(imap_url, mail(f"m{i}")) for i in range(3)]
    assert "Done" not in dovecot.folders(imap_url)
    source = source_for(imap_url, done="move:Done")
    assert "Done" in dovecot.folders(imap_url)

    source.mark_done(uids[:2])
    source.mark_done(uids[:2])  # idempotent

    assert source.pending() == [uids[2]]
    assert dovecot.uids(imap_url) == [uids[2]]
    assert len(dovecot.uids(imap_url, folder="Done")) == 2


def test_uidvalidity_changes_when_the_folder_is_recreated(dovecot, source_for):
    url = dovecot.new_mailbox(folder="Support")
    dovecot.append(url, mail("before"))
    source = source_for(url)
    before = source.uidvalidity()
    assert before == dovecot.uidvalidity(url)
    source.close()

    after = dovecot.recreate_folder(url)
    source.open()

    assert source.uidvalidity() == after != before
    assert source.pending() == []


def test_uidvalidity_of_a_recreated_inbox(dovecot, imap_url, source_for):
    dovecot.append(imap_url, mail("before"))
    before = dovecot.uidvalidity(imap_url)
    after = dovecot.recreate_folder(imap_url)
    assert source_for(imap_url).uidvalidity() == after != before


def test_wait_returns_promptly_when_mail_arrives_during_idle(dovecot, imap_url, source_for):
    source = source_for(imap_url)
    assert source.pending() == []
    delivered = threading.Event()

    def deliver():
        time.sleep(1.0)  # well inside IDLE
        dovecot.append(imap_url, mail("new"))
        delivered.set()

    thread = threading.Thread(target=deliver)
    thread.start()
    started = time.monotonic()
    source.wait(30)
    elapsed = time.monotonic() - started
    thread.join()

    assert delivered.is_set() and elapsed < 10
    assert len(source.pending()) == 1


def test_wait_returns_at_once_for_mail_that_came_after_pending(dovecot, imap_url, source_for):
    source = source_for(imap_url)
    source.pending()
    dovecot.append(imap_url, mail("new"))
    started = time.monotonic()
    source.wait(30)
    assert time.monotonic() - started < 2


def test_wait_times_out_and_reissues_idle(imap_url, source_for):
    source = source_for(imap_url)
    source.idle_max = 0.3  # re-issue IDLE several times within one wait
    started = time.monotonic()
    source.wait(1.2)
    assert 1.1 < time.monotonic() - started < 5
    assert source.pending() == []  # the connection is still usable


def test_wait_polls_when_idle_is_off(dovecot, imap_url, source_for):
    source = source_for(imap_url, idle=False)
    source.poll_every = 0.5
    threading.Timer(0.5, dovecot.append, (imap_url, mail("new"))).start()
    started = time.monotonic()
    source.wait(20)
    assert time.monotonic() - started < 5


def test_cut_connection_during_fetch_raises_source_error(dovecot, imap_url, imap_proxy, source_for):
    uids = [dovecot.append(imap_url, mail(f"m{i}")) for i in range(4)]
    source = source_for(dovecot.url_through(imap_url, imap_proxy), batch=1)
    stream = source.fetch(uids, max_bytes=1_000_000)
    assert next(stream).uid == uids[0]

    assert imap_proxy.cut() == 1
    with pytest.raises(SourceError, match="failed"):
        next(stream)
    with pytest.raises(SourceError, match="open"):
        source.pending()  # dropped, and not silently re-opened
    source.close()  # never raises

    source.open()
    assert [f.uid for f in source.fetch(uids, max_bytes=1_000_000)] == uids


def test_cut_connection_during_idle_raises_source_error(imap_url, dovecot, imap_proxy, source_for):
    source = source_for(dovecot.url_through(imap_url, imap_proxy))
    threading.Timer(0.5, imap_proxy.cut).start()
    started = time.monotonic()
    with pytest.raises(SourceError):
        source.wait(20)
    assert time.monotonic() - started < 10


def test_plain_imap_to_a_remote_host_is_refused_before_connecting():
    url = parse_mailbox_url("imap://user:secret@mail.example.com/INBOX?starttls=no")
    source = ImapSource(url)
    with pytest.raises(SourceError, match="imaps|STARTTLS"):
        source.open()
    source.close()


def test_wrong_password(imap_url):
    url = parse_mailbox_url(imap_url)
    source = ImapSource(dataclasses.replace(url, password="wrong"))
    with pytest.raises(SourceError, match=f"login as '{url.username}' failed.*Authentication failed"):
        source.open()
    source.close()


def test_nothing_listening_gives_source_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = ImapSource(parse_mailbox_url(f"imap://u:p@127.0.0.1:{port}/INBOX"), timeout=5)
    with pytest.raises(SourceError, match="cannot connect"):
        source.open()


def test_missing_folder_gives_source_error(imap_url):
    source = ImapSource(parse_mailbox_url(imap_url.rsplit("/", 1)[0] + "/Nowhere"))
    with pytest.raises(SourceError, match="Nowhere"):
        source.open()
    source.close()


def test_a_closed_source_is_not_silently_reopened(dovecot, imap_url, source_for):
    uids = [dovecot.append(imap_url, mail(f"m{i}")) for i in range(2)]
    source = source_for(imap_url, batch=1)
    stream = source.fetch(uids, max_bytes=1_000_000)
    next(stream)
    source.close()
    source.close()  # twice is fine
    with pytest.raises(SourceError, match="closed"):
        next(stream)


def test_imaplib_trace_is_built_only_when_its_logger_wants_it(dovecot, imap_url, source_for, caplog):
    """IMAPClient turns imaplib's trace on (every response formatted with %r, each message's
    bytes twice) for a logger that drops it at any level but DEBUG: it is off, unless that
    logger is set to DEBUG."""
    uid = dovecot.append(imap_url, mail("traced", body="a body seen in the trace\n"))

    def traced_lines(source: ImapSource) -> list[str]:
        lines: list[str] = []
        imap = source._client._imap  # type: ignore[union-attr]
        shown = imap._mesg
        imap._mesg = lambda line: (lines.append(line), shown(line))
        assert [f.uid for f in source.fetch([uid], max_bytes=1_000_000)] == [uid]
        return lines

    assert traced_lines(source_for(imap_url)) == []

    with caplog.at_level("DEBUG", logger="imapclient.imaplib"):
        lines = traced_lines(source_for(imap_url))
    assert any("a body seen in the trace" in line for line in lines)
    assert any("a body seen in the trace" in r.getMessage() for r in caplog.records if r.name == "imapclient.imaplib")
