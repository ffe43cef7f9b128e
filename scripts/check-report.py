#!/usr/bin/python3
"""Opens FYM-Bench's HTML report in headless Chromium and checks it the way a reader would see it.

    /usr/bin/python3 scripts/check-report.py RESULTS_DIR SCREENSHOT.png

For Results/index.html and every experiment page it links: no console errors; every <img> loaded
(naturalWidth > 0); every <video> reaches readyState >= 2 with its duration within 0.2 s of the
page's data-seconds; the results table has one row per method label of the experiment's rows.csv;
then a screenshot of the first experiment page (after its videos are ready) that is not blank.
Prints one JSON object; exits 0 when every check holds, 1 when one fails, 77 when Chromium,
chromedriver or Selenium is missing (apt-get install chromium chromium-driver python3-selenium).
"""
import csv
import json
import os
import struct
import sys
import time
import zlib

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
except ImportError:
    print("skipped: python3-selenium is not installed", file=sys.stderr)
    sys.exit(77)

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def png_distinct_bytes(data):
    """Distinct byte values of a PNG's decompressed scanlines (a blank page has very few)."""
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    results, screenshot = os.path.abspath(sys.argv[1]), sys.argv[2]
    for path in (CHROMIUM, DRIVER):
        if not os.path.exists(path):
            print(f"skipped: {path} is not installed", file=sys.stderr)
            return 77
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    report = {"pages": [], "failures": []}
    try:
        def fail(message):
            report["failures"].append(message)

        def visit(page):
            driver.get("file://" + page)
            deadline = time.time() + 30
            while time.time() < deadline and not driver.execute_script(
                    "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"):
                time.sleep(0.1)
            entry = {"page": os.path.relpath(page, results)}
            images = driver.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth])")
            entry["images"] = len(images)
            for src, width in images:
                if not width:
                    fail(f"{entry['page']}: image {src} did not load")
            videos = driver.execute_script("return document.querySelectorAll('video').length")
            entry["videos"] = videos
            for i in range(videos):
                state = None
                deadline = time.time() + 30
                while time.time() < deadline:
                    state = driver.execute_script(
                        "var v = document.querySelectorAll('video')[arguments[0]];"
                        "return [v.readyState, v.duration, parseFloat(v.getAttribute('data-seconds')), v.getAttribute('src'), v.error ? v.error.code : 0]", i)
                    if state[0] >= 2 or state[4]:
                        break
                    time.sleep(0.1)
                if state[0] < 2:
                    fail(f"{entry['page']}: video {state[3]} readyState {state[0]} (error {state[4]})")
                elif abs(state[1] - state[2]) > 0.2:
                    fail(f"{entry['page']}: video {state[3]} lasts {state[1]:.3f} s, the page says {state[2]:.3f} s")
            rows_csv = os.path.join(os.path.dirname(page), "rows.csv")
            if os.path.exists(rows_csv):
                with open(rows_csv, newline="") as f:
                    methods = list(dict.fromkeys(r["method"] for r in csv.DictReader(f)))
                shown = driver.execute_script(
                    "var t = document.querySelector('table.results'); if (!t) return null;"
                    "return Array.from(t.tBodies[0].rows).map(r => r.cells[0].textContent)")
                entry["table_rows"] = None if shown is None else len(shown)
                if shown is None:
                    fail(f"{entry['page']}: no results table")
                elif shown != methods:
                    fail(f"{entry['page']}: the table's rows {shown} are not rows.csv's methods {methods}")
            errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
            entry["console_errors"] = errors
            for e in errors:
                fail(f"{entry['page']}: console error: {e}")
            report["pages"].append(entry)

        index = os.path.join(results, "index.html")
        visit(index)
        links = driver.execute_script("return Array.from(document.querySelectorAll('a[href$=\"/index.html\"]')).map(a => a.getAttribute('href'))")
        if not links:
            fail("index.html links no experiment page")
        badges = driver.execute_script("return Array.from(document.querySelectorAll('.badge')).map(b => b.textContent)")
        report["claims"] = badges
        if not badges:
            fail("index.html shows no claim verdicts")
        for link in links:
            visit(os.path.normpath(os.path.join(results, link)))
        if links:
            visit(os.path.normpath(os.path.join(results, links[0])))
        driver.save_screenshot(screenshot)
        with open(screenshot, "rb") as f:
            distinct = png_distinct_bytes(f.read())
        report["screenshot_distinct_bytes"] = distinct
        if distinct < 16:
            fail(f"the screenshot looks blank ({distinct} distinct byte values)")
    finally:
        driver.quit()
    print(json.dumps(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
