"""Value normalisation for the canonical tables: phone numbers, times, amounts, crypto.

Every function here takes the source's raw text and gives the normalised value, or None
when the text cannot be normalised without guessing; it never raises on bad data (only on
a wrong argument such as an unknown region or timezone, which is the caller's mistake).
The raw text is kept beside the normalised column by the caller, so a None loses nothing.

Each scalar function has a Polars wrapper (``*_expr``) that applies it to a whole column.
The wrappers call Python once per *distinct* value and map the results back, so a column
of 10 million calls with 100,000 distinct numbers costs 100,000 calls; times also take a
vectorised path through Polars' own parser for the common formats first.

Decisions (see each docstring):

- phones: E.164 when libphonenumber says the number is *possible* (right length for its
  country), not only when it is *valid* (assigned): spoofed caller IDs may be unassigned.
  ``phone_valid`` tells the two apart.
- times: D/M/Y versus M/D/Y is never guessed (``day_first``); a naive time that falls in a
  DST gap is null; one in a DST fold is null unless ``ambiguous`` says which to take.
- amounts: exact Decimals; a lone comma is a decimal comma only where it cannot be a
  thousands separator ("12,50" yes, "1,234" no: null); columns are Decimal(38, 18).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import polars as pl

__all__ = [
    "AMOUNT_DTYPE",
    "TIME_DTYPE",
    "amount",
    "amount_expr",
    "btc_address_valid",
    "btc_address_valid_expr",
    "currency_of",
    "currency_of_expr",
    "phone_e164",
    "phone_e164_expr",
    "phone_valid",
    "phone_valid_expr",
    "to_utc",
    "to_utc_expr",
    "tx_hash_valid",
    "tx_hash_valid_expr",
]

Column = str | pl.Expr
Ambiguous = Literal["earliest", "latest", "null"]

TIME_DTYPE = pl.Datetime("us", "UTC")
AMOUNT_DTYPE = pl.Decimal(38, 18)
_AMOUNT_SCALE = 18
_AMOUNT_INT_DIGITS = 38 - _AMOUNT_SCALE


# ---------------------------------------------------------------- column plumbing


def _col(column: Column) -> pl.Expr:
    """The expression for a column given by name or as an expression."""
    return pl.col(column) if isinstance(column, str) else column


def _decode(value: bytes) -> str | None:
    """Bytes as UTF-8 text, or None when they are not UTF-8."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _as_text(series: pl.Series) -> pl.Series:
    """A column as text: Binary decoded as UTF-8 (null where it is not), numbers cast."""
    if series.dtype == pl.String:
        return series
    if series.dtype == pl.Binary:
        distinct = series.unique().drop_nulls()
        decoded = pl.Series([_decode(v) for v in distinct.to_list()], dtype=pl.String)
        return series.replace_strict(distinct, decoded, default=None, return_dtype=pl.String)
    return series.cast(pl.String)


def _map_distinct(series: pl.Series, func: Callable[[str], Any], dtype: pl.DataType) -> pl.Series:
    """Apply func once per distinct non-null value of a text column and map results back."""
    distinct = series.unique().drop_nulls()
    results = pl.Series([func(v) for v in distinct.to_list()], dtype=dtype)
    return series.replace_strict(distinct, results, default=None, return_dtype=dtype)


def _text_expr(column: Column, func: Callable[[str], Any], dtype: pl.DataType) -> pl.Expr:
    """An expression applying func (looked up at run time) to each distinct value as text."""
    return _col(column).map_batches(
        lambda s: _map_distinct(_as_text(s), func, dtype), return_dtype=dtype
    )


# ---------------------------------------------------------------- phone numbers

_NAME_ADDR = re.compile(r'\s*(?:"[^"]*"|[^<>"]*?)\s*<([^<>]*)>\s*')
_URI = re.compile(r"(?i)(sips?|tel):(.*)")
_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9_]*/.*")
_DIALLED = re.compile(r"\(?\+?[\d\s().\-/]+")


