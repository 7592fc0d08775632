"""The pt_BR draft templates every company starts with, and creating them.

No model is imported here: the data migration that gives existing companies their drafts calls
``create_drafts`` with its historical models, ``services.create_default_drafts`` with the real ones.
"""

from typing import Any

DEFAULT_FOOTER = "Mensagem automática"
CONTRACT_EVENT_WORDS = {
    "activate": "ativado",
    "block": "bloqueado",
    "unblock": "desbloqueado",
    "suspend": "suspenso",
    "reactivate": "reativado",
    "cancel": "cancelado",
    "bandwidth_limit": "reduzido em sua banda de navegação",
}
SUPPORT_SUFFIX = " Para regularização, entre em contato com a gente pelo telefone {{2}}."
NEEDS_SUPPORT = ("block", "cancel", "bandwidth_limit")


def _body(text: str, examples: list[str]) -> dict[str, Any]:
    return {"type": "BODY", "text": text, "example": {"body_text": [examples]}}


def default_drafts() -> list[dict[str, Any]]:
    """pt_BR starting points for every purpose: names, categories, components with examples."""
    drafts = [
        {
            "purpose": "billing_notice",
            "name": "fatura_disponivel",
            "components": [
                _body(
                    "Olá {{1}}, sua fatura de {{2}} com vencimento em {{3}} está disponível. "
                    "Use o código PIX ou a linha digitável abaixo para pagar.",
                    ["Maria", "R$ 99,90", "10/12/2026"],
                ),
                {"type": "FOOTER", "text": DEFAULT_FOOTER},
            ],
            "parameters": ["{customer_name}", "{amount}", "{due_date}"],
        },
        {
            "purpose": "reopen_conversation",
            "name": "retomar_atendimento",
            "components": [
                _body(
                    "Olá {{1}}, aqui é do atendimento. Podemos continuar a conversa sobre a sua solicitação?",
                    ["Maria"],
                ),
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "QUICK_REPLY", "text": "Sim"}, {"type": "QUICK_REPLY", "text": "Não"}],
                },
            ],
            "parameters": ["{customer_name}"],
        },
        {
            "purpose": "inactivity_close",
            "name": "atendimento_encerrado",
            "components": [
                _body(
                    "Olá {{1}}, encerramos este atendimento por falta de resposta. "
                    "Se precisar, é só mandar uma nova mensagem.",
                    ["Maria"],
                )
            ],
            "parameters": ["{customer_name}"],
        },
        {
            "purpose": "agent_started",
            "name": "contato_atendente",
            "components": [
                _body("Olá {{1}}, um atendente quer falar com você sobre o seu cadastro. Podemos conversar?", ["Maria"])
            ],
            "parameters": ["{customer_name}"],
        },
    ]
    for event, word in CONTRACT_EVENT_WORDS.items():
        suffix = SUPPORT_SUFFIX if event in NEEDS_SUPPORT else ""
        examples = ["Maria", "(44) 98888-8888"] if suffix else ["Maria"]
        drafts.append(
            {
                "purpose": f"contract_{event}",
                "name": f"contrato_{event}",
                "components": [_body(f"Olá {{{{1}}}}, seu contrato foi {word} em nossa base.{suffix}", examples)],
                "parameters": ["{customer_name}", "{support_phone}"] if suffix else ["{customer_name}"],
            }
        )
    return drafts


def create_drafts(*, company: Any, wabas: list[str], template_model: Any, purpose_model: Any) -> list[Any]:
    """Draft templates for each purpose, on each WABA (or none yet: ``""``); existing ones are kept.

    Returns the templates created. Each purpose without a template gets the first one.
    """
    created = []
    for draft in default_drafts():
        purpose, _ = purpose_model.objects.get_or_create(
            company=company, purpose=draft["purpose"], defaults={"parameters": draft["parameters"]}
        )
        for waba_id in wabas or [""]:
            template, was_created = template_model.objects.get_or_create(
                company=company,
                waba_id=waba_id,
                name=draft["name"],
                language="pt_BR",
                defaults={"category": "UTILITY", "components": draft["components"]},
            )
            if was_created:
                created.append(template)
            if purpose.template_id is None:
                purpose.template = template
                purpose.save(update_fields=["template"])
    return created
