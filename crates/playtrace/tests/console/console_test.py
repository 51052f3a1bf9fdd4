"""The console in a real browser (Debian's Chromium through Playwright), against a running
`playtrace serve` started by tests/console.rs, which passes its URL and tokens in the
environment. Exits non-zero on the first failed check; screenshots of each view go to
PLAYTRACE_SHOTS."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

URL = os.environ["PLAYTRACE_URL"]
ADMIN = os.environ["PLAYTRACE_ADMIN_TOKEN"]
READ = os.environ["PLAYTRACE_READ_TOKEN"]
SHOTS = os.environ["PLAYTRACE_SHOTS"]
CHROMIUM = os.environ["PLAYTRACE_CHROMIUM"]


def call(method, path, token, body=None, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def flag(n, room="pier", severity="high"):
    status, body = call("POST", "/v1/alerts", ADMIN, {
        "id": f"flag-{n}", "sessionId": f"s-{n}", "severity": severity,
        "reason": f"chat.abuse reported {n}", "data": {"roomId": room, "hubId": "hub-1"}})
    check(status == 200, f"POST /v1/alerts: {status} {body}")
    return body["alertId"]


def api_state(alert_id):
    status, body = call("GET", f"/v1/alerts/{alert_id}", READ)
    check(status == 200, f"GET alert: {status} {body}")
    return body


def restart():
    """Stops the collector (SIGTERM) and starts a successor on the same port and data
    directory; returns it once ready."""
    os.kill(int(os.environ["PLAYTRACE_PID"]), signal.SIGTERM)
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(URL + "/healthz", timeout=1).close()
        except OSError:
            break
        check(time.monotonic() < deadline, "the collector did not stop")
        time.sleep(0.05)
    listen = URL.split("//", 1)[1]
    args = [os.environ["PLAYTRACE_BIN"], "serve", "--listen", listen,
            "--data-dir", os.environ["PLAYTRACE_DATA_DIR"], "--config", os.environ["PLAYTRACE_CONFIG"]]
    deadline = time.monotonic() + 30
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        try:
            with urllib.request.urlopen(URL + "/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            # The predecessor still holds the data directory while it finishes its commits.
            why = proc.stderr.read().decode()
            check("in use" in why and time.monotonic() < deadline, f"the successor exited: {why}")
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        check(time.monotonic() < deadline, "the successor never became ready")
        time.sleep(0.05)


def contest(i, room, ms):
    lines = [
        {"level": "info", "message": "telemetry.contest.armed", "hubId": "hub", "roomId": room, "contestKey": f"k{i}"},
        {"level": "info", "message": "telemetry.contest.launched", "hubId": "hub", "roomId": room, "contestKey": f"k{i}", "contestId": f"c{i}", "armingDurationMs": 100},
        {"level": "info", "message": "telemetry.contest.resolved", "hubId": "hub", "roomId": room, "contestKey": f"k{i}", "contestId": f"c{i}", "armingDurationMs": 100, "resolutionDurationMs": ms},
    ]
    return "\n".join(json.dumps(l) for l in lines)


def main():
    origin = URL.rstrip("/")
    foreign, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])

        def new_page(ctx):
            page = ctx.new_page()
            page.on("request", lambda r: foreign.append(r.url)
                    if not (r.url.startswith(origin) or r.url.startswith("data:")) else None)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            return page

        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = new_page(ctx)
        # Tokens are configured: the page asks for one.
        page.goto(URL + "/")
        page.wait_for_selector("#token-form:not([hidden])", timeout=5000)
        page.fill("#token-input", ADMIN)
        page.click("#token-save")
        page.wait_for_selector("#alert-list", timeout=5000)
        page.wait_for_selector("#fresh-status", timeout=5000)

        # A flagged event appears without reload, within a second.
        first = flag(1)
        t0 = time.monotonic()
        page.wait_for_selector(f'.alert[data-id="{first}"]', timeout=1000)
        print(f"alert shown {1000 * (time.monotonic() - t0):.0f} ms after the POST answered")
        page.wait_for_selector("#fresh-status.ready", timeout=2000)
        fresh_text = page.inner_text("#freshness")
        check("(live)" in fresh_text and re.search(r"\d+(ms|s|m|h|d) ago", fresh_text) is not None,
              f"freshness names the source and the age as a duration: {fresh_text!r}")
        page.screenshot(path=os.path.join(SHOTS, "alerts.png"), full_page=True)

        # Filters.
        page.select_option("#f-category", "budget")
        check(page.locator(f'.alert[data-id="{first}"]').count() == 0, "category filter hides it")
        page.select_option("#f-category", "")
        page.select_option("#f-severity", "critical")
        check(page.locator(f'.alert[data-id="{first}"]').count() == 0, "severity filter hides it")
        page.select_option("#f-severity", "high")
        page.wait_for_selector(f'.alert[data-id="{first}"]', timeout=1000)
        page.select_option("#f-severity", "")

        # Acknowledge: a field, the state stays firing.
        page.click(f'.alert[data-id="{first}"] button.ack')
        page.wait_for_selector(f'.alert[data-id="{first}"]:has-text("acked by")', timeout=3000)
        a = api_state(first)
        check(a["acknowledgedBy"] == "admin-1" and a["state"] == "firing", f"ack: {a}")
        # Silence by its room: the list and the API say silenced; a new alert there too.
        page.click(f'.alert[data-id="{first}"] button.silence')
        page.wait_for_selector(f'.alert[data-id="{first}"][data-state="silenced"]', timeout=3000)
        check(api_state(first)["state"] == "silenced", "silenced in the API")
        second = flag(2)
        page.wait_for_selector(f'.alert[data-id="{second}"][data-state="silenced"]', timeout=3000)
        page.wait_for_selector(".silence-row button.unsilence", timeout=3000)
        page.click(".silence-row button.unsilence")
        page.wait_for_selector(f'.alert[data-id="{first}"][data-state="firing"]', timeout=3000)
        check(api_state(second)["state"] == "firing", "unsilenced in the API")
        # Resolve.
        page.click(f'.alert[data-id="{first}"] button.resolve')
        page.wait_for_selector(f'.alert[data-id="{first}"][data-state="resolved"]', timeout=3000)
        check(api_state(first)["state"] == "resolved", "resolved in the API")
        # The alert's own page.
        page.goto(URL + f"/alerts/{first}")
        page.wait_for_selector("#alert-detail", timeout=3000)
        page.wait_for_selector("#raising-event pre:has-text(\"admin.alert\")", timeout=3000)
        page.screenshot(path=os.path.join(SHOTS, "alert.png"), full_page=True)

        # A read token: no action buttons, and a forged action is refused.
        rctx = browser.new_context(viewport={"width": 1280, "height": 900})
        rctx.add_init_script(f"sessionStorage.setItem('playtrace.token', {json.dumps(READ)})")
        rpage = new_page(rctx)
        rpage.goto(URL + "/alerts")
        rpage.wait_for_selector(f'.alert[data-id="{second}"]', timeout=5000)
        check(rpage.locator("button.ack, button.resolve, button.silence, button.unsilence").count() == 0,
              "a read token is offered no actions")
        before = len(errors)
        forged = rpage.evaluate(
            "(id) => fetch('/v1/alerts/' + id + '/resolve', {method: 'POST', headers: "
            "{Authorization: 'Bearer ' + sessionStorage.getItem('playtrace.token')}}).then(r => r.status)",
            second)
        check(forged == 403, f"forged resolve answered {forged}")
        # Chromium logs the refused request itself as a console error: that one is expected.
        check(all("403" in e for e in errors[before:]), f"console errors: {errors[before:]}")
        del errors[before:]
        rctx.close()

        # Budgets: one slow room breaches while the overall line passes.
        body = "\n".join([contest(i, "dock", 100) for i in range(60)] + [contest(100 + i, "pier", 3000) for i in range(3)])
        status, answer = call("POST", "/v1/events", ADMIN, body.encode(), "application/x-ndjson")
        check(status == 200, f"ingest contests: {status} {answer}")
        page.goto(URL + "/budgets")
        page.select_option("#b-group", "room")
        page.wait_for_selector('.budget-row[data-group="room=pier"][data-metric="resolution"][data-status="breach"]', timeout=5000)
        page.wait_for_selector('.budget-row[data-group="overall"][data-metric="resolution"][data-status="pass"]', timeout=5000)
        page.click('.budget-row[data-group="room=pier"][data-metric="resolution"]')
        page.wait_for_selector("#budget-chart .chart-budget", state="attached", timeout=5000)
        # The last hour from GET /v1/budgets/history, drawn server-side per minute: pier's p95
        # is a point above the budget line (a breach), not a page-local sparkline.
        page.wait_for_selector("#budget-history .history-point.breach", state="attached", timeout=10000)
        p95 = float(page.locator("#budget-history .history-point").last.get_attribute("data-p95"))
        check(p95 == 3000, f"history chart p95: {p95}")
        page.screenshot(path=os.path.join(SHOTS, "budgets.png"), full_page=True)

        for view, ready in [("contests", "#contest-counts"), ("health", "#health .tile")]:
            page.goto(URL + "/" + view)
            page.wait_for_selector(ready, timeout=5000)
            page.screenshot(path=os.path.join(SHOTS, view + ".png"), full_page=True)

        # The stream view survives a collector restart: events sent while it reconnects are
        # replayed (Last-Event-ID), and every event shows exactly once.
        page.goto(URL + "/stream")
        page.fill("#s-name", "console.")
        page.dispatch_event("#s-name", "change")
        page.wait_for_selector("#stream-status:has-text('live')", timeout=5000)
        send = lambda n: call("POST", "/v1/events", ADMIN, json.dumps({"event": f"console.ping{n}", "id": f"ping-{n}"}).encode(), "application/x-ndjson")
        for n in range(3):
            send(n)
        page.wait_for_selector(".ev:has-text('console.ping2')", timeout=2000)
        successor = restart()
        try:
            for n in range(3, 6):
                send(n)
            page.wait_for_selector(".ev:has-text('console.ping5')", timeout=15000)
            page.wait_for_selector("#stream-status:has-text('live')", timeout=5000)
            rows = page.locator(".ev").all_inner_texts()
            names = [r.split()[2] for r in rows]
            check(sorted(names) == [f"console.ping{n}" for n in range(6)], f"each event exactly once: {names}")
            page.screenshot(path=os.path.join(SHOTS, "stream.png"), full_page=True)
            browser.close()
        finally:
            successor.terminate()
            successor.wait(timeout=15)
    check(not foreign, f"requests to other origins: {foreign}")
    check(not errors, f"console errors: {errors}")
    print("console browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
