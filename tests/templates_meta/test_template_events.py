"""Every template event Meta sends updates the template and its history, or says what it means."""

import datetime as dt

import pytest

from conversations.models import AccountNotice
from templates_meta.models import Template
from tests.conftest import load_fixture, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory
from tests.templates_meta.test_services import WABA, _template

ORDER_ID = "1689556908129832"  # order_confirmation (en-US), in the status fixtures
STATUS_UPDATE = "meta/message_template_status_update_approved.json"


def _post(client, company, name, capture, **value_overrides) -> AccountNotice:
    payload = load_fixture(name)
    payload["entry"][0]["id"] = WABA
    payload["entry"][0]["changes"][0]["value"].update(value_overrides)
    with capture(execute=True):
        assert post_meta(client, company, payload).status_code == 200
    return AccountNotice.objects.filter(company=company).latest("pk")


@pytest.fixture
def company(db):
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id=WABA)
    return company


@pytest.fixture
def order(company):
    return _template(company, name="order_confirmation", language="en-US", meta_template_id=ORDER_ID)


def test_flagged_warns_with_the_date_it_will_be_disabled_and_stays_sendable(
    client, company, order, django_capture_on_commit_callbacks
):
    notice = _post(
        client, company, "meta_extra/message_template_status_update_flagged.json", django_capture_on_commit_callbacks
    )
    order.refresh_from_db()
    assert order.status == "APPROVED" and order.is_sendable
    assert order.warning_until == dt.datetime(2025, 7, 3, tzinfo=dt.UTC)
    assert "flagged" in order.warning and "2025-07-03" in order.warning
    change = order.status_changes.get()
    assert (change.status, change.event, change.source) == ("APPROVED", "FLAGGED", "webhook")
    assert notice.handled
    assert notice.summary == (
        "Template order_confirmation (en-US) flagged for negative feedback: it will be disabled unless its "
        "quality improves on 2025-07-03"
    )


def test_paused_says_which_pause_and_until_when_and_reinstated_clears_it(
    client, company, order, django_capture_on_commit_callbacks
):
    _post(client, company, "meta_extra/message_template_status_update_flagged.json", django_capture_on_commit_callbacks)
    notice = _post(
        client, company, "meta_extra/message_template_status_update_paused.json", django_capture_on_commit_callbacks
    )
    order.refresh_from_db()
    assert order.status == "PAUSED" and not order.is_sendable
    assert order.rejection_reason.startswith("FIRST_PAUSE: Your WhatsApp message template has been paused for 3 hours")
    assert (order.warning, order.warning_until) == ("", None)
    assert "paused by Meta for low quality" in notice.summary

    _post(
        client, company, "meta_extra/message_template_status_update_reinstated.json", django_capture_on_commit_callbacks
    )
    order.refresh_from_db()
    assert order.status == "APPROVED"
    assert list(order.status_changes.values_list("event", "status")) == [
        ("REINSTATED", "APPROVED"),
        ("PAUSED", "PAUSED"),
        ("FLAGGED", "APPROVED"),
    ]


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("DISABLED", "DISABLED"),
        ("PENDING_DELETION", "PENDING_DELETION"),
        ("ARCHIVED", "ARCHIVED"),
        ("IN_APPEAL", "IN_APPEAL"),
        ("LIMIT_EXCEEDED", "LIMIT_EXCEEDED"),
        ("DELETED", "DELETED"),
        ("PENDING", "PENDING"),
    ],
)
def test_every_status_event_moves_the_template(
    client, company, order, event, status, django_capture_on_commit_callbacks
):
    notice = _post(client, company, STATUS_UPDATE, django_capture_on_commit_callbacks, event=event)
    order.refresh_from_db()
    assert order.status == status
    assert order.status_changes.get().event == event
    assert notice.handled and notice.summary.startswith("Template order_confirmation (en-US) ")


def test_unarchived_returns_to_the_status_before_the_archive(
    client, company, order, django_capture_on_commit_callbacks
):
    for event in ("PAUSED", "ARCHIVED", "UNARCHIVED"):
        _post(client, company, STATUS_UPDATE, django_capture_on_commit_callbacks, event=event)
    order.refresh_from_db()
    assert order.status == "PAUSED"


@pytest.mark.parametrize("event", ["LOCKED", "UNLOCKED", "SOMETHING_NEW"])
def test_events_that_change_no_status_are_kept_in_the_history(
    client, company, order, event, django_capture_on_commit_callbacks
):
    notice = _post(client, company, STATUS_UPDATE, django_capture_on_commit_callbacks, event=event)
    order.refresh_from_db()
    assert order.status == "APPROVED"
    assert order.status_changes.get().event == event
    assert notice.handled


def test_an_event_for_a_template_we_do_not_have_says_so_and_stays_unhandled(
    client, company, django_capture_on_commit_callbacks
):
    notice = _post(
        client, company, "meta_extra/message_template_status_update_flagged.json", django_capture_on_commit_callbacks
    )
    assert not notice.handled
    assert notice.summary.endswith("it is not in this company's catalogue.")
    assert "flagged" in notice.summary


def test_quality_updates_keep_the_score_and_the_history(client, company, django_capture_on_commit_callbacks):
    template = _template(company, name="welcome_template", language="en-US", meta_template_id="806312974732579")
    notice = _post(client, company, "meta/message_template_quality_update.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.quality_score == "YELLOW"
    assert template.status_changes.get().reason == "quality GREEN → YELLOW"
    assert notice.handled and notice.summary == "Template welcome_template (en-US) quality GREEN → YELLOW"


def test_a_category_change_is_announced_then_made(client, company, django_capture_on_commit_callbacks):
    template = _template(
        company, name="welcome_template", language="en-US", category="UTILITY", meta_template_id="278077987957091"
    )
    notice = _post(client, company, "meta/template_category_update.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.category == "UTILITY"  # not yet: Meta says when
    assert template.warning_until == dt.datetime(2025, 5, 2, 7, 0, tzinfo=dt.UTC)
    assert "will become MARKETING on 2025-05-02 07:00 UTC" in template.warning
    assert notice.handled and "will become MARKETING" in notice.summary

    notice = _post(client, company, "meta/template_category_update_2.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.category == "MARKETING"
    assert (template.warning, template.warning_until) == ("", None)
    assert list(template.status_changes.values_list("event", flat=True)) == ["CATEGORY", "CATEGORY_CHANGE_ANNOUNCED"]
    assert notice.summary == "Template welcome_template (en-US) category UTILITY → MARKETING"


def test_a_components_update_rewrites_the_components_and_says_so(client, company, django_capture_on_commit_callbacks):
    template = _template(company, name="order_confirmation", language="en_US", meta_template_id="1315502779341834")
    notice = _post(client, company, "meta/message_template_components_update.json", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    value = load_fixture("meta/message_template_components_update.json")["entry"][0]["changes"][0]["value"]
    assert template.component("HEADER")["text"] == value["message_template_title"]
    assert template.component("BODY")["text"] == value["message_template_element"]
    assert template.component("FOOTER") == {"type": "FOOTER", "text": value["message_template_footer"]}
    assert template.component("BUTTONS")["buttons"] == [
        {"type": "PHONE_NUMBER", "text": "Phone support", "phone_number": "+15550783881"},
        {"type": "URL", "text": "Email support", "url": "https://www.luckyshrub.com/support"},
    ]
    change = template.status_changes.get()
    assert change.event == "COMPONENTS" and "updated the components" in change.reason
    assert notice.handled
    assert Template.objects.get(pk=template.pk).status == "APPROVED"
