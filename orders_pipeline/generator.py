"""Seeded, deterministic generator of ODP order events (sample and benchmark data).

The files exercise the rules of docs/semantics.md §1.1, §2, §3 and §5: NDJSON per arrival day (with
blank lines), a few JSON-array files, one single-object `.json` and one `.jsonl`; follow-up
returns, refunds (partial, full, negative), cancels (with and without an amount) and custom
actions; late arrivals and a refund that arrives before its purchase; exact re-sends; a mix of
invalid records; customers known by several emails and phones, and one shop phone shared by
many customers (the over-merge guard).

Money is kept in integer cents and written as JSON numbers with at most two decimals
(`_money`). Events stream out day by day: only the current day's records and the follow-ups
already scheduled for later days are held in memory. Same config gives byte-identical files.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import math
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path
from typing import Any

__all__ = ["SHOP_PHONE", "GenerationStats", "GeneratorConfig", "generate", "main"]

# The shop's own number (Ofcom's drama range), typed in by staff on many customers' orders.
SHOP_PHONE = "+442079460000"

BAD_KINDS = (
    "truncated_json",
    "unsupported_event_type",
    "missing_order_id",
    "empty_order_id",
    "missing_action",
    "amount_as_string",
    "negative_quantity",
    "unparseable_ts",
    "invalid_currency",
    "missing_identifier",
    "missing_amount",
)

CUSTOM_ACTIONS = ("shipped", "delivered", "review_requested", "address_changed")

_DAY = 86_400
_MASK64 = (1 << 64) - 1

# record kinds in the write buffers
_EVENT, _DUP, _BAD, _BAD_RAW = 0, 1, 2, 3
_ARRIVAL = itemgetter(0, 1)

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode

# items per purchase 1..6, mean 2.56
_ITEMS_CUM = (0.30, 0.55, 0.75, 0.88, 0.96, 1.0)
_ITEMS_MEAN = 2.56
_QTY_CUM = (0.80, 0.94, 0.98, 1.0)
# purchases by UTC hour: quiet nights, busy evenings
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 5, 3)
_HOUR_CUM = tuple(
    sum(_HOUR_WEIGHTS[: i + 1]) / sum(_HOUR_WEIGHTS) for i in range(len(_HOUR_WEIGHTS))
)

# (first name, a nickname the same person also uses, ASCII form for email addresses)
_FIRST_NAMES = (
    ("Ann", "Annie", "ann"),
    ("Andrew", "Andy", "andrew"),
    ("Katherine", "Kate", "katherine"),
    ("William", "Bill", "william"),
    ("Elizabeth", "Liz", "elizabeth"),
    ("Robert", "Bob", "robert"),
    ("Margaret", "Maggie", "margaret"),
    ("James", "Jim", "james"),
    ("Jennifer", "Jen", "jennifer"),
    ("Michael", "Mike", "michael"),
    ("Patricia", "Pat", "patricia"),
    ("Daniel", "Dan", "daniel"),
    ("Sophia", "Sophie", "sophia"),
    ("Thomas", "Tom", "thomas"),
    ("Olivia", "Liv", "olivia"),
    ("Benjamin", "Ben", "benjamin"),
    ("Zoë", "Zoe", "zoe"),
    ("José", "Pepe", "jose"),
    ("Chloé", "Chloe", "chloe"),
    ("Søren", "Soren", "soren"),
    ("Priya", "Pri", "priya"),
    ("Mohammed", "Mo", "mohammed"),
    ("Alexander", "Alex", "alexander"),
    ("Isabella", "Bella", "isabella"),
)
_LAST_NAMES = (
    ("Lee", "lee"),
    ("García", "garcia"),
    ("Müller", "muller"),
    ("O'Brien", "obrien"),
    ("Smith", "smith"),
    ("Nguyen", "nguyen"),
    ("Patel", "patel"),
    ("Kowalski", "kowalski"),
    ("Johansson", "johansson"),
    ("Rossi", "rossi"),
    ("Kim", "kim"),
    ("Dubois", "dubois"),
    ("Okafor", "okafor"),
    ("Silva", "silva"),
    ("Brown", "brown"),
    ("Taylor", "taylor"),
    ("Wilson", "wilson"),
    ("Martin", "martin"),
    ("Novak", "novak"),
    ("Haddad", "haddad"),
)
_STREETS = ("Main St", "Oak Ave", "Maple Dr", "High St", "Church Rd", "Elm St", "Park Lane")
_LINE2 = ("", "", "", "Apt 4B", "Suite 200", "Flat 3", "Unit 12")
_US_CITIES = (
    ("Springfield", "IL", "62701"),
    ("Portland", "OR", "97201"),
    ("Austin", "TX", "73301"),
    ("Boston", "MA", "02108"),
    ("Denver", "CO", "80202"),
)
_GB_CITIES = (("London", "", "SW1A 1AA"), ("Manchester", "", "M1 1AE"), ("Leeds", "", "LS1 4AP"))
_US_AREA_CODES = ("212", "305", "312", "415", "503", "512", "617", "720", "206", "404")
_PHONE_MULTIPLIER = 73_453_797  # coprime with 10**8: a bijection on 8-digit numbers
_COUPONS = {10: "SUMMER10", 15: "WELCOME15", 20: "VIP20"}
_CHANNELS = ("web", "web", "app", "store", "phone")
_ISO_OFFSETS = tuple(timezone(timedelta(minutes=m)) for m in (0, 60, 120, -300, -240, 330))

_N_PRODUCTS = 400
_PRICE_DOLLARS = (4, 9, 12, 14, 19, 24, 29, 34, 39, 49, 59, 79, 99, 129, 149, 199)
_PRICE_CENTS = (99, 99, 99, 99, 95, 50, 49, 0)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-spread hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _money(cents: int) -> int | float:
    """A JSON-ready amount: whole units as int, else cents / 100.

    True division of ints is correctly rounded and a double holds 15 significant digits, so
    the float's repr (what `json` writes) is exactly the two-decimal text, e.g. 19.99.
    """
    units, rest = divmod(cents, 100)
    return units if rest == 0 else cents / 100


def _share(part: int, whole: int, amount: int) -> int:
    """`amount` scaled by part / whole, rounded half up, in cents."""
    return (part * amount + whole // 2) // whole if whole else 0


def _tax(subtotal: int) -> int:
    return (subtotal * 8 + 50) // 100


def _products() -> tuple[tuple[str, int], ...]:
    """The catalog, the same for every seed: product id and unit price in cents."""
    catalog = []
    for i in range(_N_PRODUCTS):
        h = _mix64(0x5EED_CA7A_1065 + i)
        dollars = _PRICE_DOLLARS[h % len(_PRICE_DOLLARS)]
        cents = _PRICE_CENTS[(h >> 8) % len(_PRICE_CENTS)]
        catalog.append((f"P{1001 + i}", dollars * 100 + cents))
    return tuple(catalog)


_PRODUCTS = _products()


def product_catalog() -> tuple[tuple[str, int], ...]:
    """The products the generator sells: (product_id, unit price in cents), for every seed."""
    return _PRODUCTS


@dataclass(frozen=True, slots=True)
class _Customer:
    first_name: str
    nickname: str
    last_name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]  # E.164
    customer_id: str | None
    address: str


@functools.lru_cache(maxsize=1 << 16)
def _customer(salt: int, idx: int) -> _Customer:
    """Customer number `idx`, derived from a hash so the pool needs no memory.

    Emails, phones and customer ids embed `idx`, so two customers never share one.
    """
    h = _mix64(salt ^ idx)
    h2 = _mix64(h)
    first, nickname, first_ascii = _FIRST_NAMES[h % len(_FIRST_NAMES)]
    last, last_ascii = _LAST_NAMES[(h >> 8) % len(_LAST_NAMES)]
    roll = (h >> 16) % 100
    n_emails = 1 if roll < 55 else 2 if roll < 85 else 3
    emails = (
        f"{first_ascii}.{last_ascii}{idx}@example.com",
        f"{first_ascii[0]}{last_ascii}{idx}@mail.example.org",
        f"{first_ascii}{idx}.shop@example.net",
    )[:n_emails]
    roll = (h >> 24) % 100
    n_phones = 0 if roll < 35 else 1 if roll < 80 else 2
    in_gb = (h >> 32) % 100 < 40
    phones = []
    for j in range(n_phones):
        digits = ((2 * idx + j) * _PHONE_MULTIPLIER + (salt & 0xFFFFFFF)) % 10**8
        if in_gb and not f"{digits:08d}".startswith("7946"):  # keep clear of SHOP_PHONE
            phones.append(f"+4420{digits:08d}")
        else:
            area = _US_AREA_CODES[digits // 10**7]
            phones.append(f"+1{area}{digits % 10**7:07d}")
    customer_id = f"CUST{idx + 1:07d}" if (h >> 40) % 100 < 45 else None
    street = f"{1 + h2 % 1999} {_STREETS[(h2 >> 12) % len(_STREETS)]}"
    line2 = _LINE2[(h2 >> 20) % len(_LINE2)]
    if in_gb:
        city, state, postcode = _GB_CITIES[(h2 >> 28) % len(_GB_CITIES)]
        country = "GB"
    else:
        city, state, postcode = _US_CITIES[(h2 >> 28) % len(_US_CITIES)]
        country = "US"
    address = f"{street},{line2},{city},{state},{postcode},{country}"
    return _Customer(first, nickname, last, emails, tuple(phones), customer_id, address)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate.

    `line_items` is met exactly. Follow-up rates are fractions of orders; `duplicate_rate`,
    `bad_rate` and `late_rate` fractions of records. Small runs still get every kind of bad
    record, a refund sent before its purchase, preorders and the shop phone on about 100 orders, so
    there the rates are floors. `seed` makes the customers (their names, emails and phones) and
    the draws; a `stream` other than 0 draws other orders from the same customers (the bench's
    next day: not the first extra day's orders again).
    """

    seed: int = 42
    stream: int = 0
    line_items: int = 2500
    start_date: date = date(2026, 6, 1)
    days: int = 90
    customers: int | None = None
    duplicate_rate: float = 0.01
    bad_rate: float = 0.005
    return_rate: float = 0.06
    refund_rate: float = 0.05
    cancel_rate: float = 0.03
    custom_action_rate: float = 0.03
    late_rate: float = 0.02
    files_per_day: int = 1
    currency: str = "USD"

    def __post_init__(self) -> None:
        if self.line_items < 0:
            raise ValueError("line_items must be >= 0")
        if self.days < 1 or self.files_per_day < 1:
            raise ValueError("days and files_per_day must be >= 1")
        if self.customers is not None and self.customers < 1:
            raise ValueError("customers must be >= 1")
        for name in (
            "duplicate_rate",
            "bad_rate",
            "return_rate",
            "refund_rate",
            "cancel_rate",
            "custom_action_rate",
            "late_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise ValueError("currency must be a 3-letter ISO 4217 code")


@dataclass(frozen=True)
class GenerationStats:
    """What `generate` wrote.

    `records` = `events` + `duplicates` + `bad_records`, counted as docs/semantics.md §2 counts
    records; `line_items` are the items on valid purchase events; `orders` the orders
    created by valid events (purchases and order-creating custom actions).
    """

    files: list[str] = field(default_factory=list)
    records: int = 0
    events: int = 0
    duplicates: int = 0
    bad_records: int = 0
    line_items: int = 0
    orders: int = 0


class _Cadence:
    """Spreads a quota of rare cases over a stream of steps, about evenly.

    About max(rate * expected, minimum + 1) hits in `expected` steps (none when rate is 0),
    so that small samples still show every case, but never more than `cap` of the steps.
    """

    def __init__(
        self, rng: random.Random, expected: float, rate: float, minimum: int, cap: float = 0.5
    ) -> None:
        target = max(rate * expected, minimum + 1) if rate > 0 and expected > 0 else 0
        target = min(target, cap * expected)
        self._rng = rng
        self._gap = expected / target if target else math.inf
        self._next = rng.uniform(0, self._gap / 2) if target else math.inf
        self._step = 0

    def hit(self, eligible: bool = True) -> bool:
        """Advance one step; True when a case is due here (a due case waits for eligibility)."""
        self._step += 1
        if self._step < self._next or not eligible:
            return False
        self._next += self._gap * self._rng.uniform(0.8, 1.2)
        return True


def _reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(value)}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


