"""Screenshots of the Dagster UI screens the README describes, taken in a real (headless)
browser: a developer's tool to check the README against what the UI shows, not a test (CI
installs no browser).

Needs Chromium (Debian: ``apt-get install chromium``) and the ``playwright`` package in the
project's virtualenv (``.venv/bin/pip install playwright``; it drives the system Chromium,
``playwright install`` is not needed). With ``make demo`` done and ``make ui`` running::

    .venv/bin/python scripts/ui_tour.py            # PNGs into tmp_ui_tour/

Screens: the asset graph, ``core/order_ledger``'s partitions and checks, the backfill dialog
of the partitioned assets for a three-day range, and ``models_job``'s backfill dialog (the
one-run path for a range with everything downstream, README "Backfill a range").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

# Headless Chromium on a machine without a network (and as root): no sandbox, no GPU, none
# of Chromium's own background connections, a fresh profile.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shoot(page: Page, out: Path, name: str) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"  {path}")


def settle(page: Page, text: str | None = None) -> None:
    """Wait for the page to load its data (and show ``text``, when given)."""
    page.wait_for_load_state("networkidle")
    if text:
        page.get_by_text(text, exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1_500)  # the graph's layout animates in


def tour(page: Page, url: str, out: Path, first: str, last: str) -> None:
    page.goto(f"{url}/asset-groups")
    settle(page, "order_ledger")
    shoot(page, out, "1_asset_graph")

    page.goto(f"{url}/assets/core/order_ledger?view=partitions")
    settle(page, "Partitions")
    shoot(page, out, "2_partitions")

    page.goto(f"{url}/assets/core/order_ledger?view=checks")
    settle(page, "ledger")
    shoot(page, out, "3_checks")

    page.goto(f"{url}/assets/core/order_ledger")
    settle(page, "Materialize")
    page.get_by_role("button", name="Materialize").first.click()
    settle(page, "Partition selection")
    shoot(page, out, "4_backfill_dialog")
    field = page.locator("input[placeholder*='partition'], .bp5-dialog input[type='text']")
    field.first.fill(f"[{first}...{last}]")
    field.first.press("Enter")
    page.wait_for_timeout(1_000)
    shoot(page, out, "5_backfill_three_days")
    page.keyboard.press("Escape")

    page.goto(f"{url}/jobs/models_job")
    settle(page, "models_job")
    shoot(page, out, "6_models_job")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the running UI")
    parser.add_argument("--out", type=Path, default=Path("tmp_ui_tour"), help="PNG folder")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="browser binary")
    parser.add_argument("--first", default="2026-05-03", help="first day of the backfill")
    parser.add_argument("--last", default="2026-05-05", help="last day of the backfill")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui_tour_profile_") as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        try:
            page = browser.new_page()
            tour(page, args.url.rstrip("/"), args.out, args.first, args.last)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
