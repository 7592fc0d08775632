"""What the bot says: every customer-facing text in Brazilian Portuguese, each one editable per company.

A company's ``BotText`` with the same key replaces the default. Texts name their values in braces
(``{name}``); a text an operator wrote with a placeholder the bot does not give keeps it as written
instead of failing, so the mistake shows and the customer still gets an answer.
"""

import logging
import string
from typing import Any

from companies.models import Company
from conversations.models import BotText

logger = logging.getLogger(__name__)

DEFAULTS: dict[str, str] = {
    # recognising the customer
    "greeting": "Olá! 👋 Sou o assistente virtual da {company}.",
    "confirm_account": "Você está falando da conta de {name}?",
    "yes": "Sim",
    "no": "Não",
    "invalid_yes_no": "Não entendi sua resposta. Por favor, responda Sim ou Não.",
    "ask_document": "Para localizar seu cadastro, informe o CPF ou CNPJ do titular (apenas os números).",
    "invalid_document": "Não consegui identificar um CPF ou CNPJ válido. Confira os números e envie novamente.",
    "document_not_found": "Não encontrei nenhum cadastro com esse CPF/CNPJ. Confira os números e envie novamente.",
    "document_found": "Encontrei o cadastro de {name}.",
    # the menu
    "menu": "Como posso ajudar?",
    "menu_again": "Posso ajudar em algo mais?",
    "menu_button": "Ver opções",
    "menu_bill": "Segunda via / PIX",
    "menu_unlock": "Desbloqueio de confiança",
    "menu_person": "Falar com atendente",
    "menu_end": "Encerrar atendimento",
    "invalid_option": "Não entendi a opção escolhida. Responda com o número de uma das opções.",
    # second copy of the bill
    "bill_intro": "Certo! Vou enviar a segunda via das suas faturas em aberto.",
    "no_open_invoice": "Você não tem nenhuma fatura em aberto. 🎉",
    # trust unlock
    "choose_contract": "Qual contrato você quer desbloquear?",
    "choose_contract_button": "Ver contratos",
    "contract_option": "Contrato {contract}",
    "trust_unlock_ok": "Pronto! O contrato {contract} foi desbloqueado em confiança até {until}. "
    "A conexão pode levar alguns minutos para voltar.",
    "trust_unlock_ok_no_date": "Pronto! O contrato {contract} foi desbloqueado em confiança. "
    "A conexão pode levar alguns minutos para voltar.",
    "trust_unlock_denied": "Não foi possível fazer o desbloqueio de confiança do contrato {contract}: {reason}",
    "trust_unlock_denied_no_reason": "o sistema não informou o motivo.",
    "trust_unlock_not_allowed": "O desbloqueio de confiança não está disponível para o contrato {contract}. "
    "Ele só pode ser feito quando o provedor permite para o contrato e uma vez a cada período; "
    "para regularizar, pague a fatura em aberto ou fale com um atendente.",
    "trust_unlock_not_blocked": "Seu contrato não está bloqueado, não há nada para desbloquear.",
    "no_contract": "Não encontrei nenhum contrato no seu cadastro.",
    # the ERP is away
    "erp_unavailable": "Nosso sistema está indisponível no momento e não consigo consultar seu cadastro. "
    "Quer falar com um atendente?",
    # a person
    "handoff": "Certo! Estou transferindo para um atendente. Seu protocolo é {protocol}.",
    "outside_hours": "Nosso horário de atendimento já encerrou: nossos atendentes voltam {when}. "
    "Sua mensagem fica registrada e será respondida assim que possível.",
    "outside_hours_no_opening": "Nossos atendentes não estão disponíveis agora. "
    "Sua mensagem fica registrada e será respondida assim que possível.",
    "when_today": "hoje às {time}",
    "when_tomorrow": "amanhã às {time}",
    "when_later": "{weekday}, {date}, às {time}",
    "too_many_invalid": "Não consegui entender. Vou chamar um atendente para ajudar você.",
    # what the bot cannot read
    "media_not_understood": "Desculpe, por aqui ainda não consigo entender áudios, imagens ou arquivos. "
    "Por favor, responda por texto.",
    "location_not_understood": "Recebi sua localização, mas por aqui preciso que você responda por texto.",
    "quarantined_attachment": "Não conseguimos aceitar o arquivo que você enviou por motivos de segurança. "
    "Se precisar mandar um documento, envie em PDF ou imagem.",
    # the end
    "goodbye": "Obrigado pelo contato! Quando precisar, é só mandar uma mensagem. 👋",
    # The Chatwoot bridge and the inactivity job
    "handoff_delayed": (
        "Estamos com uma instabilidade para falar com nossos atendentes. Sua mensagem está guardada e uma pessoa "
        "vai te responder em breve. Protocolo: {protocol}"
    ),
    "closed_by_agent": "Atendimento finalizado. Obrigado pelo contato! Protocolo: {protocol}",
    "assigned_agent": "Agora você está sendo atendido por {agent}.",
    "assigned_team": "Sua conversa foi transferida para a equipe {team}.",
    "inactivity_closed": (
        "Como não recebemos resposta, encerramos este atendimento. Se precisar, é só mandar uma nova mensagem. "
        "Protocolo: {protocol}"
    ),
    "inactivity_note": "Conversa finalizada por inatividade (protocolo {protocol}).",
    "agent_window_closed": (
        "Mensagem NÃO enviada: a última mensagem do cliente tem mais de 24 horas e a API oficial do WhatsApp só "
        "aceita um modelo (template) aprovado. Digite /template para ver os modelos e "
        "/template <nome> <valores...> para enviar um."
    ),
    "agent_not_sent": "Mensagem NÃO enviada ao cliente: {reason}",
    "agent_message_failed": 'O WhatsApp não entregou a mensagem "{text}": {reason}',
    "agent_no_templates": "Nenhum modelo (template) aprovado pela Meta para esta empresa.",
    "agent_template_list": (
        "Modelos aprovados (envie com /template <nome> <valores...>; use | entre valores com espaços):\n{templates}"
    ),
    "agent_unknown_template": 'Modelo "{name}" não encontrado entre os aprovados. Digite /template para ver a lista.',
    "agent_no_reopen_template": (
        "O cliente está fora da janela de 24 horas e a empresa não tem modelo para reabrir conversas: "
        "use /template <nome> <valores...> antes de escrever."
    ),
}