def _check_region(region: str | None) -> str | None:
    """The region upper-cased, or ValueError when libphonenumber does not know it."""
    if region is None:
        return None
    upper = region.upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {region!r} (want ISO 3166 alpha-2 like 'GB')")
    return upper


def _dialled_part(raw: str) -> str | None:
    """The number inside SIP/tel decorations, or None for a channel name or URI context."""
    text = raw.strip()
    name_addr = _NAME_ADDR.fullmatch(text)
    if name_addr:
        text = name_addr.group(1).strip()
    uri = _URI.fullmatch(text)
    if uri:
        scheme, rest = uri.group(1).lower(), uri.group(2)
        if scheme.startswith("sip"):
            rest = rest.split("@", 1)[0]
        rest, _, params = rest.partition(";")
        if "phone-context" in params.lower():
            return None  # a local number whose context we would have to guess
        text = rest.strip()
    if _CHANNEL.fullmatch(text):
        return None  # Asterisk channel such as SIP/1234-0000abcd: a peer, not a number
    return text if _DIALLED.fullmatch(text) else None


def phone_e164(raw: str | None, region: str | None) -> str | None:
    """E.164 ('+441234567890') when libphonenumber finds a *possible* number, else None.

    `region` (ISO 3166 alpha-2, e.g. "GB") is the default for numbers written without a
    country code; it also makes national prefixes ("020 ...") and that region's
    international prefix ("00 44 ...", "011 44 ..." for US) work. Without a region only
    numbers written with "+" parse ("0044..." is None: which prefix "00" is depends on the
    region). Accepts spaces, dashes, dots, slashes and parentheses, a SIP display name
    ('"Bank" <+441234567890>') and sip:/sips:/tel: URIs. None for anything with letters
    (vanity numbers, extensions, 'anonymous'), Asterisk channel names ('SIP/1234-00ab'),
    tel: URIs with a phone-context, and numbers libphonenumber only calls possible as a
    local number (without the area code). Possible, not valid: spoofed caller IDs are often
    unassigned numbers and must still be kept; use `phone_valid` to tell them apart.
    An unknown region raises ValueError.
    """
    region = _check_region(region)
    if not isinstance(raw, str):
        return None
    text = _dialled_part(raw)
    if text is None:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE or number.extension:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_valid(e164: str | None) -> bool | None:
    """Whether an E.164 number is in an assigned range (libphonenumber); None for None."""
    if e164 is None:
        return None
    if not isinstance(e164, str) or not e164.startswith("+"):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return False


# Digits with spaces or hyphens between them (and a leading +): libphonenumber reads them as the
# bare digits, so "020 7946 0000" and "02079460000" are parsed once, as one distinct value.
_PLAIN_NUMBER = re.compile(r"\+?[0-9][0-9 \-]*")


@functools.lru_cache(maxsize=1 << 20)
def _phone_e164_cached(text: str, region: str | None) -> str | None:
    return phone_e164(text, region)


def _phone_key(text: str) -> str:
    """The text libphonenumber is asked about: a plain number without its spaces and hyphens."""
    return text.replace(" ", "").replace("-", "") if _PLAIN_NUMBER.fullmatch(text) else text


def phone_e164_expr(column: Column, region: str | None) -> pl.Expr:
    """`phone_e164` over a column (String), one call per distinct number.

    Numbers written as digits with spaces or hyphens are looked up by their bare digits,
    and results are remembered for the run, so a number met in several tables, columns or
    layouts is parsed once: the cost follows the distinct numbers, not the rows.
    """
    region = _check_region(region)
    return _col(column).map_batches(
        lambda s: _map_distinct(_as_text(s), lambda v: _phone_e164_cached(_phone_key(v), region), pl.String),
        return_dtype=pl.String,
    )


def phone_valid_expr(column: Column) -> pl.Expr:
    """`phone_valid` over a column of E.164 numbers (Boolean), one call per distinct value."""
    return _text_expr(column, lambda v: phone_valid(v), pl.Boolean)


