"""A campaign's CSV as spreadsheets save it: BOM, `;`, quoted fields with line breaks, Windows-1252, bad
phones, duplicates, an empty file, a file without a phone column, an import resumed after its worker died."""

import pytest

from companies import joblocks
from notifications.campaigns import csv_files, imports
from notifications.campaigns.exceptions import CsvNotUsable
from notifications.models import CampaignRecipient, CampaignUpload
from notifications.tasks.campaigns import import_campaign_upload, resume_imports
from tests.notifications.campaign_helpers import campaign_for, imported

pytestmark = pytest.mark.django_db


def _recipients(campaign):
    return list(campaign.recipients.order_by("line").values_list("line", "phone", "values"))


def test_a_plain_csv_becomes_one_recipient_per_row_with_its_values(company, template):
    campaign = campaign_for(company, template)
    upload = imported(campaign, "phone,nome,data\n5544999990001,Maria,28/11\n5544999990002,João,29/11\n")
    assert (upload.status, upload.rows, upload.valid, upload.invalid, upload.duplicates) == ("imported", 2, 2, 0, 0)
    assert (upload.encoding, upload.delimiter, upload.phone_column) == ("utf-8-sig", ",", "phone")
    assert _recipients(campaign) == [
        (2, "5544999990001", {"1": "Maria", "2": "28/11"}),
        (3, "5544999990002", {"1": "João", "2": "29/11"}),
    ]
    assert set(campaign.recipients.values_list("status", flat=True)) == {"pending"}


def test_excel_in_portuguese_bom_semicolons_and_a_quoted_line_break(company, template):
    campaign = campaign_for(company, template)
    text = (
        '\ufeffTelefone;Nome;Data\r\n(44) 99999-0001;"Silva; Maria\r\nda";28/11\r\n44 99999-0002;"O ""João""";29/11\r\n'
    )
    upload = imported(campaign, text)
    assert (upload.delimiter, upload.phone_column, upload.valid) == (";", "Telefone", 2)
    assert _recipients(campaign) == [
        (2, "5544999990001", {"1": "Silva; Maria\r\nda", "2": "28/11"}),
        (4, "5544999990002", {"1": 'O "João"', "2": "29/11"}),  # line 4: the quoted break took line 3
    ]


def test_a_windows_1252_file_is_read_with_its_accents(company, template):
    campaign = campaign_for(company, template)
    upload = imported(campaign, "celular;nome;data\n5544999990001;Conceição;28/11\n", encoding="cp1252")
    assert upload.encoding == "cp1252"
    assert _recipients(campaign)[0][2] == {"1": "Conceição", "2": "28/11"}


@pytest.mark.parametrize(
    "column", ["phone", "phone_number", "Phone Number", "TELEFONE", "celular", "whatsapp", "phoneNumber"]
)
def test_every_phone_column_name_is_recognised(company, template, column):
    campaign = campaign_for(company, template)
    upload = imported(campaign, f"nome,{column},data\nMaria,5544999990001,28/11\n")
    assert upload.valid == 1


def test_bad_rows_are_reported_with_their_line_and_why_and_duplicates_counted(company, template):
    campaign = campaign_for(company, template)
    text = (
        "whatsapp,nome,data\n"
        "5544999990001,Maria,28/11\n"  # 2
        "abc,José,28/11\n"  # 3: not a number
        ",Ana,28/11\n"  # 4: no number
        "5544999990002,,28/11\n"  # 5: blank field
        "(44) 99999-0001,Maria de novo,28/11\n"  # 6: the number of line 2, written another way
        "\n"  # a blank line: passed over
        "5544999990003 / 5544999990004,Dois,28/11\n"  # 8: two numbers in one cell
        "5544999990005\n"  # 9: the row is short
        "5544999990006,Último,30/11\n"  # 10
    )
    upload = imported(campaign, text)
    assert (upload.rows, upload.valid, upload.invalid, upload.duplicates) == (8, 2, 5, 1)
    errors = list(upload.row_errors.values_list("line", "reason"))
    assert [line for line, _ in errors] == [3, 4, 5, 8, 9]
    reasons = dict(errors)
    assert reasons[3].startswith("Not a phone number")
    assert reasons[4] == "No phone number."
    assert reasons[5] == "No value for 1."
    assert reasons[8] == "Several phone numbers in one cell: give one per row."
    assert reasons[9] == "No value for 1, 2."
    assert [phone for _, phone, _ in _recipients(campaign)] == ["5544999990001", "5544999990006"]


