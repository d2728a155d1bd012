"""Value normalisation: phones, times, amounts, crypto; scalar and column forms agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from forensics import normalize
from forensics.normalize import (
    AMOUNT_DTYPE,
    TIME_DTYPE,
    amount,
    amount_expr,
    btc_address_valid,
    btc_address_valid_expr,
    currency_of,
    currency_of_expr,
    phone_e164,
    phone_e164_expr,
    phone_valid,
    phone_valid_expr,
    to_utc,
    to_utc_expr,
    tx_hash_valid,
    tx_hash_valid_expr,
)

JUNK: list[Any] = [None, "", "   ", "junk", "NULL", "\x00", "+", "-", "١٢٣", "💥" * 40, "a" * 5000,
                   b"bytes", 12, 1.5]


def column(values: list[str | None], expr: pl.Expr) -> list[Any]:
    """The expression applied to a String column 'v' holding values."""
    return pl.DataFrame({"v": values}, schema={"v": pl.String}).select(expr)["v"].to_list()


def counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Replace normalize.<name> by a wrapper that counts its calls; the count list."""
    calls = [0]
    original: Callable[..., Any] = getattr(normalize, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(normalize, name, wrapper)
    return calls


# ---------------------------------------------------------------- phones

@pytest.mark.parametrize("raw, region, expected", [
    ("+44 20 7946 0958", None, "+442079460958"),
    ("+44 (20) 7946-0958", None, "+442079460958"),
    ("(+44) 20 7946 0958", None, "+442079460958"),
    ("+44 (0)20 7946 0958", None, "+442079460958"),
    ("  +44.20.7946.0958  ", None, "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("020 7946 0958", "gb", "+442079460958"),
    ("0044 20 7946 0958", "GB", "+442079460958"),     # 00 = GB's international prefix
    ("0044 20 7946 0958", "DE", "+442079460958"),
    ("011 44 20 7946 0958", "US", "+442079460958"),   # 011 = US's
    ("0044 20 7946 0958", None, None),                # "00" means nothing without a region
    ("020 7946 0958", None, None),
    ("089/123456", "DE", "+4989123456"),
    ("(212) 555-0100", "US", "+12125550100"),
    ('"Bank" <+441234567890>', None, "+441234567890"),
    ("Bank <sip:+441234567890@10.0.0.1>", None, "+441234567890"),
    ("sip:+441234567890@pbx.example;user=phone", None, "+441234567890"),
    ("SIPS:+441234567890@host", None, "+441234567890"),
    ("sip:02079460958@host", "GB", "+442079460958"),
    ("tel:+44-20-7946-0958", None, "+442079460958"),
    ("tel:7946-0958;phone-context=+4420", "GB", None),  # local number: context not guessed
    ("sip:+441234@host", None, None),                   # too short
    ("SIP/1234-0000abcd", "GB", None),                  # Asterisk channel, not a number
    ("PJSIP/trunk-00000001", "GB", None),
    ("Local/100@from-internal-00000002;1", "GB", None),
    ("anonymous", "GB", None),
    ("Restricted", "GB", None),
    ("0800 FLOWERS", "GB", None),                       # letters: never converted
    ("+441234567890x", None, None),
    ("+44 20 7946 0958 ext 12", None, None),
    ("+44+2079460958", None, None),
    ("1234", "GB", None),                               # possible only as a local number
    ("12", "GB", None),
    ("+999 12345", None, None),                         # no such country code
    ("+44 20 7946 0958 0958 0958", None, None),         # too long
])
def test_phone_e164(raw: str | None, region: str | None, expected: str | None) -> None:
    assert phone_e164(raw, region) == expected


def test_phone_possible_kept_and_validity_separate() -> None:
    """An unassigned but possible number (spoofed caller ID) is kept; phone_valid says so."""
    assert phone_e164("+1 555 0100 555", None) == "+15550100555"
    assert phone_valid("+15550100555") is False
    assert phone_valid("+442079460958") is True
    assert phone_valid(None) is None
    assert phone_valid("junk") is False
    assert phone_valid("02079460958") is False  # not E.164


@pytest.mark.parametrize("raw", JUNK)
def test_phone_junk_is_none(raw: Any) -> None:
    assert phone_e164(raw, "GB") is None
    assert phone_e164(raw, None) is None


def test_phone_unknown_region_raises() -> None:
    with pytest.raises(ValueError, match="region"):
        phone_e164("+441234567890", "XX")
    with pytest.raises(ValueError, match="region"):
        phone_e164_expr("v", "United Kingdom")


def test_phone_expr_matches_scalar() -> None:
    values = ["+44 20 7946 0958", "020 7946 0958", None, "SIP/1234-0000abcd", "anonymous",
              "+1 555 0100 555", "", "020 7946 0958", '"X" <sip:+441234567890@h>']
    for region in ("GB", None):
        got = column(values, phone_e164_expr("v", region))
        assert got == [phone_e164(v, region) for v in values]
    e164 = ["+442079460958", "+15550100555", None, "junk"]
    assert column(e164, phone_valid_expr(pl.col("v"))) == [phone_valid(v) for v in e164]


def test_phone_expr_calls_once_per_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "phone_e164")
    frame = pl.DataFrame({"v": [f"+44 20 7946 {i % 1000:04d}" for i in range(1_000_000)]})
    out = frame.select(phone_e164_expr("v", "GB"))["v"]
    assert 0 < calls[0] <= 1_000
    assert out.n_unique() == 1_000 and out[1] == "+442079460001"


def test_phone_expr_on_binary_and_integer_columns() -> None:
    raw = pl.DataFrame({"b": [b"+442079460958", b"\xff\xfe", None], "i": [442079460958, 1, None]})
    out = raw.select(phone_e164_expr("b", None), phone_e164_expr("i", "GB"))
    assert out["b"].to_list() == ["+442079460958", None, None]
    assert out["i"].to_list() == ["+442079460958", None, None]


# ---------------------------------------------------------------- times

def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("raw, expected", [
    ("2024-03-01 12:00:00", utc(2024, 3, 1, 12)),                   # MySQL / Asterisk, GMT
    ("2024-07-01 12:00:00", utc(2024, 7, 1, 11)),                   # BST
    ("2024-07-01T12:00:00", utc(2024, 7, 1, 11)),
    ("2024-07-01T12:00", utc(2024, 7, 1, 11)),
    ("2024-7-1 9:05", utc(2024, 7, 1, 8, 5)),
    ("2024/07/01 12:00:00", utc(2024, 7, 1, 11)),
    ("  2024-07-01 12:00:00\n", utc(2024, 7, 1, 11)),
    ("2024-07-01 12:00:00.5", utc(2024, 7, 1, 11, 0, 0, 500000)),
    ("2024-07-01 12:00:00,25", utc(2024, 7, 1, 11, 0, 0, 250000)),
    ("2024-07-01 12:00:00.123456789", utc(2024, 7, 1, 11, 0, 0, 123456)),  # cut, not rounded
    ("2024-07-01T12:00:00Z", utc(2024, 7, 1, 12)),                  # offset wins over zone
    ("2024-07-01T12:00:00+02:00", utc(2024, 7, 1, 10)),
    ("2024-07-01 12:00:00+0530", utc(2024, 7, 1, 6, 30)),
    ("2024-07-01 12:00:00-05", utc(2024, 7, 1, 17)),                # PostgreSQL timestamptz
    ("2024-07-01 12:00:00 +0100", utc(2024, 7, 1, 11)),
    ("1709294400", utc(2024, 3, 1, 12)),                            # epoch seconds: UTC
    ("1709294400.25", utc(2024, 3, 1, 12, 0, 0, 250000)),
    ("1709294400123", utc(2024, 3, 1, 12, 0, 0, 123000)),           # milliseconds
    ("1709294400123456", utc(2024, 3, 1, 12, 0, 0, 123456)),        # FreeSWITCH uepoch
    ("0000-00-00 00:00:00", None),
    ("0000-00-00", None),
    ("2024-03-01", None),                                           # a date is not a time
    ("2024-02-30 12:00:00", None),
    ("2024-03-01 24:00:00", None),
    ("2024-03-01 12:00:60", None),                                  # leap second
    ("2024-03-01 12:00:00+25:00", None),
    ("0", None),
    ("170929440", None),                                            # 9 digits: not an epoch
    ("-1709294400", None),
    ("01/03/2024 12:00:00", None),                                  # D/M or M/D: not guessed
    ("13/03/2024 12:00:00", None),
    ("2024-03-31 01:30:00", None),                                  # DST gap
    ("2024-10-27 01:30:00", None),                                  # DST fold
    ("9999-12-31 23:59:59-14:00", None),                            # past year 9999 in UTC
    ("Fri Mar  1 12:00:00 2024", None),
])
def test_to_utc(raw: str, expected: datetime | None) -> None:
    assert to_utc(raw, "Europe/London") == expected


@pytest.mark.parametrize("raw", JUNK)
def test_to_utc_junk_is_none(raw: Any) -> None:
    assert to_utc(raw, "Europe/London") is None


def test_to_utc_is_aware_utc() -> None:
    moment = to_utc("2024-07-01 12:00:00", "America/New_York")
    assert moment == utc(2024, 7, 1, 16) and moment is not None and moment.tzinfo is UTC


def test_to_utc_day_first() -> None:
    assert to_utc("01/03/2024 12:00:00", "UTC", day_first=True) == utc(2024, 3, 1, 12)
    assert to_utc("01/03/2024 12:00:00", "UTC", day_first=False) == utc(2024, 1, 3, 12)
    assert to_utc("1.3.2024 12:00", "UTC", day_first=True) == utc(2024, 3, 1, 12)
    assert to_utc("01-03-2024 12:00:00", "UTC", day_first=True) == utc(2024, 3, 1, 12)
    assert to_utc("13/03/2024 12:00:00", "UTC", day_first=False) is None
    assert to_utc("01/03-2024 12:00:00", "UTC", day_first=True) is None    # mixed separators
    assert to_utc("01/03/2024", "UTC", day_first=True) is None


def test_to_utc_dst_choices() -> None:
    fold = "2024-10-27 01:30:00"  # Europe/London: 01:30 BST (00:30Z) then 01:30 GMT (01:30Z)
    assert to_utc(fold, "Europe/London") is None
    assert to_utc(fold, "Europe/London", ambiguous="earliest") == utc(2024, 10, 27, 0, 30)
    assert to_utc(fold, "Europe/London", ambiguous="latest") == utc(2024, 10, 27, 1, 30)
    gap = "2024-03-31 01:30:00"   # clocks went 01:00 GMT -> 02:00 BST
    for ambiguous in ("earliest", "latest", "null"):
        assert to_utc(gap, "Europe/London", ambiguous=ambiguous) is None  # type: ignore[arg-type]
    assert to_utc("2024-03-31 02:00:00", "Europe/London") == utc(2024, 3, 31, 1)


def test_to_utc_unknown_timezone_raises() -> None:
    with pytest.raises(ValueError, match="timezone"):
        to_utc("2024-03-01 12:00:00", "Mars/Olympus")
    with pytest.raises(ValueError, match="timezone"):
        to_utc_expr("v", "Not/AZone")


TIME_MIX = [
    "2024-03-01 12:00:00", "2024-07-01T12:00:00", "2024-07-01 12:00:00.123456789",
    "2024-07-01T12:00:00Z", "2024-07-01 12:00:00+02:00", "2024-07-01 12:00:00+0530",
    "2024-07-01 12:00:00-05", "2024-07-01 12:00:00 +0100", "1709294400", "1709294400123",
    "1709294400123456", "1709294400.25", "0000-00-00 00:00:00", "2024-02-30 12:00:00",
    "2024-03-01 12:00:60", "2024-3-1 9:05", "2024-03-31 01:30:00", "2024-10-27 01:30:00",
    "2024-10-27 01:30:00Z", "01/03/2024 12:00:00", "1/3/2024 12:00", "13/03/2024 12:00:00",
    "31.12.2023 23:59:59", "1899-12-31 23:00:00", "2100-01-01 00:00:00", "0001-01-01 00:00:00",
    "9999-12-31 23:59:59", "2024-07-01T12:00:00z", "2024-07-01", None, "", "junk", "  1709294400 ",
]


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York", "UTC", "Asia/Kolkata"])
@pytest.mark.parametrize("day_first", [None, True, False])
@pytest.mark.parametrize("ambiguous", ["null", "earliest", "latest"])
def test_to_utc_expr_matches_scalar(tz: str, day_first: bool | None, ambiguous: Any) -> None:
    """Polars' fast path and the Python path give the same instant for every value."""
    out = pl.DataFrame({"v": TIME_MIX}, schema={"v": pl.String}).select(
        to_utc_expr("v", tz, day_first=day_first, ambiguous=ambiguous)
    )
    assert out.schema["v"] == TIME_DTYPE
    assert out["v"].to_list() == [to_utc(v, tz, day_first, ambiguous) for v in TIME_MIX]


NAIVE_ONLY = ["2024-03-01 12:00:00", "2024-07-01T12:00:00", "2024-07-01 12:00:00.123456789", "2024-03-31 01:30:00",
              "2024-10-27 01:30:00", "1999-12-31 23:59:59", "2024-03-10 02:30:00", "2024-11-03 01:30:00", None]


@pytest.mark.parametrize("tz", ["Europe/London", "America/New_York"])
@pytest.mark.parametrize("ambiguous", ["null", "earliest", "latest"])
def test_to_utc_expr_local_times_only(tz: str, ambiguous: Any) -> None:
    """A column of local times only (the usual one, read by a shorter path) matches the scalar too."""
    out = pl.DataFrame({"v": NAIVE_ONLY}, schema={"v": pl.String}).select(to_utc_expr("v", tz, ambiguous=ambiguous))
    assert out["v"].to_list() == [to_utc(v, tz, None, ambiguous) for v in NAIVE_ONLY]
    assert out["v"].null_count() > 1  # the gap (and, with "null", the fold) of each zone is None


def test_to_utc_expr_fast_path_skips_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Common shapes never reach the Python function; the rest reach it once per value."""
    calls = counting(monkeypatch, "to_utc")
    values = [f"2024-07-01 12:{i % 60:02d}:00" for i in range(10_000)] + ["1709294400"] * 10
    values += ["2024-07-01T12:00:00Z", "01/03/2024 12:00:00"] * 1_000 + ["odd"] * 500
    got = column(values, to_utc_expr("v", "Europe/London", day_first=True))
    assert calls[0] == 1  # only "odd"
    assert got[0] == utc(2024, 7, 1, 11) and got[10_000] == utc(2024, 3, 1, 12)
    assert got[10_010] == utc(2024, 7, 1, 12) and got[10_011] == utc(2024, 3, 1, 12)
    assert got[-1] is None


def test_to_utc_expr_calls_once_per_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "to_utc")
    frame = pl.DataFrame({"v": [f"{i % 1000}/01/2024 12:00" for i in range(1_000_000)]})
    frame.select(to_utc_expr("v", "UTC", day_first=True))
    assert 0 < calls[0] <= 1_000


def test_to_utc_expr_on_integer_epoch_column() -> None:
    out = pl.DataFrame({"t": [1709294400, None, 5]}).select(to_utc_expr("t", "UTC"))
    assert out["t"].to_list() == [utc(2024, 3, 1, 12), None, None]


# ---------------------------------------------------------------- amounts

@pytest.mark.parametrize("raw, value, currency", [
    ("12.50", "12.50", None),
    ("-0.5", "-0.5", None),
    ("+3", "3", None),
    (".5", "0.5", None),
    ("0", "0", None),
    ("1,234.56", "1234.56", None),
    ("1,234,567", "1234567", None),
    ("1.234,56", "1234.56", None),
    ("1.234.567", "1234567", None),
    ("1.234.567,8", "1234567.8", None),
    ("1234,56", "1234.56", None),              # decimal comma: cannot be thousands
    ("12,5", "12.5", None),
    ("0,123", "0.123", None),                  # a group never starts with 0
    ("1.234", "1.234", None),                  # a lone dot is the decimal point
    ("12.500", "12.500", None),
    ("1,234", None, None),                     # 1234 or 1.234: not guessed
    ("12,345", None, None),
    ("€12.50", "12.50", "EUR"),
    ("12.50 EUR", "12.50", "EUR"),
    ("12.50EUR", "12.50", "EUR"),
    ("USD 12.50", "12.50", "USD"),
    ("usd12.50", "12.50", "USD"),
    ("-€12.50", "-12.50", "EUR"),
    ("€-12.50", "-12.50", "EUR"),
    ("£1,000.00", "1000.00", "GBP"),
    ("12,50 €", "12.50", "EUR"),
    ("US$ 3", "3", "USD"),
    ("$12", "12", None),                       # $ is many currencies
    ("¥500", "500", None),
    ("BTC 0.00123456", "0.00123456", "BTC"),
    ("0.5 XBT", "0.5", "BTC"),
    ("EUR", None, "EUR"),
    ("eur", None, "EUR"),
    ("₿", None, "BTC"),
    ("12.50 FOO", None, None),
    ("12.50 Eur", None, None),                 # mixed case is not a code
    ("EUR 12.50 USD", None, None),
    ("--5", None, None),
    ("-€-5", None, None),
    ("1e5", None, None),
    ("NaN", None, None),
    ("Infinity", None, None),
    ("1 234,56", None, None),
    ("12.50.3", None, None),
    ("1.", None, None),
    ("(12.50)", None, None),
    ("0.000000000000000001", "0.000000000000000001", None),
    ("0.0000000000000000001", None, None),     # 19 decimals: not rounded
    ("1.000000000000000000000", "1", None),    # trailing zeros beyond 18 are dropped
    ("99999999999999999999.5", "99999999999999999999.5", None),
    ("100000000000000000000", None, None),     # 21 integer digits
])
def test_amount_and_currency(raw: str, value: str | None, currency: str | None) -> None:
    assert amount(raw) == (None if value is None else Decimal(value))
    assert currency_of(raw) == currency


def test_amount_is_exact_decimal() -> None:
    result = amount("0.1")
    assert isinstance(result, Decimal) and result == Decimal("0.1") and str(result) == "0.1"
    assert str(amount("12.50")) == "12.50"


@pytest.mark.parametrize("raw", JUNK)
def test_amount_junk_is_none(raw: Any) -> None:
    assert amount(raw) is None
    assert currency_of(raw) is None


def test_amount_expr_matches_scalar() -> None:
    values = ["12.50", "€1,234.56", "1.234,56 EUR", "1,234", None, "", "junk", "-0.5", "$3",
              "0.000000000000000001", "99999999999999999999.5", "12.50", "1.000000000000000000000"]
    out = pl.DataFrame({"v": values}).select(amount_expr("v").alias("a"), currency_of_expr("v"))
    assert out.schema["a"] == AMOUNT_DTYPE
    assert out["a"].to_list() == [amount(v) for v in values]
    assert out["v"].to_list() == [currency_of(v) for v in values]


def test_amount_expr_plain_decimals_skip_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain decimals are cast by Polars, to the same value as `amount` gives; the rest reach it once each."""
    plain = ["0", "-0", "+3", "007.10", "1.234", "12345678901234567890.123456789012345678", "-0.000000000000000001",
             "99999999999999999999.999999999999999999", "1.5", "-42"]
    other = ["1.0000000000000000000", "000000000000000000001", "1,234.5", " 1.5", "1.", ".5", "1e3", "٣"]
    expected = [amount(v) for v in plain + other]
    calls = counting(monkeypatch, "amount")
    out = pl.DataFrame({"v": (plain + other) * 3}).select(amount_expr("v"))["v"].to_list()
    assert out == expected * 3
    assert calls[0] == len(other)


def test_amount_expr_calls_once_per_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "amount")
    frame = pl.DataFrame({"v": [f"{i % 1000}.50 EUR" for i in range(1_000_000)]})
    out = frame.select(amount_expr("v"))["v"]
    assert 0 < calls[0] <= 1_000
    assert out[999] == Decimal("999.5")


