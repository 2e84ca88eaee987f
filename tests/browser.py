"""Headless-Chromium helpers for testing HTML output (the Snakemake report) in a real browser.

This is a helper module imported by tests, not a test file.  It drives the system
Chromium (Debian package ``chromium``; ``.ci/run`` installs it) on a local HTML file:
the page's JavaScript runs, then the rendered DOM is dumped and a screenshot taken.

* :func:`chromium_path` -- the browser executable, or ``None`` (skip the test then).
* :func:`render` -- any local HTML file -> its rendered visible text (+ a PNG screenshot).
* :func:`is_blank` -- True when a screenshot is (nearly) one colour.
* :func:`report_data` -- the ``categories``/``results`` JSON a Snakemake report embeds.
* :func:`render_report` -- render a Snakemake report *and walk its app*.

Why :func:`render_report` exists: the Snakemake report (``snakemake --report x.html``)
is a single-page React app with no URL routing (no hash or query is read).  Its first
render shows only the landing page (the ``report:`` rst), the rule graph and a menu
(``Workflow / Statistics / About / Results``); with a single category the menu even says
"Results", not the category name.  Category, subcategory and result names appear only
after clicking.  :func:`render_report` therefore renders a *copy* of the report with a
small script injected before ``</body>`` that drives the app through its global ``app``
object (``app.setView``/``app.showResultInfo``, exactly what the menu's click handlers
call): it visits every category, every subcategory (whose table lists each result by
its ``labels`` values, or by path when unlabelled) and every result's info panel (file
name, caption, rule), recording the browser's ``innerText`` of each view, and finally
opens one result in the content pane for the screenshot.

Example (a test)::

    import pytest
    import browser   # tests/ has no __init__.py: pytest puts tests/ on sys.path

    pytestmark = pytest.mark.skipif(browser.chromium_path() is None,
                                    reason="chromium is not installed")

    def test_report_in_browser(tmp_path):
        report = ...  # run ``snakemake --report <tmp_path>/report.html``
        page = browser.render_report(report, tmp_path / "report.png")
        assert "My landing page title" in page.landing     # the first render
        assert "Figures" in page.text                      # category (all views)
        assert "plot_splicing.png" in page.text            # a result's file name
        assert "splicing" in page.views["subcategory:Figures/splicing"]
        assert not browser.is_blank(tmp_path / "report.png")

        # plain pages: text = browser.render("page.html", tmp_path / "page.png")
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "BrowserError",
    "ReportRender",
    "chromium_path",
    "is_blank",
    "render",
    "render_report",
    "report_data",
    "visible_text",
]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags that work as root inside a container without a display or GPU:
#   --no-sandbox            Chromium refuses to run as root with its sandbox on;
#   --disable-dev-shm-usage containers often have a tiny /dev/shm (64 MB in Docker);
#   --user-data-dir=<tmp>   a throw-away profile: no clash with ~/.config or parallel runs.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


class BrowserError(RuntimeError):
    """Chromium failed, timed out, or the page did not finish what was asked."""


def chromium_path() -> str | None:
    """The first of chromium / chromium-browser / google-chrome on PATH, else ``None``.

    ``$CHROMIUM`` (a path or a name) takes precedence when set.
    """
    override = os.environ.get("CHROMIUM")
    for name in ((override,) if override else ()) + _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


# --------------------------------------------------------------------------- text


class _TextExtractor(HTMLParser):
    """Visible text of an HTML document: no head/script/style/noscript/template, and no
    element hidden by the ``hidden`` attribute or an inline ``display:none`` /
    ``visibility:hidden`` (the report hides its loading screen that way)."""

    _VOID = frozenset(
        [
            "area",
            "base",
            "br",
            "col",
            "embed",
            "hr",
            "img",
            "input",
            "link",
            "meta",
            "param",
            "source",
            "track",
            "wbr",
        ]
    )
    _SKIP_TAGS = frozenset(["head", "script", "style", "noscript", "template", "title", "svg"])
    _BLOCK = frozenset(
        [
            "p",
            "div",
            "li",
            "tr",
            "td",
            "th",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "pre",
            "table",
            "ul",
            "ol",
            "dl",
            "dt",
            "dd",
            "section",
            "nav",
            "header",
            "footer",
            "br",
            "blockquote",
            "article",
            "main",
            "figcaption",
            "caption",
        ]
    )
    _HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)

    @property
    def _hidden(self) -> bool:
        return any(h for _, h in self._stack)

    def handle_starttag(self, tag, attrs):
        if tag in self._BLOCK:
            self.parts.append("\n")
        if tag in self._VOID:
            return
        a = dict(attrs)
        hides = (
            tag in self._SKIP_TAGS
            or "hidden" in a
            or bool(self._HIDDEN_STYLE.search(a.get("style") or ""))
        )
        self._stack.append((tag, hides))

    def handle_startendtag(self, tag, attrs):
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        # pop up to the matching tag (tolerates unclosed <p>, <li>, ...)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                break
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        return "\n".join(line for line in lines if line)


def visible_text(dom: str) -> str:
    """Visible text of an HTML string (one line per block element, whitespace squeezed)."""
    parser = _TextExtractor()
    parser.feed(dom)
    parser.close()
    return parser.text()


# --------------------------------------------------------------------------- render


def _run_chromium(
    url: str, screenshot_path, width: int, height: int, wait_ms: int, timeout: float
) -> str:
    exe = chromium_path()
    if exe is None:
        raise BrowserError("no chromium / chromium-browser / google-chrome on PATH")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            exe,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={int(wait_ms)}",
            "--dump-dom",
        ]
        if screenshot_path is not None:
            screenshot_path = Path(screenshot_path).resolve()
            screenshot_path.parent.mkdir(parents=True, exist_ok=True)
            screenshot_path.unlink(missing_ok=True)
            cmd.append(f"--screenshot={screenshot_path}")
        cmd.append(url)
        env = dict(os.environ, HOME=profile)  # keep crash dumps / caches out of $HOME
        # Own process group: Debian's /usr/bin/chromium is a shell wrapper, so on timeout
        # the whole group (wrapper, browser, renderers) must go, not just the wrapper.
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=env,
            start_new_session=True,
        )
        try:
            dom, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            dom, err = proc.communicate()
            raise BrowserError(
                f"chromium timed out after {timeout}s on {url}\n"
                f"command: {' '.join(cmd)}\nstderr tail:\n{_tail(err)}"
            ) from None
        finally:
            # stray children (e.g. a crashpad handler) must not outlive the profile dir
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0 or not dom.strip():
        raise BrowserError(
            f"chromium exited {proc.returncode} on {url} "
            f"({len(dom)} bytes of DOM)\ncommand: {' '.join(cmd)}\n"
            f"stderr tail:\n{_tail(err)}"
        )
    if screenshot_path is not None and not screenshot_path.is_file():
        raise BrowserError(
            f"chromium wrote no screenshot {screenshot_path}\nstderr tail:\n{_tail(err)}"
        )
    return dom


def _tail(stderr: str, lines: int = 25) -> str:
    # D-Bus complaints are normal in a container and only bury the real error
    kept = [ln for ln in stderr.splitlines() if "dbus" not in ln.lower()]
    return "\n".join(kept[-lines:]) or "(empty)"


def render_dom(
    html_path,
    screenshot_path=None,
    width: int = 1400,
    height: int = 1000,
    wait_ms: int = 5000,
    timeout: float = 120,
) -> str:
    """Like :func:`render` but returns the rendered DOM (serialized HTML)."""
    url = Path(html_path).resolve().as_uri()
    return _run_chromium(url, screenshot_path, width, height, wait_ms, timeout)


def render(
    html_path,
    screenshot_path,
    width: int = 1400,
    height: int = 1000,
    wait_ms: int = 5000,
    timeout: float = 120,
) -> str:
    """Render a local HTML file in headless Chromium; return its visible text.

    The page's JavaScript runs for ``wait_ms`` of *virtual* time
    (``--virtual-time-budget``: timers fire without waiting in real time, so this
    costs far less than ``wait_ms`` of wall time) before the DOM is dumped and a
    ``width`` x ``height`` screenshot is written to ``screenshot_path`` (``None``: no
    screenshot).  Raises :class:`BrowserError` (with chromium's stderr tail) on failure
    or after ``timeout`` seconds.
    """
    return visible_text(render_dom(html_path, screenshot_path, width, height, wait_ms, timeout))


# --------------------------------------------------------------------------- image


def is_blank(png_path, tolerance: float = 0.01, min_fraction: float = 0.995) -> bool:
    """True when (nearly) every pixel of the image has the same colour.

    Blank means at least ``min_fraction`` of the pixels lie within ``tolerance``
    (0..1 per channel) of the most common colour -- a white page with a stray
    scrollbar pixel still counts as blank; any rendered text or figure does not.
    """
    import numpy as np
    from matplotlib import image as mpimg

    img = np.asarray(mpimg.imread(str(png_path)), dtype=float)
    if img.dtype.kind in "ui":  # pragma: no cover - PNGs come back as floats
        img = img / 255.0
    if img.ndim == 2:
        img = img[..., None]
    img = img[..., :3]
    pixels = img.reshape(-1, img.shape[-1])
    if pixels.size == 0:
        return True
    colours, counts = np.unique(np.round(pixels, 3), axis=0, return_counts=True)
    mode = colours[counts.argmax()]
    close = np.all(np.abs(pixels - mode) <= tolerance, axis=1)
    return bool(close.mean() >= min_fraction)


# --------------------------------------------------------------------------- report


def report_data(report_html) -> dict:
    """The JSON a Snakemake report embeds: ``{"categories": ..., "results": ...}``.

    ``categories`` maps category -> subcategory -> [result path]; ``results`` maps a
    result path -> {"name", "filename", "labels", "caption", "mime_type", ...}.
    No browser needed.  Raises :class:`BrowserError` if the layout is not recognised.
    """
    source = Path(report_html).read_text(encoding="utf-8")
    data = {}
    for key in ("categories", "results"):
        m = re.search(rf'<script id="{key}">\s*var {key} = (.*?);\s*</script>', source, re.DOTALL)
        if not m:
            raise BrowserError(
                f"no embedded '{key}' data in {report_html}: not a "
                "Snakemake (>= 8) HTML report, or its layout changed"
            )
        data[key] = json.loads(m.group(1))
    return data


# Runs in the page after the report's own scripts.  Drives the app via the global
# `app` (the React App component, stored by app.js) and records each view's
# innerText (the browser's own notion of visible text) into a hidden <pre>.
_WALK_JS = r"""
<script id="browser-walk-script">
(function () {
  var STEP = __STEP__, SHOW = __SHOW__;
  var log = [], steps = [];
  function record(name) {
    var root = document.getElementById("app");
    log.push({view: name, text: root ? root.innerText : ""});
  }
  function view(name, state) {
    steps.push(function () { app.setView(state); });
    steps.push(function () { record(name); });
  }
  function home() {
    steps.push(function () {
      app.setView({navbarMode: "menu"});
      app.setState({category: undefined, subcategory: undefined,
                    resultPath: undefined, searchTerm: undefined});
    });
  }
  // the text a reader sees without scrolling: text nodes wholly inside the window and
  // not hidden under (or clipped by) anything else
  function firstScreen() {
    var root = document.getElementById("app"), seen = [];
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      var node = walker.currentNode, parent = node.parentElement;
      if (!node.textContent.trim() || !parent) continue;
      var range = document.createRange();
      range.selectNodeContents(node);
      var r = range.getBoundingClientRect();
      if (!(r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 &&
            r.bottom <= window.innerHeight && r.right <= window.innerWidth)) continue;
      var hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
      if (hit && (parent.contains(hit) || hit.contains(parent))) seen.push(node.textContent.trim());
    }
    log.push({view: "first_screen", text: seen.join("\n")});
  }
  steps.push(function () { record("landing"); firstScreen(); });
  Object.keys(categories).sort().forEach(function (cat) {
    // Re-enter the category before each subcategory: React keeps the Subcategory
    // component (and its constructor-computed table) when only props change.
    Object.keys(categories[cat]).sort().forEach(function (sub) {
      home();
      view("category:" + cat, {navbarMode: "category", category: cat});
      view("subcategory:" + cat + "/" + sub,
           {navbarMode: "subcategory", category: cat, subcategory: sub});
      categories[cat][sub].forEach(function (path) {
        view("result:" + path, {navbarMode: "resultinfo", resultPath: path});
      });
    });
  });
  steps.push(function () {
    // final state for the screenshot: a result open in the content pane
    var path = SHOW, entry = path && results[path];
    if (!entry) return;
    var kind = {"image/png": "img", "image/jpeg": "img", "image/svg+xml": "img",
                "text/html": "html", "application/pdf": "pdf"}[entry.mime_type];
    // one setView call: consecutive calls in one tick read a stale app.state
    var state = {navbarMode: "resultinfo", resultPath: path};
    for (var cat in categories) for (var sub in categories[cat]) {
      if (categories[cat][sub].indexOf(path) >= 0) {
        state = {navbarMode: "subcategory", category: cat, subcategory: sub, resultPath: path};
      }
    }
    if (kind) { state.content = kind; state.contentPath = entry.data_uri; }
    app.setView(state);
  });
  steps.push(function () { record("final"); });
  steps.push(function () {
    var pre = document.createElement("pre");
    pre.id = "browser-walk";
    pre.hidden = true;
    pre.textContent = JSON.stringify(log);
    document.body.appendChild(pre);
  });
  var tries = 0;
  function next() {
    if (typeof app === "undefined" || !document.querySelector("#app nav")) {
      if (++tries < 200) setTimeout(next, STEP);
      return;
    }
    var step = steps.shift();
    if (!step) return;
    try { step(); } catch (err) { log.push({view: "error", text: String(err && err.stack || err)}); }
    setTimeout(next, STEP);
  }
  setTimeout(next, STEP);
})();
</script>
"""


@dataclasses.dataclass
class ReportRender:
    """What :func:`render_report` saw.

    ``landing``: visible text of the first render (landing page + menu);
    ``first_screen``: the part of it inside the window, without scrolling (the view
    ``first_screen``);
    ``views``: view name -> the app's visible text in that view, names being
    ``landing``, ``category:<cat>``, ``subcategory:<cat>/<sub>``, ``result:<path>``
    and ``final`` (the screenshotted state); ``text``: all of them joined;
    ``final_text``: visible text of the dumped DOM at the end (what the screenshot
    shows); ``data``: :func:`report_data`; ``seconds``: wall time of the render.
    """

    landing: str
    first_screen: str
    views: dict
    text: str
    final_text: str
    data: dict
    seconds: float


def _first_image(data: dict):
    for cat in sorted(data["categories"]):
        for sub in sorted(data["categories"][cat]):
            for path in data["categories"][cat][sub]:
                if data["results"].get(path, {}).get("mime_type", "").startswith("image/"):
                    return path
    return None


def render_report(
    report_html,
    screenshot_path,
    show: str | None = "first-image",
    width: int = 1400,
    height: int = 1000,
    wait_ms: int | None = None,
    timeout: float = 300,
) -> ReportRender:
    """Render a Snakemake HTML report and walk every category/subcategory/result view.

    ``show``: the result path left open in the content pane for the screenshot
    (default: the first image result; ``None``: leave the last view).  ``wait_ms``
    (virtual time) defaults to enough for the walk plus the page's own start-up.
    The report file itself is not modified (a patched copy is rendered).
    Raises :class:`BrowserError` if the walk did not finish or hit a JavaScript error.
    """
    report_html = Path(report_html)
    data = report_data(report_html)
    if show == "first-image":
        show = _first_image(data)
    n_results = sum(len(p) for subs in data["categories"].values() for p in subs.values())
    n_subs = sum(len(subs) for subs in data["categories"].values())
    step_ms = 50
    n_steps = 8 + 5 * n_subs + 2 * n_results
    if wait_ms is None:
        wait_ms = 5000 + 2 * step_ms * n_steps
    source = report_html.read_text(encoding="utf-8")
    script = _WALK_JS.replace("__STEP__", str(step_ms)).replace(
        "__SHOW__", json.dumps(show).replace("</", "<\\/")
    )
    cut = source.rfind("</body>")
    if cut < 0:
        raise BrowserError(f"{report_html} has no </body>")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="report-walk-") as tmp:
        copy = Path(tmp) / report_html.name
        copy.write_text(source[:cut] + script + source[cut:], encoding="utf-8")
        dom = render_dom(copy, screenshot_path, width, height, wait_ms, timeout)
    seconds = time.monotonic() - start
    m = re.search(r'<pre id="browser-walk" hidden="">(.*?)</pre>', dom, re.DOTALL)
    if not m:
        raise BrowserError(
            f"the report walk did not finish within {wait_ms} ms of "
            f"virtual time (raise wait_ms?); page text:\n"
            f"{visible_text(dom)[:2000]}"
        )
    log = json.loads(html.unescape(m.group(1)))
    errors = [e["text"] for e in log if e["view"] == "error"]
    if errors:
        raise BrowserError("JavaScript error while walking the report:\n" + "\n".join(errors))
    views = {e["view"]: e["text"] for e in log}
    text = "\n\n".join(f"== {name}\n{body}" for name, body in views.items())
    return ReportRender(
        landing=views.get("landing", ""),
        first_screen=views.get("first_screen", ""),
        views=views,
        text=text,
        final_text=visible_text(dom),
        data=data,
        seconds=seconds,
    )
