"""The knowledge base (issue 17, item 6) in the domain: who reads which article, the
articles for a customer's devices first, search in Polish and English on either
database, Markdown made safe, and writing articles with their tags and files."""
from __future__ import annotations

import datetime as dt

import pytest

from helpdesk.domain import kb, kb_render
from helpdesk.domain.conversation import Upload
from helpdesk.domain.validation import Invalid
from helpdesk.models import Article, ArticleFile, Company, Contract, ContractAccess, DeviceLine, Role, User

TODAY = dt.date.today()
NOW = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def article(config, title, body="Tekst.", now=None, **fields):
    return kb.save(config, kb.Draft(title, body, **fields), now=now)


# --- who reads what (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize("reader, audience, level, published, expected", [
    (kb.ANONYMOUS, "public", 0, True, True),
    (kb.ANONYMOUS, "public", 0, False, False),
    (kb.ANONYMOUS, "customers", 0, True, False),
    (kb.Reader(active_contract=True, user_id=1), "customers", 0, True, True),
    (kb.Reader(active_contract=False, user_id=1), "customers", 0, True, False),
    (kb.Reader(active_contract=True, user_id=1), "partners", 0, True, False),
    (kb.Reader(partner_level=2, user_id=1), "partners", 2, True, True),
    (kb.Reader(partner_level=1, user_id=1), "partners", 2, True, False),
    (kb.Reader(partner_level=None, user_id=1), "partners", 0, True, False),
    (kb.Reader(staff=True, user_id=1), "partners", 5, False, True),
    (kb.Reader(active_contract=True, partner_level=5, user_id=1), "nonsense", 0, True, False),
])
def test_who_reads_an_article(reader, audience, level, published, expected):
    assert kb.may_read(reader, audience, level, published) is expected


def test_the_sql_rule_is_the_pure_rule(config, db):
    """Every reader against every kind of article: the list holds exactly what may_read allows."""
    made = []
    for audience in kb.AUDIENCES:
        for level in (0, 3):
            for publish in (True, False):
                a = article(config, f"{audience} {level} {publish}", audience=audience, min_level=level,
                            publish=publish)
                made.append(a)
    readers = [kb.ANONYMOUS, kb.Reader(active_contract=True, user_id=1), kb.Reader(partner_level=0, user_id=1),
               kb.Reader(partner_level=3, user_id=1), kb.Reader(staff=True, user_id=1)]
    for reader in readers:
        listed = {a.id for a in kb.listing(reader, limit=100)[0]}
        assert listed == {a.id for a in made if kb.may_read(reader, a.audience, a.min_level,
                                                            a.published_at is not None)}, reader


# --- tags and devices --------------------------------------------------------------------------


def test_tag_keys_match_runs_of_a_device_models_words():
    assert kb.tag_key("DS-7716NI-K4") == "ds7716nik4"
    keys = kb.model_keys("Hikvision DS-7716NI-K4 (rejestrator NVR)")
    assert {"hikvision", "ds7716nik4", "hikvisionds7716nik4"} <= keys
    assert kb.tag_key("FortiGate 60F") in kb.model_keys("Fortinet FortiGate 60F")
    assert kb.tag_key("FortiGate 100F") not in kb.model_keys("Fortinet FortiGate 60F")
    assert kb.tag_key("Łódź") == "lodz"


def test_tags_are_checked():
    assert kb.clean_tags(["Satel, satel ", "INTEGRA 64"]) == [("satel", "Satel"), ("integra64", "INTEGRA 64")]
    with pytest.raises(Invalid):
        kb.clean_tags(["x" * 201])
    with pytest.raises(Invalid):
        kb.clean_tags(["---"])
    with pytest.raises(Invalid):
        kb.clean_tags([f"m{i}" for i in range(31)])


def _customer_with_devices(models, *, active=True):
    company = Company.create(nip="5260001246", name="Apteka")
    user = User.create(email="anna@apteka.example", company=company, is_active=True)
    contract = Contract.create(number="D100101", company=company, starts_on=TODAY - dt.timedelta(days=10),
                               ends_on=TODAY + dt.timedelta(days=10 if active else -5))
    for i, model in enumerate(models):
        DeviceLine.create(contract=contract, model=model, serial=f"S{i}")
    ContractAccess.create(user=user, contract=contract)
    return user


