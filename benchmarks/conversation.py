"""The conversation: customers at once from "oi" to the second copy of their bill, some then to a person.

The world (as ``benchmarks/campaign.py`` builds it): a throwaway database, Redis when ``REDIS_URL`` is set,
the web server (uvicorn, as ``runall`` starts it) and the inbound, events, conversation and outbox workers as
the deployment's pools run them (``config.queues.pools``: inbound prefork 2, outbox prefork 2, events threads
4, conversation threads 8);
no beat, so no sweeper picks up a lost turn. Each fake is its own process: Evolution (the provider: its
numbered-text menus are what a customer types; it posts its ``send.message`` echo and three acks for every
send to the web server, as Evolution does), Chatwoot (posting its webhooks, signed) and an IXC ERP with
N generated customers (``python -m fakes.erp --customers N``: mobile ``(44) 98100-<i>``, one open invoice).
A child process seeds the company: the ERP, Chatwoot and the Evolution channel, ``send_delay_ms`` 0 (the
channel's pacing would otherwise be the figure: 5 s between messages by default), business hours unset
(always open), ``message_grouping_seconds`` at its default, 3.

N customers (200, 50 with ``--quick``) start at once. Each customer's messages are real Evolution
``messages.upsert`` webhooks posted to the web server, and each answers as soon as the bot's previous reply
(its last message: the question) reached the fake provider, which this process learns by polling the fakes
(``GET /_fake/requests``): "oi" → greeting and "are you talking about the account of NAME?"; "sim" → the
menu; "1" → the second copy (intro, greeting, summary, digitable line, PIX code, boleto PDF) and "anything
else?". H of them (50, 15 with ``--quick``) then answer "3" → the handoff (protocol) and the transcript goes
to Chatwoot; they write two messages back to back, and once both are in the fake Chatwoot an agent answers
twice there (``POST /_fake/agent_message``), which must reach the fake provider.

Figures, all times from the fakes' and the server's clocks (one machine), none from this process's:

* ``bot_reply_p50_ms``/``p99_ms``: from the end of the grouping window (the stored webhook's ``received_at``
  of the turn's message + ``message_grouping_seconds``) to the turn's first reply at the fake provider
  (``bot_reply_complete_*``: to its last message); by step in ``bot_reply_by_step``.
* ``relay_p99_ms``: a customer's message after the handoff, from ``received_at`` to its arrival at the fake
  Chatwoot, and an agent's reply, from its creation in the fake Chatwoot to its arrival at the fake
  provider (each direction also on its own).
* ``lost``: bot messages queued and never at the provider, turns never answered, relayed messages never in
  Chatwoot, agent replies never at the provider. ``duplicates``: sends whose provider id the database does
  not keep (a message sent twice), a relayed message or agent reply arriving twice. ``out_of_order``: a
  customer's message at the provider after one queued later for them, a relayed message or agent reply
  after its successor.
* ``breakdown``: where the bot's time goes, from the database: intake → recorded (the inbound drain),
  window's end → taken by ``converse`` (scheduling: the countdown, the conversation queue), taken → first reply
  queued (the bot, its ERP calls), queued → at the provider (the outbox).
* ``cpu_cores``: cores used meanwhile by each group, by the throwaway database's PostgreSQL backends, by
  this process (``driver``) and by the rest of the machine (other work on it); ``cpu_ms_per_bot_turn`` (and
  ``postgres_cpu_ms_per_bot_turn``): their CPU over the bot's turns, what a wave of turns whose windows end
  together costs; ``worker_runqueue_wait_seconds``: how long the workers' threads were runnable but waited
  for a core (``/proc/.../schedstat``), against ``worker_cpu_seconds``: the machine holding them back rather
  than the work; ``worker_peak_cores_in_1_s``: near 1.0 a worker is bound by its one interpreter.
"""

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.sending_stack import (
    ROOT,
    CpuMeter,
    Database,
    benchmark_main,
    child_env,
    cpu_seconds,
    forget_redis_keys,
    free_port,
    log,
    log_tails,
    manage,
    module_child,
    percentile,
    pool_worker,
    process_tree,
    throwaway_database,
    wait_http,
)
from fakes import evolution_payloads

