"""CPF and CNPJ: check digits (validate-docbr, which knows the alphanumeric CNPJ of 2026), digits, ERP formats."""

import re

from validate_docbr import CNPJ, CPF

_cpf, _cnpj = CPF(), CNPJ()
_NOT_DOCUMENT = re.compile(r"[^0-9A-Z]")


def canonical(value: str) -> str:
    """``529.982.247-25`` → ``52998224725``; an alphanumeric CNPJ keeps its letters, upper-cased."""
    return _NOT_DOCUMENT.sub("", (value or "").upper())


def is_valid(value: str) -> bool:
    """Whether ``value`` is a CPF (11 digits) or a CNPJ (14 characters) whose check digits are right."""
    document = canonical(value)
    if len(document) == 11:
        return document.isdigit() and _cpf.validate(document)
    return len(document) == 14 and _cnpj.validate(document)


def formatted(value: str) -> str:
    """The punctuated form some ERPs store: ``000.000.000-00`` or ``00.000.000/0000-00``."""
    d = canonical(value)
    if len(d) == 11:
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"
    if len(d) == 14:
        return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"
    return d
