"""One-stage federated Cox: equal to the pooled site-stratified fit over every transport; only aggregates leave a site."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from footdrop_outcomes import simulate_cohort
from footdrop_outcomes.cohort.simulate import SimulationConfig
from footdrop_outcomes.errors import ConfigError, FootdropError
from footdrop_outcomes.release import ReleasePolicy, TooFewToRelease
from footdrop_outcomes.sites import (
    DaskSites,
    FileExchange,
    SiteCox,
    federated_cox,
    serve_site,
)
from footdrop_outcomes.sites.onestage import ERROR_KEYS, RESPONSE_KEYS, ExchangeTimeout
from footdrop_outcomes.survival import fit_cox, survival_frame

FORMULA = "supervised_physio + severity + age + diabetes"
TOL = 1e-8


def _cohort(seed: int, n_sites: int, n: int = 2000):
    return simulate_cohort(n, seed=seed, config=SimulationConfig(n_sites=n_sites, site_frailty_sd=0.3))


@pytest.fixture(scope="module")
def cohort():
    return _cohort(2031, 6)


@pytest.fixture(scope="module")
def frame(cohort) -> pd.DataFrame:
    return survival_frame(cohort)


def _labels(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["site"].astype(str).unique())


def _assert_equal_to_pooled(fed, pooled) -> None:
    assert list(fed.params.index) == list(pooled.params.index)
    np.testing.assert_allclose(fed.params.to_numpy(), pooled.params.to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(fed.summary["se"].to_numpy(), pooled.summary["se"].to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(fed.cov.to_numpy(), pooled.cov.to_numpy(), rtol=0, atol=TOL)
    assert abs(fed.log_likelihood - pooled.log_likelihood) < 1e-8 * abs(pooled.log_likelihood)
    assert fed.info["converged"] and fed.info["n"] == pooled.info["n"] and fed.info["events"] == pooled.info["events"]


@pytest.mark.parametrize(("seed", "n_sites", "strata"), [(11, 5, None), (12, 8, "cause"), (13, 10, None), (14, 10, "cause")])
def test_in_process_equals_pooled_stratified_fit(seed: int, n_sites: int, strata: str | None) -> None:
    f = survival_frame(_cohort(seed, n_sites))
    sites = [SiteCox(f[f["site"] == s], FORMULA, strata=strata) for s in _labels(f)]
    fed = federated_cox(sites, FORMULA, strata=strata)
    pooled = fit_cox(f, FORMULA, strata=["site", *([strata] if strata else [])])
    _assert_equal_to_pooled(fed, pooled)
    assert fed.info["n_sites"] == n_sites == len(fed.info["sites"])
    # the same Newton path as fit_cox: the same number of steps, one round per evaluation plus describe
    assert fed.info["iterations"] == pooled.info["convergence"]["iterations"]
    assert fed.info["rounds"] == len(fed.info["exchange"]) >= 2 + fed.info["iterations"]
    assert [r["what"] for r in fed.info["exchange"][:2]] == ["describe", "all"]
    assert fed.info["exchange"][1]["loglik"] == pytest.approx(pooled.info["log_likelihood_null"], abs=1e-8)
    # the summary has CoxResult's columns and consistent CIs
    s = fed.summary
    assert list(s.columns) == ["term", "log_hr", "se", "hr", "hr_lower", "hr_upper", "z", "p"]
    np.testing.assert_allclose(s["hr_lower"], pooled.summary["hr_lower"], rtol=1e-8)
    np.testing.assert_allclose(s["hr_upper"], pooled.summary["hr_upper"], rtol=1e-8)


def _serve_all(paths: dict[str, Path], exdirs: dict[str, Path], **kw) -> tuple[list[threading.Thread], dict[str, object]]:
    results: dict[str, object] = {}

    def run(s: str) -> None:
        try:
            results[s] = serve_site(paths[s], exdirs[s], formula=FORMULA, **kw)
        except Exception as err:  # noqa: BLE001 - kept for the assertion
            results[s] = err

    threads = [threading.Thread(target=run, args=(s,), daemon=True) for s in paths]
    for t in threads:
        t.start()
    return threads, results


@pytest.fixture(scope="module")
def site_dirs(cohort, frame, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cohorts")
    return {s: cohort.subset(sites=s).save(root / s) for s in _labels(frame)}


def test_file_exchange_equals_pooled_and_responses_hold_only_aggregates(site_dirs, frame, tmp_path) -> None:
    labels = list(site_dirs)
    ex = {s: tmp_path / "ex" / s for s in labels}
    for d in ex.values():
        d.mkdir(parents=True)
    threads, results = _serve_all(site_dirs, ex, strata="cause", timeout=60)
    fed = federated_cox(FileExchange([ex[s] for s in labels], timeout=60), FORMULA, strata="cause")
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)  # the stop request ended every site's loop
    assert all(results[s] == fed.info["rounds"] for s in labels)
    _assert_equal_to_pooled(fed, fit_cox(frame, FORMULA, strata=["site", "cause"]))
    assert fed.info["transport"] == "file exchange"
    # try to reconstruct patients from what site S01 sent
    local = frame[frame["site"] == labels[0]]
    p = len(fed.params)
    files = sorted(ex[labels[0]].glob("response-*.json"))
    assert len(files) == fed.info["rounds"]
    assert not [f for f in ex[labels[0]].iterdir() if f.name.startswith(".")]  # no temporary file left
    for path in files:
        text = path.read_text()
        msg = json.loads(text)
        assert set(msg) == RESPONSE_KEYS  # nothing but the listed keys
        assert msg["site"] == labels[0] and msg["terms"] == list(fed.params.index)
        assert msg["n"] == len(local) and msg["events"] == int(local["event"].sum())
        if msg["score"] is not None:
            assert np.asarray(msg["score"]).shape == (p,) and np.asarray(msg["information"]).shape == (p, p)
        else:  # a describe or a log-likelihood-only round
            assert msg["information"] is None
        assert isinstance(msg["loglik"], (float, type(None)))
        # no patient id, age or recovery time of the site appears among the numbers
        assert not any(str(pid) in text for pid in local["patient_id"])
        values = np.ravel(np.asarray([x for key in ("loglik", "score", "information") if msg[key] is not None
                                      for x in np.ravel(np.asarray(msg[key], dtype=float))], dtype=float))
        patient_values = {float(a) for a in local["age"]} | {float(t) for t in local["time"]}
        assert not set(values.tolist()) & patient_values
        # the amount of numbers depends on p, not on the number of patients
        assert values.size in (0, 1, 1 + p + p * p)


def test_a_site_in_another_process(site_dirs, frame, tmp_path) -> None:
    """One site serves from its own Python process (no memory shared with the coordinator), one from a thread."""
    import subprocess
    import sys

    labels = list(site_dirs)[:2]
    for s in labels:
        (tmp_path / s).mkdir()
    code = ("import sys; from footdrop_outcomes.sites import serve_site; "
            f"print(serve_site(sys.argv[1], sys.argv[2], formula={FORMULA!r}, timeout=60))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(site_dirs[labels[0]]), str(tmp_path / labels[0])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threads, results = _serve_all({labels[1]: site_dirs[labels[1]]}, {labels[1]: tmp_path / labels[1]}, timeout=60)
    try:
        fed = federated_cox(FileExchange([tmp_path / s for s in labels], timeout=60), FORMULA)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    threads[0].join(30)
    assert proc.returncode == 0 and stdout.strip() == str(fed.info["rounds"]) == str(results[labels[1]])
    both = frame[frame["site"].isin(labels)]
    _assert_equal_to_pooled(fed, fit_cox(both, FORMULA, strata="site"))


def test_dask_tasks_equal_pooled_without_sending_data(site_dirs, frame) -> None:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        ds = DaskSites(client, {s: str(p) for s, p in site_dirs.items()})
        fed = federated_cox(ds, FORMULA, strata="cause")
        # what came back to the client in the last round: aggregates only
        last = ds.round(99, "all", fed.params.to_numpy())
        # a site whose data cannot be read on its worker: named, and its error is all that comes back
        broken = DaskSites(client, {**{s: str(p) for s, p in list(site_dirs.items())[:2]}, "S99": str(site_dirs["S01"]) + "-gone"})
        with pytest.raises(FootdropError, match=r"site S99: the site refused: .*-gone"):
            federated_cox(broken, FORMULA, strata="cause")
    _assert_equal_to_pooled(fed, fit_cox(frame, FORMULA, strata=["site", "cause"]))
    assert fed.info["transport"] == "dask"
    p = len(fed.params)
    for msg in last:
        assert set(msg) == RESPONSE_KEYS
        assert np.asarray(msg["score"]).shape == (p,) and np.asarray(msg["information"]).shape == (p, p)
    # at the estimate the summed score is zero (to rounding)
    assert np.max(np.abs(np.sum([m["score"] for m in last], axis=0))) < 1e-6


def test_site_lacking_a_level_keeps_the_column(frame) -> None:
    f = frame.copy()
    labels = _labels(f)
    f = f[~((f["site"] == labels[0]) & (f["severity"] == "severe"))]  # site 1 has no severe patient
    sites = [SiteCox(f[f["site"] == s], FORMULA) for s in labels]
    assert all(s.terms == sites[1].terms for s in sites)
    assert "severity[severe]" in sites[0].terms
    _assert_equal_to_pooled(federated_cox(sites, FORMULA), fit_cox(f, FORMULA, strata="site"))


def test_text_columns_need_agreed_levels(frame) -> None:
    f = frame.copy()
    f["severity"] = f["severity"].astype(str)
    labels = _labels(f)
    with pytest.raises(ConfigError, match=r"severity is a text column; give its levels"):
        SiteCox(f[f["site"] == labels[0]], FORMULA)
    lev = {"severity": ["mild", "moderate", "severe"]}
    sites = [SiteCox(f[f["site"] == s], FORMULA, levels=lev) for s in labels]
    _assert_equal_to_pooled(federated_cox(sites, FORMULA), fit_cox(frame, FORMULA, strata="site"))
    # sites that code a factor differently are refused by the coordinator, naming the site
    other = [SiteCox(f[f["site"] == labels[0]], FORMULA, levels={"severity": ["moderate", "mild", "severe"]}), *sites[1:]]
    with pytest.raises(ConfigError, match=rf"site {labels[1]}: the site's design has terms"):
        federated_cox(other, FORMULA)


def test_a_level_no_site_has_is_named(frame) -> None:
    f = frame.copy()
    f["severity"] = f["severity"].cat.add_categories(["unknown"])
    sites = [SiteCox(f[f["site"] == s], FORMULA) for s in _labels(f)]
    with pytest.raises(FootdropError, match=r"severity\[unknown\].*carry no information at any site"):
        federated_cox(sites, FORMULA)


def test_data_dependent_transforms_are_refused(frame) -> None:
    local = frame[frame["site"] == _labels(frame)[0]]
    local = local.assign(age_years=local["age"].astype(float))
    with pytest.raises(ConfigError, match="data-dependent transforms"):
        SiteCox(local, "scale(age_years) + severity")


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def test_small_sites_and_small_cells_refuse_naming_the_site_only(frame) -> None:
    labels = _labels(frame)
    local = frame[frame["site"] == labels[0]]
    tiny = local.iloc[:9]
    s = SiteCox(tiny, "age")
    assert not s.releasable
    with pytest.raises(TooFewToRelease, match=rf"site {labels[0]} has 10 or fewer patients") as err:
        s.evaluate([0.0])
    assert _numbers(str(err.value)) <= {"10", "1", labels[0][1:], labels[0][2:]}
    few = local.copy()
    few["event"] = False
    few.iloc[:7, few.columns.get_loc("event")] = True
    with pytest.raises(TooFewToRelease, match="10 or fewer recoveries"):
        SiteCox(few, "age").evaluate([0.0])
    rare = local.copy()
    rare["rare"] = 0
    rare.iloc[:3, rare.columns.get_loc("rare")] = 1
    with pytest.raises(TooFewToRelease, match=r"term\(s\) \['rare'\] stand on 1 to 10"):
        SiteCox(rare, "age + rare").evaluate([0.0, 0.0])
    # the coordinator stops at the describe round, naming the refusing site, before any number is exchanged
    others = [SiteCox(frame[frame["site"] == x], "age") for x in labels[1:]]
    with pytest.raises(FootdropError, match=rf"site {labels[0]}: the site refused") as err:
        federated_cox([SiteCox(tiny, "age", site=labels[0]), *others], "age")
    assert str(len(tiny)) not in str(err.value).replace("10", "")
    # a lower threshold (internal use) lets the small cell through
    ok = SiteCox(rare, "age + rare", policy=ReleasePolicy(threshold=2, internal_use=True))
    assert ok.releasable and set(ok.evaluate([0.0, 0.0])) == {"loglik", "score", "information", "n", "events"}


def test_refusal_and_mismatch_over_the_file_exchange(site_dirs, tmp_path) -> None:
    labels = list(site_dirs)[:3]
    ex = {s: tmp_path / s for s in labels}
    for d in ex.values():
        d.mkdir()
    paths = {s: site_dirs[s] for s in labels}
    threads, _ = _serve_all(paths, ex, strata="cause", timeout=20)
    with pytest.raises(FootdropError, match=rf"site {labels[0]}: the site refused: site {labels[0]} serves formula"):
        federated_cox(FileExchange([ex[s] for s in labels], timeout=20), FORMULA)  # no strata: not what the sites serve
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads)
    err = json.loads((ex[labels[0]] / "response-1.json").read_text())
    assert set(err) == ERROR_KEYS


def test_timeouts_name_the_directory(tmp_path) -> None:
    d = tmp_path / "S09"
    d.mkdir()
    with pytest.raises(ExchangeTimeout, match=r"no response-1.json within 0.2 s in .*S09.*serve_site running"):
        federated_cox(FileExchange([d], timeout=0.2), "age")
    assert (d / "request-1.json").exists()
    with pytest.raises(FootdropError, match="does not exist"):
        federated_cox(FileExchange([tmp_path / "missing"]), "age")


def test_site_loop_times_out_without_requests(frame, tmp_path) -> None:
    local = frame[frame["site"] == _labels(frame)[0]]
    with pytest.raises(ExchangeTimeout, match=r"serve_site: no request in .* within 0.2 s"):
        serve_site(local, tmp_path, formula="age", timeout=0.2, poll=0.01)


def test_bad_inputs(frame) -> None:
    local = frame[frame["site"] == _labels(frame)[0]]
    s = SiteCox(local, "age + severity")
    with pytest.raises(ConfigError, match=r"beta must be 3 finite numbers"):
        s.evaluate([0.0])
    with pytest.raises(ConfigError, match="give site="):
        SiteCox(local.drop(columns="site"), "age")
    with pytest.raises(ConfigError, match="sites must be SiteCox objects"):
        federated_cox(["a", "b"], "age")  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="built with formula"):
        federated_cox([s], "age")
    with pytest.raises(ConfigError, match="site labels repeat"):
        federated_cox([SiteCox(local, "age"), SiteCox(local, "age")], "age")


def test_a_term_without_recoveries_runs_off_and_is_refused(frame) -> None:
    f = frame.copy()
    f["noev"] = 0
    for s in _labels(f):  # 30 censored patients per site: the term's hazard ratio is 0 (log HR at minus infinity)
        f.loc[f.index[(f["site"] == s) & ~f["event"]][:30], "noev"] = 1
    sites = [SiteCox(f[f["site"] == s], "age + noev") for s in _labels(f)]
    with pytest.raises(FootdropError, match=r"run off to infinity .* noev \(log HR"):
        federated_cox(sites, "age + noev")
    with pytest.raises(FootdropError, match="no recoveries observed where noev = 1"):  # the pooled fit refuses too
        fit_cox(f, "age + noev", strata="site")


def test_a_site_started_before_the_coordinator_ignores_an_old_stop(site_dirs, frame, tmp_path) -> None:
    import time

    labels = list(site_dirs)[:2]
    ex = {s: tmp_path / s for s in labels}
    for d in ex.values():
        d.mkdir()
        (d / "request-7.json").write_text(json.dumps({"kind": "footdrop-outcomes federated Cox request", "run": "old",
                                                      "k": 7, "what": "stop"}))
    threads, results = _serve_all({s: site_dirs[s] for s in labels}, ex, timeout=30)
    time.sleep(0.5)  # the sites have seen the old stop
    assert all(t.is_alive() for t in threads)
    fed = federated_cox(FileExchange([ex[s] for s in labels], timeout=30), FORMULA)
    for t in threads:
        t.join(30)
    assert [results[s] for s in labels] == [fed.info["rounds"]] * 2
    _assert_equal_to_pooled(fed, fit_cox(frame[frame["site"].isin(labels)], FORMULA, strata="site"))
