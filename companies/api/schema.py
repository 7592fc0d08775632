"""Tells drf-spectacular how ``KeyAuthentication`` appears in the OpenAPI document."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class KeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "companies.authentication.KeyAuthentication"
    name = ["ApiKey", "Bearer"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "A company API key (pnt_…) or a platform token (pnts_…).",
            },
            {"type": "http", "scheme": "bearer", "description": "The same key as `Authorization: Bearer …`."},
        ]
