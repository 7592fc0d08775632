"""The local demo's fixed names and credentials: `load_demo` creates them, `runall` starts fakes that match.

They are public on purpose, so a newcomer can sign a webhook by hand; `load_demo` refuses to run in
production, and production never starts the fakes.
"""

import uuid

from django.conf import settings

CONTRACT = uuid.UUID("1220f3e9-f792-40cd-937a-f9fc6f79395f")  # the seed's example company
API_KEY = "pnt_demo-local-only-not-a-real-key-0000000000"
PLATFORM_TOKEN = "pnts_demo-local-only-not-a-real-token-000000000"  # noqa: S105
META_APP_SECRET = "demo-app-secret"  # noqa: S105
META_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105

# The Cloud channel, served by the fake Graph API.
WABA_ID = "100000000000001"
PHONE_NUMBER_ID = "100000000000002"
CLOUD_NUMBER = "+55 44 3030-0001"
CLOUD_ACCESS_TOKEN = "demo-graph-api-token"  # noqa: S105

# The Evolution channel, served by the fake Evolution API.
EVOLUTION_INSTANCE = "ponte-demo"
EVOLUTION_API_KEY = "demo-evolution-key"
EVOLUTION_NUMBER = "+55 44 3030-0002"

# The ERP, served by the fake ERP in IXC Soft's shapes (its demo customers: 1001 to 1008).
ERP_USER = "demo"
ERP_TOKEN = "demo-erp-token"  # noqa: S105

# The SMS gateway, served by the fake SMS gateway.
SMS_USER = "demo"
SMS_PASSWORD = "demo-sms-password"  # noqa: S105

# The agents' Chatwoot, served by the fake Chatwoot: an API-channel inbox of one account.
CHATWOOT_ACCOUNT_ID = 1
CHATWOOT_INBOX_ID = 1
CHATWOOT_API_TOKEN = "demo-chatwoot-token"  # noqa: S105
CHATWOOT_WEBHOOK_SECRET = "demo-chatwoot-webhook-secret"  # noqa: S105  (the last part of its webhook URL)
CHATWOOT_SIGNING_SECRET = "demo-chatwoot-signing-secret"  # noqa: S105  (signs its webhooks, as Chatwoot 4.11+ does)

# A subscriber to talk to: the sample webhooks come from this number.
CUSTOMER_NUMBER = "5544999990001"


def graph_api_url() -> str:
    return f"http://127.0.0.1:{settings.FAKE_GRAPH_API_PORT}"


def evolution_url() -> str:
    return f"http://127.0.0.1:{settings.FAKE_EVOLUTION_PORT}"


def erp_url() -> str:
    return f"http://127.0.0.1:{settings.FAKE_ERP_PORT}"


def chatwoot_url() -> str:
    return f"http://127.0.0.1:{settings.FAKE_CHATWOOT_PORT}"


def sms_url_template() -> str:
    port = settings.FAKE_SMS_GATEWAY_PORT
    return f"http://127.0.0.1:{port}/api?op=pv&u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|"
