"""Post a sample webhook to the running server, as Meta or Evolution would send it, signed or keyed.

For the demo (the default company) or any company whose Meta app secret or Evolution key is stored::

    python manage.py post_webhook text                      # a customer writes to the Cloud number
    python manage.py post_webhook image --channel evolution # a photo, on the Evolution number
    python manage.py post_webhook status --status read      # the last message sent was read
"""

import json
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from companies.models import Channel, Company
from config import demo
from conversations.models import Message
from fakes import evolution_payloads, meta_payloads

KINDS = (*meta_payloads.INBOUND_KINDS, "status")
META_STATUSES = ("sent", "delivered", "read", "played")
EVOLUTION_ACKS = {"sent": "SERVER_ACK", "delivered": "DELIVERY_ACK", "read": "READ", "played": "PLAYED"}


class Command(BaseCommand):
    help = "Post a signed sample webhook (text, image, location, button reply or status) to the running server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--company", default=str(demo.CONTRACT), help="the company's contract (default: demo)")
        parser.add_argument(
            "--channel",
            default="cloud",
            help="'cloud', 'evolution' or a channel id (default: the company's first Cloud channel)",
        )
        parser.add_argument("--from", dest="sender", default=demo.CUSTOMER_NUMBER, help="the customer's number")
        parser.add_argument("--name", default="Maria Cliente", help="the customer's profile name")
        parser.add_argument("--text", default="Oi! Quero a segunda via da minha fatura.", help="text or caption")
        parser.add_argument("--status", choices=META_STATUSES, default="delivered", help="for kind 'status'")
        parser.add_argument("--message", default="", help="for kind 'status': the message's id (default: last sent)")
        parser.add_argument("--url", default=settings.PUBLIC_URL, help="the server (default: PUBLIC_URL)")

    def handle(self, *args: Any, **options: Any) -> None:
        company = Company.objects.filter(contract=options["company"]).first()
        if company is None:
            raise CommandError(f"No company has the contract {options['company']} (run `make demo` for the demo).")
        channel = self._channel(company, options["channel"])
        if channel.kind == Channel.Kind.CLOUD:
            url, body, headers = self._meta(company, channel, options)
        else:
            url, body, headers = self._evolution(company, channel, options)
        try:
            response = requests.post(options["url"].rstrip("/") + url, data=body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            raise CommandError(f"Could not reach {options['url']}: {exc} (is `make run` running?)") from None
        summary = f"{options['kind']} webhook for {channel} -> {response.status_code} {response.text[:300]}"
        if not response.ok:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _channel(self, company: Company, choice: str) -> Channel:
        channels = company.channels.filter(is_active=True).order_by("pk")
        if choice in (Channel.Kind.CLOUD, Channel.Kind.EVOLUTION):
            channel = channels.filter(kind=choice).first()
        else:
            channel = channels.filter(pk=int(choice)).first() if choice.isdigit() else None
        if channel is None or channel.kind not in (Channel.Kind.CLOUD, Channel.Kind.EVOLUTION):
            raise CommandError(f"{company} has no active Cloud or Evolution channel {choice!r}.")
        return channel

    def _last_sent(self, channel: Channel, given: str) -> Message:
        sent = Message.objects.filter(channel=channel, direction=Message.Direction.OUTBOUND).exclude(provider_id="")
        message = sent.filter(provider_id=given).first() if given else sent.order_by("-pk").first()
        if message is None:
            raise CommandError(f"No message sent on {channel} {'has the id ' + given if given else 'yet'}.")
        return message

    def _meta(self, company: Company, channel: Channel, options: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
        if not company.meta_app_secret:
            raise CommandError(f"{company} has no Meta app secret stored: the webhook could not be signed.")
        where = {"waba_id": channel.waba_id, "phone_number_id": channel.phone_number_id}
        where["display_number"] = channel.display_number
        if options["kind"] == "status":
            message = self._last_sent(channel, options["message"])
            payload = meta_payloads.status(
                **where,
                message_id=message.provider_id,
                state=options["status"],
                recipient=message.contact.wa_id,
                category="utility" if message.type == "template" else "service",
            )
        else:
            payload = meta_payloads.inbound(
                options["kind"], **where, sender=options["sender"], name=options["name"], text=options["text"]
            )
        body = meta_payloads.encode(payload)
        signature = meta_payloads.sign(company.meta_app_secret, body)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        return f"/webhooks/meta/?contract={company.contract}", body, headers

    def _evolution(
        self, company: Company, channel: Channel, options: dict[str, Any]
    ) -> tuple[str, bytes, dict[str, str]]:
        if not channel.api_key:
            raise CommandError(f"{channel} has no Evolution key stored.")
        if options["kind"] == "status":
            message = self._last_sent(channel, options["message"])
            event = "messages.update"
            data = evolution_payloads.status_data(
                message_id=message.provider_id, recipient=message.contact.wa_id, ack=EVOLUTION_ACKS[options["status"]]
            )
        else:
            event = "messages.upsert"
            data = evolution_payloads.inbound_data(
                options["kind"], sender=options["sender"], name=options["name"], text=options["text"]
            )
        path = f"/webhooks/evolution/{company.contract}/"
        payload = evolution_payloads.envelope(
            event,
            instance=channel.instance_name,
            data=data,
            api_key=channel.api_key,
            destination=options["url"].rstrip("/") + path,
            sender=channel.display_number,
            server_url=channel.base_url,
        )
        return path, json.dumps(payload).encode(), {"Content-Type": "application/json"}
