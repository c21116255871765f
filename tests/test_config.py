"""Configuration: defaults that work, clear errors that name the variable."""
from __future__ import annotations

from dataclasses import MISSING, fields

import pytest

from helpdesk.config import Config, ConfigError, load_config, parse_mailbox_url


def test_defaults_work_out_of_the_box(tmp_path):
    config = load_config({"HELPDESK_DATA_DIR": str(tmp_path)}, dotenv=None)
    assert config.database_url == f"sqlite:///{tmp_path}/helpdesk.sqlite3"
    assert config.mailbox.scheme == "maildir" and config.mailbox.path == tmp_path / "Maildir"
    assert config.support_address == "support@helpdesk.localhost"
    # A secret is made once and kept, so signed reply addresses survive a restart.
    assert len(config.secret_key) >= 32
    assert load_config({"HELPDESK_DATA_DIR": str(tmp_path)}, dotenv=None).secret_key == config.secret_key


def test_the_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("HELPDESK_SUPPORT_ADDRESS=a@x.pl, b@y.pl\nHELPDESK_TICKET_PREFIX=ZG\n")
    config = load_config({"HELPDESK_DATA_DIR": str(tmp_path), "HELPDESK_TICKET_PREFIX": "HD"}, dotenv=dotenv)
    assert config.support_addresses == ("a@x.pl", "b@y.pl")
    assert config.ticket_prefix == "HD"


def test_every_default_is_the_config_fields_own(tmp_path):
    config = load_config({"HELPDESK_DATA_DIR": str(tmp_path), "HELPDESK_PARSE_WORKERS": "1"}, dotenv=None)
    for f in fields(Config):
        if f.default is not MISSING:
            assert getattr(config, f.name) == f.default, f.name


def test_dotenv_sets_the_log_settings_as_every_other(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("HELPDESK_LOG_LEVEL=warning\nHELPDESK_LOG_FORMAT=json\n")
    config = load_config({"HELPDESK_DATA_DIR": str(tmp_path)}, dotenv=dotenv)
    assert (config.log_level, config.log_format) == ("warning", "json")


@pytest.mark.parametrize("url, expected", [
    ("imaps://u%40x.pl:p%2Fw@mail.x.pl/INBOX", ("imaps", "mail.x.pl", 993, "u@x.pl", "p/w", "INBOX", True)),
    ("imap://u:s3cr3t@127.0.0.1:1143/Support?starttls=no", ("imap", "127.0.0.1", 1143, "u", "s3cr3t", "Support", False)),
    ("imap://u:s3cr3t@mail.x.pl", ("imap", "mail.x.pl", 143, "u", "s3cr3t", "INBOX", True)),
])
def test_mailbox_urls(url, expected):
    m = parse_mailbox_url(url)
    assert (m.scheme, m.host, m.port, m.username, m.password, m.folder, m.starttls) == expected
    assert m.password not in m.name  # the ledger key never holds the password


@pytest.mark.parametrize("env, variable", [
    ({"HELPDESK_MAILBOX_URL": "pop3://x"}, "HELPDESK_MAILBOX_URL"),
    ({"HELPDESK_MAILBOX_URL": "imap:///INBOX"}, "HELPDESK_MAILBOX_URL"),
    ({"HELPDESK_SUPPORT_ADDRESS": "not-an-address"}, "HELPDESK_SUPPORT_ADDRESS"),
    ({"HELPDESK_POLL_SECONDS": "soon"}, "HELPDESK_POLL_SECONDS"),
    ({"HELPDESK_MAILBOX_DONE": "delete"}, "HELPDESK_MAILBOX_DONE"),
    ({"HELPDESK_SMTP_URL": "smtp:///"}, "HELPDESK_SMTP_URL"),
    ({"HELPDESK_DATABASE_PREPARED": "yes"}, "HELPDESK_DATABASE_PREPARED"),
])
def test_bad_values_name_their_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_config({"HELPDESK_DATA_DIR": str(tmp_path), **env}, dotenv=None)


def test_server_prepared_statements_on_unless_turned_off(tmp_path):
    assert load_config({"HELPDESK_DATA_DIR": str(tmp_path)}, dotenv=None).database_prepared == "on"
    assert load_config({"HELPDESK_DATA_DIR": str(tmp_path), "HELPDESK_DATABASE_PREPARED": "off"},
                       dotenv=None).database_prepared == "off"


def test_printed_settings_give_away_no_password_key_or_token(tmp_path):
    secrets_ = ["imap-Pa55:w@rd", "smtp-s3cret", "pg-hasło", "the-app-secret", "the-refresh-token", "k" * 40]
    config = load_config({
        "HELPDESK_DATA_DIR": str(tmp_path),
        "HELPDESK_MAILBOX_URL": "imaps://pomoc%40firma.pl:imap-Pa55:w@rd@imap.firma.pl/INBOX, "
                                "imaps://sprzedaz%40firma.pl@outlook.office365.com/INBOX?auth=oauth2&queue=sales",
        "HELPDESK_SMTP_URL": "smtps://pomoc%40firma.pl:smtp-s3cret@smtp.firma.pl:465",
        "HELPDESK_DATABASE_URL": "postgresql://helpdesk:pg-hasło@db.firma.pl/helpdesk",
        "HELPDESK_OAUTH_PROVIDER": "microsoft", "HELPDESK_OAUTH_CLIENT_ID": "app", "HELPDESK_OAUTH_TENANT": "t1",
        "HELPDESK_OAUTH_CLIENT_SECRET": "the-app-secret", "HELPDESK_OAUTH_REFRESH_TOKEN": "the-refresh-token",
        "HELPDESK_SECRET_KEY": "k" * 40,
    }, dotenv=None)
    assert config.mailbox.password == "imap-Pa55:w@rd" and config.smtp.password == "smtp-s3cret"  # still there
    printed = " ".join([repr(config), str(config), repr(config.mailboxes), repr(config.smtp), repr(config.oauth),
                        f"{config!r}"])
    for secret in secrets_:
        assert secret not in printed, secret
    # what tells the settings apart stays: hosts, users, queues
    for shown in ("imap.firma.pl", "pomoc%40firma.pl:***@", "outlook.office365.com", "smtp.firma.pl", "db.firma.pl",
                  "queue=sales", "client_id='app'"):
        assert shown in printed, shown
