"""The web client in a real browser: headless Chromium (Debian's chromium
and chromium-driver packages) driven by Selenium, against a real server.

``make test-browser`` installs what it needs and runs these; elsewhere they
are skipped, saying what is missing. Each test leaves a screenshot in
tests/artifacts/ (ignored by git).
"""

import os
import shutil
import socket

import pytest

from support import ROOT, TIMEOUT, Client, uniq
from web_support import WebServer

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")


@pytest.fixture
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no chromium and chromedriver (make test-browser installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,700",
                 "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(TIMEOUT * 2)
    yield driver
    driver.quit()


def wait(driver, condition, what):
    return WebDriverWait(driver, TIMEOUT * 2, poll_frequency=0.05).until(
        lambda d: condition(d), message="waited for " + what)


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(ARTIFACTS, name + ".png"))


def log_texts(driver):
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#log li")]


def log_in(driver, port, name):
    driver.get("http://127.0.0.1:%d/" % port)
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "name").submit()
    wait(driver, lambda d: d.find_element(By.ID, "chat").is_displayed(), "the chat view")


def send_line(driver, text):
    line = driver.find_element(By.ID, "line")
    line.send_keys(text)
    line.submit()


def test_chat_with_a_terminal_user_and_markup_stays_text(browser):
    server = WebServer()
    terminal = Client(server.port)
    try:
        log_in(browser, server.http_port, "webuser")
        terminal.login("terminal")
        send_line(browser, "hello from the browser")
        assert terminal.expect("message")["content"] == "hello from the browser"
        hostile = '<img src=x onerror="document.title=\'owned\'"> <b>bold</b>'
        terminal.send("msg", hostile)
        wait(browser, lambda d: any(hostile in t for t in log_texts(d)), "the hostile message")
        assert browser.find_elements(By.CSS_SELECTOR, "#log img, #log b") == []
        assert browser.title == "KTN chat"
        wait(browser, lambda d: "terminal" in d.find_element(By.ID, "users").text, "the user list")
        screenshot(browser, "web-client-chat")
    finally:
        terminal.close()
        server.stop()


def test_a_private_message_and_a_room_from_the_keyboard(browser):
    server = WebServer()
    bob = Client(server.port)
    try:
        log_in(browser, server.http_port, "alice")
        bob.login("bob")
        send_line(browser, "/msg bob just for you")
        got = bob.expect("message")
        assert (got["sender"], got["content"]) == ("alice -> bob", "just for you")
        send_line(browser, "/join dev")
        wait(browser, lambda d: d.find_element(By.ID, "room").text == "#dev", "the room")
        bob.send("msg", "lobby only")
        send_line(browser, "in dev")
        wait(browser, lambda d: any("in dev" in t for t in log_texts(d)), "the dev message")
        assert not any("lobby only" in t for t in log_texts(browser))
    finally:
        bob.close()
        server.stop()


def test_the_page_logs_in_again_after_the_server_restarts(browser, tmp_path):
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        port, http_port = a.getsockname()[1], b.getsockname()[1]
    db = str(tmp_path / "chat.sqlite3")
    server = WebServer("--port", str(port), "--db", db, http_port=http_port)
    name = uniq("web")
    log_in(browser, http_port, name)
    server.stop()
    wait(browser, lambda d: "retrying" in d.find_element(By.ID, "connection").text,
         "the page to see the server gone")
    server = WebServer("--port", str(port), "--db", db, http_port=http_port)
    terminal = Client(port)
    try:
        wait(browser, lambda d: d.find_element(By.ID, "connection").text == "connected",
             "the page to reconnect")
        terminal.login("terminal")
        send_line(browser, "back again")
        got = terminal.expect("message")
        assert (got["sender"], got["content"]) == (name, "back again")
        screenshot(browser, "web-client-reconnected")
    finally:
        terminal.close()
        server.stop()
