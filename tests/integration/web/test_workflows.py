"""The manual's money workflows through the web pages, against simulated meters: what the meter
holds, what the ledger books and what the page and the receipt show must agree, once."""

from __future__ import annotations

import asyncio
import re

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from gateway.simulator.faults import Faults
from gateway.store import customers, ledger, oplog, receipts, tariffs, vends
from gateway.store.customers import AccountStatus
from gateway.store.paging import PageRequest
from tests.support.site import Site
from web.keys import FRAMES
from web.once import new_nonce

from .conftest import cashier, csrf_of

Client = TestClient  # type: ignore[type-arg]
RESULT = re.compile(r"/results/(\d+)$")
NONCE = re.compile(r'name="nonce" value="([^"]+)"')


async def post(client: Client, path: str, csrf: str, **form: str) -> ClientResponse:
    return await client.post(path, data={"_csrf": csrf, **form}, allow_redirects=False)


def vend_of(response: ClientResponse) -> int:
    assert response.status == 303, response.status
    found = RESULT.search(response.headers["Location"])
    assert found, response.headers["Location"]
    return int(found.group(1))


async def opened(site: Site, kind: str = "money", amount: int = 5000) -> tuple[str, int]:
    """A seeded account with its opening purchase done (address, account id)."""
    from gateway.permissions import KEYS
    from gateway.services.actor import Actor

    address, account = site.meter(kind)
    assert account is not None
    await site.services.open_purchase(Actor(1, "setup", KEYS), account, amount, new_nonce())
    return address, account


# ---- F2.1 open account and first purchase -------------------------------------------------


async def test_open_account_first_purchase_and_receipt(site: Site, site_client: Client) -> None:
    csrf = await cashier(site_client)
    address, _ = site.meter("money", with_account=False)
    meter_id = site.meter_id(address)
    flat = next(p for p in await site.db.read(tariffs.list_types) if "Flat" in p.name)

    page = await site_client.get(f"/customers/open?meter={meter_id}")
    html = await page.text()
    assert page.status == 200
    assert "【读表地址】" in html and "【用户信息保存】" in html
    assert f'id="chosen-meter">{address}<' in html

    form = {"meter_id": str(meter_id), "number": "200001", "name": "赵六",
            "phone": "13900000001", "price_type_id": str(flat.id)}  # fmt: skip
    verified = await post(site_client, "/customers/open/verify", csrf, **form)
    assert verified.status == 200
    assert "应答正常" in await verified.text()

    saved = await post(site_client, "/customers/open", csrf, **form)
    assert saved.status == 303
    customer_page = await site_client.get(saved.headers["Location"])
    html = await customer_page.text()
    assert "【开户购电（通讯）】" in html and "【开户购电（IC卡）】" in html
    customer = await site.db.read(customers.customer_by_number, "200001")
    assert customer is not None and customer.current_account_id is not None
    account_id = customer.current_account_id
    nonce = NONCE.search(html)
    assert nonce

    sold = await post(
        site_client, f"/accounts/{account_id}/open-purchase", csrf,
        amount="50.00", nonce=nonce.group(1),
    )  # fmt: skip
    vend_id = vend_of(sold)
    meter = site.meters[address]
    assert (meter.remaining, meter.purchase_count, meter.account_opened) == (5000, 1, True)
    assert (await site.balance(account_id)).purchased_fen == 5000

    result = await site_client.get(sold.headers["Location"])
    html = await result.text()
    assert 'data-state="confirmed"' in html and "¥ 50.00" in html
    vend = await site.db.read(vends.get, vend_id)
    number = int(vend.result["receipt_number"])
    assert f"{number:08d}" in html and "【发票打印】" in html

    original = await post(site_client, f"/receipts/{number}/print", csrf)
    text = await original.text()
    assert original.status == 200
    assert "200001" in text and "赵六" in text and "50.00" in text and "伍拾元整" in text
    assert "剩余金额：50.00" in text  # what the meter holds after the sale
    assert 'class="watermark"' not in text
    again = await post(site_client, f"/receipts/{number}/print", csrf)
    assert 'class="watermark">副本<' in await again.text()
    prints = await site.db.read(receipts.prints, number)
    assert [p.copy for p in prints] == [False, True]