class _Writer:
    """Generates the events day by day and writes each arrival day's files."""

    def __init__(self, out_dir: Path, config: GeneratorConfig) -> None:
        self.out_dir = out_dir
        self.cfg = config
        self.rng = rng = random.Random(
            config.seed if config.stream == 0 else f"{config.seed}/{config.stream}"
        )
        self.salt = _mix64(config.seed & _MASK64)
        self.last_day = config.days - 1
        self.base_epoch = int(
            datetime(
                config.start_date.year,
                config.start_date.month,
                config.start_date.day,
                tzinfo=UTC,
            ).timestamp()
        )
        self.orders_expected = config.line_items / _ITEMS_MEAN
        self.customers = config.customers or max(1, round(self.orders_expected / 2.2))
        followups_per_order = (
            config.return_rate + config.refund_rate + config.cancel_rate + config.custom_action_rate
        )
        self.bad_cadence = _Cadence(
            rng,
            self.orders_expected,
            config.bad_rate * (1 + followups_per_order),
            len(BAD_KINDS),
            cap=1.0,
        )
        self.bad_kinds = list(BAD_KINDS)
        rng.shuffle(self.bad_kinds)
        self.bad_count = 0
        self.preorder_cadence = _Cadence(
            rng, self.orders_expected, 0.004 if config.custom_action_rate else 0, 2, cap=0.05
        )
        self.early_refund_cadence = _Cadence(
            rng,
            self.orders_expected,
            0.0005 if config.refund_rate and config.days > 1 else 0,
            1,
        )
        self.shop_phone_rate = min(0.5, max(0.03, 100 / max(1.0, self.orders_expected)))
        days = config.days
        self.array_days = {days * (2 * k + 1) // 8 for k in range(4)}
        self.jsonl_day = days // 2
        self.single_day = days // 3
        self.pending: dict[int, list[tuple]] = defaultdict(list)
        self.seq = 0
        self.order_no = 0
        self.stats = {"records": 0, "events": 0, "duplicates": 0, "bad": 0, "items": 0}
        self.orders = 0
        self.files: list[str] = []

    # ---- the day loop ----------------------------------------------------------------

    def run(self) -> GenerationStats:
        cfg, rng = self.cfg, self.rng
        weights = []
        for day in range(cfg.days):
            weekday = (cfg.start_date + timedelta(days=day)).weekday()
            w = (1.2 if weekday >= 5 else 1.0) * (1 + 0.25 * day / max(1, cfg.days - 1))
            if day == (2 * cfg.days) // 3:
                w *= 1.8  # a sale day
            weights.append(w * rng.uniform(0.85, 1.15))
        total_weight = sum(weights)
        running = 0.0
        items_done = 0
        for day in range(cfg.days):
            running += weights[day]
            target = (
                cfg.line_items
                if day == self.last_day
                else round(cfg.line_items * running / total_weight)
            )
            while items_done < target:
                items_done += self._new_order(day, target - items_done)
            self._flush(day)
        return GenerationStats(
            files=self.files,
            records=self.stats["records"],
            events=self.stats["events"],
            duplicates=self.stats["duplicates"],
            bad_records=self.stats["bad"],
            line_items=self.stats["items"],
            orders=self.orders,
        )

    def _schedule(self, day: int, arrival_sec: int, kind: int, line: str, items: int = 0) -> None:
        self.seq += 1
        self.pending[day].append((arrival_sec, self.seq, kind, line, items))

    def _emit(
        self, event: dict, ts: int, items: int = 0, arrival_day: int | None = None
    ) -> tuple[str, int, int]:
        """Queue a valid event for the file of its arrival day; returns (line, day, second)."""
        line = _encode(event)
        ts_day = (ts - self.base_epoch) // _DAY
        if arrival_day is None:
            arrival_day = ts_day
            if ts_day < self.last_day and self.rng.random() < self.cfg.late_rate:
                arrival_day = min(self.last_day, ts_day + self.rng.randint(1, 3))
        if arrival_day == ts_day:
            arrival_sec = ts
        else:
            arrival_sec = self.base_epoch + arrival_day * _DAY + self.rng.randrange(_DAY)
        self._schedule(arrival_day, arrival_sec, _EVENT, line, items)
        return line, arrival_day, arrival_sec

    # ---- orders ----------------------------------------------------------------------

    def _new_order(self, day: int, items_left: int) -> int:
        """Create one order (purchase or preorder) and its follow-ups; returns its items."""
        rng = self.rng
        self.order_no += 1
        self.orders += 1
        order_id = f"O{self.order_no:08d}"
        active = max(1, int(self.customers * (0.25 + 0.75 * (day + 1) / self.cfg.days)))
        cust = _customer(self.salt, int(active * rng.random() ** 1.3))
        day_start = self.base_epoch + day * _DAY
        second = (
            bisect.bisect(_HOUR_CUM, rng.random()) * 3600
            + rng.randrange(60) * 60
            + rng.randrange(60)
        )
        ts = day_start + min(second, _DAY - 1)

        if self.preorder_cadence.hit():
            subtotal = rng.randrange(2_000, 30_000)
            tax, shipping = _tax(subtotal), 499
            order = {
                "order_id": order_id,
                "subtotal": _money(subtotal),
                "tax": _money(tax),
                "shipping": _money(shipping),
                "total": _money(subtotal + tax + shipping),
                "currency": self.cfg.currency,
            }
            self._add_names(order, cust)
            self._emit(self._event("preorder", cust, order, ts), ts)
            self._follow_ups(day, ts, order_id, cust, [], subtotal, tax, shipping)
            return 0

        early_refund = self.early_refund_cadence.hit(
            eligible=day < self.last_day and ts - day_start >= 120
        )
        n_items = min(items_left, bisect.bisect(_ITEMS_CUM, rng.random()) + 1)
        bought = []  # (product_id, price, quantity, discount) in cents
        items = []
        subtotal = discount = 0
        coupon = None
        for _ in range(n_items):
            product_id, price = _PRODUCTS[int(_N_PRODUCTS * rng.random() ** 2)]
            quantity = bisect.bisect(_QTY_CUM, rng.random()) + 1
            item_discount = 0
            if rng.random() < 0.12:
                pct = rng.choice((10, 15, 20))
                item_discount = (price * quantity * pct + 50) // 100
                coupon = _COUPONS[pct]
            item_subtotal = price * quantity - item_discount
            item: dict[str, Any] = {
                "product_id": product_id,
                "price": _money(price),
                "quantity": quantity,
            }
            if item_discount or rng.random() < 0.5:
                item["discount"] = _money(item_discount)
            if rng.random() < 0.95:  # else: price × quantity − discount (docs/semantics.md §3)
                item["subtotal"] = _money(item_subtotal)
            if rng.random() < 0.01:  # ODP ignores item custom fields (docs/semantics.md §1.1)
                item["color"] = rng.choice(("red", "blue", "black"))
            items.append(item)
            bought.append((product_id, price, quantity, item_discount))
            subtotal += item_subtotal
            discount += item_discount
        tax = _tax(subtotal)
        free_shipping = subtotal >= 7_500 and rng.random() < 0.8
        shipping = 0 if free_shipping else rng.choice((0, 499, 499, 999))
        order = {"order_id": order_id}
        if rng.random() < 0.97:
            order["total"] = _money(subtotal + tax + shipping)
        if rng.random() < 0.97:
            order["subtotal"] = _money(subtotal)
        order["tax"] = _money(tax)
        order["shipping"] = _money(shipping)
        if discount:
            order["discount"] = _money(discount)
            order["coupon_code"] = coupon
        order["currency"] = self.cfg.currency
        order["bill_address"] = cust.address
        if rng.random() < 0.85:
            order["ship_address"] = cust.address
        else:
            city, state, postcode = rng.choice(_US_CITIES)
            order["ship_address"] = (
                f"{rng.randint(1, 999)} {rng.choice(_STREETS)},,{city},{state},{postcode},US"
            )
        self._add_names(order, cust, nickname_rate=0.03)
        if rng.random() < 0.04:
            order["gift_wrap"] = True
        if rng.random() < 0.25:
            order["channel"] = rng.choice(_CHANNELS)
        shop_phone = rng.random() < self.shop_phone_rate
        event = self._event("purchase", cust, order, ts, shop_phone=shop_phone)
        order["items"] = items

        if early_refund:  # a refund sent before its purchase, which itself arrives late
            late_day = day + rng.randint(1, min(3, self.last_day - day))
            line, arrival_day, arrival_sec = self._emit(event, ts, n_items, late_day)
            amount = max(1, subtotal // 4)
            refund = {
                "order_id": order_id,
                "subtotal": _money(amount),
                "total": _money(amount + _share(amount, subtotal, tax)),
            }
            refund_ts = day_start + rng.randrange(ts - day_start)
            self._emit(self._event("refund", cust, refund, refund_ts), refund_ts, 0, day)
        else:
            line, arrival_day, arrival_sec = self._emit(event, ts, n_items)
            self._follow_ups(day, ts, order_id, cust, bought, subtotal, tax, shipping)
        if self.bad_cadence.hit():
            self._bad_twin(event, arrival_day, arrival_sec, line)
        return n_items

    def _add_names(self, order: dict, cust: _Customer, nickname_rate: float = 0.0) -> None:
        rng = self.rng
        first = cust.nickname if rng.random() < nickname_rate else cust.first_name
        roll = rng.random()
        if roll < 0.9:
            order["first_name"] = first
            order["last_name"] = cust.last_name
            order["name"] = f"{first} {cust.last_name}"
        elif roll < 0.95:
            order["name"] = f"{first} {cust.last_name}"

    def _event(
        self, action: str, cust: _Customer, order: dict, ts: int, shop_phone: bool = False
    ) -> dict:
        """An ODP order event; `ts` as epoch seconds, ISO-8601, top level or in data."""
        rng = self.rng
        identifiers = self._identifiers(cust, order, shop_phone)
        event: dict[str, Any] = {"type": "order", "action": action, "identifiers": identifiers}
        data: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.82:
            data["ts"] = ts
        elif roll < 0.90:
            data["ts"] = self._iso(ts)
        elif roll < 0.95:
            event["ts"] = ts
        elif roll < 0.97:
            event["ts"] = self._iso(ts)
        else:
            data["ts"] = float(f"{ts}.{rng.randrange(1, 1000):03d}")
        data["order"] = order
        event["data"] = data
        return event

    def _iso(self, ts: int) -> str:
        text = datetime.fromtimestamp(ts, self.rng.choice(_ISO_OFFSETS)).isoformat()
        if text.endswith("+00:00") and self.rng.random() < 0.5:
            text = text[:-6] + "Z"
        return text

    def _identifiers(self, cust: _Customer, order: dict, shop_phone: bool) -> dict:
        """A subset (at least one) of the customer's identifiers, spelt as people type them."""
        rng = self.rng
        ids: dict[str, str] = {}
        if rng.random() < 0.85:
            email = cust.emails[0] if rng.random() < 0.6 else rng.choice(cust.emails)
            ids["email"] = self._email_text(email)
        if cust.phones and rng.random() < 0.5:
            ids["phone"] = self._phone_text(rng.choice(cust.phones))
        if cust.customer_id and rng.random() < 0.7:
            ids["customer_id"] = cust.customer_id
        if shop_phone:
            roll = rng.random()
            if roll < 0.15:  # a phone order known only by the shop's number
                ids = {"phone": self._phone_text(SHOP_PHONE)}
            elif roll < 0.7:
                ids["phone"] = self._phone_text(SHOP_PHONE)
            else:
                order["phone"] = self._phone_text(SHOP_PHONE)
        if not ids:
            ids["email"] = self._email_text(cust.emails[0])
        if rng.random() < 0.15:
            order["email"] = self._email_text(rng.choice(cust.emails))
        if cust.phones and "phone" not in order and rng.random() < 0.1:
            order["phone"] = self._phone_text(rng.choice(cust.phones))
        return ids

    def _email_text(self, email: str) -> str:
        roll = self.rng.random()
        if roll >= 0.08:
            return email
        local, domain = email.split("@")
        if roll < 0.03:
            return f"  {local.title()}@{domain.title()} "
        if roll < 0.06:
            return email.upper()
        return f"{local.title()}@{domain}"

    def _phone_text(self, phone: str) -> str:
        roll = self.rng.random()
        if roll < 0.6:
            return phone
        if phone.startswith("+44"):
            area, a, b = phone[3:5], phone[5:9], phone[9:]
            return f"+44 {area} {a} {b}" if roll < 0.85 else f"+44-{area}-{a}-{b}"
        area, a, b = phone[2:5], phone[5:8], phone[8:]
        return f"+1 {area}-{a}-{b}" if roll < 0.85 else f"+1 ({area}) {a}-{b}"

    # ---- follow-ups ------------------------------------------------------------------

    def _follow_ups(
        self,
        day: int,
        ts: int,
        order_id: str,
        cust: _Customer,
        bought: list[tuple[str, int, int, int]],
        subtotal: int,
        tax: int,
        shipping: int,
    ) -> None:
        """Returns, refunds, cancels and custom actions 0–20 days after the purchase."""
        cfg, rng = self.cfg, self.rng
        plans = []
        if bought and rng.random() < cfg.return_rate:
            plans.append((rng.randrange(2 * _DAY, 20 * _DAY), "return"))
        if rng.random() < cfg.refund_rate:
            plans.append((rng.randrange(3600, 20 * _DAY), "refund"))
        if rng.random() < cfg.cancel_rate:
            plans.append((rng.randrange(60, 3 * _DAY), "cancel"))
        if rng.random() < cfg.custom_action_rate:
            for _ in range(rng.choice((1, 1, 2))):
                plans.append((rng.randrange(3600, 20 * _DAY), rng.choice(CUSTOM_ACTIONS)))
        if not plans:
            return
        plans.sort()
        end = self.base_epoch + cfg.days * _DAY
        remaining, tax_left, shipping_left = subtotal, tax, shipping
        returnable = [list(b) for b in bought]  # quantities not yet returned
        cancelled = False
        last_ts = ts
        for offset, action in plans:
            event_ts = max(ts + offset, last_ts + 1)  # one order's events never share a ts
            if event_ts >= end:
                break
            order: dict[str, Any] = {"order_id": order_id}
            if action == "return":
                if cancelled:
                    continue
                amount, items = self._return_items(returnable)
                if not items or amount > remaining:
                    continue
                tax_back = _share(amount, subtotal, tax)
                if rng.random() < 0.7:
                    order["subtotal"] = _money(amount)
                if rng.random() < 0.85:
                    order["total"] = _money(amount + tax_back)
                remaining -= amount
                tax_left = max(0, tax_left - tax_back)
                if rng.random() < 0.3:  # the positive remainder (docs/semantics.md §4.2)
                    order["tax"] = _money(tax_left)
                    order["shipping"] = _money(shipping_left)
                order["items"] = items
            elif action == "refund":
                if cancelled or remaining < 100:
                    continue
                if rng.random() < 0.25:  # refund everything that is left
                    amount = remaining
                    total = amount + tax_left + (shipping_left if remaining == subtotal else 0)
                    tax_left = shipping_left = 0
                else:
                    if rng.random() < 0.3:
                        amount = 100 * rng.randint(1, max(1, remaining * 6 // 1000))
                    else:
                        amount = rng.randint(max(1, remaining // 20), max(1, remaining * 6 // 10))
                    tax_back = _share(amount, subtotal, tax)
                    total = amount + tax_back
                    tax_left = max(0, tax_left - tax_back)
                remaining -= amount
                sign = -1 if rng.random() < 0.2 else 1  # −30 and 30 mean the same (§3)
                order["subtotal"] = _money(sign * amount)
                order["total"] = _money(sign * total)
                if rng.random() < 0.4:
                    order["tax"] = _money(tax_left)
                    order["shipping"] = _money(shipping_left)
            elif action == "cancel":
                if cancelled or remaining <= 0:
                    continue
                if rng.random() < 0.6:  # no amount: cancels the rest (§3)
                    cancelled = True
                    remaining = 0
                else:
                    amount = bought[0][1] * bought[0][2] - bought[0][3] if bought else 0
                    if not 0 < amount < remaining:
                        amount = max(1, remaining // 2)
                    order["subtotal"] = _money(amount)
                    order["total"] = _money(amount + _share(amount, subtotal, tax))
                    remaining -= amount
            elif rng.random() < 0.2:  # a status update restating the order: a pass-through
                order["subtotal"] = _money(subtotal)
                order["total"] = _money(subtotal + tax + shipping)
            if rng.random() < 0.5:
                order["currency"] = cfg.currency
            if rng.random() < 0.1:  # a later, different name: the first one wins (§5)
                order["first_name"] = cust.nickname
                order["name"] = f"{cust.nickname} {cust.last_name}"
            self._emit(self._event(action, cust, order, event_ts), event_ts)
            last_ts = event_ts

    def _return_items(self, returnable: list[list]) -> tuple[int, list[dict]]:
        rng = self.rng
        candidates = [b for b in returnable if b[2] > 0]
        if not candidates:
            return 0, []
        picked = rng.sample(candidates, rng.randint(1, len(candidates)))
        amount = 0
        items = []
        for entry in picked:
            product_id, price, quantity, item_discount = entry
            back = rng.randint(1, quantity)
            back_discount = item_discount * back // quantity
            item_subtotal = price * back - back_discount
            item = {"product_id": product_id, "price": _money(price), "quantity": back}
            if back_discount:
                item["discount"] = _money(back_discount)
            item["subtotal"] = _money(item_subtotal)
            items.append(item)
            entry[2] -= back
            entry[3] -= back_discount
            amount += item_subtotal
        return amount, items

    # ---- invalid records -------------------------------------------------------------

    def _bad_twin(self, event: dict, arrival_day: int, arrival_sec: int, line: str) -> None:
        """A broken version of a purchase, sent next to it (docs/semantics.md §2: quarantine)."""
        rng = self.rng
        kind = self.bad_kinds[self.bad_count % len(self.bad_kinds)]
        self.bad_count += 1
        arrival_sec += rng.randint(-300, 300)
        if kind == "truncated_json":
            cut = rng.randint(10, len(line) - 2)
            self._schedule(arrival_day, arrival_sec, _BAD_RAW, line[:cut])
            return
        bad = json.loads(line)
        data = bad["data"]
        order = data["order"]
        if kind == "unsupported_event_type":
            product = order["items"][0]["product_id"]
            bad = {
                "type": "page_view",
                "identifiers": bad["identifiers"],
                "data": {
                    "ts": data.get("ts", bad.get("ts")),
                    "page": f"/products/{product}",
                    "title": f"Product {product}",
                },
            }
        elif kind == "missing_order_id":
            del order["order_id"]
        elif kind == "empty_order_id":
            order["order_id"] = ""
        elif kind == "missing_action":
            del bad["action"]
        elif kind == "amount_as_string":
            key = "subtotal" if "subtotal" in order else "total" if "total" in order else "tax"
            order[key] = f"{order[key]:.2f}"
        elif kind == "negative_quantity":
            order["items"][0]["quantity"] = -order["items"][0]["quantity"]
        elif kind == "unparseable_ts":
            (data if "ts" in data else bad)["ts"] = "yesterday"
        elif kind == "invalid_currency":
            order["currency"] = rng.choice(("US", "dollars"))
        elif kind == "missing_identifier":
            if rng.random() < 0.5:
                del bad["identifiers"]
            else:
                bad["identifiers"] = {}
            order.pop("email", None)
            order.pop("phone", None)
        else:  # missing_amount: a purchase with no subtotal, total or items
            for key in ("subtotal", "total", "items", "tax", "shipping", "discount"):
                order.pop(key, None)
        self._schedule(arrival_day, arrival_sec, _BAD, _encode(bad))

    # ---- files -----------------------------------------------------------------------

    def _resend(self, line: str) -> str:
        """A re-send with the same parsed JSON: verbatim, keys re-ordered or re-spaced."""
        roll = self.rng.random()
        if roll < 0.4:
            return line
        value = json.loads(line)
        if roll < 0.6:
            return json.dumps(_reordered(value), ensure_ascii=False, separators=(",", ":"))
        if roll < 0.8:
            return json.dumps(value, ensure_ascii=False)
        return json.dumps(_reordered(value))

    def _with_resends(self, day: int, records: list[tuple], same_file: bool) -> list[tuple]:
        """Add duplicates of this file's events, later in the file or in a later day's file."""
        rng, rate = self.rng, self.cfg.duplicate_rate
        if not rate:
            return records
        keyed = [(float(i), rec) for i, rec in enumerate(records)]
        for i, rec in enumerate(records):
            if rec[2] != _EVENT or rng.random() >= rate:
                continue
            line = self._resend(rec[3])
            if same_file and (day == self.last_day or rng.random() < 0.5):
                keyed.append((i + rng.randint(0, 20) + 0.5, (0, 0, _DUP, line, 0)))
            elif day < self.last_day:
                later = min(self.last_day, day + rng.randint(1, 3))
                arrival = self.base_epoch + later * _DAY + rng.randrange(_DAY)
                self._schedule(later, arrival, _DUP, line)
        keyed.sort(key=itemgetter(0))
        return [rec for _, rec in keyed]

    def _flush(self, day: int) -> None:
        """Write the files of one arrival day: main NDJSON, then the occasional extras."""
        rng = self.rng
        records = self.pending.pop(day, [])
        records.sort(key=_ARRIVAL)
        stem = f"odp_events_{(self.cfg.start_date + timedelta(days=day)).isoformat()}"
        # Extras take records from the end of the day and sort after the main files
        # ("." < "_0" < "_a" < "_b" < "_s"), so the arrival order is kept.
        extras = []
        if day == self.single_day and records:
            records, taken = _take_tail(records, 1, allow_raw=False)
            if taken:
                extras.append((f"{stem}_single.json", "single", taken))
        if day in self.array_days and len(records) > 1:
            size = min(len(records) - 1, max(5, min(1000, len(records) // 20)))
            records, taken = _take_tail(records, size, allow_raw=False)
            extras.append((f"{stem}_batch.json", "array", taken))
        if day == self.jsonl_day and len(records) > 1:
            size = max(1, len(records) // 10)
            records, taken = _take_tail(records, size, allow_raw=True)
            extras.append((f"{stem}_app.jsonl", "jsonl", taken))
        parts = self.cfg.files_per_day
        outputs = []
        if parts == 1:
            outputs.append((f"{stem}.ndjson", "ndjson", records))
        else:
            for p in range(parts):
                chunk = records[len(records) * p // parts : len(records) * (p + 1) // parts]
                outputs.append((f"{stem}_{p:02d}.ndjson", "ndjson", chunk))
        outputs.extend(reversed(extras))
        for name, fmt, chunk in outputs:
            if not chunk:
                continue
            chunk = self._with_resends(day, chunk, same_file=fmt != "single")
            lines = [rec[3] for rec in chunk]
            with open(self.out_dir / name, "w", encoding="utf-8", newline="\n") as out:
                if fmt in ("ndjson", "jsonl"):
                    for i, line in enumerate(lines):
                        if rng.random() < 0.003:
                            out.write("\n")  # blank lines are not records (§2)
                        # the .jsonl file ends without a final newline
                        out.write(line if fmt == "jsonl" and i == len(lines) - 1 else line + "\n")
                elif fmt == "array" and rng.random() < 0.5:
                    values = [json.loads(line) for line in lines]
                    out.write(json.dumps(values, ensure_ascii=False, indent=2) + "\n")
                elif fmt == "array":
                    out.write("[\n" + ",\n".join(lines) + "\n]\n")
                else:
                    out.write(json.dumps(json.loads(lines[0]), ensure_ascii=False, indent=2) + "\n")
            self.files.append(name)
            for rec in chunk:
                kind = rec[2]
                if kind == _EVENT:
                    self.stats["events"] += 1
                    self.stats["items"] += rec[4]
                elif kind == _DUP:
                    self.stats["duplicates"] += 1
                else:
                    self.stats["bad"] += 1
            self.stats["records"] += len(chunk)


def _take_tail(records: list[tuple], size: int, allow_raw: bool) -> tuple[list, list]:
    """Split off the last `size` records (skipping non-JSON lines unless `allow_raw`)."""
    if allow_raw:
        return records[:-size], records[-size:]
    taken, skipped = [], []
    i = len(records)
    while i > 0 and len(taken) < size:
        i -= 1
        (skipped if records[i][2] == _BAD_RAW else taken).append(records[i])
    return records[:i] + skipped[::-1], taken[::-1]


def generate(out_dir: Path, config: GeneratorConfig) -> GenerationStats:
    """Write ODP order event files for `config` into `out_dir` and return what was written.

    `out_dir` is created if needed; files of the same names are overwritten, other files are
    left alone. The same config always writes byte-identical files.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Writer(out_dir, config).run()


def main(argv: list[str] | None = None) -> int:
    """Command line: `python -m orders_pipeline.generator OUT_DIR --line-items N ...`."""
    defaults = GeneratorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m orders_pipeline.generator",
        description="Write seeded, deterministic ODP order event files.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the files into")
    parser.add_argument("--line-items", type=int, default=defaults.line_items)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument(
        "--start-date", type=date.fromisoformat, default=defaults.start_date, help="YYYY-MM-DD"
    )
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--files-per-day", type=int, default=defaults.files_per_day)
    args = parser.parse_args(argv)
    config = GeneratorConfig(
        seed=args.seed,
        line_items=args.line_items,
        start_date=args.start_date,
        days=args.days,
        customers=args.customers,
        files_per_day=args.files_per_day,
    )
    started = time.perf_counter()
    stats = generate(args.out_dir, config)
    elapsed = time.perf_counter() - started
    print(f"wrote {len(stats.files)} files to {args.out_dir} in {elapsed:.1f}s")
    for name in ("records", "events", "duplicates", "bad_records", "line_items", "orders"):
        print(f"{name}: {getattr(stats, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
