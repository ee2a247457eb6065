"""The report in a real headless Chromium (Debian's `chromium` package): the page loads with no
console errors and no network request, the MathML formulas are laid out as mathematics (a
fraction is taller than a line of text), and a screenshot of the Pareto front and the first
card is kept at tests/artifacts/report-screenshot.png.

Chromium is driven over the DevTools protocol (a page target's websocket, `websockets` sync
client): console messages, exceptions and requests are events there, which no command-line
flag reports reliably. The browser gets its own throw-away profile and a free port it picks
itself (DevToolsActivePort), so parallel runs do not collide.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lossforge.report import run_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: this test needs a real browser. Install it with "
                "`apt-get install -y chromium` (Debian; .ci/run does it)", pytrace=False)


class Page:
    """One Chromium page over the DevTools protocol; events are collected as they come."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 30.0, **params) -> dict:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        end = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict:
        end = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == event:
                    return e
            msg = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            self.events.append(msg)

    def js(self, expression: str):
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in res, res
        return res["result"]["value"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    exe = _chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > end:
                pytest.fail(f"Chromium did not start (exit code {proc.poll()})", pytrace=False)
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=20) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        from websockets.sync.client import connect

        with connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=20) as ws:
            yield Page(ws)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_report_renders_in_chromium(probe_run, tmp_path, browser):
    html_file = tmp_path / "report.html"
    html_file.write_text(run_report(probe_run))
    for domain in ("Runtime", "Log", "Page", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=1200, height=900,
                 deviceScaleFactor=1, mobile=False)
    browser.call("Page.navigate", url=html_file.as_uri())
    browser.wait_for("Page.loadEventFired")

    errors = [e for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert requests == [html_file.as_uri()]      # the page itself, nothing else

    # MathML laid out as mathematics: every formula is a MathMLElement with a box, and a
    # fraction (the margin's beta = 1/10) stands taller than the identifier next to it
    assert browser.js("[...document.querySelectorAll('math')].length") >= 5
    assert browser.js("[...document.querySelectorAll('math')].every(m => m instanceof "
                      "MathMLElement && m.getBoundingClientRect().height > 0)")
    frac_vs_mi = browser.js("""(() => {
        const f = document.querySelector('article.card mfrac');
        const mi = f.closest('math').querySelector('mi');
        return [f.getBoundingClientRect().height, mi.getBoundingClientRect().height,
                f.firstElementChild.getBoundingClientRect().bottom
                    <= f.lastElementChild.getBoundingClientRect().top + 1];
    })()""")
    assert frac_vs_mi[0] > 1.5 * frac_vs_mi[1] and frac_vs_mi[2], frac_vs_mi

    # a screenshot from the top of the Pareto front to the end of the first card
    box = browser.js("""(() => {
        const a = document.querySelector('#pareto').getBoundingClientRect();
        const b = document.querySelector('article.card').getBoundingClientRect();
        return [a.top + window.scrollY, b.bottom + window.scrollY,
                document.querySelector('#front').getBoundingClientRect().height];
    })()""")
    assert box[2] > 200          # the front's chart has its size
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": box[0], "width": 1200, "height": box[1] - box[0],
                              "scale": 1})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-screenshot.png").write_bytes(png)
    (ARTIFACTS / "report.html").write_text(html_file.read_text())
