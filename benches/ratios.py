"""Side-by-side ratios from a pytest-benchmark JSON file.

Usage: ``python benches/ratios.py [.benchmarks/latest.json] [--strict]``

Benchmarks pair by name: ``test_<group>__<implementation>`` (a ``[param]``
suffix joins the group), and ``benchmark.extra_info["items"]`` says how many
items one call handles (default 1), so a batch call and a peer's loop compare
per item. For each group this prints every implementation's items per second
(from the median time, which a noisy neighbour disturbs least) and the ratio
skms / peer. A skms entry may carry a target in ``extra_info``:
``target_ratio`` (the ratio to reach), ``target_peer`` (which peer; all peers
when absent) and ``target`` (its description); each is reported PASS or MISS.
A target may also be an absolute rate, ``target_items_per_s`` (with ``target``),
for groups without a peer such as durable key creation.

The exit status is 0 unless ``--strict`` is given and a target is missed:
benchmarks inform, they do not gate tests.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OURS = "skms"
NAME = re.compile(r"^test_(?P<group>.+?)__(?P<impl>[A-Za-z0-9_]+?)(?P<param>\[.*\])?$")


@dataclass
class Entry:
    impl: str
    items: int
    median_s: float
    rounds: int
    extra: dict[str, Any]

    @property
    def items_per_s(self) -> float:
        return self.items / self.median_s if self.median_s > 0 else float("inf")


@dataclass
class Group:
    name: str
    entries: dict[str, Entry] = field(default_factory=dict)


def load(path: Path) -> list[Group]:
    data = json.loads(path.read_text(encoding="utf-8"))
    groups: dict[str, Group] = {}
    for bench in data.get("benchmarks", []):
        match = NAME.match(bench["name"])
        if match is None:
            print(f"skipped {bench['name']!r}: not named test_<group>__<impl>", file=sys.stderr)
            continue
        group_name = match["group"] + (match["param"] or "")
        extra = bench.get("extra_info") or {}
        entry = Entry(
            impl=match["impl"],
            items=int(extra.get("items", 1)),
            median_s=float(bench["stats"]["median"]),
            rounds=int(bench["stats"]["rounds"]),
            extra=extra,
        )
        groups.setdefault(group_name, Group(group_name)).entries[entry.impl] = entry
    return list(groups.values())


def _rate(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:8.2f}{unit}"
    return f"{value:8.1f} "


def _time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:8.2f} {unit}"
    return f"{seconds / 1e-9:8.1f} ns"


def report(groups: list[Group]) -> tuple[list[str], int]:
    """The printed lines and the number of missed targets."""
    width = max([len("group"), *(len(g.name) for g in groups)])
    header = (
        f"{'group':<{width}} {'implementation':<14} {'items':>6} {'median/call':>12} {'items/s':>10} {'skms/impl':>10}"
    )
    lines = [header, "-" * len(header)]
    target_lines: list[str] = []
    missed = 0
    for group in sorted(groups, key=lambda g: g.name):
        ours = group.entries.get(OURS)
        ordered = sorted(group.entries.values(), key=lambda e: (e.impl != OURS, e.impl))
        for entry in ordered:
            ratio = ""
            if ours is not None and entry is not ours:
                ratio = f"{ours.items_per_s / entry.items_per_s:9.2f}x"
            timing = f"{_time(entry.median_s):>12} {_rate(entry.items_per_s):>10}"
            lines.append(f"{group.name:<{width}} {entry.impl:<14} {entry.items:>6} {timing} {ratio:>10}")
        if ours is not None and "target_items_per_s" in ours.extra:
            floor = float(ours.extra["target_items_per_s"])
            verdict = "PASS" if ours.items_per_s >= floor else "MISS"
            missed += verdict == "MISS"
            target_lines.append(
                f"{verdict}  {group.name}: skms = {ours.items_per_s:,.0f} items/s, "
                f"target >= {floor:,.0f}/s ({ours.extra.get('target', '')})"
            )
        if ours is None or "target_ratio" not in ours.extra:
            continue
        wanted = float(ours.extra["target_ratio"])
        peers = [ours.extra["target_peer"]] if "target_peer" in ours.extra else None
        for entry in ordered:
            if entry is ours or (peers is not None and entry.impl not in peers):
                continue
            measured = ours.items_per_s / entry.items_per_s
            verdict = "PASS" if measured >= wanted else "MISS"
            missed += verdict == "MISS"
            words = ours.extra.get("target", "")
            target_lines.append(
                f"{verdict}  {group.name}: skms/{entry.impl} = {measured:.2f}x, target >= {wanted:.2f}x ({words})"
            )
        if peers is not None and not any(e.impl in peers for e in ordered):
            missed += 1
            target_lines.append(f"MISS  {group.name}: no result for peer {peers[0]!r}")
    if target_lines:
        lines += ["", "Targets:", *target_lines]
    return lines, missed


def main(argv: list[str]) -> int:
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    path = Path(args[0] if args else ".benchmarks/latest.json")
    if not path.is_file():
        print(f"{path}: no such file; run `make bench` first", file=sys.stderr)
        return 2
    groups = load(path)
    if not groups:
        print(f"{path}: no benchmarks named test_<group>__<impl>", file=sys.stderr)
        return 2
    lines, missed = report(groups)
    print("\n".join(lines))
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