async def test_a_second_print_needs_the_reprint_permission(site: Site, site_client: Client) -> None:
    _, account = await opened(site)
    vend = (await site.db.read(vends.for_account, account))[0]
    number = int(vend.result["receipt_number"])
    csrf = await cashier(site_client, {"sales.daily"})
    first = await post(site_client, f"/receipts/{number}/print", csrf)
    assert first.status == 200
    second = await post(site_client, f"/receipts/{number}/print", csrf)
    assert second.status == 403
    assert "E603" in await second.text()
    assert len(await site.db.read(receipts.prints, number)) == 1


# ---- F3.1 daily sale ------------------------------------------------------------------------


async def test_number_enter_amount_enter_sells_once(site: Site, site_client: Client) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    number = (await site.db.read(customers.get_customer, (await site.db.read(
        customers.get_account, account)).customer_id)).number  # fmt: skip

    typed = await site_client.get(f"/sales/daily?q={number}", allow_redirects=False)
    assert typed.status == 303
    assert f"account={account}" in typed.headers["Location"]
    page = await site_client.get(typed.headers["Location"])
    html = await page.text()
    assert 'name="amount"' in html and "autofocus" in html
    nonce = NONCE.search(html)
    assert nonce

    sold = await post(
        site_client, f"/sales/daily/{account}", csrf, amount="25.50", nonce=nonce.group(1)
    )
    first = vend_of(sold)
    assert site.meters[address].remaining == 5000 + 2550
    # The browser resubmits the same form (back button, reload of the POST): the same sale.
    again = await post(
        site_client, f"/sales/daily/{account}", csrf, amount="25.50", nonce=nonce.group(1)
    )
    assert vend_of(again) == first
    assert site.meters[address].remaining == 7550
    balance = await site.balance(account)
    assert (balance.purchased_fen, balance.purchases) == (7550, 2)


async def test_a_double_click_sells_once(site: Site, site_client: Client) -> None:
    """Two submissions of one form at the same moment: one sale, both see it."""
    address, account = await opened(site)
    csrf = await cashier(site_client)
    nonce = new_nonce()
    answers = await asyncio.gather(
        *(
            post(site_client, f"/sales/daily/{account}", csrf, amount="12.00", nonce=nonce)
            for _ in range(3)
        )
    )
    assert len({vend_of(a) for a in answers}) == 1
    assert site.meters[address].remaining == 5000 + 1200
    assert site.meters[address].purchase_count == 2
    assert (await site.balance(account)).purchases == 2


async def test_bad_amounts_are_refused_and_change_nothing(site: Site, site_client: Client) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    for amount, code in (("abc", "E20"), ("1.234", "E20"), ("", "E606"), ("0", "E502")):
        answer = await post(
            site_client, f"/sales/daily/{account}", csrf, amount=amount, nonce=new_nonce()
        )
        html = await answer.text()
        assert answer.status == 400, (amount, answer.status)
        assert code in html, (amount, html[:200])
        assert 'name="amount"' in html  # the form again, to correct
    without_nonce = await post(site_client, f"/sales/daily/{account}", csrf, amount="5.00")
    assert without_nonce.status == 400
    assert site.meters[address].remaining == 5000
    assert (await site.balance(account)).purchases == 1


async def test_a_silent_meter_is_e507_and_nothing_is_booked(
    site: Site, site_client: Client
) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    site.meters[address].faults = Faults(silent=True)
    answer = await post(
        site_client, f"/sales/daily/{account}", csrf, amount="10.00", nonce=new_nonce()
    )
    assert answer.status == 502
    html = await answer.text()
    assert "E507" in html and "未售电" in html
    assert (await site.balance(account)).purchases == 1
    refused = await site.db.read(
        oplog.query, oplog.OpLogFilter(action_prefix="sale.daily", result="error"), PageRequest()
    )
    assert [e.error_code for e in refused.items] == ["E507"]


