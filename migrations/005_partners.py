"""Partners (SPEC P1-P3, L1-L3): the enrolment wizard's state, one open application per
company, the signed agreement and certificate, level evidence, own solutions, the role asked
for at partner registration; and the levels, permissions and first programme terms as data."""

import peewee as pw
from peewee_migrate import Migrator

TERMS_VERSION = "2025.1"
TERMS_TEXT = """Warunki Programu Partnerskiego, wersja 2025.1

1. Program jest dla zweryfikowanych firm o roli Instalator, Integrator lub ARC.
2. Partner deklaruje poziom partnerstwa i autoryzowanych dystrybutorów, u których kupuje.
3. Cele sprzedażowe (kwartalne i roczny, w PLN) i prowizja wynikają z zadeklarowanego poziomu.
4. Zgłoszenie jest weryfikowane; po akceptacji Partner otrzymuje podpisaną umowę i certyfikat.
5. Certyfikat jest ważny przez rok od akceptacji; jego ważność można sprawdzić kodem weryfikacyjnym.
6. Każda ze stron może zakończyć udział w Programie z miesięcznym wypowiedzeniem.
"""


def _seed(database):
    from helpdesk.domain import levels
    from helpdesk.models import ProgrammeTerms

    levels.seed(database)
    with database.bind_ctx([ProgrammeTerms]):
        ProgrammeTerms.insert(version=TERMS_VERSION, text=TERMS_TEXT).on_conflict_ignore().execute()


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.add_fields("company", subscription_seller=pw.BooleanField(default=False))
    migrator.add_fields("user", company_role=pw.CharField(max_length=20, default=""))
    migrator.add_fields(
        "partner_application",
        open_key=pw.IntegerField(null=True, unique=True),
        created_at=pw.DateTimeField(null=True),
        terms_accepted_at=pw.DateTimeField(null=True),
        distributors_chosen_at=pw.DateTimeField(null=True),
        valid_until=pw.DateField(null=True),
        agreement_blob=pw.ForeignKeyField(column_name="agreement_blob_id", field="id", model=migrator.orm["blob"],
                                          null=True, on_delete="RESTRICT"),
        certificate_blob=pw.ForeignKeyField(column_name="certificate_blob_id", field="id",
                                            model=migrator.orm["blob"], null=True, on_delete="RESTRICT"),
    )
    migrator.add_fields(
        "level_application",
        submitted_by=pw.ForeignKeyField(column_name="submitted_by_id", field="id", model=migrator.orm["user"],
                                        null=True, on_delete="SET NULL"),
        distributor=pw.ForeignKeyField(column_name="distributor_id", field="id", model=migrator.orm["distributor"],
                                       null=True, on_delete="SET NULL"),
    )
    migrator.add_fields("resource", filename=pw.CharField(max_length=255, default=""),
                        created_at=pw.DateTimeField(null=True))

    @migrator.create_model
    class LevelEvidence(pw.Model):
        id = pw.AutoField()
        application = pw.ForeignKeyField(column_name="application_id", field="id",
                                         model=migrator.orm["level_application"], on_delete="CASCADE")
        nip = pw.CharField(max_length=10, default="")
        blob = pw.ForeignKeyField(column_name="blob_id", field="id", model=migrator.orm["blob"], on_delete="RESTRICT")
        filename = pw.CharField(max_length=255)
        content_type = pw.CharField(max_length=255, default="application/octet-stream")

        class Meta:
            table_name = "level_evidence"

    @migrator.create_model
    class Solution(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name="company_id", field="id", model=migrator.orm["company"],
                                     on_delete="CASCADE")
        submitted_by = pw.ForeignKeyField(column_name="submitted_by_id", field="id", model=migrator.orm["user"],
                                          null=True, on_delete="SET NULL")
        title = pw.CharField(max_length=200)
        description = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "solution"

    migrator.run(_seed, database)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    migrator.remove_model("solution")
    migrator.remove_model("level_evidence")
    migrator.remove_fields("resource", "filename", "created_at")
    migrator.remove_fields("level_application", "submitted_by", "distributor")
    migrator.remove_fields("partner_application", "open_key", "created_at", "terms_accepted_at",
                           "distributors_chosen_at", "valid_until", "agreement_blob", "certificate_blob")
    migrator.remove_fields("user", "company_role")
    migrator.remove_fields("company", "subscription_seller")