# ---------------------------------------------------------------- times

_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
_ISO = re.compile(
    r"(\d{4})([-/])(\d{1,2})\2(\d{1,2})[T ]" + _TIME + r"(?:\s*(Z|[+-]\d{2}(?::?\d{2})?))?",
    re.ASCII,
)
_DMY = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}) " + _TIME, re.ASCII)
_EPOCH = re.compile(r"(\d{10})(?:\.(\d{1,6}))?|(\d{13})|(\d{16})", re.ASCII)
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)

# The vectorised path of to_utc_expr handles exactly these shapes; everything else goes to
# to_utc itself. Years are 1900-2099 so that Polars' and Python's time-zone databases are
# only asked about the modern era, where they agree.
_FAST_DATE = r"(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_FAST_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_FAST_NAIVE = rf"^{_FAST_DATE}[ T]{_FAST_TIME}$"
_FAST_AWARE = rf"^{_FAST_DATE}[ T]{_FAST_TIME}(?:Z|[+-](?:0[0-9]|1[0-4])(?::?[0-5][0-9])?)$"
_FAST_DMY = r"^([0-9]{2})SEP([0-9]{2})SEP([0-9]{4}) (" + _FAST_TIME + r")$"


def _zone(timezone_name: str) -> ZoneInfo:
    """The IANA zone of that name, or ValueError."""
    try:
        return ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {timezone_name!r} (want IANA like 'Europe/London')") \
            from exc


def _micro(fraction: str | None) -> int:
    """Microseconds from the digits after the decimal point (cut, not rounded, at 6)."""
    return int((fraction or "").ljust(6, "0")[:6])


def _offset(text: str) -> timezone:
    """A fixed offset from 'Z', '+05', '+0530' or '+05:30'."""
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return timezone(-delta if text[0] == "-" else delta)


