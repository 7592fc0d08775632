"""The ERP transport against a real HTTP server on loopback: retries, timeouts, answers that are no JSON, no secrets."""

import base64
import contextlib
import itertools
import logging
import socket
import threading
import time

import pytest

from companies.erp.base import ErpAuthFailed, ErpBadAnswer, ErpError, ErpUnavailable
from companies.erp.transport import ATTEMPTS, TIMEOUT, ErpTransport, page_text
from config.logging import MaskingFilter
from fakes.erp.server import html
from fakes.server import Answer, FakeServer, Request, json_answer

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast
# Test values, looked for in the output.
PASSWORD = "s3nha-do-provedor"
TOKEN = "tok-4f9a1c2e7b"
BASIC = base64.b64encode(f"ponte:{PASSWORD}".encode()).decode()


class ScriptedErp(FakeServer):
    """Answers the ``script`` in order, then its last answer again; keeps what it received."""

    name = "scripted-erp"

    def __init__(self) -> None:
        super().__init__()
        self.script: list[Answer] = [json_answer(200, {"ok": True})]
        self._script_lock = threading.Lock()

    def answer(self, request: Request, raw: bytes) -> Answer:
        with self._script_lock:
            answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        request.status = answer.status
        with self._lock:
            self._records.append(request)
        return answer


@pytest.fixture
def erp():
    server = ScriptedErp().start()
    yield server
    server.stop()


def _status(status: int, body: bytes = b"", content_type: str = "application/json") -> Answer:
    return Answer(status, body, content_type=content_type)


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------- answers


def test_a_json_answer_is_decoded_once_asked(erp):
    erp.script = [json_answer(200, {"clientes": [{"id": 1}]})]
    assert ErpTransport("IXC").json("GET", f"{erp.url}/api") == {"clientes": [{"id": 1}]}
    assert len(erp.requests) == 1


def test_the_defaults_are_a_short_timeout_and_three_attempts():
    transport = ErpTransport("IXC", verify_tls=False)
    assert transport.session.timeout == TIMEOUT == (3.05, 10)
    assert transport.attempts == ATTEMPTS == 3
    assert transport.session.verify is False


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (html(200, "Ocorreu um erro ao processar. Contate o suporte."), "HTML page instead of JSON: 'Ocorreu um erro"),
        (_status(200, b""), "answered an empty body"),
        (_status(200, b"  \r\n "), "answered an empty body"),
        (_status(200, b"Fatal error: Uncaught exception in /var/www/api.php:42", "text/plain"), "is not JSON"),
        (_status(200, b"{'single': 'quotes'}"), "is not JSON"),
        (_status(200, b"<?xml version='1.0'?><erro>falha</erro>", "text/xml"), "HTML page instead of JSON: 'falha'"),
    ],
    ids=["html", "empty", "blank", "php-error", "not-quite-json", "xml"],
)
def test_an_answer_that_is_no_json_is_a_bad_answer_asked_once(erp, answer, words):
    erp.script = [answer]
    with pytest.raises(ErpBadAnswer, match=words) as caught:
        ErpTransport("SGP", **FAST).json("POST", f"{erp.url}/api/ura/clientes/")
    assert str(caught.value).startswith("SGP answered") and not caught.value.retryable
    assert len(erp.requests) == 1


@pytest.mark.parametrize("status", [400, 404, 405, 409, 422])
def test_a_4xx_is_answered_at_once_without_retrying(erp, status):
    erp.script = [json_answer(status, {"error": "no"})]
    transport = ErpTransport("Hubsoft", **FAST)
    assert transport.request("GET", f"{erp.url}/api/v1/cliente").status_code == status
    with pytest.raises(ErpBadAnswer, match=rf"^Hubsoft answered HTTP {status}\.$"):
        transport.json("GET", f"{erp.url}/api/v1/cliente")
    assert len(erp.requests) == 2  # one per call


