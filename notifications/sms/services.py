"""What changes an SMS: queuing a request, sending each number once, retrying, sweeping what was left.

Each number is its own row and its own task. The task claims the row (queued and due → sending, in
one conditional update) before calling the gateway, so a task delivered twice, or a sweeper's extra
publish, sends nothing more. A row the gateway may have taken is never sent again by itself:

- a worker that dies (or a database that fails) between the gateway's answer and the write of it
  leaves the row ``sending``; the sweeper fails it as ``outcome_unknown`` after :data:`STUCK_AFTER`;
- a gateway that was reached but gave no answer (read timeout, dropped connection) fails it the same way.

Only what surely never reached the gateway (no connection) or what it answered it could not take
now (5xx, 408, 429) is queued again, with backoff, up to :data:`MAX_ATTEMPTS` calls. A second SMS
is a smaller harm than a lost one only when somebody decides so: the admin's "send again" action.
"""

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from companies.models import Company
from config import queues
from conversations.exceptions import CompanyInactive
from notifications.models import SmsMessage, SmsRecipient
from notifications.sms import gateway, numbers, segments
from notifications.sms.exceptions import GatewayNotConfigured, InvalidInput, invalid_numbers

logger = logging.getLogger(__name__)

DELIVER_TASK = "notifications.tasks.sms.deliver_sms"
# Seconds to wait after each failed attempt that may be retried: 5 calls over about 45 minutes.
RETRY_DELAYS = (30, 120, 600, 1800)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Longer than any send can last (the gateway's timeouts, the task's hard time limit of 300 s).
STUCK_AFTER = dt.timedelta(minutes=10)
# A queued row due this long ago lost its task (broker down, worker restarted): it is published again.
LOST_AFTER = dt.timedelta(minutes=2)
SWEEP_BATCH = 500

Status = SmsRecipient.Status
OUTCOME_UNKNOWN = (
    "The send was interrupted after the gateway was called: it may have sent the SMS, so it is not resent."
)


def send_sms(*, company: Company, numbers: Iterable[str], text: str, idempotency_key: str = "") -> SmsMessage:
    """Store the SMS with one queued row per number and schedule each send once the transaction commits.

    ``numbers`` are normalised (``notifications.sms.numbers``) and repeats collapsed. Raises
    :class:`InvalidInput` (no number, an invalid one, too many, a blank or too long text),
    ``CompanyInactive`` and :class:`GatewayNotConfigured` (409s: nothing is stored).
    """
    parsed = _numbers(list(numbers))
    if problem := segments.text_problem(text):
        raise InvalidInput("text", problem)
    if not company.is_active:
        raise CompanyInactive
    if problem := gateway.configuration_problem(company):
        raise GatewayNotConfigured(details={"reason": problem})
    now = timezone.now()
    with transaction.atomic():
        message = SmsMessage.objects.create(
            company=company, text=text, parts=segments.parts(text), idempotency_key=idempotency_key
        )
        SmsRecipient.objects.bulk_create(
            SmsRecipient(message=message, phone=phone, status=Status.QUEUED, status_at=now, next_attempt_at=now)
            for phone in parsed
        )
        for pk in message.recipients.values_list("pk", flat=True):
            queues.publish_on_commit(DELIVER_TASK, pk)
    return message


def _numbers(items: list[str]) -> tuple[str, ...]:
    parsed = numbers.parse(items)
    if parsed.invalid:
        raise invalid_numbers(parsed.invalid)
    if not parsed.valid:
        raise InvalidInput("to", "Give at least one number.")
    if len(parsed.valid) > numbers.MAX_NUMBERS:
        raise InvalidInput("to", f"At most {numbers.MAX_NUMBERS} numbers per request; send the rest in another.")
    return parsed.valid


def move(
    recipient_id: int,
    status: str,
    *,
    from_statuses: Iterable[str],
    only: Q | None = None,
    at: dt.datetime | None = None,
    **fields,
) -> bool:
    """The one write of a number's state: to ``status`` (at ``at``, by default now) only from one of
    ``from_statuses`` and only if the row matches ``only``. False when the row was elsewhere: someone
    else moved it first."""
    rows = SmsRecipient.objects.filter(only or Q(), pk=recipient_id, status__in=list(from_statuses))
    return rows.update(status=status, status_at=at or timezone.now(), **fields) == 1


