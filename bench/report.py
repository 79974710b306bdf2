"""The bench's targets (issue 9) computed from a run's results, the "why" of each miss, the
printed and Markdown tables, and the median summary of several runs. Pure functions of the results
JSON (`bench/run.py --report` and `--summary` recompute them from files)."""

from __future__ import annotations

import statistics
from typing import Any

RSS_LIMIT_MB = 200.0  # per process: a worker is a whole copy of the service
SOAK_GROWTH_LIMIT = 0.05  # 5% (and at least 10 MB) between the soak's early and late windows
SATURATED_PCT = 85  # a process at or above this share of its cores is CPU-bound
CPU_COLUMNS = ("ledger", "rating", "echo", "postgres", "client")  # our processes


# -- targets --------------------------------------------------------------------------------


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the hot-path issue (9) as measured / reference, with the bound it must
    meet and, for a miss, why (the CPU split, the bottleneck, what would close it, and the
    profile's layers where the run was profiled). A target whose data the run lacks (results
    from before the target existed) is reported as n/a."""
    sc, refs, out = r["scenarios"], r["references"], []
    ctx = _Context(r)

    def check(name: str, needs: list[str], fn: Any) -> None:
        if any(_lookup(r, k) is None for k in needs):
            out.append({"target": name, "result": "n/a", "why": "not measured in this run"})
            return
        measured, reference, unit, bound, why = fn()
        ratio = measured / reference if reference else 0.0
        limit = float(bound[3:])
        ok = ratio >= limit if bound.startswith(">=") else ratio <= limit
        out.append(
            {
                "target": name,
                "measured": round(measured, 3),
                "unit": unit,
                "reference": round(reference, 3),
                "ratio": round(ratio, 3),
                "required": bound,
                "result": "PASS" if ok else "MISS",
                "why": "" if ok else why(),
            }
        )

    def unary() -> tuple[Any, ...]:
        spread, echo = sc["debit_spread"], refs["echo_debit_spread"]
        need = 0.40 * echo["rps"]
        return (
            spread["rps"],
            echo["rps"],
            "RPC/s",
            ">= 0.40",
            lambda: (
                f"{ctx.split(spread, spread['rps'])}; {ctx.bottleneck(spread)}; "
                f"{ctx.to_reach(spread, need)}{ctx.profile(spread)}"
            ),
        )

    def cpu_per_rpc() -> tuple[Any, ...]:
        spread, echo = sc["debit_spread"], refs["echo_debit_spread"]
        ledger_ms, echo_ms = cpu_ms_per_rpc(spread, "ledger"), cpu_ms_per_rpc(echo, "echo")
        pg_ms = cpu_ms_per_rpc(spread, "postgres")
        return (
            ledger_ms,
            echo_ms,
            "ms CPU",
            "<= 4.00",
            lambda: (
                f"ledger {ledger_ms:.2f} ms and PostgreSQL {pg_ms:.2f} ms of CPU per Debit "
                f"against the echo server's {echo_ms:.2f} ms per RPC (psutil CPU time over the "
                f"scenario / completed RPCs); to meet it the ledger must spend <= "
                f"{4 * echo_ms:.2f} ms per Debit{ctx.profile(spread)}"
            ),
        )

    def hot() -> tuple[Any, ...]:
        s, ref = sc["debit_hot"], refs["pgbench_hot_row"]
        return (
            s["rps"],
            ref["tps"],
            "debits/s",
            ">= 3.00",
            lambda: (
                "debits to one wallet share its row lock; the pipeline books the ones that "
                "arrive while a transaction runs in the next one, so "
                f"{ctx.concurrency('debit_hot')} callers bound a transaction's size; "
                f"{ctx.split(s, s['rps'])}; "
                f"{ctx.bottleneck(s)}; {ctx.to_reach(s, 3.0 * ref['tps'])}{ctx.profile(s)}"
            ),
        )

    def batch() -> tuple[Any, ...]:
        s, ref = sc["debit_batch"], refs["pgbench_batch"]
        per = s["debits_per_s"]
        return (
            per,
            ref["rows_per_s"],
            "debits/s",
            ">= 0.50",
            lambda: (
                f"{ctx.split(s, per, 'debit')}; {ctx.bottleneck(s)}; "
                f"{ctx.to_reach(s, 0.50 * ref['rows_per_s'], per)}; pgbench only sends rows, the "
                "ledger also runs the burn-down, builds rows and encodes 1,000 results per call"
                f"{ctx.profile(s)}"
            ),
        )

    def ingest() -> tuple[Any, ...]:
        s, b = sc["ingest_events"], sc["debit_batch"]
        rating = ctx.method("rating")
        fwd = (
            f"; the forwarder sends {rating['forward_concurrency']} DebitBatch calls of "
            f"{rating['forward_batch_size']} at once"
            if "forward_concurrency" in rating
            else ""
        )
        e2e = s.get("end_to_end_cpu_pct")
        drain = (
            f"; over the whole end-to-end window CPU rating {e2e.get('rating', 0)}%, ledger "
            f"{e2e.get('ledger', 0)}%, postgres {e2e.get('postgres', 0)}% "
            f"({ctx.bottleneck({'cpu_pct': e2e}, 'ledger')})"
            if e2e
            else ""
        )
        return (
            s["debits_per_s"],
            b["debits_per_s"],
            "debits/s",
            ">= 0.80",
            lambda: (
                f"ingest alone {s['events_per_s']:,.0f} events/s, end to end "
                f"{s['debits_per_s']:,.0f} debits/s over {s['end_to_end_s']} s "
                f"({s['pending_left']} charges still pending){fwd}; during the ingest calls "
                f"{ctx.split(s, s['events_per_s'], 'event', ('rating', 'postgres'))}; "
                f"{ctx.bottleneck(s, 'rating')}{drain}{ctx.profile(s)}"
            ),
        )

    def balance_under_load() -> tuple[Any, ...]:
        alone, loaded = sc["get_balance_alone"], sc["get_balance"]
        return (
            loaded["p50_ms"] or 0,
            alone["p50_ms"] or 0,
            "ms",
            "<= 3.00",
            lambda: (
                f"p50 {alone['p50_ms']:.1f} ms alone, {loaded['p50_ms']:.1f} ms while "
                f"debits run ({loaded.get('background_debits', '?')}); reads share the event loop "
                f"with the debits' callers; {ctx.bottleneck(loaded)}{ctx.profile(loaded)}"
            ),
        )

    def balance_10x() -> tuple[Any, ...]:
        g1, g10 = sc["get_balance"], sc["get_balance_10x"]
        return (
            g10["p99_ms"] or 0,
            g1["p99_ms"] or 0,
            "ms",
            "<= 1.20",
            lambda: (
                f"p50 went {g1['p50_ms']:.1f} -> {g10['p50_ms']:.1f} ms and p95 "
                f"{g1['p95_ms']:.1f} -> {g10['p95_ms']:.1f} ms; GetBalance reads the materialised "
                "live grants, not the journal, so a p99 jump alone is the tail of the background "
                "debits on a shared machine; if p50 grows too, the read depends on history"
            ),
        )

    check(
        "unary Debit >= 40% of echo",
        ["scenarios.debit_spread", "references.echo_debit_spread"],
        unary,
    )
    check(
        "ledger CPU per unary Debit <= 4x echo CPU per RPC",
        ["scenarios.debit_spread.cpu_pct", "references.echo_debit_spread.cpu_pct"],
        cpu_per_rpc,
    )
    check(
        "hot-wallet Debit >= 3x pgbench hot row",
        ["scenarios.debit_hot", "references.pgbench_hot_row"],
        hot,
    )
    check(
        "DebitBatch >= 50% of pgbench batched rows",
        ["scenarios.debit_batch", "references.pgbench_batch"],
        batch,
    )
    check(
        "IngestEvents end to end >= 80% of DebitBatch",
        ["scenarios.ingest_events", "scenarios.debit_batch"],
        ingest,
    )
    check(
        "GetBalance p50 while debits run <= 3x alone",
        ["scenarios.get_balance_alone", "scenarios.get_balance"],
        balance_under_load,
    )
    check(
        "GetBalance p99 within 1.2x at 10x journal",
        ["scenarios.get_balance", "scenarios.get_balance_10x"],
        balance_10x,
    )
    for name in ("ledger", "rating"):
        peak = r.get("rss_peak_mb", {}).get(name, 0.0)
        check(
            f"{name} peak RSS <= 200 MB",
            ["rss_peak_mb"],
            lambda peak=peak: (
                peak,
                RSS_LIMIT_MB,
                "MB",
                "<= 1.00",
                lambda: "resident memory of one process went over 200 MB during the run",
            ),
        )
    soak = r.get("soak", {})
    for name, mb in soak.get("rss_mb", {}).items():
        early, late = mb["early"] or 0.0, mb["late"] or 0.0
        allowed = max(SOAK_GROWTH_LIMIT, 10.0 / early) if early else SOAK_GROWTH_LIMIT
        check(
            f"{name} RSS flat over {soak['seconds']} s soak",
            [],
            lambda early=early, late=late, allowed=allowed: (
                late,
                early,
                "MB",
                f"<= {1 + allowed:.2f}",
                lambda: (
                    f"RSS rose {late - early:.1f} MB between the soak's early (20-40%) and "
                    "late (80-100%) windows"
                ),
            ),
        )
    return out


def cpu_ms_per_rpc(s: dict[str, Any], name: str) -> float:
    """CPU milliseconds of one process (tree) per completed RPC of a scenario: psutil CPU time
    over the scenario / RPCs that completed without error. Older results carry only the CPU
    share; then share x wall time / RPC/s."""
    done = s["count"] - s.get("errors", 0)
    if "cpu_s" in s and done:
        return 1000 * s["cpu_s"].get(name, 0.0) / done
    return s["cpu_pct"].get(name, 0) / 100 / s["rps"] * 1000 if s["rps"] else 0.0


def _lookup(r: dict[str, Any], dotted: str) -> Any:
    node: Any = r
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


class _Context:
    """What the why-lines need from a run: its method, its machine and the CPU split."""

    def __init__(self, r: dict[str, Any]) -> None:
        self.r = r
        self.cpus = r.get("machine", {}).get("cpus") or 1

    def method(self, service: str) -> dict[str, Any]:
        return self.r.get("method", {}).get(service, {})

    def workers(self, service: str) -> int:
        m = self.method(service)
        return int(m.get("processes") or m.get("workers") or 1)

    def concurrency(self, scenario: str) -> Any:
        return self.r.get("method", {}).get("concurrency", {}).get(scenario, "the")

    def split(
        self,
        s: dict[str, Any],
        per_s: float,
        item: str = "debit",
        who: tuple[str, ...] = ("ledger", "postgres", "client"),
    ) -> str:
        """CPU share of each process and CPU milliseconds per item."""
        c = s.get("cpu_pct", {})
        parts = [
            f"{k} {c.get(k, 0)}% ({c.get(k, 0) / 100 / per_s * 1000:.2f} ms/{item})"
            if per_s
            else f"{k} {c.get(k, 0)}%"
            for k in who
        ]
        return "CPU " + ", ".join(parts)

    def bottleneck(self, s: dict[str, Any], service: str = "ledger") -> str:
        """Which resource ran out, read from the CPU split: the service's cores, PostgreSQL,
        the whole machine, or none (then the time went to waiting)."""
        c = s.get("cpu_pct", {})
        svc, pg = c.get(service, 0), c.get("postgres", 0)
        ours = sum(c.get(k, 0) for k in CPU_COLUMNS)
        total = max(ours, c.get("machine", 0))  # busy CPU of the whole machine, where measured
        cores = min(self.workers(service), self.cpus)
        if svc >= SATURATED_PCT * cores:
            return (
                f"the {service} is CPU-bound ({svc}% on {self.workers(service)} process(es)): "
                "less Python per call, or more workers while cores are free"
            )
        if total >= SATURATED_PCT * self.cpus:
            return (
                f"the machine is saturated ({total}% of {100 * self.cpus}% busy, {ours}% of it "
                f"ours: the services, PostgreSQL, the load client and any other work share "
                f"{self.cpus} cores)"
            )
        if pg >= SATURATED_PCT:
            return f"PostgreSQL is CPU-bound ({pg}%): fewer or cheaper statements per item"
        waits = (
            "the ledger's answers to the forwarder's DebitBatch calls, round trips"
            if service == "rating"
            else "round trips, row locks, a pipeline transaction's turn"
        )
        return (
            f"no process at {SATURATED_PCT}% of its cores ({service} {svc}%, postgres {pg}%, "
            f"machine {total}% of {100 * self.cpus}% busy): part of the time goes to waiting "
            f"({waits})"
        )

    def to_reach(self, s: dict[str, Any], need_per_s: float, per_s: float | None = None) -> str:
        """The ledger CPU the target's rate would take at today's cost per item."""
        rate = per_s if per_s is not None else s["rps"]
        pct = s.get("cpu_pct", {}).get("ledger", 0)
        if not rate or not pct:
            return f"the target needs {need_per_s:,.0f}/s"
        ms = pct / 100 / rate * 1000
        cores = need_per_s * ms / 1000
        workers = self.workers("ledger")
        return (
            f"the target's {need_per_s:,.0f}/s at today's {ms:.2f} ms of ledger CPU each takes "
            f"{cores:.2f} cores; on {workers} ledger process(es) it needs <= "
            f"{1000 * workers / need_per_s:.2f} ms each"
        )

    def profile(self, s: dict[str, Any]) -> str:
        """The sampled profile's layers (`--profile`), where the run has one."""
        layers = s.get("profile", {}).get("layers")
        if not layers:
            return ""
        top = ", ".join(f"{name} {pct:.0f}%" for name, pct in list(layers.items())[:6])
        return f"; profile ({s['profile']['process']}, own samples): {top}"


