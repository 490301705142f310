"""The ops page in a real headless browser: sign in, find a stuck user by part of their id, reset them.

Debian's chromium + chromedriver (``scripts/test`` installs them when missing) driven by selenium,
with the chromedriver path given explicitly so selenium-manager never downloads anything. The app
runs in a thread on 127.0.0.1 with real Redis. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bot.adapters.redis.store import SessionStore
from bot.adapters.sql.orders import SqlWorkOrders
from bot.adapters.storage import LocalFolderStore
from bot.config import Settings
from tests.support.admin import TOKEN, admin_app, report_order, runtime, stuck_closing
from tests.support.engine import Chat, photo

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WAIT = 15


@pytest.fixture
def server(
    settings: Settings, real_store: SessionStore, storage: LocalFolderStore, orders: SqlWorkOrders
) -> Iterator[tuple[str, Flask]]:
    app = admin_app(settings, real_store, storage, orders)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="admin-page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", app
    finally:
        httpd.shutdown()
        thread.join(5)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver; ./scripts/test does this when it can)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt pins selenium
        pytest.fail(f"selenium is not installed ({exc}); run ./scripts/test")
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager, should it ever run, stays offline
    profile = tempfile.mkdtemp(prefix="wobot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"admin-{name}.png"))


def test_find_a_stuck_user_and_reset_them(server: tuple[str, Flask], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, app = server
    engine = runtime(app).engine
    stuck = Chat(engine, user="zhangsan-0042", platform="generic", tenant="acme")
    stuck_closing(stuck, report_order(stuck))
    Chat(engine, user="lisi-0007", platform="generic", tenant="acme").text("你好")
    Chat(engine, user="wangwu-1234", platform="generic", tenant="acme").image(photo(8))
    wait = WebDriverWait(browser, WAIT)

    # signing in: the page sends us to the form, the form back to the list
    browser.get(f"{base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    shot(browser, "1-login")
    browser.find_element(By.ID, "sign-in").click()
    wait.until(ec.presence_of_element_located((By.ID, "sessions")))
    cookie = browser.get_cookie("wobot_admin")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # invisible to scripts

    # searching by part of the user id
    search = browser.find_element(By.ID, "q")
    search.send_keys("0042")
    browser.find_element(By.ID, "search").click()
    wait.until(ec.url_contains("q=0042"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr[data-key]")
    assert [r.get_attribute("data-key") for r in rows] == [stuck.key]
    assert "waiting_close_photo" in rows[0].text and "photo of the fixed site" in rows[0].text
    shot(browser, "2-search")

    # the session: what the bot waits for, with the report photo in the history
    rows[0].find_element(By.CSS_SELECTOR, "a.session-link").click()
    state = wait.until(ec.presence_of_element_located((By.ID, "state")))
    assert state.text == "waiting_close_photo"
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#history img.thumb")
    assert thumbs and browser.execute_script("return arguments[0].naturalWidth", thumbs[0]) > 0
    shot(browser, "3-session")

    # Reset asks first; dismissing changes nothing, accepting resets
    browser.find_element(By.ID, "reset").click()
    wait.until(ec.alert_is_present()).dismiss()
    assert browser.find_element(By.ID, "state").text == "waiting_close_photo"
    browser.find_element(By.ID, "reset").click()
    alert = wait.until(ec.alert_is_present())
    assert "zhangsan-0042" in alert.text
    alert.accept()
    wait.until(ec.text_to_be_present_in_element((By.ID, "state"), "idle"))
    assert "Session reset" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "pending").text == "Nothing pending."
    shot(browser, "4-reset")

    session = runtime(app).store.load(stuck.key)
    assert session is not None and session.state == "idle" and session.pending == {}
    assert len(session.history) >= 10  # history kept
    browser.get(f"{base}/admin/audit")
    assert "session.reset" in browser.find_element(By.ID, "audit").text
    shot(browser, "5-audit")


# The lines the text of an element takes, from the boxes the browser laid its text out in.
TEXT_LINES = """
const walker = document.createTreeWalker(arguments[0], NodeFilter.SHOW_TEXT);
const tops = new Set();
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (!node.textContent.trim()) { continue; }
  const range = document.createRange(); range.selectNodeContents(node);
  for (const box of range.getClientRects()) { if (box.width > 0) { tops.add(Math.round(box.top)); } }
}
return tops.size;
"""
# Where a field worker types the place in detail: the text that squeezed the other columns.
LONG_PLACE = (
    "地下车库B2层东北角消防通道入口处旁边的配电室门口，靠近3号电梯和东侧楼梯间，"
    "墙上有红色消防栓标识，地面有明显积水，请带上抽水泵"
)


def on_one_line(driver: Any, selector: str) -> list[str]:
    """The cells matching ``selector``, each asserted to render on one line; their texts."""
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, selector)
    assert cells, selector
    for cell in cells:
        lines = driver.execute_script(TEXT_LINES, cell)
        assert lines == 1, f"{selector}: {cell.text!r} is broken over {lines} lines"
    return [cell.text for cell in cells]


def test_ids_and_states_stay_on_one_line_at_desktop_width(server: tuple[str, Flask], browser: Any) -> None:
    """Seen on a desktop: ``WO-/202612/06-/LHS3A`` and ``waiting_confir/m`` when a long place took the room."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, app = server
    engine = runtime(app).engine
    reporter = Chat(engine, user="zhangsan-0042", platform="wecom", tenant="ww1436e0e65a779aee")
    reporter.report_photo(photo(3))
    reporter.text("1")
    reporter.text(f"位置 {LONG_PLACE}")  # a place this long is otherwise asked about ("is «…» the place?")
    order_id = reporter.text("确认").order_id
    assert order_id
    confirming = Chat(engine, user="lisi-0007", platform="wecom", tenant="ww1436e0e65a779aee")
    confirming.report_photo(photo(4))
    confirming.text("2")
    assert confirming.text(f"位置 {LONG_PLACE}").state == "waiting_confirm"
    stuck_closing(reporter, order_id)
    wait = WebDriverWait(browser, WAIT)

    browser.get(f"{base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(ec.presence_of_element_located((By.ID, "sessions")))
    assert browser.execute_script("return window.innerWidth") >= 1280  # a desktop window
    states = on_one_line(browser, "#sessions tbody td[data-label='State'] .state")
    assert sorted(states) == ["waiting_close_photo", "waiting_confirm"]
    for label in ("User", "Platform", "Tenant", "Last activity", "Time left"):
        on_one_line(browser, f"#sessions tbody td[data-label='{label}']")
    shot(browser, "desktop-1-sessions")

    browser.get(f"{base}/admin/orders")
    wait.until(ec.presence_of_element_located((By.ID, "orders")))
    assert on_one_line(browser, "#orders tbody td[data-label='Order'] a") == [order_id]
    assert on_one_line(browser, "#orders tbody td[data-label='Status']") == ["open"]
    # the long place itself wraps, the room it takes being what squeezed the ids
    place = browser.find_element(By.CSS_SELECTOR, "#orders tbody td[data-label='Location']")
    assert place.text == runtime(app).services.orders.get(order_id).location_text  # type: ignore[union-attr]
    assert browser.execute_script(TEXT_LINES, place) > 1
    shot(browser, "desktop-2-orders")

    # A narrow window (above phone width): the table scrolls sideways, the words stay whole, the page does not widen.
    browser.set_window_size(760, 900)
    browser.get(f"{base}/admin/sessions")
    wait.until(ec.presence_of_element_located((By.ID, "sessions")))
    on_one_line(browser, "#sessions tbody td[data-label='State'] .state")
    width = browser.execute_script("return window.innerWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    shot(browser, "desktop-3-narrow")


PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}  # an iPhone 12-14 screen

# Draws two different Chinese characters in the page's font; without a CJK font both are the same
# "missing glyph" box. (document.fonts.check() cannot tell: it is true for any font it need not download.)
CJK_GLYPHS_DIFFER = """
const family = getComputedStyle(document.body).fontFamily;
function draw(ch) {
  const canvas = document.createElement("canvas"); canvas.width = 48; canvas.height = 48;
  const ctx = canvas.getContext("2d"); ctx.font = "40px " + family; ctx.fillText(ch, 2, 40);
  return canvas.toDataURL();
}
return draw("漏") !== draw("水");
"""


def fits_the_screen(driver: Any, page: str) -> None:
    """No sideways scrolling, and Sign out is on the screen."""
    from selenium.webdriver.common.by import By

    width = driver.execute_script("return window.innerWidth")
    assert width == PHONE["width"]
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page}: the page is {scroll_width} px wide on a {width} px screen"
    sign_out = driver.find_element(By.CSS_SELECTOR, "header form button")
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", sign_out)
    assert box[0] >= 0 and box[1] <= width, f"{page}: Sign out is cut off at {box}"