# ---------------------------------------------------------------- crypto

BTC_VALID = [
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",                                    # P2PKH
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",                                    # P2SH
    "1111111111111111111114oLvT2",                                           # burn address
    "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",                                    # testnet P2PKH
    "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc",                                   # testnet P2SH
    # BIP-350 valid segwit addresses (v0 bech32, v1-v16 bech32m)
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
    "BC1SW50QGDZ25J",
    "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
    "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
]

BTC_INVALID = [
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",            # one character changed
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVn2",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz",
    "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNL",             # one character short
    "4J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
    "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN0",            # 0 is not base58
    " 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",           # the address alone, no spaces
    "LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9",            # Litecoin: not a Bitcoin version byte
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",    # BIP-173: invalid checksum
    "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",    # invalid human-readable part
    "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",    # invalid witness version
    "bc1rw5uspcuh",                                  # invalid program length
    "bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90",
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7",  # mixed case
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",         # zero padding of more than 4 bits
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv",  # non-zero padding
    # BIP-350 invalid segwit addresses
    "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut",
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # bech32, not bech32m
    "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf",
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",    # bech32m, not bech32
    "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47",
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # 'o' in checksum
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
    "bc1pw5dgrnzv",                                  # 1-byte program
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",  # 41 bytes
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",          # v0 program of 16 bytes
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
    "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j",
    "bc1gmk9yu",                                     # empty data section
    "a12uel5l",                                      # valid bech32, not an address
    "bc1",
    "1",
]