def _localise(naive: datetime, zone: ZoneInfo, ambiguous: Ambiguous) -> datetime | None:
    """A naive wall time in zone as UTC: None in a DST gap, `ambiguous` decides in a fold."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None  # the clocks jumped over this wall time: it never happened
    if ambiguous == "earliest":
        return first.astimezone(UTC)
    if ambiguous == "latest":
        return second.astimezone(UTC)
    return None


def _epoch(match: re.Match[str]) -> datetime:
    """UTC time of an epoch match: 10 digits (+fraction) s, 13 digits ms, 16 digits us."""
    seconds, fraction, millis, micros = match.groups()
    if seconds is not None:
        total = int(seconds) * 1_000_000 + _micro(fraction)
    elif millis is not None:
        total = int(millis) * 1_000
    else:
        total = int(micros)
    return _EPOCH_START + timedelta(microseconds=total)


def to_utc(raw: str | None, timezone: str, day_first: bool | None = None,
           ambiguous: Ambiguous = "null") -> datetime | None:
    """An aware UTC datetime from a source's time text, or None when it cannot be read.

    Reads ISO 8601 / MySQL / Asterisk / FreeSWITCH forms 'YYYY-MM-DD[T ]HH:MM[:SS[.f]]'
    (also with '/' between date parts, ',' before the fraction, which is cut to
    microseconds), with 'Z' or an offset ('+01', '+0100', '+01:00'; it wins over
    `timezone`); Unix epoch as 10 digits (seconds, optionally '.ffffff'), 13 digits
    (milliseconds) or 16 digits (microseconds, FreeSWITCH *_uepoch). 'DD/MM/YYYY HH:MM[:SS]'
    (or with '.' or '-') is read only when `day_first` says True (D/M/Y) or False (M/D/Y):
    left None it is None, never guessed. Dates without a time, zero dates
    ('0000-00-00 00:00:00'), impossible dates and leap seconds are None. A naive time is
    local to `timezone` (IANA, e.g. 'Europe/London'): in a DST gap (clocks jumped over it)
    it is None; in a DST fold (it happened twice) it is None unless `ambiguous` is
    'earliest' or 'latest'. An unknown timezone raises ValueError.
    """
    zone = _zone(timezone)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    try:
        epoch = _EPOCH.fullmatch(text)
        if epoch:
            return _epoch(epoch)
        iso = _ISO.fullmatch(text)
        if iso:
            year, _, month, day, hour, minute, second, fraction, offset = iso.groups()
        else:
            dmy = _DMY.fullmatch(text)
            if dmy is None or day_first is None:
                return None
            first, _, other, year, hour, minute, second, fraction = dmy.groups()
            day, month = (first, other) if day_first else (other, first)
            offset = None
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), _micro(fraction))
        if offset is not None:
            return moment.replace(tzinfo=_offset(offset)).astimezone(UTC)
        return _localise(moment, zone, ambiguous)
    except (ValueError, OverflowError):
        return None


def _fast_times(text: pl.Series, timezone: str, day_first: bool | None,
                ambiguous: Ambiguous) -> tuple[pl.Series, pl.Series]:
    """Times for the common shapes by Polars' parser, and a mask of the values it handled."""
    iso = text
    if day_first is not None:
        order = "${3}-${2}-${1} ${4}" if day_first else "${3}-${1}-${2} ${4}"
        for sep in ("/", r"\.", "-"):
            iso = iso.str.replace(_FAST_DMY.replace("SEP", sep), order)
    frame = pl.DataFrame({"t": iso}).with_columns(
        pl.col("t").str.contains(_FAST_NAIVE).fill_null(False).alias("naive"),
        pl.col("t").str.replace("T", " ", literal=True).alias("spaced"))  # one separator for both parsers
    frame = frame.with_columns(_local_times(frame["spaced"], frame["naive"]).alias("local"))
    t, naive, spaced = pl.col("t"), pl.col("naive"), pl.col("spaced")
    local = pl.col("local").dt.replace_time_zone(timezone, ambiguous=ambiguous, non_existent="null").dt.convert_time_zone("UTC")
    if frame["naive"].sum() == len(text) - text.null_count():  # the usual column: every value local time
        out = frame.select(pl.when(naive).then(local).otherwise(None).alias("time"))
        return out["time"], frame["naive"].alias("handled")
    aware = t.str.contains(_FAST_AWARE)
    epoch = t.str.contains(r"^(?:[0-9]{10}|[0-9]{13}|[0-9]{16})$")
    offset = (
        spaced.str.replace(r"Z$", "+00:00").str.replace(r"([+-][0-9]{2})$", "${1}:00")
        .str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S%.f%z", strict=False)
    )
    digits = t.str.len_bytes()
    scale = pl.when(digits == 10).then(1_000_000).when(digits == 13).then(1_000).otherwise(1)
    since_epoch = (
        (pl.when(epoch).then(t).cast(pl.Int64, strict=False) * scale).cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )
    out = frame.select(
        pl.when(naive).then(local).when(aware).then(offset).when(epoch).then(since_epoch)
        .otherwise(None).alias("time"),
        (naive | aware | epoch).fill_null(False).alias("handled"),
    )
    return out["time"], out["handled"]


def _local_times(spaced: pl.Series, naive: pl.Series) -> pl.Series:
    """The naive times (as _FAST_NAIVE matches them, with a space for the T) parsed, without a
    time zone; null elsewhere.

    Whole seconds go through Polars' quick parser for that one format (about 3.5 times
    faster than the general parser a fraction needs); only what it leaves null is parsed
    again with fractions of a second.
    """
    parsed = spaced.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    again = naive & parsed.is_null()  # fractions of a second, and days that do not exist
    if again.any():
        fractions = spaced.filter(again).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
        parsed = parsed.scatter(again.arg_true(), fractions)
    return parsed


def _times(series: pl.Series, timezone: str, day_first: bool | None,
           ambiguous: Ambiguous) -> pl.Series:
    """to_utc over a Series: Polars' parser where it can, to_utc per distinct value elsewhere."""
    text = _as_text(series).str.strip_chars()
    fast, handled = _fast_times(text, timezone, day_first, ambiguous)
    merged = _with_the_rest(fast, handled, text, lambda v: to_utc(v, timezone, day_first, ambiguous), TIME_DTYPE)
    return merged.alias(series.name)