# -- printing -------------------------------------------------------------------------------


def summary(s: dict[str, Any]) -> str:
    if "tps" in s:
        return f"{s['tps']:,.1f} tps  failed {s['failed']}"
    p = [f"{s[k]:.1f}" if s.get(k) is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")]
    return f"{s['rps']:>9,.1f} RPC/s  p50/p95/p99 {'/'.join(p)} ms  errors {s['errors']}" + (
        f" {s['error_kinds']}" if s["errors"] else ""
    )


def authorize_line(sc: dict[str, Any]) -> str:
    """Authorize (a pure check) beside GetBalance, both on one wallet while debits run."""
    a, b = sc.get("authorize_check"), sc.get("get_balance")
    if not a or not b:
        return "Authorize: not measured in this run"
    return (
        f"while debits run, Authorize (check) p50 {a['p50_ms']:.1f} ms p99 {a['p99_ms']:.1f} ms;"
        f" GetBalance p50 {b['p50_ms']:.1f} ms p99 {b['p99_ms']:.1f} ms"
        f" (p99 ratio {a['p99_ms'] / b['p99_ms']:.2f})"
    )


def per_item(name: str, s: dict[str, Any]) -> float:
    """Debits (or events) per second: booked ones where counted, else RPC/s x items per RPC."""
    per_rpc = 1000 if "batch" in name or "ingest" in name else 1
    return s.get("debits_per_s") or s.get("events_per_s") or s["rps"] * per_rpc


def method_lines(r: dict[str, Any]) -> list[str]:
    """The run's method in a few lines: durations, load, the services' processes and pools."""
    m = r.get("method")
    if not m:
        return [f"{r['profile']} run (no method recorded: results from before it was)"]
    d = m["durations_s"]
    lines = [
        f"{r['profile']} run: scenarios {d['scenario']} s, echo references {d['echo']} s, soak "
        f"{d['soak']} s; concurrency " + ", ".join(f"{k} {v}" for k, v in m["concurrency"].items())
    ]
    for name in ("ledger", "rating"):
        s = m[name]
        extra = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("workers", "processes"))
        lines.append(
            f"{name}: workers {s['workers']} ({s.get('processes', '?')} process(es) seen), {extra}"
        )
    if r.get("profiled"):
        lines.append(
            "profiled with py-spy (--profile): it shares the CPU, so compare ratios "
            "only with other profiled runs"
        )
    mc = r.get("machine", {})
    lines.append(
        f"machine: {mc.get('cpus')} CPUs ({mc.get('cpu_model', '')}), load average at start "
        f"{mc.get('load_avg_at_start')}"
    )
    return lines


