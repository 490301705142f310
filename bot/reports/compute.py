"""One report from the facts: every figure of ``docs/reports.md``, computed the one way the API, the CSV, the page
and the digest all show.

The facts are the orders created, claimed, fixed or closed in the period, and the open ones (the backlog);
``refused_in_period`` counts the fix photos the VLM refused in the period (timeline ``fix_rejected``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.reports.figures import AGE_BUCKETS, BACKLOG_STAGES, NONE, REST, TOP, Filters, OrderFacts, Period, Sla, elapsed
from bot.reports.figures import percentile as pct

BREACHING_LISTED = 50  # the orders breaching now named in a report (the count covers all)


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def spread(values: Sequence[float]) -> dict[str, int | None]:
    """Median and p90 (nearest rank, whole seconds) and how many values they are of."""
    return {"count": len(values), "median": _seconds(pct(values, 50)), "p90": _seconds(pct(values, 90))}


def share(count: int, of: int) -> dict[str, Any]:
    """``count`` of ``of``, and the share rounded to 4 places (None of nothing)."""
    return {"count": count, "of": of, "share": round(count / of, 4) if of else None}


def _ranked(counts: Counter[str], total_key: str = "orders") -> list[dict[str, Any]]:
    """The TOP largest by count (ties by name), then one ``(rest)`` row with the sum of the others."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [{"name": name, total_key: n} for name, n in ordered[:TOP]]
    rest = sum(n for _, n in ordered[TOP:])
    if rest:
        rows.append({"name": REST, total_key: rest})
    return rows


