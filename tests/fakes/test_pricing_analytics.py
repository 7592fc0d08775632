"""The fake Graph API's pricing analytics: Meta's shape, summed per bucket and requested dimension."""

import requests

from fakes.graph_api import Webhook, running_graph_api
from tests.conftest import META_API_FIXTURES
from tests.fakes.test_fakes import SECRET, SEND, receiver  # noqa: F401  (the receiver fixture)

DAY = 1794279600  # 2026-11-10 00:00 in São Paulo
TOKEN = {"Authorization": "Bearer EAAG-test"}
ALL = "dimensions(PRICING_CATEGORY,PRICING_TYPE,TIER,COUNTRY,PHONE)"


def point(category: str, volume: int, cost: float | None, *, pricing_type: str = "REGULAR", at: int = DAY + 3600):
    found = {"start": at, "phone_number": "554430300000", "country": "BR", "pricing_category": category}
    found |= {"pricing_type": pricing_type, "volume": volume}
    if pricing_type == "REGULAR":
        found["tier"] = "0:MAX"
    if cost is not None:
        found["cost"] = cost
    return found


def ask(graph, waba_id: str, *params: str, start: int = DAY, end: int = DAY + 86400, headers=TOKEN):
    fields = ".".join([f"pricing_analytics.start({start}).end({end})", *params])
    return requests.get(f"{graph.url}/v25.0/{waba_id}", params={"fields": fields}, headers=headers, timeout=5)


def test_a_day_is_summed_per_requested_dimension_in_meta_s_shape():
    with running_graph_api() as graph:
        graph.seed_pricing_analytics(
            "42",
            [
                point("MARKETING", 4, 0.25),
                point("MARKETING", 2, 0.125, at=DAY + 7200),
                point("SERVICE", 3, 0, pricing_type="FREE_CUSTOMER_SERVICE"),
                point("MARKETING", 9, 0.5625, at=DAY + 86400),  # the next day
            ],
        )
        answer = ask(graph, "42", "granularity(DAILY)", ALL).json()
        by_category = ask(graph, "42", "granularity(DAILY)", "dimensions(PRICING_CATEGORY)").json()
    assert answer["id"] == "42"
    assert answer["pricing_analytics"]["data"][0]["data_points"] == [
        {
            "start": DAY,
            "end": DAY + 86400,
            "pricing_category": "MARKETING",
            "pricing_type": "REGULAR",
            "tier": "0:MAX",
            "country": "BR",
            "phone_number": "554430300000",
            "volume": 6,
            "cost": 0.375,
        },
        {
            "start": DAY,
            "end": DAY + 86400,
            "pricing_category": "SERVICE",
            "pricing_type": "FREE_CUSTOMER_SERVICE",
            "country": "BR",
            "phone_number": "554430300000",
            "volume": 3,
            "cost": 0.0,
        },
    ]
    points = by_category["pricing_analytics"]["data"][0]["data_points"]
    assert [(p["pricing_category"], p["volume"], p["cost"]) for p in points] == [
        ("MARKETING", 6, 0.375),
        ("SERVICE", 3, 0.0),
    ]


def test_half_hours_are_buckets_from_the_start_asked():
    with running_graph_api() as graph:
        graph.seed_pricing_analytics("42", [point("UTILITY", 1, 0.0068, at=DAY + 60), point("UTILITY", 1, 0.0068)])
        points = ask(graph, "42", "granularity(HALF_HOUR)", end=DAY + 7200).json()["pricing_analytics"]["data"][0]
    assert [(p["start"], p["end"], p["volume"]) for p in points["data_points"]] == [
        (DAY, DAY + 1800, 1),
        (DAY + 3600, DAY + 5400, 1),
    ]


def test_a_waba_on_a_partner_s_credit_line_is_answered_without_cost():
    with running_graph_api() as graph:
        graph.seed_pricing_analytics("42", [point("MARKETING", 4, 0.25)], with_cost=False)
        points = ask(graph, "42", "granularity(DAILY)", ALL).json()["pricing_analytics"]["data"][0]["data_points"]
    assert points[0]["volume"] == 4 and "cost" not in points[0]


def test_a_waba_without_figures_in_the_period_answers_its_id_alone():
    with running_graph_api() as graph:
        graph.seed_pricing_analytics("42", [point("MARKETING", 4, 0.25, at=DAY - 10)])
        assert ask(graph, "42", "granularity(DAILY)", ALL).json() == {"id": "42"}


def test_a_request_meta_would_refuse_gets_meta_s_error():
    with running_graph_api() as graph:
        no_token = ask(graph, "42", "granularity(DAILY)", headers={})
        no_granularity = ask(graph, "42", ALL)
        bad_dimension = ask(graph, "42", "granularity(DAILY)", "dimensions(COLOUR)")
    assert (no_token.status_code, no_token.json()["error"]["code"]) == (400, 104)
    assert (no_granularity.status_code, no_granularity.json()["error"]["code"]) == (400, 100)
    assert "granularity" in no_granularity.json()["error"]["message"]
    assert bad_dimension.json()["error"]["code"] == 100


def test_it_can_be_told_to_fail_the_next_requests_with_meta_s_errors():
    with running_graph_api(errors=META_API_FIXTURES) as graph:
        graph.seed_pricing_analytics("42", [point("MARKETING", 4, 0.25)])
        graph.fail_pricing_analytics(1, "error_190_token_expired")
        failed = ask(graph, "42", "granularity(DAILY)", ALL)
        recovered = ask(graph, "42", "granularity(DAILY)", ALL)
    assert (failed.status_code, failed.json()["error"]["code"]) == (401, 190)
    assert recovered.status_code == 200


def test_another_process_seeds_a_waba_by_the_control_path():
    with running_graph_api() as graph:
        seeded = requests.post(
            f"{graph.url}/_fake/pricing_analytics",
            json={"waba_id": "42", "points": [point("UTILITY", 2, 0.0136)], "with_cost": False},
            timeout=5,
        )
        refused = requests.post(f"{graph.url}/_fake/pricing_analytics", json={"points": []}, timeout=5)
        points = ask(graph, "42", "granularity(DAILY)", ALL).json()["pricing_analytics"]["data"][0]["data_points"]
    assert seeded.json() == {"seeded": 1} and refused.status_code == 400
    assert [(p["pricing_category"], p["volume"], "cost" in p) for p in points] == [("UTILITY", 2, False)]


def test_sends_accepted_for_the_webhook_s_waba_are_counted_as_delivered(receiver):  # noqa: F811
    hook = Webhook(url=f"{receiver.url}/hook", app_secret=SECRET, waba_id="42", display_number="+55 44 3030-0001")
    template = {"messaging_product": "whatsapp", "to": "5544998887777", "type": "template", "template": {}}
    with running_graph_api(webhook=hook) as graph:
        requests.post(f"{graph.url}/v25.0/777/messages", json=SEND, timeout=5)
        requests.post(f"{graph.url}/v25.0/777/messages", json=template, timeout=5)
        now = int(graph.requests[-1].wall)
        answer = ask(graph, "42", "granularity(DAILY)", ALL, start=now - 3600, end=now + 3600).json()
        graph.callbacks.wait_idle()
    points = answer["pricing_analytics"]["data"][0]["data_points"]
    assert sorted((p["pricing_category"], p["pricing_type"], p["country"], p["phone_number"]) for p in points) == [
        ("SERVICE", "REGULAR", "BR", "554430300001"),
        ("UTILITY", "REGULAR", "BR", "554430300001"),
    ]
    assert all(p["volume"] == 1 and "cost" not in p for p in points)