def print_report(r: dict[str, Any]) -> None:
    print("\n== Method ==")
    for line in method_lines(r):
        print(f"  {line}")
    print(f"\n== Scenarios ({r['profile']} run; ghz durations in the configs overridden) ==")
    print(
        f"{'scenario':<24}{'RPC/s':>10}{'items/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}  CPU% ledger/rating/echo/postgres/client (machine busy)"
    )
    for name, s in _rows(r).items():
        c = s.get("cpu_pct", {})
        cpu = "/".join(str(c.get(k, "-")) for k in CPU_COLUMNS) + f" ({c.get('machine', '-')})"
        p = "".join(
            f"{s[k]:>9.1f}" if s.get(k) is not None else f"{'-':>9}"
            for k in ("p50_ms", "p95_ms", "p99_ms")
        )
        print(f"{name:<24}{s['rps']:>10,.1f}{per_item(name, s):>10,.0f}{p}{s['errors']:>8}  {cpu}")
    for name in ("pgbench_hot_row", "pgbench_batch"):
        s = r["references"].get(name)
        if s:
            print(
                f"{name:<24}{s['tps']:>10,.1f}{s.get('rows_per_s', s['tps']):>10,.0f}"
                f"{'':>27}{s['failed']:>8}  -/-/-/{s['cpu_pct']['postgres']}/"
                f"{s['cpu_pct']['client']}"
            )
    print(authorize_line(r["scenarios"]))
    print(f"peak RSS MB (largest process of each): {r.get('rss_peak_mb')}")
    print("\n== Targets (ratios to references measured in this run) ==")
    print_targets(r["targets"])
    if r["profile"] == "quick":
        print(
            "\nQuick run: short durations and a short soak; `make bench` runs the full "
            "durations and the 2-minute soak."
        )


