"""The long fuzz run (nightly): what arrives from outside, tried far harder than CI does.

Two tools, side by side:

- atheris (libFuzzer, coverage-guided; `pip install 'linkwatch[fuzz]'`) on three targets:
  the strict line-protocol decoder, the config loader and the carry-out reader, each fed raw
  bytes for `--seconds`, starting from real inputs (lines the encoder writes, the shipped
  configs, a genuine signed export). A target fails on anything but a Sample /
  LineProtocolError, a Config / ConfigError, or a checked export / one-line CarryError.
- the Hypothesis suite of tests/fuzz, with `--scale` times the inputs of a CI run and a
  fresh random seed.

    python bench/fuzz.py [--seconds 300] [--scale 50] [--seed N] [--only atheris|hypothesis]

Prints per target the inputs tried, the distinct failures (each a crash file or a
Hypothesis falsifying example, kept in --out), and the time taken. Exit status 1 when
anything failed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("decoder", "config", "carry")


# ----------------------------------------------------------------------------- atheris targets

def _decoder_target():
    from linkwatch.agent.datamodel.lineprotocol import (
        Decoder,
        LineProtocolError,
        decode,
        decode_strict,
        encode,
    )

    def one(data: bytes) -> None:
        try:
            strict = decode_strict(data)
        except LineProtocolError:
            strict = None
        else:
            assert encode(strict) == data, "the strict decoder took a line encode never writes"
        for read in (decode, Decoder()):
            try:
                loose = read(data)
            except (LineProtocolError, UnicodeDecodeError):
                assert strict is None, "decode refused a line decode_strict took"
                continue
            if strict is not None:
                assert loose == strict
            try:
                line = encode(loose)    # what the agent would write for what it read
            except LineProtocolError:
                continue                # a name line protocol cannot write: refused
            assert b"\n" not in line and b"\r" not in line

    seeds = [b"ping,agent=a,site=s,target=gw loss_pct=0.0,up=1i 1790000000000000000",
             b'snmp,device=r1 sys_descr="Cisco\\\\nIOS",temp=41i 5',
             b'm\\ x,k\\,=v\\=1 f\\ ="q\\"uote\\\\",g=-1.5e-07 -9']
    return one, seeds


def _config_target(workdir: Path):
    from linkwatch.agent.config import ConfigError, load_config

    path = workdir / "config.yaml"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_config(path, environ={"HOME": "/root"})
        except ConfigError as e:
            assert e.problems and all(p.file == path for p in e.problems)

    seeds = [(REPO / "config.yaml").read_bytes(),
             (REPO / "docs" / "examples" / "district.yaml").read_bytes()]
    return one, seeds


def _carry_target(workdir: Path):
    from linkwatch.agent.config.schema import TrustedAgent
    from linkwatch.agent.operations.carry import CarryError, export
    from linkwatch.agent.operations.carry_reader import checked_export
    from linkwatch.agent.operations.signing import create_key, public_text
    from linkwatch.agent.spool import Spool
    from linkwatch.collector.sample import Sample

    key = create_key(workdir / "signing.key")
    trusted = [TrustedAgent(agent="island-agent", public_key=public_text(key),
                            sites=("ngoc-vung",))]
    spool = Spool.open(workdir / "spool.db", max_size=16 * 2**20, history_s=86400,
                       outputs=["influxdb:x"])
    now = time.time_ns()
    spool.append([Sample("ping", {"agent": "island-agent", "site": "ngoc-vung",
                                  "target": f"t{i}"}, {"up": i % 2, "rtt_avg_ms": 1.5 * i},
                         now - i * 10**9) for i in range(20)])
    genuine = workdir / "genuine.tar"
    export(spool, output="influxdb:x", path=genuine, agent="island-agent", site="ngoc-vung",
           key=key)
    spool.close()
    path = workdir / "input.tar"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        for unverified in (False, True):
            try:
                with checked_export(path, trusted=trusted, allow_unverified=unverified,
                                    now_ns=time.time_ns()):
                    pass
            except CarryError as e:
                assert "\n" not in str(e) and str(e).endswith("nothing was imported")

    return one, [genuine.read_bytes()]


def _run_atheris(target: str, seconds: int, out: Path) -> None:
    """In a child process: fuzz one target until `seconds` pass or it fails."""
    import atheris

    with atheris.instrument_imports():
        import linkwatch.agent.config
        import linkwatch.agent.datamodel.lineprotocol
        import linkwatch.agent.operations.carry_reader  # noqa: F401
    work = Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-"))
    one, seeds = {"decoder": lambda: _decoder_target(), "config": lambda: _config_target(work),
                  "carry": lambda: _carry_target(work)}[target]()
    corpus = work / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds):
        (corpus / f"seed{i}").write_bytes(seed)
    out.mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={seconds}",
                   "-print_final_stats=1", "-rss_limit_mb=4096", "-timeout=30",
                   f"-artifact_prefix={out}/{target}-", "-max_len=65536"], one)
    atheris.Fuzz()


def atheris_row(target: str, seconds: int, out: Path) -> dict[str, object]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--atheris-child", target,
                           "--seconds", str(seconds), "--out", str(out)],
                          capture_output=True, text=True, check=False)
    log = done.stdout + done.stderr
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    crashes = sorted({m for m in re.findall(r"Test unit written to (\S+)", log)})
    if done.returncode != 0 and not crashes:
        crashes = [f"exit {done.returncode}: {log.strip().splitlines()[-1:] or ''}"]
    return {"target": target, "tool": "atheris", "inputs": int(runs[-1]) if runs else 0,
            "failures": crashes, "seconds": time.monotonic() - started}


# ------------------------------------------------------------------------- hypothesis suite

def hypothesis_rows(scale: int, seed: int) -> list[dict[str, object]]:
    env = {**os.environ, "LINKWATCH_FUZZ_SCALE": str(scale), "LINKWATCH_FUZZ_SEED": str(seed)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz",
         "--hypothesis-show-statistics", f"--hypothesis-seed={seed}", "-W",
         "ignore::UserWarning"], cwd=REPO, env=env, capture_output=True, text=True,
        check=False)
    total = time.monotonic() - started
    rows = []
    # "tests/fuzz/test_x.py::test_y:", then per phase "during generate phase (S seconds)"
    # and "N passing, M failing, and K invalid test cases"
    for name, block in re.findall(r"(tests/fuzz/\S+?::\S+?):\n(.*?)(?=\ntests/fuzz/|\Z)",
                                  done.stdout, flags=re.S):
        counts = re.findall(r"(\d+) passing, (\d+) failing, and (\d+) invalid", block)
        tried = sum(int(p) + int(f) + int(i) for p, f, i in counts)
        failing = sum(int(f) for _, f, _ in counts)
        phases = re.findall(r"phase \((\d+(?:\.\d+)?) seconds\)", block)
        rows.append({"target": name.split("::")[1], "tool": "hypothesis", "inputs": tried,
                     "failures": [f"{failing} failing cases"] if failing else [],
                     "seconds": sum(map(float, phases)) if phases else None})
    if done.returncode != 0 and not any(r["failures"] for r in rows):
        rows.append({"target": "tests/fuzz", "tool": "hypothesis", "inputs": 0,
                     "failures": [done.stdout.strip().splitlines()[-1:]],
                     "seconds": total})
    rows.append({"target": "(whole suite)", "tool": "hypothesis",
                 "inputs": sum(int(r["inputs"]) for r in rows), "failures": [],
                 "seconds": total})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=300, help="atheris: per target")
    parser.add_argument("--scale", type=int, default=50, help="hypothesis: × a CI run")
    parser.add_argument("--seed", type=int, default=random.randrange(2**32))
    parser.add_argument("--only", choices=("atheris", "hypothesis"))
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "lw-fuzz")
    parser.add_argument("--atheris-child", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.atheris_child:
        _run_atheris(args.atheris_child, args.seconds, args.out)
        return 0
    rows: list[dict[str, object]] = []
    if args.only != "hypothesis":
        rows += [atheris_row(t, args.seconds, args.out) for t in TARGETS]
    if args.only != "atheris":
        rows += hypothesis_rows(args.scale, args.seed)
    print(f"seed {args.seed}; crash files and examples under {args.out}")
    print(f"{'target':<72} {'tool':<10} {'inputs':>9} {'failures':>8} {'seconds':>8}")
    for r in rows:
        seconds = "-" if r["seconds"] is None else f"{r['seconds']:.1f}"
        print(f"{r['target']:<72} {r['tool']:<10} {r['inputs']:>9} "
              f"{len(r['failures']):>8} {seconds:>8}")
        for failure in r["failures"]:
            print(f"    {failure}")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