def test_a_second_file_adds_only_numbers_not_already_in_the_campaign(company, template):
    campaign = campaign_for(company, template)
    imported(campaign, "phone,nome,data\n5544999990001,Maria,28/11\n")
    second = imported(campaign, "phone,nome,data\n5544999990001,Maria,28/11\n5544999990002,João,28/11\n")
    assert (second.valid, second.duplicates) == (1, 1)
    assert campaign.recipients.count() == 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "The file is empty"),
        ("\n\n  \n", "The file is empty"),
        ("nome,data\nMaria,28/11\n", "no phone column"),
        ("phone,nome\n5544999990001,Maria\n", "no column for the template's field(s) 2 (column 'data')"),
    ],
)
def test_a_file_that_cannot_be_the_list_is_refused_at_once(company, template, text, words):
    campaign = campaign_for(company, template)
    with pytest.raises(CsvNotUsable) as refused:
        imported(campaign, text)
    assert words in refused.value.message
    assert not CampaignUpload.objects.exists()


def test_a_field_without_a_column_may_take_one_fixed_value(company, template):
    campaign = campaign_for(company, template, columns={"1": "nome"}, fixed={"2": "sábado"})
    upload = imported(campaign, "phone,nome\n5544999990001,Maria\n")
    assert upload.valid == 1
    assert _recipients(campaign)[0][2] == {"1": "Maria"}


def test_an_unclosed_quote_fails_the_file_with_the_line(company, template):
    csv_files.csv.field_size_limit(20)  # the rest of a file swallowed by the quote is longer than any field
    campaign = campaign_for(company, template)
    try:
        upload = imported(campaign, 'phone,nome,data\n5544999990001,"Maria sem fim,28/11\n5544999990002,Ana,28/11\n')
    finally:
        csv_files.csv.field_size_limit(1024 * 1024)
    assert upload.status == "failed"
    assert "not valid CSV" in upload.error


def test_an_import_whose_worker_died_resumes_after_its_last_batch(company, template, monkeypatch):
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    campaign = campaign_for(company, template)
    rows = "".join(f"55449999900{n:02d},Nome {n},28/11\n" for n in range(1, 8))
    calls = {"n": 0}
    store = imports._store

    def dies_on_the_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return store(*args, **kwargs)

    monkeypatch.setattr(imports, "_store", dies_on_the_third_batch)
    with pytest.raises(SystemExit):
        imported(campaign, "phone,nome,data\n" + rows)
    upload = CampaignUpload.objects.get()
    assert (upload.status, upload.rows, campaign.recipients.count()) == ("importing", 4, 4)
    monkeypatch.setattr(imports, "_store", store)
    resume_imports()
    upload.refresh_from_db()
    assert (upload.status, upload.rows, upload.valid, upload.duplicates) == ("imported", 7, 7, 0)
    assert sorted(campaign.recipients.values_list("line", flat=True)) == list(range(2, 9))


def test_a_second_import_of_one_campaign_waits_for_the_first(company, template):
    campaign = campaign_for(company, template)
    assert joblocks.acquire(f"campaign-import:{campaign.pk}", holder="other", lease=imports.IMPORT_LEASE)
    upload = imported(campaign, "phone,nome,data\n5544999990001,Maria,28/11\n")
    assert (upload.status, upload.rows) == ("importing", 0)
    joblocks.release(f"campaign-import:{campaign.pk}", holder="other")
    assert import_campaign_upload(upload.pk) == "imported"
    assert CampaignRecipient.objects.count() == 1


def test_reading_streams_rows_without_the_whole_file(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,nome\n")
        for n in range(50_000):
            out.write(f"55449{n:08d},Nome {n}\n")
    with path.open("rb") as file:
        header = csv_files.read_header(file)
        rows = csv_files.rows(file, header)
        first = next(rows)
        assert (first.line, first.cells) == (2, ["5544900000000", "Nome 0"])
        assert file.tell() < 200_000  # one buffered chunk read, not the whole 1 MB file
        assert sum(1 for _ in rows) == 49_999
