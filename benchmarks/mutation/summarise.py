"""Markdown tables of one or more ``mutate.py --json`` files: per target and per area, mutants
generated, selected (the stratified sample), run, killed, timed out, survived, the score
(killed + timed out over run) with its exact (Clopper-Pearson) 95% interval, and the survivors.

    python benchmarks/mutation/summarise.py A.json B.json C.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scipy.stats import beta

AREAS = {
    "survival": ["cox", "turnbull", "curves", "aft", "cure"],
    "trajectories": ["mixed", "fast"],
    "adherence weighting": ["weighting", "sandwich", "perprotocol"],
    "privacy (guard)": ["guard_rules", "guard_scanner"],
    "report counting": ["counts", "tables", "suppression"],
    "survival, new models (session 7)": ["frailty", "aft_random", "misclass"],
    "sites and site report (session 7)": ["adherence_by_site", "site_section"],
}


def _ci(k: int, n: int) -> str:
    if n == 0:
        return "-"
    lo = beta.ppf(0.025, k, n - k + 1) if k > 0 else 0.0
    hi = beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return f"{k / n:.2f} ({lo:.2f}-{hi:.2f})"


def main(paths: list[str]) -> None:
    res: dict[str, dict] = {}
    for p in paths:
        res.update(json.loads(Path(p).read_text()))
    print("| Area | Target (file) | Generated | Sampled | Run | Killed | Timed out | Survived | Score (95% CI) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for area, names in AREAS.items():
        if not any(name in res for name in names):
            continue  # an area none of these files ran
        tot = dict.fromkeys(("generated", "selected", "run", "killed", "timeout", "survived"), 0)
        for name in names:
            r = res.get(name)
            if r is None:
                print(f"| {area} | {name} | not run | | | | | | |")
                continue
            for k in tot:
                tot[k] += r[k]
            files = ", ".join(f.split("footdrop_outcomes/")[-1] for f in r["files"])
            print(f"| {area} | {name} (`{files}`) | {r['generated']} | {r['selected']} | {r['run']} | {r['killed']} | "
                  f"{r['timeout']} | {r['survived']} | {_ci(r['killed'] + r['timeout'], r['run'])} |")
        print(f"| **{area}** | all | {tot['generated']} | {tot['selected']} | {tot['run']} | {tot['killed']} | "
              f"{tot['timeout']} | {tot['survived']} | **{_ci(tot['killed'] + tot['timeout'], tot['run'])}** |")
    print()
    for name, r in res.items():
        for v in r["verdicts"]:
            if v["verdict"] == "survived":
                print(f"- {name}: `{v['file'].split('footdrop_outcomes/')[-1]}:{v['line']}` ({v['function']}) "
                      f"{v['what']}: `{v['source']}`")


if __name__ == "__main__":
    main(sys.argv[1:])