def _with_the_rest(fast: pl.Series, handled: pl.Series, text: pl.Series, func: Callable[[str], Any],
                   dtype: pl.DataType) -> pl.Series:
    """fast where handled is true; elsewhere func applied to text, once per distinct value."""
    rest = text.filter(~handled)
    if not len(rest):
        return fast
    return fast.scatter((~handled).arg_true(), _map_distinct(rest, func, dtype))


def to_utc_expr(column: Column, timezone: str, day_first: bool | None = None,
                ambiguous: Ambiguous = "null") -> pl.Expr:
    """`to_utc` over a column, as Datetime('us', 'UTC'); common shapes parsed by Polars."""
    _zone(timezone)
    return _col(column).map_batches(
        lambda s: _times(s, timezone, day_first, ambiguous), return_dtype=TIME_DTYPE
    )


# ---------------------------------------------------------------- amounts

# Active ISO 4217 codes, a few common withdrawn ones that old dumps still hold, and the
# crypto tickers these cases meet (not ISO 4217, but what the payments table needs).
_ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
VED VES VND VUV WST XAF XAG XAU XCD XCG XDR XOF XPD XPF XPT YER ZAR ZMW ZWG ZWL
BYR EEK HRK LTL LVL MRO SKK STD VEF ZMK
""".split())
_CRYPTO = {"BTC": "BTC", "XBT": "BTC", "ETH": "ETH", "LTC": "LTC", "BCH": "BCH",
           "XMR": "XMR", "USDT": "USDT", "USDC": "USDC"}
_CODES = {code: code for code in _ISO_4217} | _CRYPTO
# Symbols that name one currency; "$", "¥", "kr" and the like name several: None.
_SYMBOLS = {"€": "EUR", "£": "GBP", "₹": "INR", "₽": "RUB", "₺": "TRY", "₩": "KRW",
            "₪": "ILS", "₴": "UAH", "₫": "VND", "₦": "NGN", "₱": "PHP", "₿": "BTC",
            "US$": "USD", "R$": "BRL", "A$": "AUD", "C$": "CAD", "NZ$": "NZD", "HK$": "HKD"}
_AMBIGUOUS_SYMBOLS = {"$", "¥"}

_SYMBOL = "|".join(re.escape(s) for s in sorted(_SYMBOLS.keys() | _AMBIGUOUS_SYMBOLS,
                                               key=len, reverse=True))
_CUR = rf"(?:[A-Z]{{3,4}}|[a-z]{{3,4}}|{_SYMBOL})"
_MONEY = re.compile(
    rf"(?P<s1>[+-])?\s*(?:(?P<pre>{_CUR})\s*)?(?P<s2>[+-])?(?P<num>[0-9.,]+)?"
    rf"(?:\s*(?P<post>{_CUR}))?"
)
# A number read the English way (',' groups thousands, '.' is the decimal point) and the
# continental way ('.' groups, ',' is the decimal comma; a lone '.' is never read so:
# dumps write "12.500" for twelve and a half).
_ENGLISH = re.compile(r"(?:\d+|[1-9]\d{0,2}(?:,\d{3})+)(?:\.\d+)?|\.\d+", re.ASCII)
_CONTINENTAL = re.compile(
    r"[1-9]\d{0,2}(?:\.\d{3})+,\d+|[1-9]\d{0,2}(?:\.\d{3}){2,}|\d+,\d+", re.ASCII
)


def _money(raw: str | None) -> tuple[str | None, str | None] | None:
    """(number text, currency token) of an amount text, or None when it is not one."""
    if not isinstance(raw, str):
        return None
    match = _MONEY.fullmatch(raw.strip())
    if match is None or (match["pre"] and match["post"]) or (match["s1"] and match["s2"]):
        return None
    token = match["pre"] or match["post"]
    if token and token not in _SYMBOLS and token not in _AMBIGUOUS_SYMBOLS \
            and token.upper() not in _CODES:
        return None
    number = match["num"]
    if number is not None:
        number = (match["s1"] or match["s2"] or "") + number
    elif match["s1"] or match["s2"]:
        return None
    return number, token


def _plain_number(number: str) -> str | None:
    """The number as 'digits.digits' with one reading of its separators, else None."""
    sign, digits = (number[0], number[1:]) if number[0] in "+-" else ("", number)
    readings = set()
    if _ENGLISH.fullmatch(digits):
        readings.add(digits.replace(",", ""))
    if _CONTINENTAL.fullmatch(digits):
        readings.add(digits.replace(".", "").replace(",", "."))
    values = {Decimal(r) for r in readings}
    return sign + readings.pop() if len(values) == 1 else None


def amount(raw: str | None) -> Decimal | None:
    """The exact Decimal of an amount text ('€1,234.56', '12,50 EUR', '-0.5'), else None.

    One optional sign and one optional currency (ISO code or symbol, before or after).
    Separators: '1,234.56' and '1.234,56' are read; a lone '.' is always the decimal point
    ('1.234' is 1.234, as dumps write it); a lone ',' is a decimal comma only where it
    cannot be a thousands separator ('12,50', '0,123', '1234,5'), so '1,234' is None
    (1234 or 1.234?). No exponents, spaces inside the number, NaN or infinity. Values
    that do not fit Decimal(38, 18) exactly (over 18 decimals or 20 integer digits after
    dropping trailing zeros) are None rather than rounded.
    """
    money = _money(raw)
    if money is None or money[0] is None:
        return None
    plain = _plain_number(money[0])
    if plain is None:
        return None
    whole, _, fraction = plain.lstrip("+-").partition(".")
    if len(fraction.rstrip("0")) > _AMOUNT_SCALE or len(whole.lstrip("0")) > _AMOUNT_INT_DIGITS:
        return None
    if len(fraction) > _AMOUNT_SCALE:  # only zeros beyond the 18th decimal: drop them
        plain = plain[: len(plain) - (len(fraction) - _AMOUNT_SCALE)]
    try:
        return Decimal(plain)
    except InvalidOperation:
        return None


def currency_of(raw: str | None) -> str | None:
    """The currency code ('EUR') named in an amount or currency text, else None.

    Reads an ISO 4217 code (upper or lower case; a few withdrawn codes too) or a symbol
    that names one currency (€ £ ₹ ₽ ₺ ₩ ₪ ₴ ₫ ₦ ₱ ₿ US$ R$ A$ C$ NZ$ HK$), alone or
    beside a number, plus the crypto tickers BTC (XBT too), ETH, LTC, BCH, XMR, USDT,
    USDC. '$' and '¥' name several currencies: None.
    """
    money = _money(raw)
    if money is None or money[1] is None:
        return None
    token = money[1]
    if token in _SYMBOLS:
        return _SYMBOLS[token]
    return _CODES.get(token.upper())


# Plain decimals that fit Decimal(38, 18): Polars' cast reads them exactly as `amount` does.
_FAST_AMOUNT = r"^[+-]?[0-9]{1,20}(?:\.[0-9]{1,18})?$"


def _amounts(series: pl.Series) -> pl.Series:
    """`amount` over a Series: plain decimals cast by Polars, the rest once per distinct value."""
    text = _as_text(series)
    handled = text.str.contains(_FAST_AMOUNT).fill_null(False)
    fast = pl.select(pl.when(handled).then(text).otherwise(None)).to_series().cast(AMOUNT_DTYPE)
    return _with_the_rest(fast, handled, text, amount, AMOUNT_DTYPE).alias(series.name)


def amount_expr(column: Column) -> pl.Expr:
    """`amount` over a column, as Decimal(38, 18): plain decimals vectorised, the rest one call per distinct value."""
    return _col(column).map_batches(_amounts, return_dtype=AMOUNT_DTYPE)


def currency_of_expr(column: Column) -> pl.Expr:
    """`currency_of` over a column (String), one call per distinct value."""
    return _text_expr(column, lambda v: currency_of(v), pl.String)


# ---------------------------------------------------------------- crypto

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {c: i for i, c in enumerate(_BASE58)}
# Version bytes: P2PKH '1', P2SH '3', testnet P2PKH 'm'/'n', testnet P2SH '2'.
_BASE58_VERSIONS = {0x00, 0x05, 0x6F, 0xC4}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32)}
_BECH32_CONST, _BECH32M_CONST = 1, 0x2BC830A3
_SEGWIT_HRPS = {"bc", "tb"}


def _base58check_valid(text: str) -> bool:
    """Whether text is a 25-byte Base58Check address with a known version byte."""
    if len(text) > 50 or any(c not in _BASE58_INDEX for c in text):
        return False
    number = 0
    for char in text:
        number = number * 58 + _BASE58_INDEX[char]
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    data = b"\x00" * zeros + body
    if len(data) != 25 or data[0] not in _BASE58_VERSIONS:
        return False
    check = hashlib.sha256(hashlib.sha256(data[:21]).digest()).digest()[:4]
    return check == data[21:]


def _polymod(values: list[int]) -> int:
    """The BIP-173 checksum polynomial."""
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def _convert_bits(data: list[int]) -> bytes | None:
    """5-bit groups to bytes (BIP-173): None on padding over 4 bits or non-zero padding."""
    accumulator, bits, out = 0, 0, bytearray()
    for value in data:
        accumulator = ((accumulator << 5) | value) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or (accumulator << (8 - bits)) & 0xFF:
        return None
    return bytes(out)


def _segwit_valid(text: str) -> bool:
    """Whether text is a BIP-173/BIP-350 segwit address for mainnet (bc) or testnet (tb)."""
    if len(text) > 90 or (text.lower() != text and text.upper() != text):
        return False
    text = text.lower()
    hrp, sep, data_part = text.rpartition("1")
    if not sep or hrp not in _SEGWIT_HRPS or len(data_part) < 7:
        return False
    if any(c not in _BECH32_INDEX for c in data_part):
        return False
    data = [_BECH32_INDEX[c] for c in data_part]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _polymod(expanded + data)
    version = data[0]
    if version > 16 or const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    program = _convert_bits(data[1:-6])
    if program is None or not 2 <= len(program) <= 40:
        return False
    return version != 0 or len(program) in (20, 32)


def btc_address_valid(s: str | None) -> bool | None:
    """Whether s is a Bitcoin address with a correct checksum; None for None.

    Base58Check (P2PKH '1...', P2SH '3...', testnet 'm'/'n'/'2...', checked by double
    SHA-256) or segwit (BIP-173 bech32 for version 0 with a 20- or 32-byte program,
    BIP-350 bech32m for versions 1-16 with 2-40 bytes; 'bc1' mainnet, 'tb1' testnet;
    all lower or all upper case). The text must be the address alone: no spaces around.
    """
    if s is None:
        return None
    if not isinstance(s, str):
        return False
    return _base58check_valid(s) or _segwit_valid(s)


def tx_hash_valid(s: str | None) -> bool | None:
    """Whether s is a transaction hash: exactly 64 hex digits (any case); None for None."""
    if s is None:
        return None
    return isinstance(s, str) and re.fullmatch(r"[0-9a-fA-F]{64}", s) is not None


def btc_address_valid_expr(column: Column) -> pl.Expr:
    """`btc_address_valid` over a column (Boolean), one call per distinct value."""
    return _text_expr(column, lambda v: btc_address_valid(v), pl.Boolean)


def tx_hash_valid_expr(column: Column) -> pl.Expr:
    """`tx_hash_valid` over a column (Boolean), vectorised; null stays null."""
    return _col(column).map_batches(
        lambda s: _as_text(s).str.contains(r"^[0-9a-fA-F]{64}$"), return_dtype=pl.Boolean
    )
