"""Screenshots of the Dagster UI screens the README describes, taken in a real (headless)
browser: a developer's tool to check the README against what the UI shows, not a test (CI
installs no browser).

Needs Chromium (Debian: ``apt-get install chromium``) and the ``playwright`` package in the
project's virtualenv (``.venv/bin/pip install playwright``; it drives the system Chromium,
``playwright install`` is not needed). With ``make demo`` done and ``make ui`` running::

    .venv/bin/python scripts/ui_tour.py            # PNGs into tmp_ui_tour/

Screens: the asset graph (every group, then the ledger and what it feeds), the partitions and
the checks of ``core/order_ledger``, its backfill dialog for a three-day range, and the same
from ``models_job``'s page (the one-run path for a range with everything downstream, README
"Backfill a range"); ``--launch`` launches that backfill and shows the runs.
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


def open_page(page: Page, url: str, text: str) -> None:
    """Open ``url`` and wait until it shows ``text``; dismiss Dagster's one-time "Join the
    Dagster community" dialog, which covers the first page a new browser profile opens."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()
    page.wait_for_timeout(2_000)  # statuses arrive after the page, the graph animates in


def choose_range(page: Page, first: str, last: str) -> None:
    """In an open "Launch runs to materialize" dialog: every partition, not only the last 90
    days it opens on, then the range typed as Dagster writes it."""
    field = page.locator("input[placeholder^='ex:']")
    show_all = page.get_by_text("Show all partitions")
    (field.first.or_(show_all.first)).wait_for(timeout=60_000)  # the notice arrives late
    page.wait_for_timeout(1_000)
    if show_all.count():
        show_all.first.click()
    field = field.first
    field.fill(f"[{first}...{last}]")
    field.press("Enter")
    page.wait_for_timeout(1_000)


def tour(page: Page, url: str, out: Path, first: str, last: str, launch: bool) -> None:
    open_page(page, f"{url}/asset-groups", "Global asset lineage")
    page.mouse.click(1_000, 300)  # focus the graph for its shortcut
    page.keyboard.press("Alt+e")  # "Expand all groups" (the graph opens on collapsed groups)
    page.wait_for_timeout(1_500)
    shoot(page, out, "1_lineage_all_groups")
    # three assets, so the graph zooms to where each box shows its status, checks, partitions
    page.locator(".CodeMirror").first.click()  # the asset search is an editor, no <input>
    page.keyboard.type(
        'key:"core/order_ledger" or key:"core/orders" or key:"reporting/daily_revenue"'
    )
    page.keyboard.press("Enter")
    page.wait_for_timeout(2_500)
    for _ in range(2):  # Alt+E toggles: a new selection may show its groups folded or not
        if page.get_by_text("Latest event").count():
            break
        page.mouse.click(1_000, 800)
        page.keyboard.press("Alt+e")
        page.wait_for_timeout(2_500)
    shoot(page, out, "2_lineage_three_assets")

    open_page(page, f"{url}/assets/core/order_ledger?view=partitions", "Materialized")
    shoot(page, out, "3_ledger_partitions")
    page.get_by_placeholder("Filter by name").fill(first)
    page.get_by_text(first, exact=True).first.click()
    page.wait_for_timeout(2_000)
    shoot(page, out, "3b_ledger_one_day")

    open_page(page, f"{url}/assets/core/order_ledger?view=checks", "Checks")
    page.get_by_text("ledger_starts_with_reduction", exact=True).first.click()
    page.wait_for_timeout(2_000)
    shoot(page, out, "4_ledger_checks")

    open_page(page, f"{url}/assets/core/order_ledger", "Materialize")
    page.get_by_role("button", name="Materialize…").first.click()
    page.get_by_text("Partition selection").first.wait_for()
    shoot(page, out, "5_asset_backfill_dialog")
    choose_range(page, first, last)
    shoot(page, out, "6_asset_backfill_three_days")
    page.keyboard.press("Escape")

    open_page(page, f"{url}/jobs", "models_job")
    page.get_by_text("models_job", exact=True).first.click()
    page.get_by_role("button", name="Materialize all…").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2_000)
    page.get_by_role("button", name="Materialize all…").first.click()
    page.get_by_text("Partition selection").first.wait_for()
    choose_range(page, first, last)
    shoot(page, out, "7_job_backfill_three_days")
    if not launch:
        return
    page.get_by_role("button", name="Launch backfill").first.click()
    page.wait_for_timeout(3_000)
    open_page(page, f"{url}/runs", "models_job")
    shoot(page, out, "8_runs_after_backfill")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the running UI")
    parser.add_argument("--out", type=Path, default=Path("tmp_ui_tour"), help="PNG folder")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="browser binary")
    parser.add_argument("--first", default="2026-05-03", help="first day of the backfill")
    parser.add_argument("--last", default="2026-05-05", help="last day of the backfill")
    parser.add_argument(
        "--launch", action="store_true", help="launch the job's backfill (it writes the warehouse)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ui_tour_profile_") as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=args.chromium,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000},
        )
        page = browser.new_page()
        try:
            tour(page, args.url.rstrip("/"), args.out, args.first, args.last, args.launch)
        except Exception:
            shoot(page, args.out, "failed_here")  # what the page showed when a step gave up
            raise
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
