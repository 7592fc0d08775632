"""The conversation's admin pages: sessions with their thread, customer links (masked), tags, the bot's texts."""

import datetime as dt

import pytest
from django.urls import reverse

from conversations import admin as conversation_admin
from conversations.bot import texts
from conversations.models import BotText, Message, Session, Tag
from conversations.services import sessions
from tests.conversations.api.conftest import make_contact, make_message
from tests.factories import CompanyFactory


@pytest.fixture
def conversation(db):
    company = CompanyFactory(name="Provedor Azul")
    contact = make_contact(company, name="Maria Souza")
    session, _ = sessions.open_session(contact)
    sessions.link_customer(session, customer_code="1001", name="Maria Souza", document="52998224725", confirmed=True)
    sessions.tag(session, ["vip"])
    day = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    make_message(contact, session=session, text="oi, meu cpf é 52998224725", at=day)
    make_message(
        contact,
        session=session,
        direction="out",
        author="bot",
        text="Você está falando da conta de Maria Souza?",
        status="read",
        at=day + dt.timedelta(seconds=5),
    )
    make_message(
        contact,
        session=session,
        direction="out",
        author="agent",
        text="<b>Olá</b>",
        status="failed",
        error_code="131047",
        error_reason="Re-engagement message",
        at=day + dt.timedelta(minutes=3),
    )
    make_message(contact, text="not in this session")
    return session


@pytest.mark.parametrize("name", ["session", "customerlink", "tag", "bottext"])
def test_changelists_render(admin_client, conversation, name):
    BotText.objects.create(company=conversation.company, key="greeting", text="Olá! Sou o assistente.")
    response = admin_client.get(reverse(f"admin:conversations_{name}_changelist"))
    assert response.status_code == 200
    assert "52998224725" not in response.content.decode()


def test_a_sessions_thread_reads_oldest_first_with_author_time_text_and_status(admin_client, conversation):
    page = admin_client.get(reverse("admin:conversations_session_change", args=[conversation.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    first = html.index("oi, meu cpf é 529.***.***-25")
    second = html.index("Você está falando da conta de Maria Souza?")
    third = html.index("&lt;b&gt;Olá&lt;/b&gt;")  # escaped, never rendered as markup
    assert first < second < third
    assert "not in this session" not in html
    assert "09:03:00" in html  # 12:03 UTC in São Paulo, the company's time zone
    assert 'title="131047 Re-engagement message"' in html
    for words in ["Customer", "Bot", "Agent", "Read", "Failed"]:
        assert words in html
    assert "529.***.***-25, confirmed" in html
    assert "52998224725" not in html
    assert conversation.protocol in html
    assert "vip" in html


def test_a_long_thread_shows_its_newest_messages_and_links_to_all(admin_client, conversation, monkeypatch):
    monkeypatch.setattr(conversation_admin, "THREAD_LIMIT", 2)
    html = admin_client.get(reverse("admin:conversations_session_change", args=[conversation.pk])).content.decode()
    assert "oi, meu cpf" not in html
    assert "Você está falando" in html
    link = reverse("admin:conversations_message_changelist") + f"?session__id__exact={conversation.pk}"
    assert link in html
    listed = admin_client.get(link)
    assert listed.status_code == 200
    assert set(listed.context["cl"].queryset) == set(Message.objects.filter(session=conversation))


def test_sessions_are_read_only_and_filter_by_state_handoff_and_closed(admin_client, conversation):
    other = make_contact(conversation.company, "5544988881111", name="João")
    closed, _ = sessions.open_session(other)
    sessions.hand_off(closed)
    sessions.close(closed, reason=Session.CloseReason.RESOLVED)
    url = reverse("admin:conversations_session_changelist")
    for query, expected in [
        ({"closed": "open"}, {conversation.pk}),
        ({"closed": "closed"}, {closed.pk}),
        ({"handoff": "agent"}, {closed.pk}),
        ({"state": "start"}, {conversation.pk, closed.pk}),
        ({"close_reason": "resolved"}, {closed.pk}),
        ({"q": conversation.protocol}, {conversation.pk}),
        ({"q": "88881111"}, {closed.pk}),
        ({"q": "joão"}, {closed.pk}),
    ]:
        response = admin_client.get(url, query)
        assert {s.pk for s in response.context["cl"].queryset} == expected, query
    assert "Resolved in Chatwoot" in admin_client.get(url).content.decode()
    assert admin_client.get(reverse("admin:conversations_session_add")).status_code == 403
    change = reverse("admin:conversations_session_change", args=[conversation.pk])
    admin_client.post(change, {"state": "menu"})
    conversation.refresh_from_db()
    assert conversation.state == "start"


def test_tags_and_bot_texts_are_edited_in_the_admin(admin_client, conversation):
    company = conversation.company
    response = admin_client.post(reverse("admin:conversations_tag_add"), {"company": company.pk, "name": "financeiro"})
    assert response.status_code == 302
    assert Tag.objects.filter(company=company, name="financeiro").exists()
    duplicate = admin_client.post(reverse("admin:conversations_tag_add"), {"company": company.pk, "name": "vip"})
    assert duplicate.status_code == 200  # the form again, with the error
    assert Tag.objects.filter(company=company, name="vip").count() == 1
    text = BotText.objects.create(company=company, key="greeting", text="Olá!")
    admin_client.post(
        reverse("admin:conversations_bottext_change", args=[text.pk]),
        {"company": company.pk, "key": "greeting", "text": "Oi! Sou a assistente do Provedor Azul."},
    )
    text.refresh_from_db()
    assert text.text == "Oi! Sou a assistente do Provedor Azul."
    assert texts.text(company, "greeting") == "Oi! Sou a assistente do Provedor Azul."


def test_a_bot_text_page_shows_the_default_and_the_values_it_takes(admin_client, conversation):
    company = conversation.company
    text = BotText.objects.create(company=company, key="handoff", text="Já te passo para alguém.")
    html = admin_client.get(reverse("admin:conversations_bottext_change", args=[text.pk])).content.decode()
    assert texts.DEFAULTS["handoff"] in html
    assert "values: {company}, {protocol}" in html
    assert texts.DEFAULTS["greeting"] not in html
    listed = admin_client.get(reverse("admin:conversations_bottext_changelist")).content.decode()
    assert "Certo! Estou transferindo para um atendente." in listed
    add = admin_client.get(reverse("admin:conversations_bottext_add")).content.decode()
    assert all(key in add for key in texts.DEFAULTS)  # every key to choose from, with its default


def test_a_bot_text_for_a_key_the_bot_does_not_say_is_refused(admin_client, conversation):
    response = admin_client.post(
        reverse("admin:conversations_bottext_add"),
        {"company": conversation.company.pk, "key": "saudacao", "text": "Oi"},
    )
    assert response.status_code == 200
    assert "saudacao" in str(response.context["adminform"].form.errors["key"])
    assert not BotText.objects.exists()