def deliver(*, recipient_id: int) -> str:
    """Send one queued, due number through its company's gateway: claim, one call, record the outcome.

    Returns the status the row was left in, or "" when it was not queued and due (sent already,
    claimed by another task, or waiting for its next attempt).
    """
    due = Q(next_attempt_at__lte=timezone.now())
    claimed = move(recipient_id, Status.SENDING, from_statuses=[Status.QUEUED], only=due, attempts=F("attempts") + 1)
    if not claimed:
        return ""
    recipient = SmsRecipient.objects.select_related("message__company").get(pk=recipient_id)
    company = recipient.message.company
    if not company.is_active:
        return _fail(recipient, CompanyInactive.code, CompanyInactive.message)
    try:
        sender = gateway.gateway_for(company)
    except gateway.NotConfigured as exc:
        return _fail(recipient, GatewayNotConfigured.code, str(exc))
    try:
        accepted = sender.send(to=recipient.phone, text=recipient.message.text)
    except gateway.SmsError as exc:
        return _failed_attempt(recipient, exc)
    move(
        recipient.pk,
        Status.SENT,
        from_statuses=[Status.SENDING],
        sent_at=timezone.now(),
        next_attempt_at=None,
        gateway_answer=accepted.answer,
        error_code="",
        error="",
    )
    return Status.SENT


def _failed_attempt(recipient: SmsRecipient, exc: gateway.SmsError) -> str:
    if exc.retryable and not exc.maybe_sent and recipient.attempts < MAX_ATTEMPTS:
        delay = RETRY_DELAYS[recipient.attempts - 1]
        now = timezone.now()
        requeued = move(
            recipient.pk,
            Status.QUEUED,
            from_statuses=[Status.SENDING],
            at=now,
            next_attempt_at=now + dt.timedelta(seconds=delay),
            error_code=exc.code,
            error=_cut(f"Attempt {recipient.attempts} of {MAX_ATTEMPTS} failed, retrying: {exc.message}"),
            gateway_answer=_cut(exc.answer, 400),
        )
        if requeued:
            queues.publish_on_commit(DELIVER_TASK, recipient.pk, countdown=delay)
        return Status.QUEUED
    reason = exc.message
    if exc.retryable and not exc.maybe_sent:
        reason = f"Gave up after {recipient.attempts} attempts: {reason}"
    return _fail(recipient, exc.code, reason, answer=exc.answer)


def _fail(recipient: SmsRecipient, code: str, reason: str, *, answer: str = "") -> str:
    move(
        recipient.pk,
        Status.FAILED,
        from_statuses=[Status.SENDING],
        next_attempt_at=None,
        error_code=code,
        error=_cut(reason),
        gateway_answer=_cut(answer, 400),
    )
    return Status.FAILED


def _cut(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def resend(*, recipient_ids: Iterable[int]) -> int:
    """Queue failed numbers again, now, with a fresh retry budget (an operator's decision: a number whose
    outcome was unknown may get the SMS twice). Returns how many were queued."""
    now = timezone.now()
    queued = 0
    for pk in recipient_ids:
        if move(pk, Status.QUEUED, from_statuses=[Status.FAILED], next_attempt_at=now, attempts=0, error_code=""):
            queues.publish_on_commit(DELIVER_TASK, pk)
            queued += 1
    return queued


def sweep() -> dict[str, int]:
    """Publish queued numbers whose task was lost; fail as ``outcome_unknown`` the ones left ``sending``.

    Returns how many of each it found (at most :data:`SWEEP_BATCH` of each per run).
    """
    now = timezone.now()
    lost = SmsRecipient.objects.filter(status=Status.QUEUED, next_attempt_at__lt=now - LOST_AFTER)
    republished = 0
    for pk in lost.order_by("next_attempt_at").values_list("pk", flat=True)[:SWEEP_BATCH]:
        republished += queues.publish(DELIVER_TASK, pk)
    stale = Q(status_at__lt=now - STUCK_AFTER)  # checked again as it is written: a new claim is left alone
    stuck = SmsRecipient.objects.filter(stale, status=Status.SENDING)
    recovered = 0
    for pk in stuck.values_list("pk", flat=True)[:SWEEP_BATCH]:
        recovered += move(
            pk,
            Status.FAILED,
            from_statuses=[Status.SENDING],
            only=stale,
            next_attempt_at=None,
            error_code="outcome_unknown",
            error=OUTCOME_UNKNOWN,
        )
    if recovered:
        logger.warning(
            "%s SMS numbers were left sending by a worker that stopped: failed as outcome unknown", recovered
        )
    return {"republished": republished, "outcome_unknown": recovered}