async def test_an_unknown_outcome_says_do_not_sell_again(site: Site, site_client: Client) -> None:
    """The meter credits, its reply is lost and then it goes silent: E506, verified later."""
    address, account = await opened(site)
    csrf = await cashier(site_client)
    meter = site.meters[address]
    original = meter.handle

    def credit_then_fall_silent(request, now):  # type: ignore[no-untyped-def]
        reply = original(request, now)
        if request.function == 0x03 and request.data[:4] == bytes.fromhex("FF020107"):
            meter.faults = Faults(silent=True)
            return None
        return reply

    meter.handle = credit_then_fall_silent  # type: ignore[method-assign]
    answer = await post(
        site_client, f"/sales/daily/{account}", csrf, amount="30.00", nonce=new_nonce()
    )
    html = await answer.text()
    assert answer.status == 409
    assert "E506" in html and "请勿重复售电" in html
    vend_id = int(re.search(r"/results/(\d+)", html).group(1))  # type: ignore[union-attr]
    pending = await site_client.get(f"/results/{vend_id}")
    assert "请勿重复售电" in await pending.text()
    assert meter.remaining == 8000  # the meter did credit
    assert (await site.balance(account)).purchases == 1  # not booked yet

    meter.handle = original  # type: ignore[method-assign]
    meter.faults = Faults()
    settled = await post(site_client, f"/results/{vend_id}/settle", csrf)
    assert settled.status == 303
    done = await site_client.get(f"/results/{vend_id}")
    assert 'data-state="confirmed"' in await done.text()
    assert (await site.balance(account)).purchased_fen == 8000


async def test_read_parameters_shows_the_meter_and_feeds_the_frame_pane(
    site: Site, site_client: Client
) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    subscription = site_client.app[FRAMES].subscribe()
    answer = await post(site_client, f"/sales/daily/{account}/read", csrf)
    html = await answer.text()
    assert answer.status == 200
    assert "剩余金额（元）" in html and "50.00" in html
    frames = await subscription.next_batch(5.0)
    assert frames is not None
    sent = [f for f in frames if f.direction == "tx" and f.meter == address]
    received = [f for f in frames if f.direction == "rx" and f.meter == address]
    assert sent and received
    assert sent[0].data.removeprefix("FE FE FE FE ").startswith("68 ")
    assert sent[0].data.endswith(" 16") and "READ" in sent[0].note
    subscription.close()


async def test_energy_preview_matches_the_sale(site: Site, site_client: Client) -> None:
    _, account = await opened(site, "energy", 10000)
    await cashier(site_client)
    quote = await site_client.get(f"/api/v1/accounts/{account}/quote?amount=20.00")
    body = await quote.json()
    assert quote.status == 200
    csrf = await cashier(site_client)
    sold = await post(
        site_client, f"/sales/daily/{account}", csrf, amount="20.00", nonce=new_nonce()
    )
    vend = await site.db.read(vends.get, vend_of(sold))
    assert body["energy"] == f"{vend.energy_cwh // 100}.{vend.energy_cwh % 100:02d}"


# ---- F3.3, F4.1, F2.5/F2.6 ------------------------------------------------------------------


async def test_refund_and_close(site: Site, site_client: Client) -> None:
    address, account = await opened(site, amount=4321)
    csrf = await cashier(site_client)
    read = await post(site_client, f"/refunds/{account}/read", csrf)
    assert "43.21" in await read.text()
    done = await post(site_client, f"/refunds/{account}", csrf, fee="1.21", nonce=new_nonce())
    vend_id = vend_of(done)
    html = await (await site_client.get(f"/results/{vend_id}")).text()
    assert 'data-state="confirmed"' in html and "¥ 42.00" in html
    assert site.meters[address].remaining == 0
    account_now = await site.db.read(customers.get_account, account)
    assert account_now.status is AccountStatus.CLOSED
    entries = await site.db.read(ledger.for_account, account)
    assert entries[-1].amount_fen == -4200