def test_a_customer_sees_the_articles_for_its_devices_first(config, db):
    user = _customer_with_devices(["Hikvision DS-7716NI-K4 (rejestrator NVR)", "Fortinet FortiGate 60F"])
    reader = kb.reader_for(user, TODAY)
    assert reader.active_contract and reader.partner_level is None
    by_model = article(config, "Reset NVR", models=["DS-7716NI-K4"], now=NOW - dt.timedelta(days=3))
    by_maker = article(config, "Hikvision: hasła", manufacturers=["Hikvision"], now=NOW - dt.timedelta(days=2))
    other = article(config, "Satel INTEGRA", models=["INTEGRA 64 Plus"], now=NOW - dt.timedelta(days=1))
    hidden = article(config, "Dla partnerów", models=["FortiGate 60F"], audience="partners")
    models = kb.device_models(reader, TODAY)
    assert models == ["Fortinet FortiGate 60F", "Hikvision DS-7716NI-K4 (rejestrator NVR)"]
    found = kb.matching(reader, models, 10)
    assert [a.id for a, _ in found] == [by_model.id, by_maker.id]  # by model first, then by maker
    assert hidden.id not in [a.id for a, _ in found] and other.id not in [a.id for a, _ in found]
    suggested = kb.suggestions(reader, models)
    assert [a.id for a in suggested["Hikvision DS-7716NI-K4 (rejestrator NVR)"]] == [by_model.id, by_maker.id]
    assert suggested["Fortinet FortiGate 60F"] == []


def test_an_expired_contract_gives_no_customers_articles(config, db):
    user = _customer_with_devices(["Satel INTEGRA 64 Plus"], active=False)
    reader = kb.reader_for(user, TODAY)
    assert not reader.active_contract
    article(config, "Tylko klienci", audience="customers", models=["INTEGRA 64 Plus"])
    assert kb.listing(reader)[0] == [] and kb.device_models(reader, TODAY) == []


def test_a_partner_reads_from_its_level_once_verified(config, db):
    company = Company.create(nip="7740001454", name="Instalator", role="installer", partner_level=2,
                             verified_at=None)
    user = User.create(email="jan@instalator.example", company=company, role=Role.PARTNER.value, is_active=True)
    assert kb.reader_for(user, TODAY).partner_level is None
    Company.update(verified_at=NOW).where(Company.id == company.id).execute()
    reader = kb.reader_for(user, TODAY)
    assert reader.partner_level == 2 and not reader.active_contract
    low = article(config, "Poziom 1", audience="partners", min_level=1)
    article(config, "Poziom 3", audience="partners", min_level=3)
    assert [a.id for a in kb.listing(reader)[0]] == [low.id]


# --- search ------------------------------------------------------------------------------------


def test_search_in_polish_and_english(config, db):
    pl = article(config, "Drukarka nie drukuje", "Sprawdź **kabel** zasilacza drukarki w Łodzi.", language="pl")
    en = article(config, "Printers offline", "Configuring the printing queue after updates.", language="en")
    reader = kb.ANONYMOUS

    def found(text):
        return {a.id for a in kb.listing(reader, text=text)[0]}

    assert found("drukarki") == {pl.id}  # another form: the same Polish stem
    assert found("drukarkę") == {pl.id}
    assert found("lodz") == {pl.id} and found("Łódź") == {pl.id}  # diacritics aside
    assert found("zasilacz") == {pl.id}
    assert found("printer") == {en.id}
    assert found("configuration") == {en.id}  # English stem "configur"
    assert found("update") == {en.id}
    assert found("kabel printer") == set()  # every word must match
    assert found("") == {pl.id, en.id}
    assert found('"); DROP TABLE article; --') == set()  # syntax is never read as a query


