"""CPF/CNPJ given to the bot: check digits validated, and never whole in a transcript or a log line."""

import logging

import pytest

from conversations.bot import answers
from tests.conversations.bot.conftest import JOAO_CPF, MARIA_CPF, STRANGER

VALID = [
    ("52998224725", "52998224725"),
    ("529.982.247-25", "52998224725"),
    ("529 982 247 25", "52998224725"),
    ("meu cpf é 529.982.247-25", "52998224725"),
    ("CPF: 111.444.777-35.", "11144477735"),
    ("11.222.333/0001-81", "11222333000181"),
    ("11222333000181", "11222333000181"),
    ("cnpj 11 222 333 0001 81", "11222333000181"),
    ("12.ABC.345/01DE-35", "12ABC34501DE35"),  # the alphanumeric CNPJ (from July 2026)
    ("12abc34501de35", "12ABC34501DE35"),
]
INVALID = [
    "52998224724",  # last check digit wrong
    "529.982.247-15",  # first check digit wrong
    "11111111111",  # all the same digit: passes the arithmetic, refused by the Receita's rule
    "11.222.333/0001-82",
    "5299822472",  # ten digits
    "552998224725",  # twelve
    "5544999990001",  # a phone number
    "oi",
    "",
]


@pytest.mark.parametrize(("said", "document"), VALID)
def test_a_valid_cpf_or_cnpj_however_typed(said, document):
    assert answers.document(said) == document


@pytest.mark.parametrize("said", INVALID)
def test_wrong_check_digits_and_what_is_no_document(said):
    assert answers.document(said) is None


def test_masked_masks_valid_documents_however_spaced_and_leaves_the_rest():
    assert answers.masked("cpf 529 982 247 25 ok") == "cpf 529.***.***-25 ok"
    assert answers.masked("11.222.333/0001-81") == "11.***.***/****-81"
    assert answers.masked("meu telefone 44 99999-0001") == "meu telefone 44 99999-0001"
    assert answers.masked("52998224724") == "52998224724"  # not a CPF: nothing to hide


@pytest.mark.django_db
def test_the_document_given_is_masked_in_the_transcript_and_every_log_line(customer_on, caplog):
    stranger, _ = customer_on(STRANGER)
    with caplog.at_level(logging.DEBUG):
        stranger.says("oi")
        stranger.says("529 982 247 24")  # a wrong check digit first
        stranger.says(f"meu cpf é {MARIA_CPF[:3]} {MARIA_CPF[3:6]} {MARIA_CPF[6:9]} {MARIA_CPF[9:]}")
        stranger.says("111.444.777-35")
    transcript = "\n".join(line["text"] for line in stranger.session.transcript)
    assert "meu cpf é 529.***.***-25" in transcript
    assert "111.***.***-35" in transcript
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "529.***.***-25" in logged  # the lookup was logged, masked
    for document in (MARIA_CPF, JOAO_CPF, "529.982.247-25", "111.444.777-35", "529 982 247 25"):
        assert document not in transcript
        assert document not in logged
    # Nor in the session's state between answers.
    assert MARIA_CPF not in str(stranger.session.data)
