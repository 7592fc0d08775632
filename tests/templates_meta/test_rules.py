"""Meta's template rules, each with the message an admin sees."""

import pytest

from templates_meta import rules


def body(text: str, examples: list[str] | None = None) -> dict:
    component = {"type": "BODY", "text": text}
    if examples is not None:
        component["example"] = {"body_text": [examples]}
    return component


def check(components, *, name="fatura_disponivel", category="UTILITY", parameter_format="POSITIONAL"):
    return rules.validate(name=name, category=category, parameter_format=parameter_format, components=components)


def test_a_good_template_passes():
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Fatura de {{1}}", "example": {"header_text": ["março"]}},
        body("Olá {{1}}, sua fatura de {{2}} vence em {{3}}.", ["Maria", "R$ 99,90", "10/03"]),
        {"type": "FOOTER", "text": "Provedor X"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Pagar com PIX"},
                {"type": "URL", "text": "Ver fatura", "url": "https://isp.example/f/{{1}}", "example": ["INV123"]},
                {"type": "PHONE_NUMBER", "text": "Ligar", "phone_number": "5511999990000"},
            ],
        },
    ]
    assert check(components) == {}


@pytest.mark.parametrize(
    ("kwargs", "components", "part", "message"),
    [
        ({"name": "Fatura-Nova"}, [body("Olá a todos.")], "name", "Use only lowercase letters, digits and underscores"),
        ({}, [], "body", "The body is required."),
        ({}, [body("x" * 1025)], "body", "The body has 1025 characters; the limit is 1024."),
        ({}, [body("Olá {{1}} e {{3}}.", ["a", "b"])], "body", "numbered from {{1}} without gaps; found {{1}}, {{3}}"),
        ({}, [body("{{1}}, sua fatura.", ["Maria"])], "body", "cannot start with a variable"),
        ({}, [body("Sua fatura, {{1}}", ["Maria"])], "body", "cannot end with a variable"),
        ({}, [body("Olá {{1}} {{2}} tudo bem.", ["a", "b"])], "body", "cannot be next to each other"),
        ({}, [body("Olá {{1}}, tudo bem.")], "body", "Give an example for every variable: 1 needed, 0 given."),
        ({}, [body("Olá {{nome}}, tudo bem.", ["x"])], "body", "Variables must look like {{1}}, {{2}}"),
        (
            {"parameter_format": "NAMED"},
            [body("Olá {{first_name}}, tudo bem.")],
            "body",
            "Give an example for every variable; missing: first_name.",
        ),
        (
            {},
            [body("Olá."), {"type": "HEADER", "format": "TEXT", "text": "x" * 61}],
            "header",
            "The header text has 61 characters; the limit is 60.",
        ),
        (
            {},
            [
                body("Olá."),
                {"type": "HEADER", "format": "TEXT", "text": "{{1}} e {{2}}", "example": {"header_text": ["a", "b"]}},
            ],
            "header",
            "A text header may have at most one variable.",
        ),
        ({}, [body("Olá."), {"type": "HEADER", "format": "IMAGE"}], "header", "needs a sample file"),
        ({}, [body("Olá."), {"type": "FOOTER", "text": "y" * 61}], "footer", "The footer has 61 characters"),
        ({}, [body("Olá."), {"type": "FOOTER", "text": "Olá {{1}}"}], "footer", "The footer cannot have variables."),
        (
            {},
            [body("Olá."), {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "x" * 26}]}],
            "buttons",
            "the label has 26 characters; the limit is 25",
        ),
        (
            {},
            [
                body("Olá."),
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": str(i)} for i in range(11)]},
            ],
            "buttons",
            "At most 10 buttons; there are 11.",
        ),
        (
            {},
            [
                body("Olá."),
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "a"},
                        {"type": "URL", "text": "b", "url": "https://x.example"},
                        {"type": "QUICK_REPLY", "text": "c"},
                    ],
                },
            ],
            "buttons",
            "Quick-reply buttons must be next to each other",
        ),
        (
            {},
            [
                body("Olá."),
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "a", "url": "https://x.example/{{1}}/z"}]},
            ],
            "buttons",
            "a link may have one variable, at its very end",
        ),
        (
            {},
            [
                body("Olá."),
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "a", "url": "https://x.example/{{1}}"}]},
            ],
            "buttons",
            "give an example value for the link's variable",
        ),
        (
            {},
            [
                body("Olá."),
                {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "a", "phone_number": "abc"}]},
            ],
            "buttons",
            "give the phone number with country code",
        ),
        (
            {},
            [body("Olá."), {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]}],
            "buttons",
            "only for authentication templates",
        ),
        ({}, [body("Olá."), body("Outro.")], "components", "Only one body is allowed."),
        ({}, "not a list", "components", "Components must be a list"),
        ({}, [body("Olá."), {"type": "CAROUSEL"}], "components", "Unknown component type(s): CAROUSEL."),
    ],
)
def test_each_rule_says_what_to_fix(kwargs, components, part, message):
    errors = check(components, **kwargs)
    assert any(message in text for text in errors.get(part, [])), errors


def test_variables_are_read_in_order():
    assert rules.variables("Olá {{1}}, {{2}} e {{1}}", "POSITIONAL") == ["1", "2", "1"]
    assert rules.variables("Olá {{ first_name }}", "NAMED") == ["first_name"]
