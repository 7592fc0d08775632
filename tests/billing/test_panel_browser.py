"""The spend panel in a real browser at a phone's width (390 px) and a desktop's (1280 px): Chart.js draws the
daily chart, nothing overflows sideways, and the screenshot is a page, not a blank.

Headless Chromium over the DevTools protocol (``tests.browser``); skipped when Chromium is not installed. The
screenshots are kept in the test's temporary folder (``--basetemp`` to find them)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services import budgets
from companies import members
from companies.models import Member
from tests.billing.test_panel import PANEL, delivered
from tests.browser import browser_fixture, navigate, open_logged_in, png_pixels, screenshot, set_width  # noqa: F401
from tests.factories import CloudChannelFactory, CompanyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHART_DRAWN = "!!window.spendPanelChart && window.spendPanelChart.getDatasetMeta(0).data.length > 0"
# Pixels the chart's canvas has painted (any not fully transparent), read back from the canvas itself.
PAINTED = """(() => {
  const canvas = document.getElementById('sp-daily-chart');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) painted++; }
  return painted;
})()"""
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def isp_admin():
    """An ISP admin whose company spent this month (the last hours, so every day is today's month) with a budget."""
    company = CompanyFactory(name="Provedor Exemplo de Maringá Telecomunicações")
    channel = CloudChannelFactory(company=company, name="Atendimento")
    now = timezone.now()
    for minutes, template, category in (
        (1, "promo_black_friday", "marketing"),
        (2, "fatura_disponivel", "utility"),
        (3, "fatura_disponivel", "utility"),
        (4, "lembrete_vencimento_fatura_aberta", "utility"),
    ):
        delivered(channel, on=now - dt.timedelta(minutes=minutes), template=template, category=category)
    budgets.set_budget(company=company, amount=Decimal("0.10"), contact_email="financeiro@example.com")
    member = members.create_member_user(
        company=company, role=Member.Role.ISP_ADMIN, username="ana", password="x-unused-password-1"
    )
    return member.user


def painted_share(png: bytes) -> tuple[int, float, int]:
    """Width, the share of pixels unlike the top-left one (the page's background) and how many colours there are."""
    width, height, rows, size = png_pixels(png)
    background = rows[0][:size]
    pixels = [row[x : x + size] for row in rows for x in range(0, len(row), size)]
    unlike = sum(1 for pixel in pixels if pixel != background)
    return width, unlike / (width * height), len(set(pixels))


@pytest.mark.parametrize(("width", "mobile"), [(390, True), (1280, False)], ids=["phone", "desktop"])
def test_the_panel_draws_its_chart_and_fits_the_width(browser, live_server, isp_admin, tmp_path, width, mobile):
    set_width(browser, width, mobile=mobile)
    open_logged_in(browser, live_server, PANEL, isp_admin)
    assert browser.wait_until(CHART_DRAWN, True) is True, "Chart.js did not draw the daily chart"
    assert browser.evaluate(PAINTED) > 500, "the chart's canvas is empty"
    assert browser.evaluate("document.querySelector('[data-sp-budget]') !== null")
    assert browser.evaluate(OVERFLOW) <= 0, "the page scrolls sideways"

    png = screenshot(browser, tmp_path / f"spend-panel-{width}.png")
    small = screenshot(browser, tmp_path / f"spend-panel-{width}-quarter.png", scale=0.25)
    # The whole page is as wide as the window, less a desktop's scroll bar: no part of it beyond the right edge.
    assert width - 20 <= png_pixels(png)[0] <= width
    _, share, colours = painted_share(small)
    assert share > 0.05, f"the screenshot is nearly blank ({share:.1%} painted)"
    assert colours > 20


def test_a_phone_sees_the_same_figures_as_a_desktop(browser, live_server, isp_admin):
    charged = "document.querySelector('[data-sp-charged]').textContent"
    figures = []
    for width, mobile in ((390, True), (1280, False)):
        set_width(browser, width, mobile=mobile)
        if figures:
            navigate(browser, f"{live_server.url}{PANEL}")
        else:
            open_logged_in(browser, live_server, PANEL, isp_admin)
        figures.append(browser.evaluate(charged))
    assert figures == ["USD 0.08", "USD 0.08"]  # 0.0625 + 3 * 0.0068
