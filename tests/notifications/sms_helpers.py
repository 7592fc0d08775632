"""What the SMS tests share: a password that appears nowhere else, a company pointed at a fake gateway."""

from urllib.parse import quote

from companies.models import Company
from fakes.sms_gateway import FakeSmsGateway

USERNAME = "ponte-isp"
# Characters a URL would break on, and an accent: it must reach the gateway intact and no log, ever.
PASSWORD = "Kx9&pw#+ ç/=?Lq"
PASSWORD_FORMS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD))


def point_at(company: Company, gateway: FakeSmsGateway | None, *, template: str | None = None) -> Company:
    company.sms_url_template = template if template is not None else gateway.template
    company.sms_username = USERNAME
    company.sms_password = PASSWORD
    company.save()
    return company


def fake_gateway(**kwargs) -> FakeSmsGateway:
    return FakeSmsGateway(username=USERNAME, password=PASSWORD, **kwargs)


def leaked(text: str) -> list[str]:
    """The forms of the password found in ``text``."""
    return [form for form in PASSWORD_FORMS if form in text]