def test_a_4xx_page_says_its_words(erp):
    erp.script = [html(404, "Página não encontrada")]
    with pytest.raises(ErpBadAnswer, match="IXC answered HTTP 404: Página não encontrada"):
        ErpTransport("IXC", **FAST).json("GET", f"{erp.url}/webservice/v1/cliente")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_an_auth_failure_asked_once(erp, status):
    erp.script = [json_answer(status, {"message": "Unauthenticated."})]
    with pytest.raises(ErpAuthFailed, match=rf"IXC refused the credentials \(HTTP {status}\)") as caught:
        ErpTransport("IXC", **FAST).json("GET", f"{erp.url}/webservice/v1/cliente")
    assert not caught.value.retryable and len(erp.requests) == 1


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_not_followed_and_says_where_it_points(erp, status):
    target = "https://erp.example.com.br/webservice/v1/cliente"
    erp.script = [Answer(status, b'{"looks": "like json"}', headers={"Location": target})]
    with pytest.raises(ErpBadAnswer, match=rf"answered a redirect \(HTTP {status}\) to {target}"):
        ErpTransport("IXC", **FAST).json("GET", f"{erp.url}/webservice/v1/cliente")
    assert [r.path for r in erp.requests] == ["/webservice/v1/cliente"]


# ---------------------------------------------------------------------- what a retry can fix


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_5xx_and_429_are_retried_then_the_erp_is_unavailable(erp, status):
    erp.script = [json_answer(status, {"error": "busy"})]
    with pytest.raises(ErpUnavailable, match=rf"^RouterBox is failing \(HTTP {status}\)\.$") as caught:
        ErpTransport("RouterBox", **FAST).json("POST", f"{erp.url}/routerbox/ws/rbx_server_json.php")
    assert caught.value.retryable
    assert [r.status for r in erp.requests] == [status] * ATTEMPTS


def test_one_failure_then_an_answer_is_the_answer(erp):
    erp.script = [html(503, "503 Service Temporarily Unavailable"), json_answer(429, {}), json_answer(200, [1, 2])]
    assert ErpTransport("SGP", **FAST).json("GET", f"{erp.url}/api") == [1, 2]
    assert [r.status for r in erp.requests] == [503, 429, 200]


def test_the_number_of_attempts_is_the_transports(erp):
    erp.script = [json_answer(502, {})]
    with pytest.raises(ErpUnavailable):
        ErpTransport("SGP", attempts=5, **FAST).request("GET", f"{erp.url}/api")
    assert len(erp.requests) == 5


def test_retries_wait_longer_each_time(erp):
    # tenacity's exponential backoff with jitter: 0.25 s, then 0.5 s, each plus up to 1 s at random.
    erp.script = [json_answer(503, {})]
    with pytest.raises(ErpUnavailable):
        ErpTransport("SGP").request("GET", f"{erp.url}/api")
    first, second, third = (r.monotonic for r in erp.requests)
    # The upper bounds leave room for a loaded machine; the lower ones are what the backoff promises.
    assert 0.25 <= second - first <= 1.25 + 0.75
    assert 0.5 <= third - second <= 1.5 + 0.75


def test_max_wait_caps_the_backoff(erp):
    erp.script = [json_answer(503, {})]
    with pytest.raises(ErpUnavailable):
        ErpTransport("SGP", attempts=4, max_wait=0.05).request("GET", f"{erp.url}/api")
    arrivals = [r.monotonic for r in erp.requests]
    assert all(later - earlier < 0.6 for earlier, later in itertools.pairwise(arrivals))


def test_an_erp_slower_than_the_read_timeout_is_unavailable_after_the_retries(erp):
    erp.delay = 2.0  # two attempts that waited for it would take 4 s
    started = time.monotonic()
    with pytest.raises(ErpUnavailable, match=r"^MK-Auth did not answer in time\.$") as caught:
        ErpTransport("MK-Auth", timeout=(1, 0.1), attempts=2, **FAST).json("GET", f"{erp.url}/api/cliente")
    assert caught.value.retryable and len(erp.requests) == 2
    assert time.monotonic() - started < 2.0  # each attempt gave up at the read timeout


