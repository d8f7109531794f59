"""The HTML report in a real headless browser: `snakemake scorecard` then `--report` on the
smoke config; the page loads without console errors, opens on the scorecard (counts agreeing
with the terminal's, the figure, the claims table) and lists the scorecard's results.

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package (`.ci/run` installs
them); skipped with the reason otherwise.
"""

import re
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.workflow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                    "(pip install -e '.[test]')")
    if not CHROMIUM or not DRIVER:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run does)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def _snakemake(cmd, repo, work, *args):
    full = [*cmd, "-s", str(repo / "Snakefile"), "--directory", str(work), "--configfile",
            str(repo / "config/smoke.yaml"), "--cores", "2", *args]
    res = subprocess.run(full, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _wait(driver, condition, what, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"report: {what} did not appear within {timeout} s")


def test_report_opens_on_the_scorecard(repo, tmp_path, snakemake_cmd):
    driver = _browser()
    work = tmp_path / "run"
    try:
        _snakemake(snakemake_cmd, repo, work, "scorecard")
        terminal = (work / "results/smoke/logs/scorecard.log").read_text()
        claims_line = re.search(r"claims:\s+(\d+) holds, (\d+) fails, (\d+) fitted, "
                                r"(\d+) pending", terminal)
        numbers_line = re.search(r"numbers: (\d+) agree, (\d+) disagree, (\d+) fitted, "
                                 r"(\d+) pending", terminal)
        _snakemake(snakemake_cmd, repo, work, "--report", "results/smoke/report.html")
        from selenium.webdriver.common.by import By

        driver.get((work / "results/smoke/report.html").as_uri())
        body = lambda: driver.find_element(By.TAG_NAME, "body").text  # noqa: E731
        _wait(driver, lambda: "Published numbers:" in body(), "the scorecard summary")
        text = body()
        assert "WaferLLM reproduction, run smoke: scorecard" in text  # names the run it read
        # The front page and the terminal give the same counts.
        assert ("Claims: {} holds, {} fails, {} fitted, {} pending"
                .format(*claims_line.groups())) in text
        assert ("Published numbers: {} agree, {} disagree, {} fitted, {} pending"
                .format(*numbers_line.groups())) in text
        figure = driver.find_element(By.CSS_SELECTOR, "img[alt='scorecard figure']")
        assert figure.is_displayed()
        assert driver.execute_script("return arguments[0].naturalWidth", figure) > 0
        claims_table = next(t for t in driver.find_elements(By.TAG_NAME, "table")
                            if "fig9-meshgemm-efficiency" in t.text)
        assert claims_table.is_displayed() and "pending" in claims_table.text
        assert "Published beside reproduced" in text and "Table 6 (table6)" in text
        # The Scorecard category lists the CSV and the figure.
        driver.execute_script("app.showCategory('Scorecard')")
        _wait(driver, lambda: "results/smoke/tables/scorecard.csv" in body(),
              "the Scorecard category")
        assert "figures/smoke/scorecard.png" in body()
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