def print_targets(ts: list[dict[str, Any]], runs: bool = False) -> None:
    head = f"{'target':<50}{'measured':>12}{'reference':>12}{'ratio':>8}{'need':>9}  result"
    print(head + ("  (ratio of each run)" if runs else ""))
    for t in ts:
        if t["result"] == "n/a":
            print(f"{t['target']:<50}{'-':>12}{'-':>12}{'-':>8}{'':>9}  n/a  ({t['why']})")
            continue
        each = "  [" + ", ".join(f"{x:.2f}" for x in t["ratios"]) + "]" if runs else ""
        print(
            f"{t['target']:<50}{t['measured']:>12,.2f}{t['reference']:>12,.2f}"
            f"{t['ratio']:>8.2f}{t['required']:>9}  {t['result']}  ({t['unit']}){each}"
        )
        if t.get("why"):
            print(f"{'':<6}why: {t['why']}")


def _rows(r: dict[str, Any]) -> dict[str, Any]:
    return {
        **{f"echo {k[5:]}": v for k, v in r["references"].items() if k.startswith("echo_")},
        **r["scenarios"],
    }


def markdown(r: dict[str, Any]) -> str:
    """The tables of a run as Markdown (for docs/benchmarks.md)."""
    lines = [f"- {line}" for line in method_lines(r)] + [
        "",
        "| scenario | RPC/s | debits or events/s | p50 ms | p95 ms | p99 ms | errors | "
        "CPU % ledger/rating/echo/postgres/client |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in _rows(r).items():
        ms = " | ".join(
            f"{s[k]:.1f}" if s.get(k) is not None else "-" for k in ("p50_ms", "p95_ms", "p99_ms")
        )
        cpu = "/".join(str(s["cpu_pct"].get(k, "-")) for k in CPU_COLUMNS)
        lines.append(
            f"| {name} | {s['rps']:,.1f} | {per_item(name, s):,.0f} | {ms} | {s['errors']} | "
            f"{cpu} |"
        )
    for name in ("pgbench_hot_row", "pgbench_batch"):
        s = r["references"].get(name)
        if s:
            lines.append(
                f"| {name} | {s['tps']:,.1f} tps | {s.get('rows_per_s', s['tps']):,.0f} | "
                f"| | | {s['failed']} failed | postgres {s['cpu_pct']['postgres']}, "
                f"client {s['cpu_pct']['client']} |"
            )
    lines += ["", authorize_line(r["scenarios"])]
    return "\n".join([*lines, "", targets_markdown(r["targets"])])


def targets_markdown(ts: list[dict[str, Any]], runs: bool = False) -> str:
    lines = [
        "| target | measured | reference | ratio | required | result |"
        + (" ratio of each run |" if runs else ""),
        "|---|---:|---:|---:|---:|---|" + ("---|" if runs else ""),
    ]
    for t in ts:
        if t["result"] == "n/a":
            lines.append(f"| {t['target']} | - | - | - | | n/a |" + (" |" if runs else ""))
            continue
        each = " " + ", ".join(f"{x:.2f}" for x in t["ratios"]) + " |" if runs else ""
        lines.append(
            f"| {t['target']} | {t['measured']:,.2f} {t['unit']} | {t['reference']:,.2f} "
            f"| {t['ratio']:.2f} | {t['required']} | **{t['result']}** |{each}"
        )
    lines += [""] + [f"- {t['target']}: {t['why']}" for t in ts if t.get("why")]
    return "\n".join(lines)


# -- several runs ---------------------------------------------------------------------------


def median_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target's median over the runs: median measured, reference and ratio; PASS or MISS
    on the median ratio; each run's ratio kept. The why of a miss is the run whose ratio is the
    median's (the lower middle for an even count)."""
    names: list[str] = []
    for r in results:
        names += [t["target"] for t in r["targets"] if t["target"] not in names]
    out = []
    for name in names:
        ts = [t for r in results for t in r["targets"] if t["target"] == name]
        ts = [t for t in ts if t["result"] != "n/a"]
        if not ts:
            out.append({"target": name, "result": "n/a", "why": "not measured in any run"})
            continue
        ratio = statistics.median(t["ratio"] for t in ts)
        bound = ts[0]["required"]
        limit = float(bound[3:])
        ok = ratio >= limit if bound.startswith(">=") else ratio <= limit
        middle = sorted(ts, key=lambda t: t["ratio"])[(len(ts) - 1) // 2]
        out.append(
            {
                "target": name,
                "runs": len(ts),
                "measured": statistics.median(t["measured"] for t in ts),
                "unit": ts[0]["unit"],
                "reference": statistics.median(t["reference"] for t in ts),
                "ratio": round(ratio, 3),
                "ratios": [t["ratio"] for t in ts],
                "required": bound,
                "result": "PASS" if ok else "MISS",
                "passes": f"{sum(t['result'] == 'PASS' for t in ts)}/{len(ts)}",
                "why": "" if ok else middle.get("why") or "",
            }
        )
    return out


def print_summary(s: dict[str, Any]) -> None:
    print(f"\n== Median of {len(s['runs'])} {s['profile']} runs ==")
    for run in s["runs"]:
        print(f"  {run}")
    print_targets(s["targets"], runs=True)
