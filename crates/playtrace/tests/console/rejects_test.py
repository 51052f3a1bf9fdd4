"""The console's Rejects view in a real browser (Debian's Chromium through Playwright), against a
running `playtrace serve` started by tests/console.rs: bad lines posted over HTTP show as groups
of (kind, message) with the counts the store holds, an example each, counts over time that add
up to the total, and the kind/name/game/since filters narrow both. Exits non-zero on the first
failed check; a screenshot goes to PLAYTRACE_SHOTS."""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

URL = os.environ["PLAYTRACE_URL"]
ADMIN = os.environ["PLAYTRACE_ADMIN_TOKEN"]
READ = os.environ["PLAYTRACE_READ_TOKEN"]
SHOTS = os.environ["PLAYTRACE_SHOTS"]
CHROMIUM = os.environ["PLAYTRACE_CHROMIUM"]

# What is posted, and the groups it must give: (kind, line, how many).
BAD = [
    ("schema", '{"evt":"match.start","game":"g1"}', 5),
    ("parse", "{not json", 3),
    ("schema", '{"event":"match.start","game":"g2","ts":"garbage"}', 2),
]


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


def shown(page):
    """The groups on screen: {(kind, message): count}."""
    rows = page.eval_on_selector_all(
        "tr.reject-group",
        "rs => rs.map(r => [r.dataset.kind, r.dataset.message, Number(r.dataset.count)])")
    return {(k, m): n for k, m, n in rows}


def api_groups(**filters):
    q = urllib.parse.urlencode(dict(group_by="kind,message", **filters))
    status, body = call("GET", "/v1/rejects?" + q, READ)
    check(status == 200, f"GET /v1/rejects: {status} {body}")
    return {(g["kind"], g["message"]): g["count"] for g in body["groups"]}


def settle(page, expect, what, timeout=5000):
    """Waits until the table shows `expect` ({(kind, message): count}), then checks the chart
    counts the same rejects."""
    page.wait_for_function(
        """(want) => {
          const rows = [...document.querySelectorAll('tr.reject-group')];
          const total = document.getElementById('rejects-total');
          return rows.length === want.n && total && Number(total.dataset.total) === want.total
            && rows.reduce((s, r) => s + Number(r.dataset.count), 0) === want.total;
        }""",
        arg={"n": len(expect), "total": sum(expect.values())}, timeout=timeout)
    got = shown(page)
    check(got == expect, f"{what}: the view shows {got}, expected {expect}")
    page.wait_for_function(
        """(total) => {
          const bars = [...document.querySelectorAll('#rejects-chart .rejects-bucket')];
          return bars.length > 0 && bars.reduce((s, b) => s + Number(b.dataset.count), 0) === total;
        }""",
        arg=sum(expect.values()), timeout=5000)


def main():
    origin = URL.rstrip("/")
    foreign, errors = [], []
    body = "\n".join([line for _, line, n in BAD for _ in range(n)] + ['{"event":"ok.one","game":"g1"}'])
    status, answer = call("POST", "/v1/events", ADMIN, body.encode(), "application/x-ndjson")
    check(status == 200 and answer["accepted"] == 1 and len(answer["rejected"]) == 10,
          f"ingest: {status} {answer}")
    expect = api_groups()
    by_kind = {}
    for (kind, _), n in expect.items():
        by_kind.setdefault(kind, []).append(n)
    check({k: sorted(v) for k, v in by_kind.items()} == {"schema": [2, 5], "parse": [3]},
          f"the store's groups: {expect}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        # A read token is enough to browse rejects.
        ctx.add_init_script(f"sessionStorage.setItem('playtrace.token', {json.dumps(READ)})")
        page = ctx.new_page()
        page.on("request", lambda r: foreign.append(r.url)
                if not (r.url.startswith(origin) or r.url.startswith("data:")) else None)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        # From the nav, as a user gets there.
        page.goto(URL + "/alerts")
        page.click('nav a[data-view="rejects"]')
        settle(page, expect, "all rejects")
        check(page.url.endswith("/rejects"), f"the view has its URL: {page.url}")
        # Each group shows an example: the raw line of one of its rejects.
        parse_row = page.locator('tr.reject-group[data-kind="parse"]')
        check("{not json" in parse_row.locator("td.example summary").inner_text(),
              "the parse group's example is its raw line")
        parse_row.locator("td.example summary").click()
        check(parse_row.locator("pre.raw").inner_text() == "{not json", "the example opens whole")
        page.screenshot(path=os.path.join(SHOTS, "rejects.png"), full_page=True)

        # Filters: each narrows the groups as the API does.
        page.select_option("#r-kind", "parse")
        settle(page, api_groups(kind="parse"), "kind=parse")
        check(list(shown(page).values()) == [3], f"kind=parse: {shown(page)}")
        page.select_option("#r-kind", "")
        page.fill("#r-name", "match.start")
        page.dispatch_event("#r-name", "change")
        settle(page, api_groups(name="match.start"), "name=match.start")
        check(list(shown(page).values()) == [2], f"name=match.start: {shown(page)}")
        page.fill("#r-name", "")
        page.fill("#r-game", "g1")
        page.dispatch_event("#r-game", "change")
        settle(page, api_groups(game="g1"), "game=g1")
        check(list(shown(page).values()) == [5], f"game=g1: {shown(page)}")
        page.fill("#r-game", "")
        page.dispatch_event("#r-game", "change")
        settle(page, expect, "filters cleared")

        # Since: rejects older than the bound drop out (all of these are newer than 1h).
        page.fill("#r-since", "1h")
        page.dispatch_event("#r-since", "change")
        settle(page, expect, "since=1h")
        future = str(10**13)
        page.fill("#r-since", future)
        page.dispatch_event("#r-since", "change")
        page.wait_for_selector("#rejects-total[data-total='0']", timeout=5000)
        check(page.locator("tr.reject-group").count() == 0, "nothing received after the bound")

        # New rejects show without reload (the view refreshes itself).
        page.fill("#r-since", "")
        page.dispatch_event("#r-since", "change")
        settle(page, expect, "since cleared")
        status, answer = call("POST", "/v1/events", ADMIN, b"{not json\n{not json", "application/x-ndjson")
        check(status == 200, f"ingest: {status} {answer}")
        grown = dict(expect)
        key = next(k for k in expect if k[0] == "parse")
        grown[key] += 2
        settle(page, grown, "two more parse rejects", timeout=15000)
        browser.close()
    check(not foreign, f"requests to other origins: {foreign}")
    check(not errors, f"console errors: {errors}")
    print("rejects view browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
