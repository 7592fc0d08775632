"""OpenAPI examples for the companies endpoints."""

from drf_spectacular.utils import OpenApiExample

DEMO_CONTRACT = "1220f3e9-f792-40cd-937a-f9fc6f79395f"

COMPANY_CREATE = OpenApiExample(
    "New ISP",
    request_only=True,
    value={
        "contract": DEMO_CONTRACT,
        "name": "Provedor Exemplo",
        "support_phone": "(44) 98888-8888",
        "timezone": "America/Sao_Paulo",
        "business_hours": {"mon": [["08:00", "18:00"]], "sat": [["08:00", "12:00"]]},
        "inactivity_minutes": 30,
        "erp_system": "ixc",
        "erp_base_url": "https://erp.provedor.com.br",
        "erp_username": "12",
        "erp_token": "token-from-the-erp",
        "chatwoot_base_url": "https://chat.provedor.com.br",
        "chatwoot_account_id": 1,
        "chatwoot_inbox_id": 3,
        "chatwoot_api_token": "chatwoot-access-token",
        "meta_app_secret": "meta-app-secret",
        "meta_verify_token": "a-random-verify-token",
    },
)
COMPANY_RESPONSE = OpenApiExample(
    "Company",
    response_only=True,
    value={
        "contract": DEMO_CONTRACT,
        "name": "Provedor Exemplo",
        "status": "active",
        "inactivity_minutes": 30,
        "support_phone": "(44) 98888-8888",
        "timezone": "America/Sao_Paulo",
        "business_hours": {"mon": [["08:00", "18:00"]], "sat": [["08:00", "12:00"]]},
        "chatwoot_base_url": "https://chat.provedor.com.br",
        "chatwoot_account_id": 1,
        "chatwoot_inbox_id": 3,
        "erp_system": "ixc",
        "erp_base_url": "https://erp.provedor.com.br",
        "erp_username": "12",
        "sms_url_template": "",
        "sms_username": "",
        "bot_enabled": True,
        "message_grouping_seconds": 3,
        "max_invalid_answers": 3,
        "active_channel_policy": "prefer_evolution",
        "evolution_fallback_to_cloud": True,
        "configured_secrets": ["chatwoot_api_token", "erp_token", "meta_app_secret", "meta_verify_token"],
        "created_at": "2026-11-25T10:00:00-03:00",
        "updated_at": "2026-11-25T10:00:00-03:00",
    },
)
COMPANY_PATCH = OpenApiExample("Deactivate", request_only=True, value={"status": "inactive", "inactivity_minutes": 15})
CHANNEL_CREATE_CLOUD = OpenApiExample(
    "Cloud API number",
    request_only=True,
    value={
        "kind": "cloud",
        "name": "Atendimento",
        "display_number": "+55 44 3030-0000",
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "access_token": "EAAG...",
        "api_version": "v25.0",
        "throughput_mps": 80,
    },
)
CHANNEL_CREATE_EVOLUTION = OpenApiExample(
    "Evolution instance",
    request_only=True,
    value={
        "kind": "evolution",
        "name": "Cobrança",
        "api_base_url": "https://evo.provedor.com.br",
        "api_key": "evolution-instance-key",
        "send_delay_ms": 5000,
        "receives_inbound": False,
    },
)
CHANNEL_PATCH = OpenApiExample("Rotate the token", request_only=True, value={"access_token": "EAAG-new..."})
API_KEY_CREATE = OpenApiExample("Key for the ERP", request_only=True, value={"name": "ERP IXC"})
API_KEY_CREATED = OpenApiExample(
    "Created key",
    response_only=True,
    value={
        "id": 7,
        "name": "ERP IXC",
        "prefix": "pnt_Xk3v9Qa1",
        "created_at": "2026-11-25T10:00:00-03:00",
        "last_used_at": None,
        "revoked_at": None,
        "key": "pnt_Xk3v9Qa1...(43 characters, shown once)",
    },
)
CHANNEL_RESPONSE = OpenApiExample(
    "Channel",
    response_only=True,
    value={
        "id": 1,
        "kind": "cloud",
        "name": "Atendimento",
        "display_number": "+55 44 3030-0000",
        "is_active": True,
        "receives_inbound": True,
        "sends_notices": True,
        "api_base_url": "",
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "api_version": "v25.0",
        "instance_name": "",
        "throughput_mps": 80,
        "send_delay_ms": 5000,
        "connection_state": "unknown",
        "connection_state_changed_at": None,
        "configured_secrets": ["access_token"],
        "created_at": "2026-11-25T10:00:00-03:00",
        "updated_at": "2026-11-25T10:00:00-03:00",
    },
)
API_KEY_RESPONSE = OpenApiExample(
    "API key",
    response_only=True,
    value={
        "id": 7,
        "name": "ERP IXC",
        "prefix": "pnt_Xk3v9Qa1",
        "created_at": "2026-11-25T10:00:00-03:00",
        "last_used_at": "2026-11-25T10:05:00-03:00",
        "revoked_at": None,
    },
)
API_KEY_REVOKED = OpenApiExample(
    "Revoked key", response_only=True, value={**API_KEY_RESPONSE.value, "revoked_at": "2026-11-25T11:00:00-03:00"}
)
ME_RESPONSE = OpenApiExample(
    "Me",
    response_only=True,
    value={"company": COMPANY_RESPONSE.value, "channels": [CHANNEL_RESPONSE.value], "api_key": API_KEY_RESPONSE.value},
)
