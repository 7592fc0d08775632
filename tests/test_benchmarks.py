import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_quick(name: str, *, timeout: float) -> tuple[dict, str]:
    """``python -m benchmarks NAME --quick``: the figures (its last line) and the end of its log."""
    result = subprocess.run(  # noqa: S603 (our own benchmark, by one of its names)
        [sys.executable, "-m", "benchmarks", name, "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr[-4000:]


def test_lookup_benchmark_prints_one_json_object_last():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "lookup", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "lookup"
    assert figures["cached_per_s"] > 0 and figures["db_per_s"] > 0


@pytest.mark.integration
def test_ingest_benchmark_loses_no_accepted_webhook():
    """The whole stack (gunicorn, a Celery worker, a throwaway database) for a few seconds: ~1 minute."""
    figures, log = run_quick("ingest", timeout=300)
    keys = {"webhooks_per_s", "bare_per_s", "ratio", "p50_ms", "p99_ms", "accepted", "processed", "lost"}
    keys |= {"processed_per_s", "processing"}
    assert figures["benchmark"] == "ingest" and keys <= figures.keys()
    assert figures["accepted"] > 0 and figures["bare_per_s"] > 0 and figures["webhooks_per_s"] > 0
    assert figures["lost"] == 0, log
    # Processing alone: every stored text became a message, every campaign message ended read.
    assert figures["processed_per_s"]["texts"] > 0 and figures["processed_per_s"]["statuses"] > 0
    assert figures["processing"]["texts"]["lost"] == 0
    statuses = figures["processing"]["statuses"]
    assert statuses["ended_read"] == statuses["messages"] and statuses["history_entries"] == 3 * statuses["messages"]


@pytest.mark.integration
def test_an_inbound_webhook_is_processed_within_2_s_while_the_outbox_is_saturated():
    """Real workers as deployed (an inbound and an outbox pool), one provider timing out and one slow: ~1 minute."""
    figures, log = run_quick("isolation", timeout=300)
    assert figures["benchmark"] == "isolation"
    # The outbox was saturated while the webhooks came: its sends were in flight, against both fakes.
    assert figures["outbox_after_3_s"].get("sending", 0) > 0
    assert figures["fake_graph_arrivals"]["timeout"] > 0 and figures["fake_graph_arrivals"]["slow"] > 0
    assert figures["webhooks_processed"] == figures["webhooks_accepted"] > 0
    assert figures["delay_max_s"] <= 2.0, log


@pytest.mark.integration
def test_campaign_benchmark_imports_every_row_and_sends_none_twice():
    """The web server and the campaigns, outbox and events workers on a 10,000-row CSV: about a minute."""
    figures, _ = run_quick("campaign", timeout=600)
    assert figures["benchmark"] == "campaign" and figures["import_status"] == "imported"
    assert figures["rows_read"] == figures["rows"] == 10_000
    assert figures["invalid_rows"] == figures["expected_invalid"]
    assert figures["duplicates"] == figures["expected_duplicates"]
    assert figures["recipients"] == figures["rows"] - figures["invalid_rows"] - figures["duplicates"]
    assert figures["sent"] > 0 and figures["duplicates_sent"] == 0
    assert figures["max_in_any_1s"] <= figures["limit_mps"] and figures["sent_after_cancel"] == 0


def test_the_conversation_benchmark_counts_what_was_lost_sent_twice_or_out_of_order():
    from benchmarks.conversation import Customer, Turn, figures_of, phone_of

    customer = Customer(0, phone_of(0), to_person=True)
    customer.turns = [Turn("oi", "?", ["in1"], [100.2, 100.3], True), Turn("sim", "?", ["in2"], [], False)]
    customer.relayed_ids, customer.relayed_at = ["in3", "in4"], {2: [110.0], 1: [110.5, 110.6]}
    customer.agent_at, customer.agent_arrivals = {1: 120.0, 2: 120.1}, {1: [120.4]}

    def send(message_id: str, wall: float) -> dict:
        return {"body": {"number": phone_of(0)}, "status": 201, "message_id": message_id, "wall": wall}

    # Queued by the bot: 1, 2 (after 1), 3 (never sent); "x" reached the provider but the database keeps no such id.
    outbound = [(1, phone_of(0), "bot", 100.1, "sent", "p1"), (2, phone_of(0), "bot", 100.15, "sent", "p2")]
    outbound += [(3, phone_of(0), "bot", 100.16, "queued", "")]
    found = {
        "received": {"in1": 97.0, "in3": 109.0},
        "inbound": {"in1": (97.05, 100.05), "in3": (109.01, 109.5)},
        "outbound": outbound,
        "chatwoot": [],
    }
    figures = figures_of([customer], [send("p2", 100.2), send("p1", 100.3), send("x", 100.4)], found)
    assert figures["bot_reply"]["p50"] == pytest.approx(200.0) and figures["bot_reply"]["n"] == 1  # 97 + 3 s window
    assert figures["bot_reply_complete"]["p50"] == pytest.approx(300.0)
    assert figures["lost"] == {"bot_replies": 1, "turns_unanswered": 1, "relayed": 0, "agent_replies": 1}
    assert figures["duplicates"] == {"sends": 1, "relayed": 1, "agent_replies": 0}
    assert figures["out_of_order"]["at_provider"] == 1 and figures["out_of_order"]["relayed"] == 1
    assert figures["relay_to_chatwoot"]["p50"] == pytest.approx(1500.0)  # part 1: 109.0 → 110.5
    assert figures["agent_to_provider"]["p50"] == pytest.approx(400.0)
    breakdown = figures["breakdown"]
    assert breakdown["intake_to_recorded"]["p50"] == pytest.approx(50.0)
    assert breakdown["window_end_to_taken"]["p50"] == pytest.approx(50.0)
    assert breakdown["taken_to_first_reply_queued"]["p50"] == pytest.approx(50.0)
    assert breakdown["taken_to_last_reply_queued"]["p50"] == pytest.approx(110.0)
    assert breakdown["first_reply_queued_to_provider"]["p50"] == pytest.approx(200.0)  # p1 queued 100.1, at 100.3
    assert breakdown["relayed_received_to_taken"]["p50"] == pytest.approx(500.0)


@pytest.mark.integration
def test_conversation_benchmark_takes_every_customer_to_the_bill_and_some_to_a_person():
    """The web server, the inbound, events and outbox workers and the fakes for 50 customers: a minute or two."""
    figures, log = run_quick("conversation", timeout=600)
    assert figures["benchmark"] == "conversation" and figures["customers"] == 50 and figures["to_person"] == 15
    assert figures["customers_done"] == 50, log
    assert figures["bot_turns"] == 50 * 3 + 15 and figures["relayed_messages"] == figures["agent_replies"] == 30
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["bot_reply_p50_ms"] > 0 and figures["relay_p99_ms"] > 0
    assert set(figures["goals"]) >= {"bot_reply_p99_under_1_s", "relay_p99_under_1_s", "none_lost"}


@pytest.mark.integration
def test_spend_benchmark_times_the_pages_queries_and_each_billable_receipt_to_its_push():
    """Spend entries and their totals (100,000 on PostgreSQL; 20,000 through the ORM on SQLite), the dashboard's
    and the panel's queries timed, then the web server and the inbound and events workers for 20 receipts: a
    minute or so."""
    figures, log = run_quick("spend", timeout=600)
    assert figures["benchmark"] == "spend" and figures["companies"] == 50
    on_postgres = figures["database"].startswith("PostgreSQL")
    assert figures["entries"] == (100_000 if on_postgres else 20_000)
    assert ("SQLite" in figures["entries_path"]) is not on_postgres  # the plain path says so
    for page in ("dashboard", "panel"):
        assert 0 < figures[f"{page}_query_ms"] <= figures[f"{page}_query_max_ms"]
        detail = figures["detail"][page]
        assert detail["renders"] == 3 * 5 * 2 and detail["queries_per_render"] > 0  # 3 companies, 5 times, 2 each
        assert detail["slowest_run"]["sql"].startswith("SELECT")
    # Every receipt charged once, and each one's push came: the month's count moved by one each time.
    assert figures["pushes"] == 20 and figures["lost_pushes"] == 0, log
    assert figures["receipts_charged"] == 3 + 20
    assert 0 < figures["push_p50_ms"] <= figures["push_p99_ms"] <= figures["push_max_ms"] < 10_000
    assert figures["goals"]["no_push_lost"] is True
    assert set(figures["goals"]) >= {"dashboard_queries_under_20_ms", "panel_queries_under_20_ms", "push_p99_under_1_s"}
