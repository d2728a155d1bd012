"""The recogniser: which canonical table a raw table nobody has seen looks like, and how its columns map.

Each raw column is scored against each canonical column by its name (the names sources
use for it, and words in a name that hint at it) and by its content: the first
SAMPLE_ROWS rows are read, and their values tested as e-mail addresses, phone numbers,
bitcoin addresses, transaction hashes, amounts, currency codes, times, whole seconds and
IP addresses. A column's confidence (0-1) combines the two; values that contradict a
name weigh it down. The table is then scored as accounts, payments and calls from the
columns that would map (an accounts table needs an e-mail, a username or a phone; a
payments table an amount; a calls table a number called), and the best kind wins if it
reaches the threshold. The result is a forensics.mapping.TableMapping, the same thing an
examiner writes in a mapping file, with each column's confidence and evidence.

Nothing here changes a value: the recogniser only proposes a mapping, which
forensics.mapping applies with the plugins' helpers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from forensics.mapping import ColumnSource, TableMapping
from forensics.normalize import (
    amount,
    btc_address_valid,
    currency_of,
    phone_e164,
    to_utc,
    tx_hash_valid,
)
from forensics.plugin import RawTable

SAMPLE_ROWS = 2_000  # rows read to test content: enough to judge, never the whole table
THRESHOLD = 0.5  # a table below this confidence is not mapped (the decision is recorded)
COLUMN_MIN = 0.35  # a column below this confidence is not mapped


# ------------------------------------------------------------------ names


def tokens(name: str) -> list[str]:
    """The words of a column or table name: 'CustomerId' and 'customer_id' both give ['customer', 'id']."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _singular(word: str) -> str:
    return word[:-3] + "y" if word.endswith("ies") else word[:-1] if word.endswith("s") else word


# ------------------------------------------------------------------ content tests

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_DIALLED = re.compile(r"\+?[\d\s().\-/]{6,24}")
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_INTEGER = re.compile(r"\d{1,9}")
_DECIMAL = re.compile(r".*\d[.,]\d.*")


def _phone(value: str, region: str | None) -> bool:
    if not _DIALLED.fullmatch(value) or _DATE_LIKE.fullmatch(value):
        return False
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15:
        return False
    if phone_e164(value, region) is not None:
        return True
    return value.isdigit() and digits >= 10 and phone_e164("+" + value, None) is not None  # 447700900123


def _time(value: str) -> bool:
    when = to_utc(value, "UTC")
    if when is None:
        return False
    return 2000 <= when.year <= 2040 if value.isdigit() else 1970 <= when.year <= 2100


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return "." in value or ":" in value


def _money(value: str) -> bool:
    """An amount that reads as money: with a decimal part or a currency, not a bare whole number."""
    return amount(value) is not None and (_DECIMAL.fullmatch(value) is not None or currency_of(value) is not None)


TESTS: dict[str, Callable[[str, str | None], bool]] = {
    "email": lambda v, _: _EMAIL.fullmatch(v) is not None,
    "phone": _phone,
    "btc_address": lambda v, _: bool(btc_address_valid(v)),
    "tx_hash": lambda v, _: bool(tx_hash_valid(v)),
    "money": lambda v, _: _money(v),
    "currency": lambda v, _: len(v) <= 4 and currency_of(v) is not None,
    "time": lambda v, _: _time(v),
    "seconds": lambda v, _: _INTEGER.fullmatch(v) is not None,
    "ip": lambda v, _: _ip(v),
    "unique": lambda v, _: True,  # counted apart: distinct values over sampled ones
}
SAYS = {"email": "e-mail addresses", "phone": "phone numbers", "btc_address": "bitcoin addresses (checksum)",
        "tx_hash": "64-hex transaction hashes", "money": "amounts with decimals or a currency",
        "currency": "currency codes", "time": "times", "seconds": "whole numbers", "ip": "IP addresses",
        "unique": "distinct"}