def test_the_page_works_on_a_phone(server: tuple[str, Flask], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, app = server
    engine = runtime(app).engine
    stuck = Chat(engine, user="张三-夜班-0042", platform="generic", tenant="华东物业")
    order_id = report_order(stuck)
    stuck_closing(stuck, order_id)
    reporting = Chat(engine, user="李四", platform="generic", tenant="华东物业")
    reporting.image(photo(8))
    reporting.location("地下车库B2层东北角消防通道入口处", 31.230416, 121.473701)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    wait = WebDriverWait(browser, WAIT)

    browser.get(f"{base}/admin")
    wait.until(ec.presence_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(ec.presence_of_element_located((By.ID, "sessions")))
    assert browser.execute_script(CJK_GLYPHS_DIFFER), (
        "Chinese text renders as boxes: no CJK font (apt-get install fonts-wqy-microhei; ./scripts/test does it)"
    )
    fits_the_screen(browser, "sessions")
    assert "张三-夜班-0042" in browser.find_element(By.ID, "sessions").text
    shot(browser, "phone-1-sessions")

    browser.get(f"{base}/admin/sessions/{reporting.key}")
    wait.until(ec.presence_of_element_located((By.ID, "pending")))
    fits_the_screen(browser, "session")
    place = browser.find_element(By.ID, "pending-location")
    assert "地下车库B2层东北角消防通道入口处" in place.text
    assert place.find_element(By.LINK_TEXT, "map").get_attribute("href").startswith("https://www.openstreetmap.org/")
    assert "not chosen yet" in browser.find_element(By.ID, "pending-type").text
    assert "alarm type" in browser.find_element(By.ID, "waiting-for").text
    shot(browser, "phone-2-session")
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "pending"))
    shot(browser, "phone-3-pending")

    for page in ("orders", "audit", f"orders/{order_id}"):
        browser.get(f"{base}/admin/{page}")
        wait.until(ec.presence_of_element_located((By.TAG_NAME, "main")))
        fits_the_screen(browser, page)
    shot(browser, "phone-4-order")
