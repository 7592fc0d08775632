"""The ``/template`` command an agent types in Chatwoot's message box: outside the 24 h window on the Cloud API
only an approved template reaches the customer.

``/template`` alone answers, as a private note, the company's approved templates and how many values each
takes; ``/template <name> <values…>`` sends that template (values separated by spaces, or by ``|`` when a
value has spaces: ``/template aviso_fatura Maria Souza | 10/12``).
"""

import re
from typing import Any

from conversations.bot import texts
from conversations.chatwoot import bridge
from conversations.models import Message, Session
from conversations.whatsapp import content as contents
from templates_meta.models import Template

TEMPLATE_COMMAND = "/template"
_PLACEHOLDER = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")


def _body_variables(template: Template) -> int:
    body = next((c for c in template.components if str(c.get("type", "")).upper() == "BODY"), {})
    return len(set(_PLACEHOLDER.findall(str(body.get("text", "")))))


def template_list(session: Session) -> str:
    approved = Template.objects.filter(company=session.company, status=Template.Status.APPROVED).order_by("name")
    lines = [f"{t.name} ({t.language}, {_body_variables(t)} valores)" for t in approved]
    if not lines:
        return texts.text(session.company, "agent_no_templates")
    return texts.text(session.company, "agent_template_list", templates="\n".join(lines))


def parse(text: str) -> tuple[str, list[str]]:
    """``/template name a b`` → ``("name", ["a", "b"])``; with ``|`` the values are split on it instead."""
    rest = text[len(TEMPLATE_COMMAND) :].strip()
    name, _, values = rest.partition(" ")
    values = values.strip()
    if "|" in values:
        return name, [v.strip() for v in values.split("|")]
    return name, values.split() if values else []


def template_command(session: Session, text: str, *, message_id: Any) -> str:
    """Answer ``/template`` with the list, or send the named template through the door."""
    name, values = parse(text)
    key = f"chatwoot:{message_id}:template"
    if not name:
        bridge.note(session, template_list(session), key=f"templates:{message_id}")
        return "listed"
    template = (
        Template.objects.filter(company=session.company, name=name, status=Template.Status.APPROVED)
        .order_by("-language")
        .first()
    )
    if template is None:
        bridge.note(session, texts.text(session.company, "agent_unknown_template", name=name), key=f"refused:{key}")
        return "unknown template"
    content = contents.template_request(template.name, template.language, values)
    if not bridge.send_or_note(
        session, content, key=key, reference=f"chatwoot:{message_id}", author=Message.Author.AGENT
    ):
        return "refused"
    return "template sent"
