"""The Reports page in a real headless Chromium (the admin page tests' set-up): a week of orders with known
timestamps read at a glance at 1280 px and on a 390 px phone, the charts drawn as SVG with their Chinese labels as
real text; screenshots in ``tests/artifacts/`` (``admin-reports-*.png``)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.integration import test_admin_browser as admin_browser
from tests.support.admin import TOKEN, runtime
from tests.support.order_history import NOW, History, a_week

pytestmark = pytest.mark.integration

server = admin_browser.server
browser = admin_browser.browser
WEEK = "from=2026-12-01&to=2026-12-07"


def sign_in(driver: Any, base: str, then: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}{then}")
    WebDriverWait(driver, admin_browser.WAIT).until(ec.presence_of_element_located((By.ID, "token"))).send_keys(TOKEN)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, admin_browser.WAIT).until(ec.presence_of_element_located((By.ID, "summary")))


def a_known_week(app: Flask) -> None:
    a_week(History(runtime(app).services.orders.engine))
    app.extensions["wobot_admin"].ops.clock = NOW.timestamp


def charts_fit(driver: Any) -> None:
    """Every chart is an inline SVG inside the screen's width."""
    from selenium.webdriver.common.by import By

    width = driver.execute_script("return window.innerWidth")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    svgs = driver.find_elements(By.CSS_SELECTOR, ".chart svg")
    assert len(svgs) == 6
    for svg in svgs:
        right = driver.execute_script("return arguments[0].getBoundingClientRect().right", svg)
        assert 0 < right <= width


def test_the_week_at_a_glance_on_a_desktop(server: tuple[str, Flask], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base, app = server
    a_known_week(app)
    browser.set_window_size(1280, 1000)
    sign_in(browser, base, f"/admin/reports?{WEEK}")
    assert browser.find_element(By.ID, "card-created").text.startswith("5")
    assert "2 h 40 min" in browser.find_element(By.ID, "card-fix").text  # the median time to fix: 9600 s
    assert "50% / 25%" in browser.find_element(By.ID, "card-sla").text  # claim / resolution (from the claim)
    people = [row.text.split() for row in browser.find_elements(By.CSS_SELECTOR, "#people tbody tr")]
    assert [p[0] for p in people] == ["bob", "alice"]
    breaching = browser.find_element(By.ID, "breaching").text
    assert "WO-20261125-EEEEE" in breaching and "WO-20261203-CCCCC" in breaching
    # the charts' labels are text in the page, Chinese included
    assert "A栋" in browser.find_element(By.ID, "chart-sites").text
    assert "漏水" in browser.find_element(By.ID, "chart-types").text
    assert "12-03" in browser.find_element(By.ID, "chart-volume").text
    assert browser.execute_script(admin_browser.CJK_GLYPHS_DIFFER)
    charts_fit(browser)
    admin_browser.shot(browser, "reports-1-desktop")
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "chart-fix"))
    admin_browser.shot(browser, "reports-1-desktop-charts")

    # a filter narrows every figure
    browser.find_element(By.CSS_SELECTOR, "#more-filters summary").click()
    site = browser.find_element(By.ID, "filter-site")
    site.send_keys("A栋")
    browser.find_element(By.ID, "show").click()
    WebDriverWait(browser, admin_browser.WAIT).until(ec.url_contains("site="))
    assert browser.find_element(By.ID, "card-created").text.startswith("3")
    assert "B栋" not in browser.find_element(By.ID, "chart-sites").text
    assert "site = A栋" in browser.find_element(By.CSS_SELECTOR, "#more-filters summary").text
    admin_browser.shot(browser, "reports-2-desktop-filtered")
    link = browser.find_element(By.ID, "download").get_attribute("href")
    assert "/admin/reports.csv?" in link and "site=" in link


def test_the_report_reads_on_a_phone(server: tuple[str, Flask], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    base, app = server
    a_known_week(app)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", admin_browser.PHONE)
    sign_in(browser, base, f"/admin/reports?{WEEK}")
    admin_browser.fits_the_screen(browser, "reports")
    charts_fit(browser)
    # the chart's text stays readable: scaled down no further than to three quarters
    volume = browser.find_element(By.CSS_SELECTOR, "#chart-volume svg")
    shown = browser.execute_script("return arguments[0].getBoundingClientRect().width", volume)
    assert shown >= 0.7 * 480
    admin_browser.shot(browser, "reports-3-phone")
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "chart-fix"))
    admin_browser.shot(browser, "reports-4-phone-charts")
    types = browser.find_element(By.CSS_SELECTOR, "#chart-types svg")
    browser.execute_script("arguments[0].scrollIntoView()", types)
    label = browser.find_element(By.XPATH, "//*[@id='chart-types']//*[name()='text' and text()='通道堵塞']")
    left = browser.execute_script("return arguments[0].getBoundingClientRect().left", label)
    assert left >= browser.execute_script("return arguments[0].getBoundingClientRect().left", types)  # not cut off
    admin_browser.shot(browser, "reports-4-phone-types")
    browser.execute_script("arguments[0].scrollIntoView()", browser.find_element(By.ID, "people"))
    admin_browser.shot(browser, "reports-5-phone-people")