@pytest.mark.parametrize("address", BTC_VALID)
def test_btc_address_valid(address: str) -> None:
    assert btc_address_valid(address) is True


@pytest.mark.parametrize("address", BTC_INVALID)
def test_btc_address_invalid(address: str) -> None:
    assert btc_address_valid(address) is False


@pytest.mark.parametrize("address", BTC_VALID)
def test_btc_address_one_character_changed(address: str) -> None:
    """Every single-character substitution somewhere in the middle is caught."""
    middle = len(address) // 2
    for i in (middle, middle + 1, len(address) - 1):
        char = address[i]
        swap = "x" if char.lower() != "x" else "z"
        swap = swap.upper() if address.isupper() else swap
        assert btc_address_valid(address[:i] + swap + address[i + 1:]) is False


@pytest.mark.parametrize("raw", JUNK)
def test_btc_junk(raw: Any) -> None:
    assert btc_address_valid(raw) is (None if raw is None else False)
    assert tx_hash_valid(raw) is (None if raw is None else False)


def test_tx_hash_valid() -> None:
    good = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert tx_hash_valid(good) is True
    assert tx_hash_valid(good.upper()) is True
    assert tx_hash_valid(good[:-1]) is False
    assert tx_hash_valid(good + "0") is False
    assert tx_hash_valid(good[:-1] + "g") is False
    assert tx_hash_valid("0x" + good[2:]) is False
    assert tx_hash_valid(good + "\n") is False
    assert tx_hash_valid(None) is None


