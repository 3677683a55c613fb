"""The manual's main sequences in a real browser (Debian's Chromium, headless).

Screenshots of every page land in tests/artifacts/screenshots/ (git-ignored, kept by CI).
"""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from playwright.async_api import Page, expect

from gateway.store import customers
from gateway.store.customers import CustomerSpec
from gateway.store.database import Database

from .conftest import shot

pytestmark = pytest.mark.browser
NEW_PASSWORD = "counter-2025"


async def first_login(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/")
    await expect(page).to_have_url(f"{base_url}/login")
    await shot(page, "01-login")
    await page.fill("#f-name", "operator")
    await page.fill("#f-password", "00000000")
    await page.press("#f-password", "Enter")
    await expect(page).to_have_url(f"{base_url}/password")
    await expect(page.locator(".flash.error")).to_contain_text("首次登录")
    await shot(page, "02-forced-password-change")
    # Any other page sends the operator back here until the password is changed.
    await page.goto(f"{base_url}/lines")
    await expect(page).to_have_url(f"{base_url}/password")
    await page.fill("#f-old_password", "00000000")
    await page.fill("#f-new_password", NEW_PASSWORD)
    await page.fill("#f-confirm_password", NEW_PASSWORD)
    await page.press("#f-confirm_password", "Enter")
    await expect(page).to_have_url(f"{base_url}/")
    await expect(page.locator(".flash.ok")).to_contain_text("密码已修改")


async def test_first_login_and_master_data(page: Page, base_url: str) -> None:
    await first_login(page, base_url)
    await shot(page, "03-dashboard")

    # F1.2 a line: 【添加】(Alt+A) → name → Enter
    await page.goto(f"{base_url}/lines")
    await page.click("text=【添加】")
    await page.fill("#f-name", "东区一线")
    await page.press("#f-name", "Enter")
    await expect(page.locator("table.data")).to_contain_text("东区一线")
    await shot(page, "04-lines")

    # F1.3 a box on it
    await page.goto(f"{base_url}/boxes?add=1")
    await page.fill("#f-name", "1号表箱")
    await page.fill("#f-meter_count", "12")
    await page.fill("#f-bus", "rs485-1")
    await page.click("button:has-text('【确定】')")
    await expect(page.locator("table.data")).to_contain_text("1号表箱")
    await shot(page, "05-boxes")

    # F5.6 a meter type
    await page.goto(f"{base_url}/meter-types?add=1")
    await page.fill("#f-name", "DDSY666 单相费控表")
    await page.fill("#f-alarm1", "20")
    await page.click("button:has-text('【确定】')")
    await expect(page.locator("table.data")).to_contain_text("DDSY666")
    await shot(page, "06-meter-types")

    # F5.1 a tiered tariff
    await page.goto(f"{base_url}/price-types?add=1")
    await page.fill("#f-name", "居民阶梯电价")
    await page.select_option("#f-kind", "tiered")
    await expect(page.locator("#f-price")).to_be_hidden()
    await page.fill("#f-thresholds", "200, 400")
    await page.fill("#f-prices", "0.5283, 0.5783, 0.8283")
    await shot(page, "07-price-type-form")
    await page.click("button:has-text('【确定】')")
    await expect(page.locator("table.data")).to_contain_text("0.5283 / 0.5783 / 0.8283")
    await shot(page, "08-price-types")

    # F1.3 the meter registry and F1.1
    await page.goto(f"{base_url}/meters?add=1")
    await page.fill("#f-address", "000000000001")
    await page.click("button:has-text('【确定】')")
    await expect(page.locator("table.data")).to_contain_text("000000000001")
    await shot(page, "09-meters")


async def test_receipt_designer_change_shows_in_the_preview(page: Page, base_url: str) -> None:
    await first_login(page, base_url)
    await page.goto(f"{base_url}/receipt-template")
    title = page.locator("#elements tbody tr").nth(1).locator("input[name=el_value]")
    await title.fill("电费收据（测试）")
    sheet = page.locator("#preview .receipt-sheet")
    await expect(sheet).to_contain_text("电费收据（测试）")  # live, before saving
    await page.select_option("#f-paper", "A4")
    assert "210mm" in (await sheet.get_attribute("style") or "")
    await shot(page, "10-receipt-designer")
    await page.click("button:has-text('【保存】')")
    await expect(page.locator(".flash.ok")).to_be_visible()
    await page.goto(f"{base_url}/receipt-template/preview")
    await expect(page.locator(".receipt-sheet")).to_contain_text("电费收据（测试）")
    await shot(page, "11-receipt-preview")


async def test_customer_query_exported_to_excel(page: Page, base_url: str, db: Database) -> None:
    for number, name in (("C0001", "张三"), ("C0002", "李四"), ("C0003", "王五")):
        await db.write(customers.create_customer, CustomerSpec(number, name, phone="13900000000"))
    await first_login(page, base_url)
    await page.goto(f"{base_url}/query/customers")
    await page.fill("#f-name", "李")
    await page.press("#f-name", "Enter")
    await expect(page.locator("table.data tbody tr")).to_have_count(1)
    await page.goto(f"{base_url}/query/customers")
    await shot(page, "12-customer-query")
    async with page.expect_download() as waiting:
        await page.click("text=【导入Excel】")
    download = await waiting.value
    path = await download.path()
    assert download.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ["C0001", "C0002", "C0003"]
    assert [r[1] for r in rows[1:]] == ["张三", "李四", "王五"]
    balance = rows[0].index("余额（元）")
    assert all(Decimal(str(r[balance])) == 0 for r in rows[1:])


async def test_screenshots_of_every_menu_page(page: Page, base_url: str) -> None:
    await first_login(page, base_url)
    links = await page.locator("nav.sidenav a").evaluate_all(
        "els => els.map(e => [e.getAttribute('href'), e.textContent.trim()])"
    )
    assert len(links) >= 30
    for index, (href, _) in enumerate(links):
        response = await page.goto(f"{base_url}{href}")
        assert response is not None and response.status == 200, href
        name = href.strip("/").replace("/", "-") or "dashboard"
        await shot(page, f"page-{index:02d}-{name}")
    # English, and a phone-sized screen.
    await page.click("button:has-text('English')")
    await expect(page.locator("nav.sidenav")).to_contain_text("Lines")
    await shot(page, "page-en-dashboard")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{base_url}/query/sales")
    await shot(page, "page-phone-sales-query")
