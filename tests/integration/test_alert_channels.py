"""Every channel against a real receiver on loopback, through the engine and the outbox:
one target goes down and comes back, and each receiver must hold the documented message.

- email: aiosmtpd with STARTTLS and a login, and aiosmtpd speaking SMTPS, both with a test
  CA the channel is given as `ca_file`;
- zalo: a loopback HTTPS implementation of the Zalo Bot Platform's documented sendMessage
  (tests/servers/receivers.BotApi; no Zalo server can be reached from a test), and the
  same for Telegram's Bot API, which shares its shape;
- alertmanager: Debian's prometheus-alertmanager (session fixture);
- webhook and command: the JSON body, held to the example in docs/alerts.md;
- sms: smstools' outgoing directory (files in UCS-2 parts of at most 70 characters) and
  gammu-smsd-inject with its `files` service (Debian gammu-smsd).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from linkwatch.agent.alerts.evaluate import Engine
from linkwatch.agent.alerts.outbox import Dispatcher, recover
from linkwatch.agent.config import load_config
from linkwatch.agent.config.schema import Config
from linkwatch.agent.spool import open_spool
from linkwatch.collector.sample import Sample
from tests.servers.alertmanager import AlertmanagerServer
from tests.servers.certificates import make_certificates
from tests.servers.process import require
from tests.servers.receivers import BotApi, JsonReceiver
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "3560693075:test-bot-token"
PHONE = "+84912345678"
COMMAND = """\
import pathlib, sys
out = pathlib.Path(sys.argv[1])
out.mkdir(exist_ok=True)
(out / f"{len(list(out.iterdir())):03d}.json").write_bytes(sys.stdin.buffer.read())
"""
GAMMU = """\
[gammu]
device = /dev/null
connection = at
[smsd]
service = files
inboxpath = {root}/inbox/
outboxpath = {root}/outbox/
sentsmspath = {root}/sent/
errorsmspath = {root}/error/
logfile = {root}/smsd.log
"""


def drain(config: Config, steps: Callable[[Engine], None],
          done: Callable[[list], bool], timeout: float = 60) -> list:
    """Run the engine's `steps` on a fresh spool, then the dispatcher until `done(outbox
    rows)`; returns the rows."""
    spool = open_spool(config)
    try:
        recover(config, spool)                     # as the agent does when it starts
        dispatcher = Dispatcher(config, spool)
        engine = Engine(config, spool, wake=dispatcher.wake)
        engine.start()
        steps(engine)

        async def deliver() -> list:
            stop = asyncio.Event()
            task = asyncio.create_task(dispatcher.run(stop))
            deadline = time.monotonic() + timeout
            try:
                while True:
                    rows = spool._conn.execute(
                        "SELECT channel, kind, status, attempts, last_error FROM notification "
                        "ORDER BY id").fetchall()
                    if done(rows):
                        return rows
                    assert time.monotonic() < deadline, f"outbox not delivered: {rows}"
                    await asyncio.sleep(0.1)
            finally:
                stop.set()
                await asyncio.wait([task], timeout=10)

        return asyncio.run(deliver())
    finally:
        spool.close()


def cycles(target: str, site: str, ups: list[int], start_ns: int,
           step_ns: int = 10**9) -> list[Sample]:
    return [Sample("ping", {"agent": "a", "site": site, "target": target},
                   {"up": up, "sent": 1, "received": up, **({"rtt_avg_ms": 3.0} if up else {})},
                   start_ns + i * step_ns) for i, up in enumerate(ups)]


@pytest.fixture
def receivers(tmp_path: Path):
    certificates = make_certificates(tmp_path / "ca")
    starttls = SmtpServer(security="starttls", certificates=certificates,
                          login=("linkwatch", "mail-secret")).start()
    smtps = SmtpServer(security="tls", certificates=certificates).start()
    zalo = BotApi(TOKEN, certificates)
    telegram = BotApi("123456:telegram-token")       # the same request shape, plain HTTP
    webhook = JsonReceiver()
    stuck = JsonReceiver(mode="hang")
    yield {"certificates": certificates, "starttls": starttls, "smtps": smtps, "zalo": zalo,
           "telegram": telegram, "webhook": webhook, "stuck": stuck}
    for server in (starttls, smtps):
        server.stop()
    for receiver in (zalo, telegram, webhook, stuck):
        receiver.close()


def write(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def test_every_channel_delivers_the_documented_message(
        tmp_path: Path, receivers, alertmanager: AlertmanagerServer) -> None:
    require("gammu-smsd-inject", "the Debian package gammu-smsd")
    r = receivers
    run = "run-" + uuid.uuid4().hex[:8]
    (tmp_path / "smtp.password").write_text("mail-secret\n")
    (tmp_path / "zalo.token").write_text(TOKEN + "\n")
    (tmp_path / "receiver.py").write_text(COMMAND)
    outgoing = tmp_path / "sms-outgoing"
    outgoing.mkdir()
    gammu = tmp_path / "gammu"
    for sub in ("inbox", "outbox", "sent", "error"):
        (gammu / sub).mkdir(parents=True)
    (gammu / "smsdrc").write_text(GAMMU.format(root=gammu))
    ca = r["certificates"].ca_file
    config = write(tmp_path, f"""\
        agent: {{name: {run}, site: district, spool: {{path: spool.db}}}}
        sites:
          - {{name: district}}
          - {{name: minh-chau, parent: district, description: Xã Minh Châu}}
        alerts: {{language: vi}}
        checks:
          ping: [{{name: minh-chau-router, address: 127.0.0.1, site: minh-chau, interval: 1s}}]
        notify:
          email:
            - {{name: mail-starttls, server: 127.0.0.1, port: {r["starttls"].port},
               security: starttls, username: linkwatch, password_file: smtp.password,
               ca_file: {ca}, sender: linkwatch@district.example, to: [it@district.example]}}
            - {{name: mail-smtps, server: 127.0.0.1, port: {r["smtps"].port}, security: tls,
               ca_file: {ca}, sender: linkwatch@district.example, to: [it@district.example],
               language: en}}
          zalo:
            - {{name: it-zalo, token_file: zalo.token, chat_ids: [chat-a, chat-b],
               url: "{r["zalo"].url}", ca_file: {ca}}}
          telegram:
            - {{name: tg, token: "123456:telegram-token", chat_ids: ["-100200"],
               url: "{r["telegram"].url}", language: en}}
          alertmanager:
            - {{name: am, url: "{alertmanager.url}"}}
          webhook:
            - {{name: hook, url: "{r["webhook"].url}/hook", token: hook-secret}}
            - {{name: stuck, url: "{r["stuck"].url}/hook", timeout: 2s}}
          command:
            - {{name: ticket, command: ["{sys.executable}", "{tmp_path / 'receiver.py'}",
                                        "{tmp_path / 'runs'}"]}}
          sms:
            - {{name: island-sms, to: ["{PHONE}"], outgoing: "{outgoing}"}}
            - {{name: island-gammu, to: ["{PHONE}"], via: gammu,
               gammu_config: "{gammu / 'smsdrc'}"}}
        """)
    t0 = time.time_ns() - 30 * 10**9

    def down(engine: Engine) -> None:
        engine.observe(cycles("minh-chau-router", "minh-chau", [1, 1, 0, 0, 0], t0))

    def up(engine: Engine) -> None:
        engine.observe(cycles("minh-chau-router", "minh-chau", [1], t0 + 5 * 10**9))

    def all_but_stuck(rows: list) -> bool:
        return bool(rows) and all(s == "sent" for c, _, s, *_ in rows if c != "stuck")

    # the firing messages arrive everywhere but on the stuck webhook, which delays no one
    rows = drain(config, down, all_but_stuck)
    assert [s for c, _, s, *_ in rows if c == "stuck"] in (["queued"], ["handed"])
    assert sorted(c for c, _, s, *_ in rows if s == "sent") == sorted([
        "mail-starttls", "mail-smtps", "it-zalo", "it-zalo", "tg", "am", "hook", "ticket",
        "island-sms", "island-gammu"])

    mail = r["starttls"].messages()[0]
    assert mail.subject == "[linkwatch] NGHIÊM TRỌNG MẤT KẾT NỐI: minh-chau-router (minh-chau)"
    assert "không phản hồi ping" in mail.text
    assert mail.message["Message-ID"] == f"<{mail.message['X-Linkwatch-Dedupe-Key']}@{run}" \
                                         ".linkwatch>"
    assert r["smtps"].messages()[0].subject == \
        "[linkwatch] CRITICAL DOWN: minh-chau-router (minh-chau)"

    zalo = r["zalo"].received()
    assert [(q.path, q.body["chat_id"]) for q in zalo] == [
        (f"/bot{TOKEN}/sendMessage", "chat-a"), (f"/bot{TOKEN}/sendMessage", "chat-b")]
    assert zalo[0].body["text"].startswith("MẤT KẾT NỐI: minh-chau-router (minh-chau)")
    assert set(zalo[0].body) == {"chat_id", "text"}

    (telegram,) = r["telegram"].received()
    assert telegram.path == "/bot123456:telegram-token/sendMessage"
    assert telegram.body["chat_id"] == "-100200"
    assert telegram.body["text"].startswith("DOWN: minh-chau-router (minh-chau)")

    (hook,) = r["webhook"].received()
    assert hook.headers["Authorization"] == "Bearer hook-secret"
    assert_documented_body(hook.body)
    assert hook.body["kind"] == "alert" and hook.body["events"][0]["state"] == "firing"
    (ticket,) = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").iterdir())]
    assert_documented_body(ticket)
    assert ticket["dedupe_key"] == hook.body["dedupe_key"]

    parts = smstools_parts(outgoing)
    assert parts and all(len(text) <= 70 for text in parts)
    assert parts[0].startswith("MẤT KẾT NỐI: minh-chau-router")
    (backup,) = list((gammu / "outbox").iterdir())
    text = backup.read_text()
    assert 'Number = "+84912345678"' in text and "Coding = Unicode_No_Compression" in text
    hexed = "".join(re.findall(r"^Text\d\d = ([0-9A-F]+)$", text, re.M))   # lines of hex
    assert bytes.fromhex(hexed).decode("utf-16-be") == parts[0]

    fired = alertmanager.wait_for(lambda a: len(a) == 1, 30, "the alert", agent=run)
    assert fired[0]["labels"] == {"alertname": "target_down", "severity": "critical",
                                  "site": "minh-chau", "agent": run,
                                  "target": "minh-chau-router"}
    assert fired[0]["status"]["state"] == "active"

    # resolved: every channel that said it fired says it is over
    drain(config, up, all_but_stuck)
    assert r["starttls"].messages()[1].subject.startswith("[linkwatch] ĐÃ KHÔI PHỤC")
    hooks = r["webhook"].received()
    assert hooks[1].body["events"][0]["state"] == "resolved"
    alertmanager.wait_for(lambda a: not a or all(x["endsAt"] <= _now_iso() for x in a), 30,
                          "the alert to resolve", agent=run)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 1))


def smstools_parts(outgoing: Path) -> list[str]:
    """The texts of the smstools files in `outgoing`, checked well-formed: `To:` and
    `Alphabet: UCS2` headers, an empty line, then UTF-16 big-endian text."""
    texts = []
    for path in sorted(p for p in outgoing.iterdir() if not p.name.startswith(".")):
        raw = path.read_bytes()
        head, _, body = raw.partition(b"\n\n")
        headers = dict(line.split(": ", 1) for line in head.decode("ascii").splitlines())
        assert headers == {"To": PHONE.lstrip("+"), "Alphabet": "UCS2"}, headers
        assert len(body) % 2 == 0
        texts.append(body.decode("utf-16-be"))
    return texts


def documented_body() -> dict:
    """The webhook body of docs/alerts.md (the JSON block under "### Webhook body")."""
    doc = (REPO / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = doc.split("### Webhook body", 1)[1]
    block = section.split("```json", 1)[1].split("```", 1)[0]
    return json.loads(block)


def assert_documented_body(body: dict) -> None:
    example = documented_body()
    assert set(body) == set(example)
    assert set(body["events"][0]) == set(example["events"][0])
    assert body["version"] == example["version"]


def test_alerts_test_says_which_channels_work(tmp_path: Path, smtp_server: SmtpServer) -> None:
    from click.testing import CliRunner

    from linkwatch.agent.cli import main

    hook = JsonReceiver()
    try:
        path = tmp_path / "agent.yaml"
        path.write_text(textwrap.dedent(f"""\
            agent: {{name: t1, site: lan, spool: {{path: spool.db}}}}
            alerts: {{language: en}}
            notify:
              email:
                - {{name: mail, server: 127.0.0.1, port: {smtp_server.port}, security: none,
                   sender: a@lan.example, to: [it@lan.example]}}
              webhook:
                - {{name: hook, url: "{hook.url}"}}
                - {{name: nowhere, url: "http://127.0.0.1:9/x"}}
            """))
        result = CliRunner().invoke(main, ["alerts", "test", "-c", str(path), "--format",
                                           "json"])
        assert result.exit_code == 3, result.output
        rows = {r["channel"]: r["result"] for r in json.loads(result.stdout)}
        assert rows["mail"] == "ok" and rows["hook"] == "ok"
        assert rows["nowhere"].startswith("FAILED: http://127.0.0.1:9: cannot connect")
        assert smtp_server.messages()[0].subject == "[linkwatch] Test from t1"
        assert hook.received()[0].body["kind"] == "test"
    finally:
        hook.close()


def test_linkwatch_alerts_answers_from_the_store_and_from_the_spool(
        tmp_path: Path, influxdb, influx_db: str) -> None:
    """The `alert` points reach InfluxDB as the shipper sends them; `linkwatch alerts` reads
    what fires now and the history from there, and from the agent's own spool."""
    import csv
    import io
    import urllib.request

    from click.testing import CliRunner

    from linkwatch.agent.cli import main
    from linkwatch.agent.datamodel.lineprotocol import encode

    config = write(tmp_path, f"""\
        agent: {{name: a1, site: district, spool: {{path: spool.db}}}}
        outputs: [{{type: influxdb, url: "{influxdb.url}", database: {influx_db},
                    version: "1"}}]
        sites: [{{name: district}}, {{name: minh-chau, parent: district}}]
        alerts: {{language: en}}
        checks:
          ping:
            - {{name: minh-chau-router, address: 127.0.0.1, site: minh-chau, interval: 1s}}
            - {{name: ngoc-vung-router, address: 127.0.0.1, site: minh-chau, interval: 1s}}
        """)
    t0 = time.time_ns() - 60 * 10**9

    def steps(engine: Engine) -> None:
        both = zip(cycles("minh-chau-router", "minh-chau", [0, 0, 0, 1], t0),
                   cycles("ngoc-vung-router", "minh-chau", [0, 0, 0, 0], t0), strict=True)
        for pair in both:                  # one commit per cycle, as the agent makes them
            engine.spool.append(list(pair))
            engine.observe(list(pair))

    drain(config, steps, lambda rows: True)
    spool = open_spool(config, reader=True)
    try:
        points = list(spool.history("alert", 0, time.time_ns() + 1))
    finally:
        spool.close()
    body = b"\n".join(encode(p) for p in points)
    urllib.request.urlopen(urllib.request.Request(
        f"{influxdb.url}/write?db={influx_db}", data=body, method="POST"), timeout=10)

    def run(*args: str) -> list[dict]:
        result = CliRunner().invoke(main, ["alerts", "-c", str(config.source), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "json" in args else list(
            csv.DictReader(io.StringIO(result.stdout)))

    for where in ((), ("--local",)):
        now = run(*where, "--format", "json")
        assert [(r["state"], r["rule"], r["subject"]) for r in now] == [
            ("firing", "target_down", "ngoc-vung-router")], where
        assert now[0]["message"].startswith("DOWN: ngoc-vung-router (minh-chau) since")
        history = run(*where, "--since", "1h", "--format", "csv")
        assert [(r["state"], r["subject"]) for r in history] == [
            ("firing", "minh-chau-router"), ("firing", "ngoc-vung-router"),
            ("resolved", "minh-chau-router")], where