CUSTOMERS, QUICK_CUSTOMERS = 200, 50
TO_PERSON, QUICK_TO_PERSON = 50, 15
GROUPING_SECONDS = 3  # the company's default message_grouping_seconds
RUN_SECONDS, QUICK_RUN_SECONDS = 600, 300  # the run ends when every customer is done: this bounds a lost one
SETTLE_SECONDS = 3  # after the last customer is done: late duplicates still counted
# The fake Evolution posts its echo and three acks for every send, as Evolution does; False leaves them out,
# to tell their share of the cost (``python -c`` with this module's constants changed: not a figure to quote).
PROVIDER_WEBHOOKS = True
POLL_SECONDS = 0.05
POSTERS = 16  # threads posting the customers' webhooks and the agents' replies
GOAL_MS = 1000
CHATWOOT_TOKEN = "cw-bench-token"
EVOLUTION_KEY = "evolution-bench-key"
INSTANCE = "bench"

# (what the customer says, words of the bot's last message of its answer: the question it ends with)
BOT_STEPS = (
    ("oi", "Você está falando da conta de"),
    ("sim", "Como posso ajudar?"),
    ("1", "Posso ajudar em algo mais?"),
)
PERSON_STEP = ("3", "transferindo para um atendente")
RELAYED = ("Preciso de ajuda com a fatura (cliente {n}, 1/2)", "Ela veio com o valor errado (cliente {n}, 2/2)")
AGENT = ("Olá! Sou a Ana, vou verificar (cliente {n}, 1/2)", "Pronto, corrigido (cliente {n}, 2/2)")
TAGGED = re.compile(r"\(cliente (\d+), ([12])/2\)")
MESSAGES_PATH = re.compile(r"/api/v1/accounts/\d+/conversations/(\d+)/messages$")


def _log(message: str) -> None:
    log("conversation", message)


def phone_of(index: int) -> str:
    """The WhatsApp number of the fake ERP's ``index``-th generated customer (mobile ``(44) 98100-<index>``)."""
    return f"55449810{index:05d}"


# ------------------------------------------------------------------------------ the fakes, as processes


class FakeProcess:
    """``python -m fakes.<module> ...`` as its own process; its requests read from ``/_fake/requests``."""

    def __init__(self, folder: Path, module: str, *args: str) -> None:
        self.name = module.rsplit(".", 1)[-1]
        self.log_path = folder / f"fake-{self.name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"{module} did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")
        self.url = line.split()[1]
        self.seen = 0
        self.records: list[dict] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def new_requests(self) -> list[dict]:
        """The requests received since the last call (kept in ``records`` too)."""
        with urllib.request.urlopen(f"{self.url}/_fake/requests?since={self.seen}", timeout=10) as response:  # noqa: S310 (loopback fake)
            answer = json.loads(response.read())
        self.seen = answer["next"]
        self.records += answer["requests"]
        return answer["requests"]

    def call(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310 (loopback fake)
            f"{self.url}{path}", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback fake)
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._log.close()


class PeakCpu(threading.Thread):
    """Every second, the cores each group used in that second; ``peaks`` keeps the most seen per group.

    A group whose peak stays near 1.0 while it is behind is one process bound by its interpreter lock (the
    events worker's threads); one far below it was waiting (on the database, its threads, the machine)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        super().__init__(daemon=True, name="peak-cpu")
        self.groups, self.peaks = groups, dict.fromkeys(groups, 0.0)
        self.busy_seconds = dict.fromkeys(groups, 0)  # seconds in which the group used at least 0.8 of a core
        self._stop_event = threading.Event()

    def run(self) -> None:
        before = {name: cpu_seconds(process_tree(pids)) for name, pids in self.groups.items()}
        while not self._stop_event.wait(1.0):
            for name, pids in self.groups.items():
                now = cpu_seconds(process_tree(pids))
                used, before[name] = now - before[name], now
                self.peaks[name] = max(self.peaks[name], round(used, 2))
                self.busy_seconds[name] += used >= 0.8

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


def runqueue_wait_seconds(roots: list[int]) -> float:
    """Seconds the threads of these processes (and their children) spent runnable but waiting for a core
    (``/proc/<pid>/task/<tid>/schedstat``): how much the machine, not the work, held them back."""
    total = 0
    for pid in process_tree(roots):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError, ValueError, IndexError),
                    open(f"/proc/{pid}/task/{tid}/schedstat") as f,
                ):
                    total += int(f.read().split()[1])
    return total / 1e9


def _backends_cpu(database: Database) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the throwaway database (the pools keep
    theirs for the run), so the database's share is told apart from the rest of the machine."""
    if database.vendor != "postgresql":
        return {}
    pids = [pid for (pid,) in database.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    return {pid: cpu_seconds([pid]) for pid in pids}


# ------------------------------------------------------------------------------ the customers


@dataclass
class Turn:
    """One message of a customer's (or a burst of them) and the bot's answer to it at the provider."""

    step: str
    marker: str
    message_ids: list[str] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)  # arrival (wall) of each reply at the fake provider
    done: bool = False