@dataclass
class Sampled:
    """One raw column's name and the values sampled from it (non-empty text)."""

    name: str
    values: list[str]
    fractions: dict[str, float] = field(default_factory=dict)

    def fraction(self, test: str, region: str | None) -> float:
        """The share of the sampled values that pass a content test (tested once per distinct value)."""
        if test not in self.fractions:
            if not self.values:
                self.fractions[test] = 0.0
            elif test == "unique":
                self.fractions[test] = len(set(self.values)) / len(self.values)
            else:
                check = TESTS[test]
                passed = {v: check(v, region) for v in set(self.values)}
                self.fractions[test] = sum(passed[v] for v in self.values) / len(self.values)
        return self.fractions[test]


def sample(table: RawTable, rows: int = SAMPLE_ROWS) -> list[Sampled]:
    """The first rows of a raw table, as the non-empty text values of each column."""
    head = table.frame.select(table.columns).head(rows).collect()
    out = []
    for name in table.columns:
        series = head[name].drop_nulls()
        if series.dtype == pl.Binary:
            texts = [_decoded(v) for v in series.to_list()]
        else:
            texts = series.cast(pl.String).to_list()
        out.append(Sampled(name, [t.strip() for t in texts if t and t.strip()]))
    return out


def _decoded(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return ""


# ------------------------------------------------------------------ rules


@dataclass(frozen=True)
class Rule:
    """What says a raw column is this canonical column: names, words in names, and content."""

    names: tuple[str, ...] = ()  # whole names (as words joined by _): a sure sign
    words: tuple[str, ...] = ()  # a word of the name: a hint
    content: str | None = None  # the content test its values should pass
    content_weight: float = 0.0  # how much passing it says alone


ACCOUNT_REF = Rule(names=("account_id", "user_id", "customer_id", "client_id", "member_id", "id_user",
                          "id_customer", "uid", "userid", "accountcode", "account_code", "account", "user",
                          "customer", "client", "subscriber_id", "login_id"), words=("user", "account", "customer"))
TIMESTAMP_WORDS = ("date", "time", "ts", "timestamp", "at", "datetime", "when")

RULES: dict[str, dict[str, Rule]] = {
    "accounts": {
        "account_id": Rule(names=("account_id", "user_id", "customer_id", "client_id", "member_id", "uid",
                                  "userid", "subscriber_id"), content="unique", content_weight=0.3),
        "username": Rule(names=("username", "user_name", "login", "user_login", "nick", "nickname", "handle",
                                "uname", "screen_name", "login_name"), words=("login", "username")),
        "email": Rule(names=("email", "mail", "e_mail", "email_address", "user_email", "emailaddress"),
                      words=("email", "mail"), content="email", content_weight=0.9),
        "phone_raw": Rule(names=("phone", "mobile", "tel", "telephone", "msisdn", "cell", "phone_number",
                                 "mobile_number", "cellphone", "phone_raw"),
                          words=("phone", "mobile", "tel", "msisdn"), content="phone", content_weight=0.6),
        "display_name": Rule(names=("name", "display_name", "full_name", "fullname", "real_name", "realname",
                                    "contact_name"), words=("name",)),
        "created_at": Rule(names=("created_at", "created", "create_date", "creationdate", "creation_date",
                                  "date_created", "signup", "signup_date", "registered", "register_date",
                                  "registration_date", "reg_date", "regdate", "joined", "date_joined",
                                  "created_on", "create_time", "user_registered"),
                           words=("created", "signup", "registered", "joined"), content="time",
                           content_weight=0.3),
        "last_seen_at": Rule(names=("last_login", "lastlogin", "last_seen", "last_seen_at", "lastuse", "last_use",
                                    "last_activity", "last_access", "last_active", "last_visit", "lastvisit",
                                    "last_login_at"), words=("seen",), content="time", content_weight=0.1),
        "last_ip": Rule(names=("ip", "last_ip", "lastip", "ip_address", "login_ip", "remote_addr", "last_login_ip",
                               "ipaddress"), words=("ip",), content="ip", content_weight=0.6),
        "status": Rule(names=("status", "active", "enabled", "blocked", "banned", "is_active", "disabled",
                              "account_status", "user_status"),
                       words=("status", "active")),
    },
    "payments": {
        "payment_id": Rule(names=("payment_id", "refill_id", "deposit_id", "order_id", "invoice_id", "txn_id"),
                           content="unique", content_weight=0.3),
        "account_id": ACCOUNT_REF,
        "amount": Rule(names=("amount", "value", "sum", "total", "price", "credit", "paid", "amount_paid",
                              "payment_amount", "total_amount", "amt"), words=("amount", "total", "sum"),
                       content="money", content_weight=0.5),
        "currency": Rule(names=("currency", "cur", "coin", "ccy", "currency_code", "curr"), words=("currency",),
                         content="currency", content_weight=0.7),
        "method": Rule(names=("method", "payment_method", "gateway", "provider", "payment_type", "pay_method",
                              "processor"), words=("method", "gateway")),
        "crypto_address": Rule(names=("btc_address", "bitcoin_address", "address", "wallet", "crypto_address",
                                      "btc", "wallet_address", "deposit_address"), words=("wallet", "btc"),
                               content="btc_address", content_weight=0.9),
        "tx_hash": Rule(names=("txid", "tx_hash", "txhash", "tx", "transaction_hash", "hash", "tx_id"),
                        words=("txid", "tx", "hash"), content="tx_hash", content_weight=0.7),
        "paid_at": Rule(names=("paid_at", "payment_date", "paid", "date", "created_at", "created", "timestamp", "ts",
                               "time", "datetime", "paid_on", "transaction_date"), words=TIMESTAMP_WORDS,
                        content="time", content_weight=0.5),
        "status": Rule(names=("status", "state", "payment_status", "result", "payment"), words=("status",)),
    },
    "calls": {
        "call_id": Rule(names=("uniqueid", "unique_id", "uuid", "callid", "call_uuid", "sessionid", "session_id"),
                        content="unique", content_weight=0.3),
        "account_id": ACCOUNT_REF,
        "caller_id_raw": Rule(names=("src", "caller", "callerid", "caller_id", "cli", "from", "ani", "clid",
                                     "from_number", "source", "caller_number", "caller_id_number", "calling_number",
                                     "cid", "callerid_num"),
                              words=("caller", "src", "from", "cli", "ani"), content="phone", content_weight=0.3),
        "destination_raw": Rule(names=("dst", "destination", "called", "callee", "calledstation", "to", "number",
                                       "dialed", "dialled", "called_number", "destination_number", "to_number",
                                       "dnis", "dialed_number", "dialled_number", "called_station"),
                                words=("dst", "destination", "called", "dialed", "dialled", "dest", "to"),
                                content="phone", content_weight=0.4),
        "started_at": Rule(names=("start", "starttime", "start_time", "calldate", "call_date", "started_at",
                                  "start_stamp", "date", "timestamp", "ts", "time", "datetime", "begin"),
                           words=("start", "date", "time"), content="time", content_weight=0.5),
        "duration_s": Rule(names=("duration", "duration_s", "seconds", "secs", "length", "real_sessiontime",
                                  "call_duration", "dur", "duration_sec", "duration_seconds"),
                           words=("duration", "seconds", "dur"), content="seconds", content_weight=0.1),
        "billed_s": Rule(names=("billsec", "billed", "billed_s", "billable", "sessiontime", "billed_seconds",
                                "bill_sec", "billsecs", "billed_duration"), words=("bill", "billed", "billsec"),
                         content="seconds", content_weight=0.1),
        "disposition": Rule(names=("disposition", "status", "result", "hangup_cause", "outcome",
                                   "terminatecauseid", "cause", "call_status", "dialstatus"),
                            words=("disposition", "status", "cause")),
    },
}
KEYS = {"accounts": "account_id", "payments": "payment_id", "calls": "call_id"}


@dataclass(frozen=True)
class Kind:
    """What makes a table one canonical table: core columns (one must map, weighted) and table names."""

    core: dict[str, float]
    table_words: tuple[str, ...]


KINDS = {
    "accounts": Kind({"email": 1.0, "username": 0.9, "phone_raw": 0.65},
                     ("user", "account", "customer", "client", "member", "subscriber", "login", "profile")),
    "payments": Kind({"amount": 1.0}, ("payment", "transaction", "refill", "deposit", "topup", "order",
                                       "invoice", "credit", "purchase", "recharge")),
    "calls": Kind({"destination_raw": 1.0}, ("call", "cdr", "calllog", "master")),
}
FIRST_NAMES = ("first_name", "firstname", "fname", "given_name", "forename")
LAST_NAMES = ("last_name", "lastname", "lname", "surname", "family_name")


def _key_names(table: str) -> tuple[str, ...]:
    """The names of a table's own key: id, and <table>_id with the table's name singular or not."""
    words = _meaningful(table) or tokens(table.rsplit(".", 1)[-1]) or [""]
    short, last = "_".join(words), words[-1]
    return ("id", f"{short}_id", f"{_singular(short)}_id", f"{last}_id", f"{_singular(last)}_id", f"id_{short}")


def score(rule: Rule, column: Sampled, region: str | None, key_names: tuple[str, ...] = (),
          hint: str = "") -> tuple[float, str]:
    """A raw column's confidence (0-1) as one canonical column, and the evidence in words.

    key_names are more names that say it (the table's own key: id, customer_id...); hint is
    a weaker sign in words, counted as a word of the name (a key's: "the first column").
    """
    name = "_".join(tokens(column.name))
    words = set(tokens(column.name))
    if name in rule.names or name in key_names:
        by_name, said = 1.0, f"name '{column.name}'"
    elif words & set(rule.words):
        by_name, said = 0.6, f"'{column.name}' has the word '{sorted(words & set(rule.words))[0]}'"
    elif hint:
        by_name, said = 0.6, hint
    else:
        by_name, said = 0.0, ""
    if rule.content is None:
        return 0.8 * by_name, said
    if not column.values:
        return 0.5 * by_name, f"{said}; no values in the sample" if said else ""
    share = column.fraction(rule.content, region)
    sure = len(column.values) / (len(column.values) + 3)  # one value says little, hundreds say much
    confidence = 1 - (1 - rule.content_weight * share * sure) * (1 - 0.75 * by_name)
    confidence *= 0.25 + 0.75 * share  # values that contradict the name weigh it down
    content = f"{share:.0%} of {len(column.values):,} sampled values are {SAYS[rule.content]}"
    return confidence, f"{said}; {content}" if said else content


@dataclass
class Recognition:
    """What the recogniser made of one raw table: the best mapping, whether it is taken, every kind's score."""

    mapping: TableMapping
    accepted: bool
    scores: dict[str, float]
    unmapped: list[str]

    def to_toml(self, source_path: str) -> str:
        """This table's block in tables/recognised-mapping.toml: commented out when it is not mapped."""
        scores = ", ".join(f"{k} {v:.2f}" for k, v in self.scores.items())
        head = [f"{self.mapping.raw} in {source_path}: "
                + (f"{self.mapping.produces}, confidence {self.mapping.confidence or 0:.2f} ({scores})"
                   if self.accepted else
                   f"NOT MAPPED: best guess {self.mapping.produces} at {self.mapping.confidence or 0:.2f}, "
                   f"below the threshold ({scores}); uncomment to map it"),
                f"evidence: {self.mapping.evidence}"]
        if self.unmapped:
            head.append(f"raw columns not mapped: {', '.join(self.unmapped)}")
        block = self.mapping.to_toml(source_path) if self.mapping.columns else ""
        if not self.accepted:
            block = "\n".join(f"# {line}" for line in block.splitlines())
        return "\n".join([*(f"# {line}" for line in head), *([block] if block else [])])

    def as_dict(self) -> dict[str, Any]:
        """A short record for the audit log."""
        return {"table": self.mapping.raw, "produces": self.mapping.produces,
                "confidence": round(self.mapping.confidence or 0.0, 2), "mapped": self.accepted,
                "scores": {k: round(v, 2) for k, v in self.scores.items()},
                "columns": {k: s.columns[0] if len(s.columns) == 1 else list(s.columns)
                            for k, s in self.mapping.columns.items()}}


def _assign(kind: str, columns: list[Sampled], table: str, region: str | None
            ) -> tuple[dict[str, ColumnSource], list[str]]:
    """The best raw column for each canonical column of a kind, each raw column used once."""
    key_names = _key_names(table)
    candidates = []
    for canonical, rule in RULES[kind].items():
        names = key_names if canonical == KEYS[kind] else ()
        for index, column in enumerate(columns):
            hint = "the first column" if canonical == KEYS[kind] and index == 0 else ""
            confidence, evidence = score(rule, column, region, names, hint)
            if confidence >= COLUMN_MIN:
                candidates.append((confidence, canonical, column.name, evidence))
    chosen: dict[str, ColumnSource] = {}
    used: set[str] = set()
    for confidence, canonical, column, evidence in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if canonical not in chosen and column not in used:
            chosen[canonical] = ColumnSource(columns=(column,), confidence=confidence, evidence=evidence)
            used.add(column)
    named = chosen.get("display_name")
    if kind == "accounts" and (named is None or (named.confidence or 0) < 0.7):
        free = set() if named is None else set(named.columns)
        by_name = {"_".join(tokens(c.name)): c.name for c in columns if c.name not in used - free}
        first = next((by_name[n] for n in FIRST_NAMES if n in by_name), None)
        last = next((by_name[n] for n in LAST_NAMES if n in by_name), None)
        if first and last:
            used -= free
            chosen["display_name"] = ColumnSource(columns=(first, last), confidence=0.7,
                                                  evidence=f"'{first}' and '{last}' joined with a space")
            used |= {first, last}
    order = list(RULES[kind])
    ordered = dict(sorted(chosen.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99))
    return ordered, [c.name for c in columns if c.name not in used]


def _table_confidence(kind: str, chosen: dict[str, ColumnSource], table: str) -> tuple[float, str]:
    spec = KINDS[kind]
    core = max(((weight * (chosen[c].confidence or 0.0), c) for c, weight in spec.core.items() if c in chosen),
               default=(0.0, ""))
    others = sorted(((s.confidence or 0.0) for c, s in chosen.items() if c != core[1]), reverse=True)[:4]
    support = sum(others) / 4
    named = _named(table, spec.table_words)
    confidence = 0.5 * core[0] + 0.25 * support + 0.25 * named
    said = [f"{core[1]} column '{chosen[core[1]].columns[0]}'" if core[1] else f"no {' or '.join(spec.core)} column"]
    said.append(f"{len(chosen)} columns map")
    if named:
        said.append(f"table name '{table}'")
    return confidence, "; ".join(said)


NEUTRAL_WORDS = {"log", "logs", "history", "failed", "archive", "archived", "data", "list", "table", "tbl", "old",
                 "backup", "bak", "new", "info", "details", "detail", "copy", "tmp", "temp", "all"}


def _named(table: str, kind_words: tuple[str, ...]) -> bool:
    """Whether the table's name says the kind: its last word does ('tbl_clients', 'payment_p2022_01'),
    or another word does and the words after it are neutral ('pkg_cdr_failed', 'call_log')."""
    words = [_singular(w) for w in _meaningful(table)]
    return bool(words) and words[-1] in kind_words


def _meaningful(table: str) -> list[str]:
    """The words of a table's name without numbers ('p2022', '01') and neutral words at its end ('log')."""
    words = [w for w in tokens(table.rsplit(".", 1)[-1]) if not re.fullmatch(r"[a-z]?\d+", w)]
    while len(words) > 1 and words[-1] in NEUTRAL_WORDS:
        words.pop()
    return words


def recognise(table: RawTable, region: str | None = None, threshold: float = THRESHOLD) -> Recognition:
    """The canonical table a raw table looks like, its column mapping with confidences, and whether it is taken."""
    columns = sample(table)
    best: tuple[float, str, dict[str, ColumnSource], list[str], str] | None = None
    scores = {}
    for kind in RULES:
        chosen, unmapped = _assign(kind, columns, table.name, region)
        confidence, evidence = _table_confidence(kind, chosen, table.name)
        scores[kind] = confidence
        if best is None or confidence > best[0]:
            best = (confidence, kind, chosen, unmapped, evidence)
    assert best is not None
    confidence, kind, chosen, unmapped, evidence = best
    mapping = TableMapping(raw=table.name, produces=kind, columns=chosen, confidence=confidence, evidence=evidence)
    return Recognition(mapping, confidence >= threshold and bool(chosen), scores, unmapped)