async def test_replacement_carries_the_old_meters_value(site: Site, site_client: Client) -> None:
    old, account = await opened(site, amount=4000)
    new, _ = site.meter("money", with_account=False)
    csrf = await cashier(site_client)
    read = await post(site_client, f"/replacements/{account}/read", csrf)
    html = await read.text()
    assert "40.00" in html and 'id="compensation"' in html
    done = await post(
        site_client, f"/replacements/{account}", csrf,
        new_meter_id=str(site.meter_id(new)), amount="10.00", nonce=new_nonce(),
    )  # fmt: skip
    html = await (await site_client.get(done.headers["Location"])).text()
    assert 'data-state="confirmed"' in html
    assert re.search(r'id="compensation">¥ 40\.00', html)
    assert site.meters[new].remaining == 5000
    account_now = await site.db.read(customers.get_account, account)
    assert account_now.meter_id == site.meter_id(new)
    assert old != new


async def test_replacement_of_a_dead_meter_takes_the_typed_compensation(
    site: Site, site_client: Client
) -> None:
    old, account = await opened(site, amount=4000)
    new, _ = site.meter("money", with_account=False)
    site.meters[old].faults = Faults(silent=True)
    csrf = await cashier(site_client)
    refused = await post(
        site_client, f"/replacements/{account}", csrf,
        new_meter_id=str(site.meter_id(new)), amount="10.00", nonce=new_nonce(),
    )  # fmt: skip
    assert refused.status == 502
    assert "E507" in await refused.text()
    assert site.meters[new].purchase_count == 0
    done = await post(
        site_client, f"/replacements/{account}", csrf, new_meter_id=str(site.meter_id(new)),
        amount="10.00", manual="1", compensation="12.34", nonce=new_nonce(),
    )  # fmt: skip
    html = await (await site_client.get(done.headers["Location"])).text()
    assert "12.34" in html and "手工录入" in html
    assert site.meters[new].remaining == 1234 + 1000


async def test_relay_off_and_on_from_the_customer_page(site: Site, site_client: Client) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    meter_id = site.meter_id(address)
    customer_id = (await site.db.read(customers.get_account, account)).customer_id
    back = f"/customers/{customer_id}"
    off = await post(site_client, f"/meters/{meter_id}/relay", csrf, action="off", back=back)
    assert off.status == 303 and off.headers["Location"] == back
    assert site.meters[address].relay_open
    page = await (await site_client.get(back)).text()
    assert "已拉闸" in page
    on = await post(site_client, f"/meters/{meter_id}/relay", csrf, action="on", back=back)
    assert on.status == 303
    assert not site.meters[address].relay_open
    evil = await post(
        site_client, f"/meters/{meter_id}/relay", csrf, action="on", back="//evil.example"
    )
    assert evil.headers["Location"] == "/"


# ---- the JSON API ---------------------------------------------------------------------------


async def test_api_purchase_is_exactly_once_per_key(site: Site, site_client: Client) -> None:
    address, account = await opened(site)
    csrf = await cashier(site_client)
    body = {"amount": "8.00", "idempotency_key": "pos-terminal-00000001"}
    headers = {"X-CSRF-Token": csrf}
    first = await site_client.post(f"/api/v1/accounts/{account}/purchase", json=body,
                                   headers=headers)  # fmt: skip
    second = await site_client.post(f"/api/v1/accounts/{account}/purchase", json=body,
                                    headers=headers)  # fmt: skip
    a, b = (await first.json())["sale"], (await second.json())["sale"]
    assert first.status == second.status == 200
    assert a["vend_id"] == b["vend_id"] and a["amount"] == "8.00"
    assert (a["repeated"], b["repeated"]) == (False, True)
    assert site.meters[address].remaining == 5800
    vend = await site_client.get(f"/api/v1/vends/{a['vend_id']}")
    assert (await vend.json())["state"] == "confirmed"