def build(
    period: Period,
    facts: Iterable[OrderFacts],
    *,
    refused_in_period: int,
    now: datetime,
    sla: Sla,
    filters: Filters,
) -> dict[str, Any]:
    orders = list(facts)
    created = [o for o in orders if period.holds(o.created_at)]
    claimed = [o for o in orders if period.holds(o.claimed_at)]
    fixed = [o for o in orders if period.holds(o.fixed_at)]
    closed = [o for o in orders if o.status == "closed" and period.holds(o.closed_at)]
    judged = [o for o in created if o.status != "cancelled"]
    backlog = [o for o in orders if o.in_backlog]
    vlm_fixed = [o for o in fixed if o.vlm_resolved]
    claim_times = [t for o in claimed if (t := o.time_to_claim()) is not None]
    fix_times = [t for o in fixed if (t := sla.fix_seconds(o)) is not None]
    return {
        "period": {
            "from": period.first.isoformat(),
            "to": period.last.isoformat(),
            "timezone": period.zone.key,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "filters": filters.as_dict(),
        "generated_at": now.isoformat(),
        "summary": {
            "created": len(created),
            "claimed": len(claimed),
            "resolved": len(fixed),
            "closed": len(closed),
            "time_to_claim": spread(claim_times),
            "time_to_fix": spread(fix_times),
            "claim_sla_breached": share(sum(sla.claim_breached(o, now) for o in judged), len(judged)),
            "resolve_sla_breached": share(sum(sla.resolve_overrun(o, now) > 0 for o in judged), len(judged)),
            "reopen_rate": share(sum(o.reopen_count > 0 for o in fixed), len(fixed)),
            "first_time_fix_rate": share(sum(o.reopen_count == 0 and o.refused_fixes == 0 for o in fixed), len(fixed)),
            "auto_confirmed_share": share(sum(o.auto_confirmed for o in closed), len(closed)),
            "vlm_refusals": refused_in_period,
            "vlm_fixed_then_reopened": share(sum(o.reopen_count > 0 for o in vlm_fixed), len(vlm_fixed)),
            "backlog": len(backlog),
        },
        "per_day": _per_day(period, sla, created, claimed, fixed, closed),
        "breaching_now": _breaching(backlog, sla, now),
        "backlog": {
            "by_age": _ages(backlog, now),
            "by_stage": {stage: sum(o.backlog_stage == stage for o in backlog) for stage in BACKLOG_STAGES},
        },
        "by_type": _ranked(Counter(o.alarm_type for o in created)),
        "by_site": _ranked(Counter(o.site or NONE for o in created)),
        "by_zone": _ranked(Counter(o.zone or NONE for o in created)),
        "by_assignee": _people(sla, claimed, fixed),
    }


def _per_day(
    period: Period,
    sla: Sla,
    created: list[OrderFacts],
    claimed: list[OrderFacts],
    fixed: list[OrderFacts],
    closed: list[OrderFacts],
) -> list[dict[str, Any]]:
    counts: dict[str, Counter[Any]] = {
        "created": Counter(period.day_of(o.created_at) for o in created),
        "resolved": Counter(period.day_of(o.fixed_at) for o in fixed if o.fixed_at),
        "closed": Counter(period.day_of(o.closed_at) for o in closed if o.closed_at),
    }
    claims: dict[Any, list[float]] = defaultdict(list)
    for o in claimed:
        if o.claimed_at and (t := o.time_to_claim()) is not None:
            claims[period.day_of(o.claimed_at)].append(t)
    fixes: dict[Any, list[float]] = defaultdict(list)
    for o in fixed:
        if o.fixed_at and (t := sla.fix_seconds(o)) is not None:
            fixes[period.day_of(o.fixed_at)].append(t)
    return [
        {
            "day": day.isoformat(),
            **{name: c[day] for name, c in counts.items()},
            "time_to_claim": spread(claims[day]),
            "time_to_fix": spread(fixes[day]),
        }
        for day in period.days
    ]


def _breaching(backlog: list[OrderFacts], sla: Sla, now: datetime) -> dict[str, Any]:
    """Open orders past a target now: unclaimed past the claim target, or unfixed past the resolution target."""
    rows: list[dict[str, Any]] = []
    for o in backlog:
        late = []
        if not o.assignee and sla.claim_breached(o, now):
            late.append(("claim", elapsed(o.created_at, now) - sla.claim(o.severity)))
        overrun = sla.resolve_overrun(o, now)
        if overrun > 0:
            late.append(("resolve", overrun))
        if late:
            kind, over = max(late, key=lambda k: k[1])
            rows.append(
                {
                    "id": o.id,
                    "breach": kind,
                    "over_seconds": round(over),
                    "severity": o.severity,
                    "type": o.alarm_type,
                    "site": o.site,
                    "zone": o.zone,
                    "stage": o.backlog_stage,
                    "assignee": o.assignee,
                    "created_at": o.created_at.isoformat(),
                }
            )
    rows.sort(key=lambda r: (-r["over_seconds"], r["id"]))
    return {"count": len(rows), "orders": rows[:BREACHING_LISTED]}


def _ages(backlog: list[OrderFacts], now: datetime) -> dict[str, int]:
    counts = dict.fromkeys((name for name, _ in AGE_BUCKETS), 0)
    for o in backlog:
        age = elapsed(o.created_at, now)
        counts[next(name for name, bound in AGE_BUCKETS if age < bound)] += 1
    return counts


def _people(sla: Sla, claimed: list[OrderFacts], fixed: list[OrderFacts]) -> list[dict[str, Any]]:
    people: dict[str, dict[str, Any]] = defaultdict(lambda: {"claimed": 0, "resolved": 0, "reopened": 0, "fix": []})
    for o in claimed:
        if o.assignee:
            people[o.assignee]["claimed"] += 1
    for o in fixed:
        if o.assignee:
            p = people[o.assignee]
            p["resolved"] += 1
            p["reopened"] += o.reopen_count > 0
            if (t := sla.fix_seconds(o)) is not None:
                p["fix"].append(t)
    rows: list[dict[str, Any]] = [
        {
            "assignee": who,
            "claimed": p["claimed"],
            "resolved": p["resolved"],
            "time_to_fix_median": _seconds(pct(p["fix"], 50)),
            "reopened": p["reopened"],
        }
        for who, p in people.items()
    ]
    rows.sort(key=lambda r: (-r["resolved"], -r["claimed"], r["assignee"]))
    return rows
