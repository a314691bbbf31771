"""What a person does in the browser: approve a device login, log into Airflow's UI, look at pages."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "ui"


def sign_in_at_provider(driver, user: str) -> None:
    """The provider's login form (its development interaction takes any password)."""
    driver.find_element(By.NAME, "login").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("unused")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def approve_device(driver, uri: str, code: str, user: str) -> None:
    """What `prominence login` asks for: open `uri`, enter `code`, confirm, log in as `user`."""
    driver.get(uri)
    driver.find_element(By.NAME, "user_code").send_keys(code)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    driver.find_element(By.CSS_SELECTOR, "button[autofocus]").click()
    sign_in_at_provider(driver, user)
    WebDriverWait(driver, 30).until(expected_conditions.title_is("Sign-in Success"))


def log_into_airflow(driver, base_url: str, user: str) -> None:
    """Airflow's login page, its "Sign in with prominence" button, the provider's login."""
    driver.get(f"{base_url}/auth/login/")
    driver.find_element(By.ID, "btn-signin-prominence").click()
    sign_in_at_provider(driver, user)
    WebDriverWait(driver, 60).until(lambda d: d.current_url.rstrip("/") == base_url)


def open_prominence_page(driver, base_url: str) -> None:
    """The PROMINENCE entry of the UI's navigation; its page is an iframe, entered here."""
    driver.get(f"{base_url}/plugin/prominence")
    WebDriverWait(driver, 60).until(expected_conditions.frame_to_be_available_and_switch_to_it((By.TAG_NAME, "iframe")))


def job_rows(driver, names: set[str], timeout: float = 60) -> dict[str, list[str]]:
    """The cells of each row of the jobs table, by job name, once every one of `names` is listed."""

    def rows(d):
        found = {}
        for row in d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr"):
            cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            found[cells[1]] = cells
        return found if names <= set(found) else None

    return WebDriverWait(driver, timeout).until(rows)


def page_text(driver, shows, timeout: float = 60) -> str:
    """The page's visible text once `shows(text)` holds (the UI renders what its API calls return)."""
    return WebDriverWait(driver, timeout).until(
        lambda d: (text := d.find_element(By.TAG_NAME, "body").text) and shows(text) and text
    )


def screenshot(driver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
