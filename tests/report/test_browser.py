"""The reports in a real headless browser: Debian's ``chromium`` driven by ``chromium-driver`` through selenium.

* The HTML outcome report: no network request of any kind (the browser's own network log, with a
  control page that shows the log does record requests), every figure loaded, every contents link
  scrolls to its heading, no sideways scrolling of the page at phone width while wide tables
  scroll in their own box, and screenshots at 375 x 812 (phone) and 1280 x 900 (desktop).
* JupyterLab in the same browser: the outcome-report notebook opened on a small cohort, run with
  Run ▸ Run All Cells, exported through File ▸ Save and Export Notebook As ▸ Footdrop_pdf (the
  menu entry the ``footdrop_pdf`` nbconvert entry point gives), and the PDF that comes back read
  with pypdf; likewise Footdrop_html.

Marked ``browser``; skipped, with the reason, where ``/usr/bin/chromium`` or
``/usr/bin/chromedriver`` is absent (``apt-get install -y chromium chromium-driver``) or selenium /
JupyterLab is not installed. Screenshots go to a temporary folder, or to ``FOOTDROP_SCREENSHOT_DIR``
when that is set (CI keeps them as artefacts).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from footdrop_outcomes.report.html_export import check_self_contained, export_html

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (375, 812)
DESKTOP = (1280, 900)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("report-session"),  # the rendered outcome report is shared with the other report tests
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} not found: install Debian's chromium and chromium-driver "
                       "(apt-get install -y chromium chromium-driver) to run the browser checks"),
    pytest.mark.skipif(not CHROMEDRIVER.is_file(), reason=f"{CHROMEDRIVER} not found: install Debian's chromium-driver "
                       "(apt-get install -y chromium chromium-driver) to run the browser checks"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (test extra: selenium>=4.11)")
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def chrome(*, downloads: Path | None = None):
    """Headless Chromium (the system binary and driver; selenium fetches nothing) with its network log on."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    if downloads is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def requested_urls(driver) -> list[str]:
    """Every URL the page asked the network stack for since the last call (Chrome's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
        elif msg["method"] == "Network.webSocketCreated":
            urls.append(msg["params"]["url"])
    return urls


def viewport(driver, size: tuple[int, int], *, mobile: bool) -> None:
    w, h = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = os.environ.get("FOOTDROP_SCREENSHOT_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        return Path(where)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def html_report(rendered, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "outcome_report.html"
    return export_html(rendered("outcome_report").notebook, out)


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def test_the_network_log_sees_requests(browser, tmp_path):
    """Control: a page that does load from outside is caught by the same log (the check below can fail)."""
    page, port = tmp_path / "leaky.html", _free_port()  # nothing listens there: the request fails, but it is made
    page.write_text(f'<html><head><link rel="stylesheet" href="http://127.0.0.1:{port}/s.css"></head>'
                    f'<body><img src="http://127.0.0.1:{port}/pixel.png" alt="x"></body></html>', encoding="utf-8")
    requested_urls(browser)
    browser.get(page.as_uri())
    time.sleep(0.3)
    urls = requested_urls(browser)
    assert f"http://127.0.0.1:{port}/s.css" in urls and f"http://127.0.0.1:{port}/pixel.png" in urls


def test_html_report_makes_no_request_and_every_figure_loads(browser, html_report):
    requested_urls(browser), browser.get_log("browser")  # start both logs afresh
    viewport(browser, DESKTOP, mobile=False)
    browser.get(html_report.as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    n_img = len(BeautifulSoup(html_report.read_text(encoding="utf-8"), "html.parser").find_all("img"))
    assert len(images) == n_img >= 8
    assert all(complete and w > 0 and h > 0 for complete, w, h in images), images
    urls = requested_urls(browser)
    assert urls and urls[0] == html_report.as_uri()  # the log saw the page itself
    assert [u for u in urls if u != html_report.as_uri() and not u.startswith("data:")] == []
    assert browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)") == []
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.parametrize(("size", "mobile"), [(PHONE, True), (DESKTOP, False)], ids=["phone", "desktop"])
def test_contents_links_scroll_to_their_headings(browser, html_report, size, mobile):
    viewport(browser, size, mobile=mobile)
    browser.get(html_report.as_uri())
    links = browser.find_elements(By.CSS_SELECTOR, "nav.fd-toc a")
    assert len(links) >= 15
    misses = []
    for k in range(len(links)):
        link = browser.find_elements(By.CSS_SELECTOR, "nav.fd-toc a")[k]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()  # a real click: nothing (such as the floating "Contents" link) may cover it
        where = browser.execute_script("""
            const id = decodeURIComponent(location.hash.slice(1)), el = document.getElementById(id);
            const top = el ? el.getBoundingClientRect().top : null;
            const maxY = document.documentElement.scrollHeight - innerHeight;
            return {hash: location.hash, id: id, found: !!el, top: top, atEnd: scrollY >= maxY - 1, h: innerHeight};""")
        href = link.get_attribute("href").split("#", 1)[1]
        ok = where["found"] and where["hash"] == "#" + href and (
            abs(where["top"] - 16) <= 2 or (where["atEnd"] and 0 <= where["top"] < where["h"]))  # scroll-margin-top 1rem
        if not ok:
            misses.append((href, where))
        browser.get(html_report.as_uri() + "#contents")  # back to the contents for the next link
    assert misses == []
    # and the floating link leads back to the contents from anywhere
    browser.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    browser.find_element(By.CSS_SELECTOR, "a.fd-to-contents").click()
    top = browser.execute_script("return document.getElementById('contents').getBoundingClientRect().top")
    assert 0 <= top <= 20


def test_phone_and_desktop_layout_and_screenshots(browser, html_report, shots):
    taken = []
    for name, size, mobile in (("phone", PHONE, True), ("desktop", DESKTOP, False)):
        viewport(browser, size, mobile=mobile)
        browser.get(html_report.as_uri())
        layout = browser.execute_script("""
            const boxes = [...document.querySelectorAll('.fd-scroll')];
            return {pageWidth: document.documentElement.scrollWidth, viewWidth: innerWidth,
                    font: parseFloat(getComputedStyle(document.querySelector(".jp-RenderedMarkdown p")).fontSize),
                    imgs: [...document.images].map(i => i.getBoundingClientRect().right),
                    scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth + 1).length,
                    boxesInside: boxes.every(b => b.getBoundingClientRect().right <= innerWidth + 0.5)};""")
        assert layout["viewWidth"] == size[0]
        assert layout["pageWidth"] <= size[0], f"{name}: the page itself scrolls sideways"
        assert layout["boxesInside"] and max(layout["imgs"]) <= size[0] + 0.5
        assert layout["font"] >= 16
        if name == "phone":
            assert layout["scrolling"] >= 3  # Table 1 and the other wide tables scroll inside their own box
        for anchor, label in (("", "top"), ("Cohort", "table1"), ("Recovery-curves-by-cause", "figure"), ("Models", "models")):
            if anchor:
                browser.execute_script("location.hash = arguments[0]", anchor)
            path = shots / f"{name}-{label}.png"
            assert browser.save_screenshot(str(path))
            assert png_size(path) == size
            taken.append(path)
        if name == "phone":  # Table 1 scrolled sideways: its row labels stay in view
            scrolled = browser.execute_script(
                "const b = document.querySelector('.fd-scroll[aria-label^=\"Table 1.\"]'); b.scrollIntoView();"
                "b.scrollLeft = 400; return b.scrollLeft;")
            assert scrolled > 0
            path = shots / "phone-table1-scrolled.png"
            assert browser.save_screenshot(str(path))
            taken.append(path)
    assert len(taken) == 9 and all(p.stat().st_size > 5000 for p in taken)


# -- JupyterLab --------------------------------------------------------------------------------------

@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free port with a token, serving a folder with the outcome-report notebook set
    to a 300-patient cohort beside it; isolated config, runtime, data and workspace folders."""
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (pip install -e '.[notebook]')")
    from footdrop_outcomes import simulate_cohort
    from footdrop_outcomes.report.render import notebook_path

    root = tmp_path / "root"
    root.mkdir()
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, **{k: str(tmp_path / k.lower()) for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR",
                                                                  "IPYTHONDIR")}}
    # user settings: start the notebook's kernel without asking; no news or update checks (no request, no toast)
    settings = tmp_path / "settings" / "@jupyterlab"
    for ext, values in (("notebook-extension/tracker", {"autoStartDefaultKernel": True}),
                        ("apputils-extension/notification", {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})):
        (settings / ext).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{ext}.jupyterlab-settings").write_text(json.dumps(values), encoding="utf-8")
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
                             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp_path / 'ws'}",
                             f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
                             "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
                             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        simulate_cohort(300, 7, progress=False).save(root / "cohort")
        nb = nbformat.read(notebook_path("outcome_report"), as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = re.sub(r"^cohort_path = .*$", "cohort_path = 'cohort'", cell.source, flags=re.MULTILINE)
        cell.source = re.sub(r"^title = .*$", "title = 'JupyterLab export check'", cell.source, flags=re.MULTILINE)
        nbformat.write(nb, root / "outcome_report.ipynb")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield {"url": base, "token": token, "root": root, "tmp": tmp_path}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started (its own session)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


def _menu(driver, wait, label: str) -> None:
    bar = wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text == label])
    bar[0].click()