WEEKDAY_NAMES = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo")


class _Kept(dict):
    """Format values where a placeholder the bot does not give stays as it was written."""

    def __missing__(self, key: str) -> str:
        return f"{{{key}}}"


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``values`` put in; one that cannot be formatted (a stray brace) comes back as written."""
    try:
        return string.Formatter().vformat(template, (), _Kept(values))
    except (ValueError, IndexError, KeyError, AttributeError, TypeError):
        logger.warning("A bot text cannot be formatted, sent as written: %r", template[:80])
        return template


def overrides(company: Company) -> dict[str, str]:
    """The company's own wording, by key."""
    return dict(BotText.objects.filter(company=company).values_list("key", "text"))


def text(company: Company, key: str, **values: Any) -> str:
    """The text ``key`` (one of ``DEFAULTS``) as the company words it, with ``values`` put in."""
    return Wording(company).text(key, **values)


class Wording:
    """A company's texts, read once (one query for a whole answer of the bot)."""

    def __init__(self, company: Company) -> None:
        self.company = company
        self._own: dict[str, str] | None = None

    def text(self, key: str, **values: Any) -> str:
        default = DEFAULTS[key]  # a key the bot does not know is a bug, not a text to invent
        if self._own is None:
            self._own = overrides(self.company)
        own = self._own.get(key, "")
        return render(own if own.strip() else default, {"company": self.company.name, **values})
