"""Masking of secrets and CPF/CNPJ in free text (LGPD): used by logging and outgoing HTTP logs."""

import re

from validate_docbr import CNPJ, CPF

MASK = "***"
_cpf, _cnpj = CPF(), CNPJ()

# Formatted documents are unambiguous; bare digit runs are masked only when their check digits are
# valid, so an 11-digit phone number (DDD + 9 digits) is not mistaken for a CPF in most cases.
_FORMATTED_CPF = re.compile(r"(?<![\d.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\d-])")
_FORMATTED_CNPJ = re.compile(r"(?<![\d.])\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}(?![\d-])")
_BARE_DOCUMENT = re.compile(r"(?<![\d+])(\d{14}|\d{11})(?!\d)")
# The alphanumeric CNPJ (Receita Federal, from July 2026: letters among its first twelve characters),
# formatted or not, masked when its check digits are right.
_ALPHANUMERIC_CNPJ = re.compile(
    r"(?<![0-9A-Za-z.])(?=[0-9A-Za-z./]{0,15}[A-Za-z])"
    r"[0-9A-Za-z]{2}\.?[0-9A-Za-z]{3}\.?[0-9A-Za-z]{3}/?[0-9A-Za-z]{4}-?\d{2}(?![0-9A-Za-z-])"
)

_SECRET_PATTERNS = [
    # key=value and "key": "value" for names that hold secrets
    re.compile(
        r"""(?ix)
        (?P<key>["']?\b[\w-]*(?:token|secret|password|passwd|senha|apikey|api_key|api-key|
            authorization|signature|credential)[\w-]*["']?\s*[:=]\s*)
        (?P<quote>["']?)
        (?P<value>(?:bearer\s+|basic\s+)?[^\s"',;&}]+)
        """
    ),
    re.compile(r"(?i)(?P<key>\b(?:bearer|basic)\s+)(?P<quote>)(?P<value>[A-Za-z0-9._~+/=-]{8,})"),
]
# The Chatwoot webhook carries its secret as the last part of its path.
_CHATWOOT_PATH = re.compile(r"(/webhooks/chatwoot/[^/\s]+/)[^/\s?]+")
# Values recognisable on their own: our API keys and Meta's long-lived access tokens.
_BARE_SECRETS = re.compile(r"\b(?:pnt|pnts)_[A-Za-z0-9_-]{16,}|\bEAA[A-Za-z0-9]{20,}")


def _mask_document(match: re.Match) -> str:
    digits = match.group(0)
    valid = _cpf.validate(digits) if len(digits) == 11 else _cnpj.validate(digits)
    return mask_document(digits) if valid else digits


def _mask_alphanumeric_cnpj(match: re.Match) -> str:
    return mask_document(match.group(0)) if _cnpj.validate(match.group(0)) else match.group(0)


def mask_document(document: str) -> str:
    """``529.982.247-25`` → ``529.***.***-25``: enough to tell two customers apart, not to identify one."""
    digits = re.sub(r"\D", "", document)
    characters = re.sub(r"[^0-9A-Z]", "", document.upper())  # the alphanumeric CNPJ keeps its letters
    cnpj = characters if len(characters) == 14 else digits
    if len(cnpj) == 14:
        return f"{cnpj[:2]}.***.***/****-{cnpj[-2:]}"
    if len(digits) == 11:
        return f"{digits[:3]}.***.***-{digits[-2:]}"
    return MASK


def mask_text(text: str) -> str:
    """Return ``text`` with secrets and CPF/CNPJ numbers masked."""
    if not text:
        return text
    text = _FORMATTED_CPF.sub(lambda m: mask_document(m.group(0)), text)
    text = _FORMATTED_CNPJ.sub(lambda m: mask_document(m.group(0)), text)
    text = _BARE_DOCUMENT.sub(_mask_document, text)
    text = _ALPHANUMERIC_CNPJ.sub(_mask_alphanumeric_cnpj, text)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group('key')}{m.group('quote')}{MASK}", text)
    text = _CHATWOOT_PATH.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _BARE_SECRETS.sub(MASK, text)
