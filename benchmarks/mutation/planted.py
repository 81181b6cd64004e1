"""Planted bugs: apply each deliberate bug, one at a time, to an isolated copy of the code, run
the tests that should catch it, record caught / missed and restore the file.

Run it on a git worktree (never on the working copy others use)::

    git worktree add /work/mut HEAD
    python3 -m venv /work/mut/.venv && /work/mut/.venv/bin/pip install -e "/work/mut[test]"
    /work/mut/.venv/bin/python benchmarks/mutation/planted.py --root /work/mut [--only NAME ...]

A bug is *caught* when the listed tests fail (exit code 1); a collection error or a crash counts
as "error" (the plant broke more than it should). Every plant replaces one exact snippet that must
occur exactly once in its file, so a plant that no longer applies after a code change says so
("stale") instead of passing silently. Prints one line per plant and a summary; nothing else.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SRC = "src/footdrop_outcomes/"


@dataclass(frozen=True)
class Plant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


PLANTS: list[Plant] = [
    # --- privacy in reports ---------------------------------------------------------------------
    Plant("death count printed raw", SRC + "report/narrative.py",
          "{show_count(deaths)} patients died", "{deaths} patients died",
          ("tests/report/test_catches_report_counts.py",)),
    Plant("hidden cell printed as n (%)", SRC + "report/counts.py",
          "    if is_small(n) or hidden:\n        return show_count(n, hidden=hidden)",
          "    if is_small(n):\n        return show_count(n, hidden=hidden)",
          ("tests/report/test_catches_report_counts.py", "tests/report/test_small_cells.py::test_cells_hidden_by_the_protection_stay_hidden_in_table_one")),
    Plant("guard skips categorical columns", SRC + "guard/_scanner.py",
          "        # text: distinct values, and the code of each row\n",
          "        if isinstance(dtype, pd.CategoricalDtype):\n            return []\n        # text: distinct values, and the code of each row\n",
          ("tests/privacy/test_guard.py", "tests/guard/test_hostile.py")),
    Plant("suppression audit ignores non-negativity", SRC + "release/suppression.py",
          'A_eq=np.array(eq), b_eq=np.array(rhs), bounds=(0, None), method="highs")\n        hi',
          'A_eq=np.array(eq), b_eq=np.array(rhs), bounds=(None, None), method="highs")\n        hi',
          ("tests/privacy/test_suppression.py",)),
    Plant("complementary suppression skipped", SRC + "release/suppression.py",
          "        _close_all_cycles(counts, hidden)\n", "        pass\n",
          ("tests/privacy/test_suppression.py",)),
    # --- release control (new) ------------------------------------------------------------------
    Plant("sentence support checks only the first group", SRC + "release/released.py",
          "if any(policy.is_small(n) for n in sizes):", "if sizes and policy.is_small(sizes[0]):",
          ("tests/release/test_release.py", "tests/release/test_catches_release.py")),
    Plant("threshold off by one (count = threshold shown)", SRC + "release/policy.py",
          "return 1 <= int(n) <= self.threshold", "return 1 <= int(n) < self.threshold",
          ("tests/release/test_release.py", "tests/release/test_catches_release.py")),
    Plant("suppression footnote lies about the range", SRC + "release/suppression.py",
          'f"{marker} hidden to protect privacy: counts from 1 to {self.threshold},',
          'f"{marker} hidden to protect privacy: counts from 1 to {self.threshold - 1},',
          ("tests/privacy/test_suppression.py", "tests/release/test_catches_release.py")),
    Plant("at-risk label just above the threshold unrounded", SRC + "release/suppression.py",
          "return str(max(r, first) if v > threshold else r)", "return str(max(r, threshold + 1) if v > threshold else r)",
          ("tests/privacy/test_suppression.py",)),
    Plant("yes/no term support counts missing values as a level (mutant)", SRC + "release/released.py",
          "frame[term].nunique(dropna=True) == 2", "frame[term].nunique(dropna=False) == 2",
          ("tests/release/test_release.py", "tests/release/test_catches_release.py")),
    Plant("at-risk rounding default 6 (mutant)", SRC + "release/policy.py",
          "    round_to: int = 5\n", "    round_to: int = 6\n",
          ("tests/release/test_release.py", "tests/release/test_catches_release.py")),
    Plant("support of a yes/no factor level not counted (mutant)", SRC + "release/released.py",
          '            return int(values.isin(["True", "1", "1.0"]).sum())\n', "            return None\n",
          ("tests/release/test_release.py", "tests/release/test_catches_release.py")),
    # --- confidence intervals and options -------------------------------------------------------
    Plant("Cox CI ignores alpha", SRC + "survival/cox.py",
          "    zq = _zq(alpha)\n", "    zq = _zq(0.05)\n",
          ("tests/survival/test_cox.py", "tests/survival/test_catches_options.py")),
    Plant("weighted-comparison CI at z = 1", SRC + "adherence/weighting.py",
          "    z_ = norm.ppf(1 - alpha / 2)\n", "    z_ = 1.0\n",
          ("tests/adherence/test_weighting.py", "tests/adherence/test_catches_weighting.py")),
    Plant("stratified PH test ignores strata", SRC + "survival/cox.py",
          "start=self.start, strata=self.strata,", "start=self.start, strata=None,",
          ("tests/survival/test_cox.py", "tests/survival/test_catches_options.py")),
    Plant("Cox SE inflated 22%", SRC + "survival/cox.py",
          "    zq = _zq(alpha)\n", "    zq = _zq(alpha)\n    se = se * 1.22\n",
          ("tests/survival/test_coverage.py", "tests/survival/test_cox.py")),
    # --- variants ---------------------------------------------------------------------------------
    Plant("ATT weights in place of ATE", SRC + "adherence/weighting.py",
          "    w = np.where(z, 1 / ps, 1 / (1 - ps))\n", "    w = np.where(z, 1.0, ps / (1 - ps))\n",
          ("tests/adherence/test_weighting.py", "tests/adherence/test_catches_weighting.py")),
    Plant("IPCW weights dropped", SRC + "adherence/perprotocol.py",
          "    w_pp = iptw[pcl] * ipcw[onp]\n", "    w_pp = iptw[pcl] * 1.0\n",
          ("tests/adherence/test_perprotocol.py", "tests/adherence/test_catches_ipcw.py")),
    Plant("sandwich SE without the propensity term", SRC + "adherence/weighting.py",
          "    return [(propensity.weight_gradient[rows], psi, np.arange(psi.shape[0]))]",
          "    return []",
          ("tests/adherence/test_weighting.py", "tests/adherence/test_sandwich.py", "tests/adherence/test_catches_weighting.py")),
    # --- Turnbull, KM, pooling --------------------------------------------------------------------
    Plant("Turnbull RMST with interval mass at the left end", SRC + "survival/turnbull.py",
          "np.where(tau >= right, width / 2 + (tau - right), inside)", "np.where(tau >= right, width + (tau - right), inside)",
          ("tests/survival/test_curves.py", "tests/survival/test_turnbull_coverage.py", "tests/survival/test_catches_turnbull.py")),
    Plant("Turnbull tolerance loosened to 0.05", SRC + "survival/turnbull.py",
          "    tol: float = 1e-9,\n", "    tol: float = 0.05,\n",
          ("tests/survival/test_curves.py", "tests/survival/test_turnbull_identifiability.py", "tests/survival/test_catches_turnbull.py")),
    Plant("KM late-entry risk set off by one", SRC + "survival/curves.py",
          'n_at = n_at - (entry.size - np.searchsorted(np.sort(entry), times, side="left"))',
          'n_at = n_at - (entry.size - np.searchsorted(np.sort(entry), times, side="right"))',
          ("tests/survival/test_late_entry.py", "tests/survival/test_entry.py", "tests/survival/test_curves.py")),
    Plant("Rubin's rules: lambda not squared in df", SRC + "imputation/pooling.py",
          "    dfold = (m - 1) / lam**2\n", "    dfold = (m - 1) / lam\n",
          ("tests/imputation/test_pooling.py",)),
    Plant("pooling accepts a non-finite covariance (mutant)", SRC + "imputation/pooling.py",
          "if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u))):", "if not (np.all(np.isfinite(q)) or np.all(np.isfinite(u))):",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling takes dfcom from the second fit (mutant)", SRC + "imputation/pooling.py",
          "        dfc, source = got[0][2], got[0][3]\n", "        dfc, source = got[1][2], got[0][3]\n",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling loses the labels of array params (mutant)", SRC + "imputation/pooling.py",
          "if not isinstance(params, pd.Series) else params.astype(float)", "if isinstance(params, pd.Series) else params.astype(float)",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling exponentiates by default (mutant)", SRC + "imputation/pooling.py",
          "    exponentiate: bool = False,\n) -> PooledResult:", "    exponentiate: bool = True,\n) -> PooledResult:",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling floors dfcom at 2 (mutant)", SRC + "imputation/pooling.py",
          "    dfc = max(dfc, 1.0)\n", "    dfc = max(dfc, 2.0)\n",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling keeps an array covariance unlabelled (mutant)", SRC + "imputation/pooling.py",
          "columns=params.index) if not isinstance(cov, pd.DataFrame) else cov", "columns=params.index) if isinstance(cov, pd.DataFrame) else cov",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("pooling refuses every numeric dfcom (mutant)", SRC + "imputation/pooling.py",
          "if not isinstance(dfcom, (int, float)) or isinstance(dfcom, bool)", "if isinstance(dfcom, (int, float)) or isinstance(dfcom, bool)",
          ("tests/imputation/test_pooling.py", "tests/imputation/test_catches_pooling.py")),
    Plant("Rubin's rules: total variance without 1/m", SRC + "imputation/pooling.py",
          "    t_m = ubar_m + (1 + 1 / m) * b_m\n", "    t_m = ubar_m + b_m\n",
          ("tests/imputation/test_pooling.py",)),
    # --- session 6: the last survivors (per-protocol IPCW SE, lagged wear, Turnbull edges, ...) ---------
    Plant("IPCW SE: denominator derivative with the wrong sign", SRC + "adherence/perprotocol.py",
          "pd.DataFrame(np.where(y, 0.0, p_den)[:, None] * xdm)", "pd.DataFrame(-np.where(y, 0.0, p_den)[:, None] * xdm)", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: numerator derivative with the wrong sign", SRC + "adherence/perprotocol.py",
          "pd.DataFrame(-np.where(y, 0.0, p_num)[:, None] * xnm)", "pd.DataFrame(np.where(y, 0.0, p_num)[:, None] * xnm)", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: denominator derivative not summed over the weeks so far", SRC + "adherence/perprotocol.py",
          "pd.DataFrame(np.where(y, 0.0, p_den)[:, None] * xdm).groupby(at_cl).cumsum().to_numpy()",
          "pd.DataFrame(np.where(y, 0.0, p_den)[:, None] * xdm).to_numpy()", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: p (1 - p) in place of p in the derivative", SRC + "adherence/perprotocol.py",
          "pd.DataFrame(np.where(y, 0.0, p_den)[:, None] * xdm)", "pd.DataFrame(np.where(y, 0.0, p_den * (1 - p_den))[:, None] * xdm)", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: derivative scaled by ipcw instead of iptw * ipcw", SRC + "adherence/perprotocol.py",
          "keep = (w_pp * ~clipped)[:, None]", "keep = (ipcw[onp] * ~clipped)[:, None]", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: propensity block of the IPCW row without ipcw", SRC + "adherence/perprotocol.py",
          "blocks = [((ipcw[onp] * ~clipped)[:, None] * dw_ps[pcl], *ps_block)]", "blocks = [((~clipped)[:, None] * dw_ps[pcl], *ps_block)]", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("IPCW SE: numerator model's block dropped", SRC + "adherence/perprotocol.py",
          "for dlog, xm, p in ((d_den, xdm, p_den), (d_num, xnm, p_num)):", "for dlog, xm, p in ((d_den, xdm, p_den),):", ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("lagged cumulative wear counts the current week (mutant)", SRC + "adherence/perprotocol.py",
          'worn_before = r.fillna(0.0).groupby(wk["patient_id"]).cumsum() - r.fillna(0.0)',
          'worn_before = r.fillna(0.0).groupby(wk["patient_id"]).cumsum() + r.fillna(0.0)', ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("lagged cumulative wear counts weeks without a prescription (the old code)", SRC + "adherence/perprotocol.py",
          'n_before = known.groupby(wk["patient_id"]).cumsum() - known', 'n_before = r.groupby(wk["patient_id"]).cumcount()', ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("deviation week kept on protocol (mutant)", SRC + "adherence/perprotocol.py",
          'ep["on_protocol"] = ep["week"].to_numpy() < dw', 'ep["on_protocol"] = ep["week"].to_numpy() <= dw',
          ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("n_boot refused for the sandwich too (mutant)", SRC + "adherence/perprotocol.py",
          'if se == "bootstrap" and (not isinstance(n_boot', 'if se == "bootstrap" or (not isinstance(n_boot', ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("Turnbull: a week's gap before a median set starting at onset (mutant)", SRC + "survival/turnbull.py",
          "gap_before = lo - float(before[-1]) if before.size else 0.0", "gap_before = lo - float(before[-1]) if before.size else 1.0",
          ("tests/survival/test_catches_turnbull_edges.py",)),
    Plant("Turnbull: a visit seen by exactly 20% is not well attended (mutant)", SRC + "survival/turnbull.py",
          "return ends[near >= share * np.maximum(observed, 1)]", "return ends[near > share * np.maximum(observed, 1)]",
          ("tests/survival/test_catches_turnbull_edges.py",)),
    Plant("mixed: correlation divided by a zero SD (mutant)", SRC + "trajectories/mixed.py",
          "if sd[i] > 0 and sd[j] > 0 else np.nan", "if sd[i] > 0 and sd[j] >= 0 else np.nan",
          ("tests/trajectories/test_catches_mixed_edges.py",)),
    Plant("mixed: optimiser iterations recorded as 0 (mutant)", SRC + "trajectories/_fast.py",
          '"iterations": int(getattr(res, "nit", 0) or 0)', '"iterations": int(getattr(res, "nit", 0) and 0)',
          ("tests/trajectories/test_catches_mixed_edges.py",)),
    Plant("guard: a refusal line drops a column given without a table (mutant)", SRC + "guard/_scanner.py",
          "if rec.table or rec.column:", "if rec.table and rec.column:", ("tests/guard/test_catches_scanner_message.py",)),
    Plant("curves: week labels repeated under the at-risk table (mutant)", SRC + "survival/curves.py",
          'tab_ax.tick_params(axis="x", labelbottom=False, length=0)', 'tab_ax.tick_params(axis="x", labelbottom=True, length=0)',
          ("tests/survival/test_catches_curves_labels.py",)),
    # --- session 7: the per-protocol deviation rows, the Turnbull origin row, and this wave's new modules ------------
    Plant("deviation-model rows not ended at the last week a stopping run could start", SRC + "adherence/perprotocol.py",
          '& prog & startable & (ep["week"].to_numpy() <= dw)', '& prog & (ep["week"].to_numpy() <= dw)',
          ("tests/adherence/test_catches_perprotocol_se.py",)),
    Plant("Turnbull: a curve row at onset (mutant)", SRC + "survival/turnbull.py",
          "pts = pts[np.isfinite(pts) & (pts > 0)]", "pts = pts[np.isfinite(pts) & (pts >= 0)]",
          ("tests/survival/test_catches_turnbull_origin.py",)),
    Plant("frailty: hazard-ratio CI with z / se (mutant)", SRC + "survival/frailty.py",
          '"hr_lower": np.exp(beta - zq * se)', '"hr_lower": np.exp(beta - zq / se)', ("tests/survival/test_catches_frailty.py",)),
    Plant("frailty: two groups refused (mutant)", SRC + "survival/frailty.py",
          "if q < 2:", "if q < 3:", ("tests/survival/test_catches_frailty.py",)),
    Plant("frailty: sites in order of first appearance (mutant)", SRC + "survival/frailty.py",
          "group, levels = pd.factorize(frame[frailty], sort=True)", "group, levels = pd.factorize(frame[frailty], sort=False)",
          ("tests/survival/test_catches_frailty.py",)),
    Plant("frailty: gamma correction of event-free groups 1 (mutant)", SRC + "survival/frailty.py",
          "    if pos.size == 0:\n        return 0.0", "    if pos.size == 0:\n        return 1.0", ("tests/survival/test_catches_frailty.py",)),
    Plant("frailty: plot states the wrong CI level (mutant)", SRC + "survival/frailty.py",
          "level = round(100 * (1 - self.alpha))", "level = round(101 * (1 - self.alpha))", ("tests/survival/test_catches_frailty.py",)),
    Plant("AFT random: tau-zero test reads a fixed coefficient (mutant)", SRC + "survival/aft_random.py",
          "at_zero = math.exp(theta[p + 1]) < _TAU_ZERO", "at_zero = math.exp(theta[p - 1]) < _TAU_ZERO",
          ("tests/survival/test_catches_aft_random.py",)),
    Plant("AFT random: LR test of tau on 2 df (mutant)", SRC + "survival/aft_random.py",
          '"p": [0.5 * float(stats.chi2.sf(lr, 1))', '"p": [0.5 * float(stats.chi2.sf(lr, 2))', ("tests/survival/test_catches_aft_random.py",)),
    Plant("AFT random: upper time-ratio limit below the estimate (mutant)", SRC + "survival/aft_random.py",
          '"tr_upper": np.exp(theta + zq * se)', '"tr_upper": np.exp(theta - zq * se)', ("tests/survival/test_catches_aft_random.py",)),
    Plant("misclass: the near window replaced by none (mutant)", SRC + "survival/misclass.py",
          "near or 1.0, plateau)", "near and 1.0, plateau)", ("tests/survival/test_catches_misclass.py",)),
    Plant("misclass: a one-row frame called empty (mutant)", SRC + "survival/misclass.py",
          "or len(frame) == 0:", "or len(frame) == 1:", ("tests/survival/test_catches_misclass.py",)),
    Plant("misclass: log(0) for a patient without readings (mutant)", SRC + "survival/misclass.py",
          "self.log_t = np.log(np.where(times > 0, times, 1.0))", "self.log_t = np.log(np.where(times >= 0, times, 1.0))",
          ("tests/survival/test_catches_misclass.py",)),
    Plant("adherence by site: lower limit above the difference (mutant)", SRC + "sites/comparison.py",
          '"lower": diff - z95 * se', '"lower": diff + z95 * se', ("tests/sites/test_catches_adherence_by_site.py",)),
    Plant("adherence by site: three sites refused (mutant)", SRC + "sites/comparison.py",
          "    if len(shown) < 3:\n        raise FootdropError(f\"adherence_by_site",
          "    if len(shown) < 4:\n        raise FootdropError(f\"adherence_by_site", ("tests/sites/test_catches_adherence_by_site.py",)),
    Plant("adherence by site: patients with missing covariates miscounted (mutant)", SRC + "sites/comparison.py",
          '"n_missing": n_before - len(frame)', '"n_missing": n_before + len(frame)', ("tests/sites/test_catches_adherence_by_site.py",)),
    Plant("adherence by site: released table missing (mutant)", SRC + "sites/comparison.py",
          'return release_table(out, self.policy, support=s["n"].to_numpy(), keep=["site"])', "return None",
          ("tests/sites/test_catches_adherence_by_site.py",)),
    Plant("site report: rank intervals drawn with a wrong lower arm (mutant)", SRC + "report/site_section.py",
          'xerr=[(w["rank"] - w["rank_lower"])', 'xerr=[(w["rank"] + w["rank_lower"])', ("tests/report/test_catches_site_section.py",)),
    Plant("site report: rank panel drawn from the other horizon (mutant)", SRC + "report/site_section.py",
          'w = s[s["horizon"] == h].set_index("site").reindex(site_list)', 'w = s[s["horizon"] != h].set_index("site").reindex(site_list)',
          ("tests/report/test_catches_site_section.py",)),
    Plant("site report: a CI with an infinite limit printed (mutant)", SRC + "report/site_section.py",
          'if np.isfinite(r["lower"]) and np.isfinite(r["upper"]):', 'if np.isfinite(r["lower"]) or np.isfinite(r["upper"]):',
          ("tests/report/test_catches_site_section.py",)),
    Plant("site report: the three-level fit's warning dropped (mutant)", SRC + "report/site_section.py",
          'warned = sa.choices["warnings"].get("trajectory") or []', 'warned = sa.choices["warnings"].get("trajectory") and []',
          ("tests/report/test_catches_site_section.py",)),
]


def run(root: Path, plant: Plant, python: str, timeout: float) -> tuple[str, float]:
    path = root / plant.file
    original = path.read_text()
    if original.count(plant.old) != 1:
        return "stale", 0.0
    tests = [t for t in plant.tests if (root / t.split("::")[0]).exists()]
    if not tests:
        return "no tests", 0.0
    path.write_text(original.replace(plant.old, plant.new))
    t0 = time.perf_counter()
    try:
        rc = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0", *tests],
                            cwd=root, capture_output=True, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    finally:
        path.write_text(original)
    verdict = {0: "MISSED", 1: "caught", -1: "timeout"}.get(rc, f"error (pytest exit {rc})")
    return verdict, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="worktree to plant in (never the shared checkout)")
    ap.add_argument("--python", default=None, help="interpreter with the worktree installed (default ROOT/.venv/bin/python)")
    ap.add_argument("--only", nargs="*", default=None, help="names (substrings) of plants to run")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args(argv)
    python = a.python or str(a.root / ".venv/bin/python")
    chosen = [p for p in PLANTS if not a.only or any(s in p.name for s in a.only)]
    missed = 0
    for p in chosen:
        verdict, secs = run(a.root, p, python, a.timeout)
        missed += verdict == "MISSED"
        print(f"{verdict:8s} {secs:7.1f}s  {p.name}  [{', '.join(p.tests)}]", flush=True)
    print(f"{len(chosen)} plants, {missed} missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