def _menu_item(driver, wait, label: str):
    xpath = (f"//div[contains(@class,'lm-Menu')]//li[contains(@class,'lm-Menu-item')]"
             f"[.//div[contains(@class,'lm-Menu-itemLabel') and normalize-space(.)='{label}']]")
    return wait.until(EC.visibility_of_element_located((By.XPATH, xpath)))


def _wait_download(folder: Path, suffix: str, timeout: float) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.3)
    raise AssertionError(f"no {suffix} download within {timeout} s: {sorted(p.name for p in folder.iterdir())}")


def _export(driver, wait, entry: str) -> None:
    """File ▸ Save and Export Notebook As ▸ ``entry`` (the real menu, hovered and clicked)."""
    _menu(driver, wait, "File")
    ActionChains(driver).move_to_element(_menu_item(driver, wait, "Save and Export Notebook As")).perform()
    items = wait.until(lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, 'li.lm-Menu-item[data-command="notebook:export-to-format"]')
                                  if e.is_displayed()])
    entries = [e.text for e in items]
    assert entry in entries, f"{entry} is not in the export menu {entries}: is its nbconvert entry point registered?"
    _menu_item(driver, wait, entry).click()


def test_jupyterlab_runs_the_notebook_and_exports_footdrop_pdf_from_the_menu(lab, shots):
    from pypdf import PdfReader

    t0 = time.perf_counter()
    downloads = lab["tmp"] / "downloads"
    downloads.mkdir()
    driver = chrome(downloads=downloads)
    try:
        wait = WebDriverWait(driver, 60, poll_frequency=0.2)
        driver.get(f"{lab['url']}/lab/tree/outcome_report.ipynb?token={lab['token']}&reset")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell")))
        for button in driver.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"):  # a kernel dialog despite the setting
            button.click()
        # the kernel is connected and idle (status bar), then Run > Run All Cells, enabled
        wait.until(lambda d: "| Idle" in d.find_element(By.CSS_SELECTOR, "#jp-main-statusbar").text)

        def prompts(d) -> list[str]:
            return d.execute_script("return [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]"
                                    ".map(e => e.textContent.trim())")

        for _ in range(3):
            _menu(driver, wait, "Run")
            item = _menu_item(driver, wait, "Run All Cells")
            wait.until(lambda d, item=item: item.get_attribute("aria-disabled") != "true")
            item.click()
            try:  # started: a cell is queued or has run
                WebDriverWait(driver, 20, poll_frequency=0.2).until(lambda d: any(re.fullmatch(r"\[(\*|\d+)\]:", p) for p in prompts(d)))
                break
            except TimeoutException:
                driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        else:
            driver.save_screenshot(str(shots / "jupyterlab-run-timeout.png"))
            pytest.fail("Run > Run All Cells started nothing in three attempts")

        def all_run(d):  # every code cell has its execution number, none is waiting ([*])
            shown = prompts(d)
            return len(shown) > 20 and all(re.fullmatch(r"\[\d+\]:", p) for p in shown)

        try:
            WebDriverWait(driver, 300, poll_frequency=0.5).until(all_run)
        except TimeoutException:
            driver.save_screenshot(str(shots / "jupyterlab-run-timeout.png"))
            log = (lab["tmp"] / "lab.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"Run All Cells did not finish (screenshot {shots / 'jupyterlab-run-timeout.png'}); server log:\n{log}")
        errors = driver.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
        assert errors == [], "a cell of the outcome report failed in JupyterLab"
        t_run = time.perf_counter()
        _export(driver, wait, "Footdrop_pdf")
        pdf = _wait_download(downloads, ".pdf", 120)
        t_pdf = time.perf_counter()
        driver.save_screenshot(str(shots / "jupyterlab-after-export.png"))
        _export(driver, wait, "Footdrop_html")
        html = _wait_download(downloads, ".html", 60)
    finally:
        driver.quit()
    # the PDF that came back: the report of the notebook as run in JupyterLab
    reader = PdfReader(pdf)
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    assert len(reader.pages) >= 10
    assert "JupyterLab export check" in " ".join((reader.pages[0].extract_text() or "").split())
    assert "Contents" in text and "Time to recovery" in text and "Table 1." in text and f"Page 1 of {len(reader.pages)}" in text
    assert "nbh." not in text and "from footdrop_outcomes" not in text  # no code
    saved = nbformat.read(lab["root"] / "outcome_report.ipynb", as_version=4)  # the export saved the run notebook first
    assert all(c.get("execution_count") for c in saved.cells if c.cell_type == "code")
    page = html.read_text(encoding="utf-8")
    assert check_self_contained(page) == [] and "JupyterLab export check" in page
    seconds = {"run": t_run - t0, "pdf": t_pdf - t_run}
    assert seconds["pdf"] < 120, seconds