async def test_workflow_pages_render_for_a_chosen_account(site: Site, site_client: Client) -> None:
    _, account = await opened(site)
    await cashier(site_client)
    for path in ("/sales/daily", "/refunds", "/replacements/new", "/cards"):
        page = await site_client.get(f"{path}?account={account}")
        html = await page.text()
        assert page.status == 200, path
        assert 'id="frames"' in html and 'id="account"' in html, path
        assert csrf_of(html)
    for path in ("/tools/reset", "/tools/settings-card", "/tools/query", "/tools/relay",
                 "/customers/open", "/monitoring"):  # fmt: skip
        page = await site_client.get(path)
        assert page.status == 200, path


async def test_tools_query_reset_and_relay_over_rs485(site: Site, site_client: Client) -> None:
    address, _ = await opened(site)
    csrf = await cashier(site_client)
    short = address.lstrip("0")  # leading zeros may be left out
    query = await post(site_client, "/tools/query", csrf, address=short)
    assert query.status == 200
    assert "50.00" in await query.text()
    relay = await post(site_client, "/tools/relay", csrf, address=short, action="off")
    assert "已拉闸" in await relay.text()
    assert site.meters[address].relay_open
    reset = await post(site_client, "/tools/reset", csrf, address=short)
    assert f"电表 {address} 已复位清零" in await reset.text()
    meter = site.meters[address]
    assert (meter.remaining, meter.purchase_count, meter.account_opened) == (0, 0, False)
    unknown = await post(site_client, "/tools/query", csrf, address="999999")
    assert unknown.status == 404 and "E304" in await unknown.text()
    bad = await post(site_client, "/tools/query", csrf, address="12ab")
    assert bad.status == 400 and "E606" in await bad.text()


async def test_maintain_and_deregister_a_customer(site: Site, site_client: Client) -> None:
    _, account = site.meter("money", 1)
    assert account is not None
    csrf = await cashier(site_client)
    customer_id = (await site.db.read(customers.get_account, account)).customer_id
    customer = await site.db.read(customers.get_customer, customer_id)
    changed = await post(
        site_client, f"/customers/{customer_id}", csrf,
        number=customer.number, name=customer.name, phone="13911112222",
    )  # fmt: skip
    assert changed.status == 303
    assert (await site.db.read(customers.get_customer, customer_id)).phone == "13911112222"
    gone = await post(site_client, f"/accounts/{account}/deregister", csrf, reason="moved")
    assert gone.status == 303
    closed = await site.db.read(customers.get_account, account)
    assert closed.status is AccountStatus.CLOSED
    page = await (await site_client.get(f"/customers/{customer_id}")).text()
    assert "注销" in page and 'id="meter-actions"' not in page


async def test_api_saves_a_customer_on_a_new_meter_and_opens_it(
    site: Site, site_client: Client
) -> None:
    address, _ = site.meter("money", with_account=False)
    csrf = await cashier(site_client)
    flat = next(p for p in await site.db.read(tariffs.list_types) if "Flat" in p.name)
    headers = {"X-CSRF-Token": csrf}
    saved = await site_client.post(
        "/api/v1/customers",
        json={"number": "400001", "name": "API 用户", "meter_id": site.meter_id(address),
              "price_type_id": flat.id},
        headers=headers,
    )  # fmt: skip
    body = await saved.json()
    assert saved.status == 201 and body["account_id"]
    sold = await site_client.post(
        f"/api/v1/accounts/{body['account_id']}/open-purchase",
        json={"amount": "30.00", "idempotency_key": "api-open-400001-000001"},
        headers=headers,
    )
    assert sold.status == 200 and (await sold.json())["sale"]["state"] == "confirmed"
    assert site.meters[address].remaining == 3000
    account = await site_client.get(f"/api/v1/accounts/{body['account_id']}")
    summary = await account.json()
    assert summary["purchased"] == "30.00" and summary["meter"]["address"] == address