def test_a_cursor_pages_through_the_list_without_repeats(config, db):
    made = [article(config, f"Artykuł {i}", now=NOW - dt.timedelta(minutes=i // 2)) for i in range(7)]
    seen, after = [], None
    while True:
        rows, more = kb.listing(kb.ANONYMOUS, after=after, limit=3)
        seen += [a.id for a in rows]
        if not more:
            break
        after = kb.decode_cursor(kb.encode_cursor(rows[-1]))
    assert sorted(seen) == sorted(a.id for a in made) and len(seen) == len(set(seen))
    assert kb.decode_cursor("nonsense") is None and kb.decode_cursor("1-2-3") is None


# --- Markdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>",
    "[klik](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    "![x](javascript:alert(1))",
    '<a href="https://example.com" onclick="alert(1)">a</a>',
    "<iframe src='https://evil.example'></iframe>",
    "[x](JaVaScRiPt:alert(1))",
    "<svg onload=alert(1)>",
])
def test_markdown_xss_is_stripped(hostile):
    html = kb_render.to_html(f"Tekst\n\n{hostile}\n")
    tags = _tags(html)
    assert {name for name, _ in tags} <= kb_render.TAGS, html
    for _name, attrs in tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), html
            assert not (value or "").strip().lower().startswith(("javascript", "data", "vbscript")), html


def _tags(html: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_markdown_renders_what_articles_need():
    html = kb_render.to_html("# Tytuł\n\n**gruby** `kod`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                             "[link](https://example.com)\n\n- jeden\n- dwa\n")
    assert "<h1>Tytuł</h1>" in html and "<strong>gruby</strong>" in html and "<code>kod</code>" in html
    assert "<table>" in html and "<li>jeden</li>" in html
    assert 'href="https://example.com"' in html and "noopener" in html


def test_a_body_rendered_again_is_the_same_and_an_edit_is_rendered_anew():
    """Bodies up to MEMOISED_CHARS are rendered once (keyed by the text), longer ones each time
    (not kept); either way the HTML is that of the text given."""
    short, edited = "**raz** <script>x</script>", "**dwa** <script>x</script>"
    long = "*a* " * (kb_render.MEMOISED_CHARS // 4 + 1)
    memo = kb_render._memoised_html
    memo.cache_clear()
    for text in (short, short, edited, long, long):
        assert kb_render.to_html(text) == kb_render._html(text)
    assert "<strong>dwa</strong>" in kb_render.to_html(edited) and "<script" not in kb_render.to_html(edited)
    assert (memo.cache_info().misses, memo.cache_info().currsize) == (2, 2)  # short once, edited once; long never


# --- writing -----------------------------------------------------------------------------------


def test_saving_checks_every_field_and_stores_nothing_wrong(config, db):
    for draft, field in [(kb.Draft("", "x"), "title"), (kb.Draft("T", "  "), "text"),
                         (kb.Draft("T", "x", language="de"), "language"),
                         (kb.Draft("T", "x", audience="all"), "read"),
                         (kb.Draft("T", "x", audience="partners", min_level=9), "levels"),
                         (kb.Draft("T" * 301, "x"), "title")]:
        with pytest.raises(Invalid) as error:
            kb.save(config, draft)
        assert field in str(error.value)
    with pytest.raises(Invalid):
        kb.save(config, kb.Draft("T", "x"), uploads=[Upload("empty.pdf", "application/pdf", b"")])
    assert Article.select().count() == 0


def test_an_article_keeps_its_files_and_changes(config, db):
    a = kb.save(config, kb.Draft("Instrukcja", "Tekst", models=["INTEGRA 64"]),
                uploads=[Upload("instrukcja.pdf", "application/pdf", b"%PDF-1.4 test")])
    (f,) = kb.files_of(a.id)
    assert f.filename == "instrukcja.pdf" and f.size == 13
    assert kb.file_for(kb.ANONYMOUS, a.id, f.id).id == f.id
    b = kb.save(config, kb.Draft("Instrukcja 2", "Nowy tekst o zasilaczu", audience="customers", publish=False),
                article_id=a.id, remove_files=[f.id])
    assert b.title == "Instrukcja 2" and b.published_at is None and ArticleFile.select().count() == 0
    assert kb.tags_of([a.id])[a.id] == []
    assert kb.article_for(kb.ANONYMOUS, a.id) is None  # a draft now: nobody but staff
    assert {x.id for x in kb.listing(kb.Reader(staff=True, user_id=1), text="zasilacz")[0]} == {a.id}
    with pytest.raises(LookupError):
        kb.save(config, kb.Draft("T", "x"), article_id=999999)