def test_crypto_exprs_match_scalar() -> None:
    good = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    values = BTC_VALID + BTC_INVALID + [None, "", good, good + "\n", good.upper(), "é" * 64]
    out = pl.DataFrame({"v": values}).select(
        btc_address_valid_expr("v").alias("a"), tx_hash_valid_expr(pl.col("v")).alias("t")
    )
    assert out["a"].to_list() == [btc_address_valid(v) for v in values]
    assert out["t"].to_list() == [tx_hash_valid(v) for v in values]


def test_btc_expr_calls_once_per_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting(monkeypatch, "btc_address_valid")
    values = BTC_VALID + BTC_INVALID
    frame = pl.DataFrame({"v": [values[i % len(values)] for i in range(1_000_000)]})
    out = frame.select(btc_address_valid_expr("v"))["v"]
    assert 0 < calls[0] <= len(values)
    assert out.sum() == 1_000_000 // len(values) * len(BTC_VALID) + min(
        1_000_000 % len(values), len(BTC_VALID))


def test_lazy_frames_work() -> None:
    """The expressions run inside a lazy query like the plugins write."""
    lazy = pl.LazyFrame({"p": ["020 7946 0958"], "t": ["2024-07-01 12:00:00"], "a": ["€3"]})
    out = lazy.select(
        phone_e164_expr("p", "GB"), to_utc_expr("t", "Europe/London"), amount_expr("a"),
        currency_of_expr(pl.col("a")).alias("c"),
    ).collect()
    assert out.row(0) == ("+442079460958", utc(2024, 7, 1, 11), Decimal("3"), "EUR")


def test_the_column_form_of_phone_e164_gives_what_each_value_gives() -> None:
    """Numbers looked up by their bare digits, and remembered, come out as phone_e164 gives them one by one."""
    import random

    from forensics.normalize import phone_e164, phone_e164_expr

    rng = random.Random(7)
    digits = ["02079460000", "+442079460018", "07700900123", "+12125550142", "2125550142", "0044 20 7946 0000",
              "011 44 20 7946 0000", "+49 30 123456", "12", "0", "+", "999", "+44 0 20 7946 0000"]
    values: list[str | None] = [None, "", " ", "-", "--1", "1-800-FLOWERS", "(020) 7946 0000", "+44 (0)20 7946 0000"]
    for number in digits:
        for _ in range(6):
            spaced = "".join(ch + rng.choice(["", "", " ", "-", "  "]) for ch in number)
            values.append(rng.choice(["", " "]) + spaced + rng.choice(["", " "]))
    for region in ("GB", "US", None):
        got = pl.DataFrame({"n": values}).select(phone_e164_expr("n", region)).to_series().to_list()
        assert got == [phone_e164(v, region) for v in values], region
