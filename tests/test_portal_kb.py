"""The knowledge base in the portal, the API and the CLI (issue 17, item 6): audiences
enforced on every page and file (404 otherwise), the articles for the customer's devices
first, suggestions on the new-ticket form, search in Polish and English, Markdown XSS
stripped, the staff pages that write and publish, and a fixed number of queries."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from helpdesk.domain import api_tokens, kb
from helpdesk.domain.conversation import Upload
from helpdesk.models import Article, ArticleFile, AuditLog, Company, DeviceLine
from tests import test_portal_tickets
from tests.conftest import REPO
from tests.portal import Portal, QueryCounter
from tests.test_portal_tickets import signed_in

world = test_portal_tickets.world  # the fixture: two companies, their people, a partner, staff


def _article(config, title, body="Tekst artykułu.", uploads=(), **fields):
    return kb.save(config, kb.Draft(title, body, **fields), uploads=list(uploads))


@pytest.fixture
def library(config, world):
    """One article of each audience, and one for a device of contract A (alice's)."""
    return {
        "public": _article(config, "Jak zgłosić awarię", uploads=[Upload("poradnik.pdf", "application/pdf", b"%PDF")]),
        "customers": _article(config, "Tylko dla klientów", audience="customers",
                              uploads=[Upload("klienci.txt", "text/plain", b"tylko klienci")]),
        "partners1": _article(config, "Dla partnerów od poziomu 1", audience="partners", min_level=1),
        "partners3": _article(config, "Dla partnerów od poziomu 3", audience="partners", min_level=3),
        "draft": _article(config, "Szkic", publish=False),
        "device": _article(config, "Integra 64: reset hasła serwisowego", models=["Integra 64"], audience="customers"),
        "maker": _article(config, "Hikvision: aktualizacja firmware", manufacturers=["Hikvision"]),
    }


def test_every_audience_is_enforced_on_pages_and_files(app, world, library):
    Company.update(partner_level=1).where(Company.id == world.partner.company_id).execute()
    readers = {
        "anonymous": Portal(app),
        "alice": signed_in(app, world.alice),  # an active contract
        "partner": signed_in(app, world.partner, ip="192.0.2.60"),  # verified, level 1
        "engineer": signed_in(app, world.engineer, ip="192.0.2.61"),
    }
    from helpdesk.models import Contract as C
    C.update(ends_on=C.starts_on).where(C.id == world.contract_b.id).execute()  # bob's contract has ended
    readers["bob"] = signed_in(app, world.bob, ip="192.0.2.62")
    expected = {
        "anonymous": {"public", "maker"},
        "alice": {"public", "maker", "customers", "device"},
        "bob": {"public", "maker"},
        "partner": {"public", "maker", "customers", "device", "partners1"},  # it sold an active contract
        "engineer": set(library),
    }
    for who, portal in readers.items():
        listing = portal.text("/kb")
        for name, article in library.items():
            status = portal.get(f"/kb/{article.id}").status_code
            if name in expected[who]:
                assert status == 200, (who, name)
                assert article.title in listing or name == "draft", (who, name)
            else:
                assert status == 404, (who, name)
                assert article.title not in listing, (who, name)
        for name in ("public", "customers"):
            f = ArticleFile.get(ArticleFile.article == library[name].id)
            with portal.get(f"/kb/{library[name].id}/files/{f.id}/{f.filename}") as response:
                assert response.status_code == (200 if name in expected[who] else 404), (who, name)
                if response.status_code == 200:
                    assert response.headers["Content-Disposition"].startswith("attachment")
                    assert "sandbox" in response.headers["Content-Security-Policy"]
    # a file asked for under another article is not found
    f = ArticleFile.get(ArticleFile.article == library["customers"].id)
    assert readers["anonymous"].get(f"/kb/{library['public'].id}/files/{f.id}/x").status_code == 404


def test_a_customer_sees_the_articles_for_its_devices_first(app, world, library):
    page = signed_in(app, world.alice).text("/kb")
    assert 'id="for-your-devices"' in page
    yours = page.split('id="for-your-devices"')[1].split("</section>")[0]
    assert library["device"].title in yours and library["maker"].title in yours
    assert yours.index(library["device"].title) < yours.index(library["maker"].title)  # by model, then maker
    assert library["public"].title not in yours
    assert 'id="for-your-devices"' not in Portal(app).text("/kb")


def test_the_new_ticket_form_suggests_articles_for_the_chosen_device(app, world, library):
    alice = signed_in(app, world.alice)
    page = alice.text(f"/tickets/new?contract={world.contract_a.id}")
    box = page.split('id="kb-suggestions"')[1].split("</aside>")[0]
    assert library["device"].title in box and library["maker"].title in box
    assert library["public"].title not in box
    lines = {line.id: line.model for line in DeviceLine.select().where(DeviceLine.contract == world.contract_a)}
    data = json.loads(re.search(r"data-line-models='([^']*)'", page).group(1).replace("&#34;", '"'))
    assert {int(k): v for k, v in data.items()} == lines
    assert "kb-suggest.js" in page
    # the articles of a device nobody wrote about: no box at all
    Article.delete().execute()
    assert 'id="kb-suggestions"' not in alice.text(f"/tickets/new?contract={world.contract_a.id}")


def test_search_in_polish_and_english_through_the_page(app, config, world):
    _article(config, "Drukarka fiskalna nie drukuje paragonów", "Sprawdź zasilacz drukarki.", language="pl")
    _article(config, "Printer shows an error", "Check the printing queue and updates.", language="en")
    anonymous = Portal(app)
    assert "Drukarka fiskalna" in anonymous.text("/kb?q=drukarki")
    assert "Drukarka fiskalna" in anonymous.text("/kb?q=paragon")
    assert "Drukarka fiskalna" in anonymous.text("/kb?q=zasilacza")
    assert "Printer shows" in anonymous.text("/kb?q=printers")
    assert "Printer shows" in anonymous.text("/kb?q=updating")
    page = anonymous.text("/kb?q=printers&language=pl")
    assert "Printer shows" not in page and "Żaden artykuł nie pasuje" in page
    assert anonymous.get("/kb?q=%00%27%22)(*").status_code == 200


def test_markdown_xss_is_stripped_on_the_page(app, config, world):
    article = _article(config, "Złośliwy", "<script>alert(1)</script>\n\n[x](javascript:alert(2))\n\n"
                                          '<img src=x onerror="alert(3)">\n\n**gruby**')
    page = Portal(app).text(f"/kb/{article.id}")
    body = page.split('class="kb-body"')[1].split("</div>")[0]
    assert "<script>" not in body and 'href="javascript' not in body
    assert not re.search(r"<[a-z][^>]*\son\w+\s*=", body)  # no tag carries a handler (as text it is harmless)
    assert "<strong>gruby</strong>" in body
    assert "&lt;script&gt;" in body  # shown as text


def test_staff_write_edit_and_publish_articles(app, world, config):
    engineer = signed_in(app, world.engineer, ip="192.0.2.63")
    for who in (Portal(app), signed_in(app, world.alice)):
        assert who.get("/staff/kb").status_code in (302, 404) and who.get("/staff/kb/new").status_code in (302, 404)
    response = engineer.post("/staff/kb/new", {
        "title": "Satel: wymiana akumulatora", "body": "# Krok 1\n\nWyłącz zasilanie.", "language": "pl",
        "audience": "customers", "min_level": "0", "models": "INTEGRA 64, INTEGRA 128", "manufacturers": "Satel",
        "files": [(io.BytesIO(b"schemat"), "schemat.pdf")]}, page="/staff/kb/new", content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    article = Article.get(Article.title == "Satel: wymiana akumulatora")
    assert article.published_at is None  # the box was not ticked: a draft
    assert {t.label for t in kb.tags_of([article.id])[article.id]} == {"INTEGRA 64", "INTEGRA 128", "Satel"}
    assert signed_in(app, world.alice, ip="192.0.2.64").get(f"/kb/{article.id}").status_code == 404
    (f,) = kb.files_of(article.id)
    edit = engineer.text(f"/staff/kb/{article.id}")
    assert "Satel: wymiana akumulatora" in edit and "schemat.pdf" in edit
    response = engineer.post(f"/staff/kb/{article.id}", {
        "title": "Satel: wymiana akumulatora", "body": "# Krok 1\n\nWyłącz zasilanie.", "language": "pl",
        "audience": "customers", "min_level": "0", "models": "INTEGRA 64", "manufacturers": "", "publish": "y",
        "remove_files": str(f.id)}, content_type="multipart/form-data")
    assert response.status_code == 302
    article = Article.get_by_id(article.id)
    assert article.published_at is not None and kb.files_of(article.id) == []
    assert "<h1>Krok 1</h1>" in signed_in(app, world.alice, ip="192.0.2.65").text(f"/kb/{article.id}")
    assert AuditLog.select().where(AuditLog.action == "kb_article_changed").count() == 1
    # a bad form keeps what was typed and says what is wrong
    response = engineer.post("/staff/kb/new", {"title": "", "body": "Tekst zostaje", "language": "pl",
                                               "audience": "public", "min_level": "0"})
    assert response.status_code == 422 and "Tekst zostaje" in response.get_data(as_text=True)
    response = engineer.post("/staff/kb/new", {"title": "T", "body": "x", "language": "pl", "audience": "public",
                                               "min_level": "0", "models": "---"})
    assert response.status_code == 422 and "litery lub cyfry" in response.get_data(as_text=True)
    assert engineer.get("/staff/kb/99999999").status_code == 404
    assert "Satel: wymiana akumulatora" in engineer.text("/staff/kb")


def test_the_api_reads_articles_by_the_same_rules(app, config, world, library):
    _, secret = api_tokens.create(world.alice, ["tickets:read"])
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    listing = client.get("/api/v1/articles", headers=headers).get_json()
    titles = {item["title"] for item in listing["items"]}
    assert titles == {library[n].title for n in ("public", "customers", "device", "maker")}
    one = client.get(f"/api/v1/articles/{library['customers'].id}", headers=headers).get_json()
    assert one["body_markdown"] == "Tekst artykułu." and "<p>" in one["body_html"]
    file_url = one["files"][0]["url"].replace("http://helpdesk.test", "")
    with client.get(file_url, headers=headers) as response:
        assert response.data == b"tylko klienci"
    for name in ("partners1", "draft"):
        assert client.get(f"/api/v1/articles/{library[name].id}", headers=headers).status_code == 404
    page = client.get("/api/v1/articles?limit=2", headers=headers).get_json()
    seen = [i["id"] for i in page["items"]]
    while page["next_cursor"]:
        page = client.get(f"/api/v1/articles?limit=2&cursor={page['next_cursor']}", headers=headers).get_json()
        seen += [i["id"] for i in page["items"]]
    assert len(seen) == 4 == len(set(seen))
    assert client.get("/api/v1/articles?cursor=zzz", headers=headers).status_code == 400
    assert client.get("/api/v1/articles?q=hasla", headers=headers).get_json()["items"][0]["id"] == library["device"].id
    assert client.get("/api/v1/articles").status_code == 401


@pytest.mark.parametrize("path", ["/kb", "/kb?q=tekst", "/kb/{id}", "/tickets/new?contract={contract}", "/staff/kb"])
def test_kb_pages_run_a_fixed_number_of_queries(app, config, world, path):
    def statements():
        who = world.engineer if path == "/staff/kb" else world.alice
        portal = signed_in(app, who, ip="192.0.2.66")
        first = Article.select(Article.id).order_by(Article.id).scalar()
        url = path.format(id=first, contract=world.contract_a.id)
        portal.get(url)
        with QueryCounter() as counter:
            assert portal.get(url).status_code == 200
        return counter.count

    _article(config, "Pierwszy", models=["Integra 64"], audience="customers")
    few = statements()
    for i in range(40):
        _article(config, f"Artykuł {i} tekst", models=["Integra 64", f"M{i}"], manufacturers=["Hikvision"],
                 audience="customers" if i % 2 else "public",
                 uploads=[Upload(f"f{i}.txt", "text/plain", b"x")])
    assert statements() == few


def test_the_cli_adds_and_lists_articles(tmp_path, empty_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=empty_database_url, PYTHONPATH=str(REPO))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "helpdesk.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    assert run("init-db").returncode == 0
    (tmp_path / "body.md").write_text("# Reset\n\nPrzytrzymaj przycisk **10 s**.", encoding="utf-8")
    done = run("kb", "add", "Reset rejestratora", "--file", "body.md", "--model", "DS-7716NI-K4", "--model",
               "DS-7732NI-K4", "--manufacturer", "Hikvision", "--audience", "customers", "--language", "pl")
    assert done.returncode == 0, done.stderr
    assert "added (published, customers, pl): Reset rejestratora" in done.stdout
    done = run("kb", "add", "Partner tips", "--file", "body.md", "--audience", "partners", "--level", "2",
               "--language", "en", "--draft", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["published"] is False
    listed = json.loads(run("kb", "list", "--json").stdout)
    assert [a["title"] for a in listed] == ["Partner tips", "Reset rejestratora"]
    assert listed[1]["models"] == ["DS-7716NI-K4", "DS-7732NI-K4"] and listed[1]["manufacturers"] == ["Hikvision"]
    assert listed[0]["audience"] == "partners" and listed[0]["min_level"] == 2
    text = run("kb", "list").stdout
    assert "Reset rejestratora" in text and "partners 2+" in text
    # clear errors, exit 1, nothing stored
    for args, error in [(("--file", "missing.md"), "cannot read missing.md"),
                        (("--file", "body.md", "--model", "!!!"), "letters or digits")]:
        done = run("kb", "add", "Zły", *args)
        assert done.returncode == 1 and error in done.stderr, done.stderr
    done = run("kb", "add", "Zły", "--file", "body.md", "--audience", "everyone")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    done = run("kb", "add", "Pusty", "--file", "empty.md")
    assert done.returncode == 1 and "text" in done.stderr
    assert len(json.loads(run("kb", "list", "--json").stdout)) == 2