@dataclass
class Customer:
    index: int
    phone: str
    to_person: bool
    turns: list[Turn] = field(default_factory=list)
    relayed_ids: list[str] = field(default_factory=list)
    relayed_at: dict[int, list[float]] = field(default_factory=dict)  # part → arrivals at the fake Chatwoot
    conversation_id: int | None = None
    agent_at: dict[int, float] = field(default_factory=dict)  # part → made in the fake Chatwoot
    agent_arrivals: dict[int, list[float]] = field(default_factory=dict)  # part → arrivals at the provider
    agent_asked: bool = False

    @property
    def done(self) -> bool:
        if not self.to_person:
            return len(self.turns) == len(BOT_STEPS) and self.turns[-1].done
        return len(self.agent_arrivals) == len(AGENT)


class Driver:
    """Posts the customers' messages and the agents' replies, and moves each customer on as replies arrive."""

    def __init__(self, base: str, contract: str, customers: list[Customer], evolution: FakeProcess, chatwoot):
        self.url = f"{base}/webhooks/evolution/{contract}/"
        self.customers = customers
        self.by_tail = {c.phone[-8:]: c for c in customers}
        self.evolution, self.chatwoot = evolution, chatwoot
        self.pool = ThreadPoolExecutor(POSTERS, thread_name_prefix="customer")
        self.errors: list[str] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ posting

    def _post_texts(self, customer: Customer, texts: list[str], into: list[str]) -> None:
        for text in texts:  # one after the other: the customer's order
            data = evolution_payloads.inbound_data("text", sender=customer.phone, name=f"Cliente {customer.index + 1}")
            data["message"] = {"conversation": text}
            into.append(data["key"]["id"])
            body = evolution_payloads.envelope(
                "messages.upsert",
                instance=INSTANCE,
                data=data,
                api_key=EVOLUTION_KEY,
                destination=self.url,
                sender="",
                server_url=self.evolution.url,
            )
            request = urllib.request.Request(  # noqa: S310 (our loopback server)
                self.url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    response.read()
            except (OSError, urllib.error.HTTPError) as exc:
                with self._lock:
                    self.errors.append(f"webhook of customer {customer.index}: {exc}")

    def say(self, customer: Customer, step: tuple[str, str]) -> None:
        turn = Turn(step=step[0], marker=step[1])
        customer.turns.append(turn)
        self.pool.submit(self._post_texts, customer, [step[0]], turn.message_ids)

    def _agent_replies(self, customer: Customer) -> None:
        for part, text in enumerate(AGENT, start=1):
            try:
                answer = self.chatwoot.call(
                    "/_fake/agent_message",
                    {"conversation_id": customer.conversation_id, "content": text.format(n=customer.index)},
                )
            except (OSError, urllib.error.HTTPError) as exc:
                with self._lock:
                    self.errors.append(f"agent reply to customer {customer.index}: {exc}")
                return
            customer.agent_at[part] = answer["at"]

    # ------------------------------------------------------------------ hearing

    def _at_provider(self, record: dict) -> None:
        body = record["body"] if isinstance(record["body"], dict) else {}
        if record["status"] != 201 or not record["message_id"]:
            return
        customer = self.by_tail.get(str(body.get("number", ""))[-8:])
        if customer is None:
            return
        text = str(body.get("text") or body.get("caption") or "")
        tagged = TAGGED.search(text)
        if tagged and int(tagged.group(1)) == customer.index and text.startswith(AGENT[int(tagged.group(2)) - 1][:10]):
            customer.agent_arrivals.setdefault(int(tagged.group(2)), []).append(record["wall"])
            return
        turn = customer.turns[-1] if customer.turns else None
        if turn is None or turn.done:
            return  # a late duplicate: counted from the database afterwards
        turn.replies.append(record["wall"])
        if turn.marker in text:
            turn.done = True
            self._next(customer)

    def _next(self, customer: Customer) -> None:
        done = len(customer.turns)
        if done < len(BOT_STEPS):
            self.say(customer, BOT_STEPS[done])
        elif customer.to_person and done == len(BOT_STEPS):
            self.say(customer, PERSON_STEP)
        elif customer.to_person and not customer.relayed_ids:
            texts = [text.format(n=customer.index) for text in RELAYED]
            self.pool.submit(self._post_texts, customer, texts, customer.relayed_ids)

    def _at_chatwoot(self, record: dict) -> None:
        found = MESSAGES_PATH.search(record["path"].split("?")[0])
        body = record["body"] if isinstance(record["body"], dict) else {}
        if record["method"] != "POST" or found is None or body.get("message_type") != "incoming":
            return
        tagged = TAGGED.search(str(body.get("content") or ""))
        if tagged is None or not 0 <= int(tagged.group(1)) < len(self.customers):
            return
        customer = self.customers[int(tagged.group(1))]
        customer.relayed_at.setdefault(int(tagged.group(2)), []).append(record["wall"])
        customer.conversation_id = int(found.group(1))
        if len(customer.relayed_at) == len(RELAYED) and not customer.agent_asked:
            customer.agent_asked = True
            self.pool.submit(self._agent_replies, customer)

    def run(self, seconds: float) -> float:
        """Start every customer at once and follow them until all are done (or ``seconds`` passed)."""
        started = time.monotonic()
        for customer in self.customers:
            self.say(customer, BOT_STEPS[0])
        last_log = 0.0
        while time.monotonic() - started < seconds:
            for record in self.evolution.new_requests():
                self._at_provider(record)
            for record in self.chatwoot.new_requests():
                self._at_chatwoot(record)
            done = sum(c.done for c in self.customers)
            if done == len(self.customers):
                break
            if time.monotonic() - last_log > 5:
                _log(f"{done}/{len(self.customers)} customers done, {time.monotonic() - started:.0f} s")
                last_log = time.monotonic()
            time.sleep(POLL_SECONDS)
        elapsed = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
        self.evolution.new_requests()
        self.chatwoot.new_requests()
        self.pool.shutdown(wait=True)
        return elapsed


# ------------------------------------------------------------------------------ figures


def _seconds(value) -> float:
    """A timestamp from the database (psycopg's aware datetime, or SQLite's text) as epoch seconds."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def _ms(values: list[float]) -> dict[str, float | None]:
    def rounded(percent: float) -> float | None:
        found = percentile(values, percent)
        return None if found is None else round(found * 1000, 1)

    return {"p50": rounded(50), "p99": rounded(99), "max": rounded(100), "n": len(values)}


def _read_database(database: Database) -> dict:
    received: dict[str, float] = {}
    for at, body in database.query(
        "SELECT received_at, body FROM conversations_webhookevent WHERE source = 'evolution' AND body LIKE %s",
        ('%"messages.upsert"%',),
    ):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            received[json.loads(body)["data"]["key"]["id"]] = _seconds(at)
    inbound = {
        provider_id: (_seconds(created), _seconds(handled) if handled else None)
        for provider_id, created, handled in database.query(
            "SELECT provider_id, created_at, handled_at FROM conversations_message WHERE direction = 'in'"
        )
    }
    outbound = [
        (pk, phone, author, _seconds(created), status, provider_id or "")
        for pk, phone, author, created, status, provider_id in database.query(
            "SELECT m.id, c.phone, m.author, m.created_at, m.status, m.provider_id FROM conversations_message m "
            "JOIN conversations_contact c ON c.id = m.contact_id WHERE m.direction = 'out' ORDER BY m.id"
        )
    ]
    chatwoot = [
        (body, _seconds(at))
        for at, body in database.query(
            "SELECT received_at, body FROM conversations_webhookevent WHERE source = 'chatwoot' AND body LIKE %s",
            ('%"message_created"%',),
        )
    ]
    return {"received": received, "inbound": inbound, "outbound": outbound, "chatwoot": chatwoot}


def _by_customer(customers: list[Customer], evolution_records: list[dict], outbound: list[tuple]):
    """Per customer: the sends accepted by the fake provider (provider id, wall) in arrival order, and the
    messages queued for them in the database (id, phone, author, created, status, provider id) by id."""
    by_tail = {c.phone[-8:]: c for c in customers}
    arrivals: dict[int, list[tuple[str, float]]] = {c.index: [] for c in customers}
    for record in evolution_records:
        body = record["body"] if isinstance(record["body"], dict) else {}
        customer = by_tail.get(str(body.get("number", ""))[-8:])
        if customer is not None and record["status"] == 201 and record["message_id"]:
            arrivals[customer.index].append((record["message_id"], record["wall"]))
    queued: dict[int, list[tuple]] = {c.index: [] for c in customers}
    for row in outbound:
        customer = by_tail.get(row[1][-8:])
        if customer is not None:
            queued[customer.index].append(row)
    return arrivals, queued


def _integrity(customers: list[Customer], arrivals: dict, queued: dict, chatwoot: list) -> tuple[Counter, ...]:
    lost, duplicates, out_of_order = Counter(), Counter(), Counter()
    for customer in customers:
        kept = {row[5]: row for row in queued[customer.index] if row[5]}
        at_provider = {provider_id for provider_id, _ in arrivals[customer.index]}
        lost["bot_replies"] += sum(1 for row in queued[customer.index] if row[2] == "bot" and row[5] not in at_provider)
        lost["turns_unanswered"] += sum(1 for turn in customer.turns if not turn.replies)
        duplicates["sends"] += sum(1 for provider_id, _ in arrivals[customer.index] if provider_id not in kept)
        latest = 0
        for provider_id, _ in arrivals[customer.index]:
            row = kept.get(provider_id)
            if row is not None:
                out_of_order["at_provider"] += row[0] < latest
                latest = max(latest, row[0])
        if customer.to_person:
            for parts, into in ((customer.relayed_at, "relayed"), (customer.agent_arrivals, "agent_replies")):
                lost[into] += sum(1 for part in (1, 2) if part not in parts)
                duplicates[into] += sum(len(times) - 1 for times in parts.values())
                out_of_order[into] += 1 in parts and 2 in parts and min(parts[2]) < min(parts[1])
    # Where an agent's two replies were swapped: already as our server stored their webhooks, or after.
    stored: dict[tuple[int, int], float] = {}
    for body, at in chatwoot:
        tagged = TAGGED.search(body)
        if tagged and '"message_type":"outgoing"' in body:
            stored.setdefault((int(tagged.group(1)), int(tagged.group(2))), at)
    out_of_order["agent_webhooks_stored_swapped"] = sum(
        1
        for c in customers
        if (c.index, 2) in stored and (c.index, 1) in stored and stored[c.index, 2] < stored[c.index, 1]
    )
    return lost, duplicates, out_of_order, stored


def _bot_times(customers: list[Customer], arrivals: dict, queued: dict, found: dict) -> dict:
    received, inbound = found["received"], found["inbound"]
    first, complete, by_step = [], [], {}
    intake, scheduling, first_queued, busy, outbox = [], [], [], [], []
    for customer in customers:
        bot_rows = [row for row in queued[customer.index] if row[2] == "bot"]
        arrived = dict(arrivals[customer.index])
        taken_at = []
        for turn in customer.turns:
            recorded = [inbound.get(i) for i in turn.message_ids]
            ok = recorded and all(r is not None and r[1] is not None for r in recorded)
            taken_at.append(max(r[1] for r in recorded) if ok else None)
        for number, turn in enumerate(customer.turns):
            times = [received[i] for i in turn.message_ids if i in received]
            if not turn.replies or not times or len(times) != len(turn.message_ids):
                continue
            end = max(times) + GROUPING_SECONDS
            first.append(turn.replies[0] - end)
            complete.append(turn.replies[-1] - end)
            by_step.setdefault(turn.step, []).append(turn.replies[0] - end)
            taken = taken_at[number]
            if taken is None:
                continue
            intake += [inbound[i][0] - received[i] for i in turn.message_ids]
            scheduling.append(taken - end)
            following = next((t for t in taken_at[number + 1 :] if t is not None), float("inf"))
            replies = [row for row in bot_rows if taken - 0.001 <= row[3] < following]
            if replies:
                first_queued.append(replies[0][3] - taken)
                busy.append(replies[-1][3] - taken)
                if replies[0][5] in arrived:
                    outbox.append(arrived[replies[0][5]] - replies[0][3])
    return {
        "bot_reply": _ms(first),
        "bot_reply_complete": _ms(complete),
        "bot_reply_by_step": {step: _ms(values) for step, values in by_step.items()},
        "breakdown": {
            "intake_to_recorded": _ms(intake),
            "window_end_to_taken": _ms(scheduling),
            "taken_to_first_reply_queued": _ms(first_queued),
            "taken_to_last_reply_queued": _ms(busy),
            "first_reply_queued_to_provider": _ms(outbox),
        },
        "bot_busy_seconds": round(sum(busy), 1),
    }


def _relay_times(customers: list[Customer], found: dict, stored: dict) -> dict:
    received, inbound = found["received"], found["inbound"]
    to_chatwoot, taken, taken_to_chatwoot, to_provider, webhook_stored = [], [], [], [], []
    for customer in customers:
        for part, times in customer.relayed_at.items():
            message_id = customer.relayed_ids[part - 1] if len(customer.relayed_ids) >= part else ""
            if message_id not in received:
                continue
            to_chatwoot.append(min(times) - received[message_id])
            handled = inbound.get(message_id, (None, None))[1]
            if handled is not None:
                taken.append(handled - received[message_id])
                taken_to_chatwoot.append(min(times) - handled)
        for part, times in customer.agent_arrivals.items():
            if part in customer.agent_at:
                to_provider.append(min(times) - customer.agent_at[part])
                if (customer.index, part) in stored:
                    webhook_stored.append(stored[customer.index, part] - customer.agent_at[part])
    return {
        "relay": _ms(to_chatwoot + to_provider),
        "relay_to_chatwoot": _ms(to_chatwoot),
        "agent_to_provider": _ms(to_provider),
        "breakdown": {
            "relayed_received_to_taken": _ms(taken),
            "relayed_taken_to_chatwoot": _ms(taken_to_chatwoot),
            "agent_reply_to_webhook_stored": _ms(webhook_stored),
        },
    }


def figures_of(customers: list[Customer], evolution_records: list[dict], found: dict) -> dict:
    arrivals, queued = _by_customer(customers, evolution_records, found["outbound"])
    lost, duplicates, out_of_order, stored = _integrity(customers, arrivals, queued, found["chatwoot"])
    bot, relay = _bot_times(customers, arrivals, queued, found), _relay_times(customers, found, stored)
    return {
        **bot,
        **relay,
        "breakdown": {**bot["breakdown"], **relay["breakdown"]},
        "lost": lost,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "messages_at_provider": sum(len(v) for v in arrivals.values()),
    }


# ------------------------------------------------------------------------------ the run


def _seed(request: dict) -> dict:
    """The company (ERP, Chatwoot, grouping window), its Evolution channel on the fake, unpaced."""
    from companies.models import Channel, Company
    from fakes.erp.server import DEMO_CREDENTIALS

    company = Company.objects.create(
        name="Provedor bench",
        message_grouping_seconds=request["grouping_seconds"],
        business_hours={},
        erp_system="ixc",
        erp_base_url=request["erp_url"],
        erp_username=DEMO_CREDENTIALS.username,
        erp_token=DEMO_CREDENTIALS.token,
        chatwoot_base_url=request["chatwoot_url"],
        chatwoot_account_id=1,
        chatwoot_inbox_id=1,
        chatwoot_api_token=CHATWOOT_TOKEN,
        chatwoot_webhook_secret=request["webhook_secret"],
        chatwoot_signing_secret=request["signing_secret"],
    )
    Channel.objects.create(
        company=company,
        kind=Channel.Kind.EVOLUTION,
        name="bench",
        api_base_url=request["evolution_url"],
        api_key=EVOLUTION_KEY,
        instance_name=INSTANCE,
        connection_state=Channel.ConnectionState.OPEN,
        send_delay_ms=0,
    )
    return {"contract": str(company.contract)}


def _child(env: dict, command: str, request: dict) -> dict:
    return module_child("benchmarks.conversation", env, command, request, timeout=300)


def run(*, quick: bool = False) -> dict:
    count = QUICK_CUSTOMERS if quick else CUSTOMERS
    to_person = QUICK_TO_PERSON if quick else TO_PERSON
    folder = Path(tempfile.mkdtemp(prefix="ponte-bench-conversation-"))
    tag = f"benchconversation{os.getpid()}"
    load_before = os.getloadavg()
    processes: list[subprocess.Popen] = []
    fakes: list[FakeProcess] = []
    with throwaway_database(folder) as database:
        env = child_env(database, folder, tag)
        _log(f"migrating {database.vendor}")
        manage(env, "migrate", "--noinput")
        try:
            erp = FakeProcess(folder, "fakes.erp", "--kind", "ixc", "--port", "0", "--customers", str(count))
            fakes.append(erp)
            web_port, evolution_port, chatwoot_port = free_port(), free_port(), free_port()
            base = f"http://127.0.0.1:{web_port}"
            webhook_secret, signing_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
            seeded = _child(
                env,
                "seed",
                {
                    "grouping_seconds": GROUPING_SECONDS,
                    "erp_url": erp.url,
                    "chatwoot_url": f"http://127.0.0.1:{chatwoot_port}",
                    "evolution_url": f"http://127.0.0.1:{evolution_port}",
                    "webhook_secret": webhook_secret,
                    "signing_secret": signing_secret,
                },
            )
            contract = seeded["contract"]
            evolution = FakeProcess(
                folder,
                "fakes.evolution",
                *("--port", str(evolution_port), "--api-key", EVOLUTION_KEY),
                *(("--webhook", f"{base}/webhooks/evolution/{contract}/") if PROVIDER_WEBHOOKS else ()),
                *("--number", "554430300000"),
            )
            fakes.append(evolution)
            chatwoot = FakeProcess(
                folder,
                "fakes.chatwoot",
                # The ``=`` form: a secret may begin with "-", which argparse would read as an option.
                *("--port", str(chatwoot_port), "--token", CHATWOOT_TOKEN, f"--signing-secret={signing_secret}"),
                *("--webhook-url", f"{base}/webhooks/chatwoot/{contract}/{webhook_secret}/"),
            )
            fakes.append(chatwoot)
            with (folder / "web.log").open("wb") as web_log:
                # As ``runall`` starts it (``config.web_server.uvicorn_command``): no access log.
                command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--no-access-log"]
                web = subprocess.Popen(
                    [*command, "--host", "127.0.0.1", "--port", str(web_port)],
                    cwd=ROOT,
                    env=env,
                    stdout=web_log,
                    stderr=subprocess.STDOUT,
                )
            processes.append(web)
            workers = {
                "inbound": pool_worker(
                    env, folder, tag, name="inbound", queue="inbound", pool="prefork", concurrency=2
                ),
                "outbox": pool_worker(env, folder, tag, name="outbox", queue="outbox", pool="prefork", concurrency=2),
                "events": pool_worker(env, folder, tag, name="events", queue="events", pool="threads", concurrency=4),
                "conversation": pool_worker(
                    env, folder, tag, name="conversation", queue="conversation", pool="threads", concurrency=8
                ),
            }
            processes += workers.values()
            wait_http(base, 60)
            time.sleep(5)  # the workers' start-up
            step = max(1, count // to_person)
            people = set(range(0, count, step)[:to_person])
            customers = [Customer(i, phone_of(i), i in people) for i in range(count)]
            meter = CpuMeter(
                {
                    "web": [web.pid],
                    **{name: [process.pid] for name, process in workers.items()},
                    "fakes": [fake.pid for fake in fakes],
                }
            )
            _log(f"{count} customers at once, {len(people)} of them to a person")
            peaks = PeakCpu({name: [process.pid] for name, process in workers.items()})
            meter.start()
            peaks.start()
            driver_cpu, backends = time.process_time(), _backends_cpu(database)
            waited = {name: runqueue_wait_seconds([process.pid]) for name, process in workers.items()}
            driver = Driver(base, contract, customers, evolution, chatwoot)
            elapsed = driver.run(QUICK_RUN_SECONDS if quick else RUN_SECONDS)
            cores = meter.stop()
            peaks.stop()
            waited = {
                name: round(runqueue_wait_seconds([process.pid]) - waited[name], 1) for name, process in workers.items()
            }
            metered = time.monotonic() - meter.started
            # This process alone (the meter's groups are process trees: this one's would hold them all).
            cores["driver"] = round((time.process_time() - driver_cpu) / metered, 2)
            database_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in _backends_cpu(database).items())
            cores["postgres"] = round(database_cpu / metered, 2)
            cores["rest"] = round(max(0.0, cores["rest"] - cores["driver"] - cores["postgres"]), 2)
            found = _read_database(database)
        except Exception:
            _log(f"failed; logs in {folder}:\n{log_tails(folder)}")
            raise
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
            for fake in fakes:
                fake.stop()
            if os.environ.get("REDIS_URL"):
                forget_redis_keys(tag)
    measured = figures_of(customers, evolution.records, found)
    lost, duplicates, out_of_order = measured["lost"], measured["duplicates"], measured["out_of_order"]
    figures = {
        "benchmark": "conversation",
        "python": sys.version.split()[0],
        "database": database.vendor,
        "customers": count,
        "to_person": len(people),
        "customers_done": sum(c.done for c in customers),
        "seconds": round(elapsed, 1),
        "message_grouping_seconds": GROUPING_SECONDS,
        "worker_niceness": env.get("CELERY_WORKER_NICENESS", "default"),
        "provider_webhooks": PROVIDER_WEBHOOKS,
        "bot_reply_p50_ms": measured["bot_reply"]["p50"],
        "bot_reply_p99_ms": measured["bot_reply"]["p99"],
        "bot_reply_complete_p99_ms": measured["bot_reply_complete"]["p99"],
        "relay_p99_ms": measured["relay"]["p99"],
        "lost": sum(lost.values()),
        "out_of_order": sum(v for k, v in out_of_order.items() if k != "agent_webhooks_stored_swapped"),
        "duplicates": sum(duplicates.values()),
        "bot_turns": measured["bot_reply"]["n"],
        "relayed_messages": measured["relay_to_chatwoot"]["n"],
        "agent_replies": measured["agent_to_provider"]["n"],
        "messages_at_provider": measured["messages_at_provider"],
        "bot_busy_seconds": measured["bot_busy_seconds"],
        "detail": {
            "bot_reply": measured["bot_reply"],
            "bot_reply_complete": measured["bot_reply_complete"],
            "bot_reply_by_step": measured["bot_reply_by_step"],
            "relay_to_chatwoot": measured["relay_to_chatwoot"],
            "agent_to_provider": measured["agent_to_provider"],
            "lost": dict(lost),
            "duplicates": dict(duplicates),
            "out_of_order": dict(out_of_order),
        },
        "breakdown_ms": measured["breakdown"],
        "cpu_cores": cores,
        # Everything our processes did (PostgreSQL and Redis aside) divided by the bot's turns: what a wave of
        # turns whose windows end together costs, so ``customers x this / cores`` bounds how long it takes.
        "worker_peak_cores_in_1_s": peaks.peaks,
        "worker_seconds_above_0_8_cores": peaks.busy_seconds,
        "worker_cpu_seconds": {name: round(meter.seconds[name], 1) for name in workers},
        "worker_runqueue_wait_seconds": waited,
        "cpu_ms_per_bot_turn": round(
            1000 * sum(meter.seconds[name] for name in ("web", *workers)) / max(1, measured["bot_reply"]["n"]), 1
        ),
        "postgres_cpu_ms_per_bot_turn": round(1000 * database_cpu / max(1, measured["bot_reply"]["n"]), 1),
        "loadavg_before": [round(value, 2) for value in load_before],
        "driver_errors": driver.errors[:5],
    }
    figures["goals"] = {
        "bot_reply_p99_under_1_s": figures["bot_reply_p99_ms"] is not None and figures["bot_reply_p99_ms"] < GOAL_MS,
        "relay_p99_under_1_s": figures["relay_p99_ms"] is not None and figures["relay_p99_ms"] < GOAL_MS,
        "none_lost": figures["lost"] == 0 and figures["customers_done"] == count,
        "none_out_of_order": figures["out_of_order"] == 0,
        "no_duplicates": figures["duplicates"] == 0,
    }
    return figures


CHILD_COMMANDS = {"seed": _seed}


if __name__ == "__main__":
    benchmark_main(run, CHILD_COMMANDS)