def test_nobody_listening_is_unavailable_after_the_retries():
    with pytest.raises(ErpUnavailable, match=r"^IXC could not be reached \(ConnectionError\)\.$") as caught:
        ErpTransport("IXC", **FAST).json("GET", f"http://127.0.0.1:{_free_port()}/webservice/v1/cliente")
    # The requests error (its text has the URL) is not chained into a traceback that prints it.
    assert caught.value.retryable and caught.value.__cause__ is None and caught.value.__suppress_context__


# ---------------------------------------------------------------------- secrets and documents


def _session_with_credentials() -> ErpTransport:
    transport = ErpTransport("IXC", **FAST)
    transport.session.headers["Authorization"] = f"Basic {BASIC}"
    return transport


def _error(call) -> str:
    try:
        call()
    except ErpError as exc:
        return str(exc)
    raise AssertionError("no ErpError")


def test_no_secret_reaches_an_error_or_a_log_line(erp, caplog):
    echo = (
        f"Fatal error: request Authorization: Basic {BASIC} token={TOKEN} password={PASSWORD} "
        "cliente 529.982.247-25 não encontrado"
    )
    transport = _session_with_credentials()
    url = f"{erp.url}/webservice/v1/cliente?token={TOKEN}&password={PASSWORD}"

    def call() -> None:
        transport.json("POST", url, json={"password": PASSWORD, "token": TOKEN})

    errors = []
    with caplog.at_level(logging.DEBUG):  # urllib3's request lines too
        scripts = [[json_answer(500, {}), html(502, echo)], [html(200, echo)], [html(400, echo)], [html(401, echo)]]
        for script in scripts:
            erp.script = script
            errors.append(_error(call))
        errors.append(_error(lambda: transport.json("GET", f"http://127.0.0.1:{_free_port()}/x?token={TOKEN}")))
    assert errors[0] == "IXC is failing (HTTP 502)."
    assert errors[1].startswith("IXC answered an HTML page instead of JSON: 'Fatal error: request Authorization: ***")
    assert "529.***.***-25" in errors[2] and "token=***" in errors[2] and "password=***" in errors[2]
    assert errors[3] == "IXC refused the credentials (HTTP 401)."
    assert errors[4] == "IXC could not be reached (ConnectionError)."
    masking = MaskingFilter()
    lines = []
    for record in caplog.records:
        masking.filter(record)  # what the configured handler does to every record before writing it
        lines.append(record.getMessage() + (record.exc_text or ""))
    assert any("HTTP POST" in line for line in lines) and any("urllib3" in r.name for r in caplog.records)
    for text in [*errors, *lines]:
        for secret in (PASSWORD, TOKEN, BASIC, "52998224725", "529.982.247-25"):
            assert secret not in text, text


def test_the_http_logs_of_the_transport_mask_the_url_themselves(erp, caplog):
    erp.script = [json_answer(503, {}), json_answer(200, {})]
    with caplog.at_level(logging.INFO, logger="config.http"):
        ErpTransport("SGP", **FAST).json("GET", f"{erp.url}/api?token={TOKEN}&cpf=52998224725")
    messages = [r.getMessage() for r in caplog.records if r.name == "config.http"]
    assert len(messages) == 2 and all("token=***" in m and "cpf=529.***.***-25" in m for m in messages)
    assert not any(TOKEN in m for m in messages)


def test_the_request_carried_the_credentials_the_logs_hide(erp):
    _session_with_credentials().json("POST", f"{erp.url}/api", json={"password": PASSWORD})
    [request] = erp.requests
    assert request.authorization == f"Basic {BASIC}" and request.body == {"password": PASSWORD}


# ---------------------------------------------------------------------- page_text


def test_page_text_keeps_the_words_of_a_page():
    page = "<html><head><style>p{}</style></head><body><div style='x'>Erro&nbsp;ao   consultar<br/>o t&iacute;tulo"
    assert page_text(page) == "p{} Erro ao consultar o título"


def test_page_text_is_cut_and_masked():
    words = page_text(f"<p>{'a' * 300} cpf 529.982.247-25</p>", limit=400)
    assert words.endswith("cpf 529.***.***-25")
    assert len(page_text("<p>" + "palavra " * 100 + "</p>")) == 200
    assert page_text(f"<p>senha={PASSWORD}</p>") == "senha=***"
