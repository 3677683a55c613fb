"""The manual's money sequences in a real browser against simulated meters (issue 5's
acceptance): open account and first purchase (comm) with its receipt, daily purchase, relay
off/on from the customer page, a receipt-template change showing in the next receipt, refund
and close, replacement with compensation. Screenshots land in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Dialog, Page, expect

from gateway.cards import CardReaderConfig, CardReaderService
from gateway.permissions import KEYS
from gateway.services.actor import Actor
from gateway.simulator import card_slot
from gateway.simulator.faults import Faults
from gateway.store import alarms, customers
from tests.support.pcsc import GATEWAY_READER, METER_READER, CardSlots
from tests.support.site import Site
from tests.support.vcard import blank_gateway_card
from web.once import new_nonce

from .conftest import shot
from .test_browser import first_login

pytestmark = pytest.mark.browser
SETUP = Actor(1, "setup", KEYS)


async def opened(site: Site, index: int, amount_fen: int) -> tuple[str, int, str]:
    """A seeded money-meter account after its opening purchase: (address, account, number)."""
    address, account = site.meter("money", index)
    assert account is not None
    await site.services.open_purchase(SETUP, account, amount_fen, new_nonce())
    customer_id = (await site.db.read(customers.get_account, account)).customer_id
    number = (await site.db.read(customers.get_customer, customer_id)).number
    return address, account, number


def accept_dialogs(page: Page) -> None:
    """Answer the confirmation dialogs (【强制停电】, 【退费销户】) with OK."""

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)


async def test_open_account_and_first_purchase_with_receipt(
    page: Page, site_url: str, site: Site
) -> None:
    await first_login(page, site_url)
    address, _ = site.meter("money", with_account=False)

    await page.goto(f"{site_url}/customers/open")
    await page.click(f"#free-meters a:has-text('{address}')")
    await expect(page.locator("#chosen-meter")).to_have_text(address)
    await expect(page.locator("#f-number")).to_be_focused()
    await page.fill("#f-number", "300001")
    await page.fill("#f-name", "孙七")
    await page.fill("#f-phone", "13900000002")
    await page.select_option("#f-price_type_id", label="一般工商业 Flat")
    await page.click("button:has-text('【读表地址】')")
    await expect(page.locator("#verified")).to_contain_text(address)
    # The frames of 【读表地址】 are in the command-frame pane.
    await expect(page.locator("#frames .frames-list li.tx").first).to_contain_text("68")
    await shot(page, "20-open-account-form")

    await page.click("button:has-text('【用户信息保存】')")
    await expect(page.locator(".flash.ok")).to_contain_text("300001")
    await expect(page.locator("#f-amount")).to_be_focused()
    await page.fill("#f-amount", "50")
    await shot(page, "21-customer-page-open-purchase")
    await page.press("#f-amount", "Enter")  # 【开户购电（通讯）】 is the form's first button

    result = page.locator("#result")
    await expect(result).to_have_attribute("data-state", "confirmed")
    await expect(result).to_contain_text("¥ 50.00")
    meter = site.meters[address]
    assert (meter.remaining, meter.purchase_count) == (5000, 1)
    await shot(page, "22-open-purchase-result")

    async with page.expect_popup() as waiting:
        await page.click("#print")
    receipt = await waiting.value
    sheet = receipt.locator(".receipt-sheet")
    await expect(sheet).to_contain_text("孙七")
    await expect(sheet).to_contain_text("50.00")
    await expect(sheet).to_contain_text("伍拾元整")
    await expect(receipt.locator(".watermark")).to_have_count(0)
    await shot(receipt, "23-receipt")


async def test_daily_purchase_relay_and_the_next_receipt_uses_the_new_template(
    page: Page, site_url: str, site: Site
) -> None:
    address, account, number = await opened(site, 0, 5000)
    await first_login(page, site_url)

    # Number, Enter: the account; 【读参数（通讯）】; amount, Enter: sold.
    await page.goto(f"{site_url}/sales/daily")
    await expect(page.locator("#f-q")).to_be_focused()
    await page.fill("#f-q", number)
    await page.press("#f-q", "Enter")
    await expect(page).to_have_url(re.compile(rf"account={account}"))
    await page.click("button:has-text('【读参数（通讯）】')")
    await expect(page.locator("#params")).to_contain_text("50.00")
    await expect(page.locator("#frames .frames-list li.rx").first).to_be_visible()
    await shot(page, "30-daily-sale-parameters")
    await page.fill("#f-amount", "25.5")
    await page.press("#f-amount", "Enter")
    await expect(page.locator("#result")).to_have_attribute("data-state", "confirmed")
    await expect(page.locator("#result")).to_contain_text("¥ 25.50")
    assert site.meters[address].remaining == 7550
    await shot(page, "31-daily-sale-result")
    result_url = page.url

    # F5.3: the title changes; the receipt of this sale (not printed yet) shows it.
    await page.goto(f"{site_url}/receipt-template")
    title = page.locator("#elements tbody tr").nth(1).locator("input[name=el_value]")
    await title.fill("电费收据（新格式）")
    await page.click("button:has-text('【保存】')")
    await expect(page.locator(".flash.ok")).to_be_visible()
    await page.goto(result_url)
    async with page.expect_popup() as waiting:
        await page.click("#print")
    receipt = await waiting.value
    await expect(receipt.locator(".receipt-sheet")).to_contain_text("电费收据（新格式）")
    await expect(receipt.locator(".receipt-sheet")).to_contain_text("25.50")
    await shot(receipt, "32-receipt-new-template")

    # F2.5 / F2.6 from the customer page.
    accept_dialogs(page)
    await page.click("text=用户详情")
    await page.click("button:has-text('【强制停电】')")
    await expect(page.locator(".flash.ok")).to_contain_text("已拉闸")
    assert site.meters[address].relay_open
    await shot(page, "33-customer-page-relay-off")
    await page.click("button:has-text('【强制用电】')")
    await expect(page.locator(".flash.ok")).to_contain_text("已合闸")
    assert not site.meters[address].relay_open

    # The same sale on a phone: the amount field and the buttons stay usable.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"{site_url}/sales/daily?account={account}")
    await expect(page.locator("#f-amount")).to_be_visible()
    await shot(page, "36-phone-daily-sale")


async def test_refund_and_close_then_replacement_with_compensation(
    page: Page, site_url: str, site: Site
) -> None:
    refund_meter, refund_account, _ = await opened(site, 0, 4321)
    old, replace_account, _ = await opened(site, 1, 4000)
    new, _ = site.meter("money", with_account=False)
    await first_login(page, site_url)
    accept_dialogs(page)

    await page.goto(f"{site_url}/refunds?account={refund_account}")
    await page.click("button:has-text('【读参数（通讯）】')")
    await expect(page.locator("#params")).to_contain_text("43.21")
    await page.fill("#f-fee", "1.21")
    await shot(page, "40-refund")
    await page.click("button:has-text('【退费销户（通讯）】')")
    await expect(page.locator("#result")).to_have_attribute("data-state", "confirmed")
    await expect(page.locator("#result")).to_contain_text("¥ 42.00")
    assert site.meters[refund_meter].remaining == 0
    await shot(page, "41-refund-result")

    await page.goto(f"{site_url}/replacements/new?account={replace_account}")
    await page.click("button:has-text('【读参数（通讯）】')")
    await expect(page.locator("#compensation")).to_contain_text("40.00")
    await page.select_option("#f-new_meter_id", value=str(site.meter_id(new)))
    await page.fill("#f-amount", "10")
    await shot(page, "42-replacement")
    await page.click("button:has-text('【换表购电（通讯）】')")
    await expect(page.locator("#result")).to_have_attribute("data-state", "confirmed")
    await expect(page.locator("#compensation")).to_contain_text("¥ 40.00")
    assert site.meters[new].remaining == 5000
    assert old != new
    await shot(page, "43-replacement-result")


async def test_daily_purchase_by_card(
    page: Page, site_url: str, site: Site, card_slots: CardSlots
) -> None:
    """【读用户卡（IC卡）】→ amount →【日常购电（IC卡）】, then the card goes into the meter."""
    key = "secret:e2e-card-site"
    site.services.cards.use_reader(
        CardReaderService(CardReaderConfig(reader=GATEWAY_READER, site_key=key))
    )
    meter_reader = CardReaderService(CardReaderConfig(reader=METER_READER, site_key=key))
    address, account = site.meter("money", 2)
    assert account is not None
    meter = site.meters[address]
    card = blank_gateway_card()
    await asyncio.to_thread(card_slots.insert, card, 0)
    await site.services.cards.open_purchase(SETUP, account, 5000, new_nonce())

    async def at_meter() -> None:
        await asyncio.to_thread(card_slots.carry, card, 1)
        await card_slot.insert(meter, meter_reader, site.clock.local_now())
        await asyncio.to_thread(card_slots.carry, card, 0)

    await at_meter()
    assert meter.remaining == 5000
    customer_id = (await site.db.read(customers.get_account, account)).customer_id
    number = (await site.db.read(customers.get_customer, customer_id)).number

    await first_login(page, site_url)
    await page.goto(f"{site_url}/sales/daily")
    await page.fill("#f-q", number)
    await page.press("#f-q", "Enter")
    await page.click("button:has-text('【读用户卡（IC卡）】')")
    await expect(page.locator("#card-read")).to_contain_text("用户卡")
    await page.fill("#f-amount", "20")
    await shot(page, "34-daily-sale-card")
    await page.click("button:has-text('【日常购电（IC卡）】')")
    await expect(page.locator("#result")).to_have_attribute("data-state", "confirmed")
    await expect(page.locator(".flash.ok")).to_contain_text("插入电表")
    await shot(page, "35-daily-sale-card-result")
    await at_meter()
    assert (meter.remaining, meter.purchase_count) == (7000, 2)


async def test_read_all_meters_and_acknowledge_an_alarm(
    page: Page, monitored_url: str, site: Site
) -> None:
    silent = site.meter("money", 3)[0]
    site.meters[silent].faults = Faults(silent=True)
    await first_login(page, monitored_url)
    await page.goto(f"{monitored_url}/monitoring")
    await page.click("button:has-text('【抄表开始】')")
    await expect(page.locator("#job")).to_have_attribute("data-state", "done", timeout=30_000)
    await expect(page.locator("#read-all")).to_contain_text(silent)
    await expect(page.locator("#monitor .dot.off")).to_have_count(1)
    await shot(page, "50-monitoring-read-all")

    await page.click(".tabs a:has-text('异常信息')")
    await expect(page.locator("#alarms")).to_contain_text(silent)
    await page.click(".tabs a:has-text('报警信息')")
    # What the read found (money meters below their alarm amount, the silent meter, ...).
    first = page.locator("#alarms input[name=alarm]").first
    alarm_id = int(await first.get_attribute("value") or "0")
    box = f"#alarms input[name=alarm][value='{alarm_id}']"
    await page.check(box)
    await shot(page, "51-monitoring-alarms")
    await page.click("button:has-text('【确认告警】')")
    await expect(page.locator(".flash.ok")).to_contain_text("已确认 1 条")
    await expect(page.locator(box)).to_have_count(0)
    assert (await site.db.read(alarms.get, alarm_id)).acked_at is not None
