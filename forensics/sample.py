"""The sample seized server: a copy of a caller-ID spoofing service's server, and its truth.

``generate(DIR)`` writes what a seizure of a service like iSpoof (taken down in 2022:
59,000 accounts, 10 million calls, paid in bitcoin) hands an examiner, and beside it the
facts the examiner's tools must find in it:

    DIR/truth.json        what the sample holds and what the pipeline must give (not evidence)
    DIR/server/           the copy of the server: this is what is ingested
      var/www/html/...                           the PHP web root; config.php names the database
      var/backups/mysql/spoofcall-2022-11-06.sql mysqldump (MariaDB 10.5) of the database
      var/log/asterisk/cdr-csv/Master.csv        the same calls as Asterisk wrote them
      var/log/apache2/access.log, access.log.1, access.log.2.gz
      root/backups/spoofcall-backup-2022-06-01.tar.gz  an older partial dump and the web root

The data has the mess real data has: NULLs; quotes, backslashes and emoji in names; an
older table in latin1 written after SET NAMES latin1; payments written twice (the payment
callback ran twice: same transaction, new id); the PBX clock ahead of the database's by
CDR_SKEW_S seconds; times in the server's local time (Europe/London), some of which fall
in the hour that happens twice when clocks go back, so they cannot be read without a guess.

Every phone number comes from ranges reserved for fiction (PHONE_RANGES: Ofcom's drama
numbers and North America's 555-0100 to 555-0199), every IP address from the documentation
ranges (RFC 5737, RFC 3849), every e-mail domain from RFC 2606. Bitcoin addresses and
transaction hashes are random with valid checksums. The same seed and arguments give
byte-identical files: nothing reads the clock, archives carry fixed times.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa

from forensics.errors import ForensicsError

SERVICE = "spoofcall"
TIMEZONE = "Europe/London"  # the server's clock: every time in the dump and the CDRs is local to it
CDR_SKEW_S = 83  # Master.csv times are the database's times plus this (the PBX clock ran ahead)
CHUNK_ROWS = 500_000  # calls generated and written per step: memory stays flat
STATEMENT_BYTES = 1_048_576 - 1025  # mysqldump starts a new INSERT past net_buffer_length

DUMP_PATH = "var/backups/mysql/spoofcall-2022-11-06.sql"
CDR_PATH = "var/log/asterisk/cdr-csv/Master.csv"
BACKUP_PATH = "root/backups/spoofcall-backup-2022-06-01.tar.gz"
OLD_DUMP_MEMBER = "backup/spoofcall-2022-06-01.sql"
# The catalogue names the tar inside the gzip after the file: outer.tar.gz!outer.tar!member.
OLD_DUMP_PATH = f"{BACKUP_PATH}!{BACKUP_PATH.rsplit('/', 1)[-1].removesuffix('.gz')}!{OLD_DUMP_MEMBER}"
LOG_DIR = "var/log/apache2"
WEB_ROOT = "var/www/html"

PERIOD_START = int(datetime(2020, 12, 1, tzinfo=UTC).timestamp())  # the service opened
PERIOD_END = int(datetime(2022, 11, 6, 2, 0, tzinfo=UTC).timestamp())  # the last call before seizure
BACKUP_AT = int(datetime(2022, 6, 1, 1, 30, tzinfo=UTC).timestamp())  # the nightly backup kept on the server
DUMP_AT = int(datetime(2022, 11, 6, 3, 14, 15, tzinfo=UTC).timestamp())  # the dump taken at seizure

# (national prefix as written, E.164 prefix, libphonenumber 9.0 says is_valid_number)
# Ofcom, "Telephone numbers for drama purposes": 1,000 numbers each.
UK_RANGES: tuple[tuple[str, str, bool], ...] = (
    ("07700 900", "+447700900", False),  # mobile; libphonenumber marks the drama block unassigned
    ("01632 960", "+441632960", False),  # the fictitious area code; not in libphonenumber's data
    ("020 7946 0", "+442079460", True),  # London
    ("0113 496 0", "+441134960", True),  # Leeds
    ("0114 496 0", "+441144960", True),  # Sheffield
    ("0115 496 0", "+441154960", False),  # Nottingham; not valid for libphonenumber 9.0
    ("0116 496 0", "+441164960", True),  # Leicester
    ("0117 496 0", "+441174960", True),  # Bristol
    ("0118 496 0", "+441184960", True),  # Reading
    ("0121 496 0", "+441214960", True),  # Birmingham
    ("0131 496 0", "+441314960", True),  # Edinburgh
    ("0141 496 0", "+441414960", True),  # Glasgow
    ("0151 496 0", "+441514960", True),  # Liverpool
    ("0161 496 0", "+441614960", True),  # Manchester
    ("0191 498 0", "+441914980", True),  # Tyneside, Durham, Sunderland
    ("028 9649 6", "+442896496", True),  # Northern Ireland
    ("029 2018 0", "+442920180", True),  # Cardiff
    ("0808 157 0", "+448081570", True),  # freephone
    ("0909 879 0", "+449098790", True),  # premium rate
    ("03069 990", "+443069990", True),  # UK-wide
)
# NANPA reserves 555-0100 to 555-0199 in every area code for fiction: 100 numbers each.
NANP_AREA_CODES = ("201", "202", "212", "213", "305", "312", "415", "617", "702", "718",
                   "416", "514", "604", "613")
PHONE_RANGES: dict[str, Any] = {
    "uk": [{"from": f"{n}000", "to": f"{n}999", "e164": f"{e}000..{e}999", "phonenumbers_valid": v}
           for n, e, v in UK_RANGES],
    "nanp": [{"from": f"+1 {a}-555-0100", "to": f"+1 {a}-555-0199", "phonenumbers_valid": True}
             for a in NANP_AREA_CODES],
}
POOL_SIZE = 1000 * len(UK_RANGES) + 100 * len(NANP_AREA_CODES)

DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED")
DISPOSITION_P = (0.62, 0.24, 0.09, 0.05)
CALLER_LABELS = ("Fraud Team", "Card Services", "Security Dept", "Customer Care", "Bank")
PACKAGES_USD = (25, 50, 100, 250, 500, 1000)
# A rough BTC/USD price (UTC day, dollars) interpolated between these points.
BTC_PRICE = ((PERIOD_START, 19_000), (int(datetime(2021, 4, 14, tzinfo=UTC).timestamp()), 63_000),
             (int(datetime(2021, 7, 20, tzinfo=UTC).timestamp()), 30_000),
             (int(datetime(2021, 11, 9, tzinfo=UTC).timestamp()), 67_000),
             (int(datetime(2022, 6, 18, tzinfo=UTC).timestamp()), 19_000), (PERIOD_END, 21_000))

FIRST_NAMES = ("James", "Olivia", "Mohammed", "Amelia", "Jack", "Isla", "Harry", "Ava", "Oliver", "Mia",
               "Leo", "Grace", "Tyrone", "Chloe", "Kwame", "Priya", "Daniel", "Sophie", "Callum", "Aisha")
LAST_NAMES = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
              "Wright", "O'Neill", "Evans", "Thomas", "Okafor", "Roberts", "Khan", "Walker", "D'Souza")
NICK_PARTS = ("ghost", "shadow", "dial", "spoof", "king", "bank", "vibe", "money", "cash", "zero", "silent",
              "phantom", "viper", "max", "boss", "crypto", "line", "ring", "echo", "nova")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com", "proton.example")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/103.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 15_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:102.0) Gecko/20100101 Firefox/102.0",
    "Mozilla/5.0 (Linux; Android 12; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/104.0 Mobile",
)
# The legacy table (the service's first, latin1 database): names that are not ASCII.
LEGACY_NAMES = ("José Müller", "Zoë Brontë", "François Lefèvre", "Søren Ærø", "Renée O'Brien", "Jürgen Groß",
                "Ángel Peña", "Chloé \"Coco\" Dupré", "Björn Åkesson", "Noël Façade")

# Special accounts, at fixed ids, so the truth file can name them.
QUOTE_ACCOUNT = 3  # a quote in the username and quotes in the display name
BACKSLASH_ACCOUNT = 4  # backslashes in the display name
NULL_ACCOUNT = 5  # no display name, e-mail or phone
EMOJI_ACCOUNT = 6  # an emoji (4-byte UTF-8) in the display name
MIN_ACCOUNTS = 6


# ---------------------------------------------------------------- bitcoin


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def base58check(version: int, payload: bytes) -> str:
    """Base58Check of version byte + payload (P2PKH: version 0, P2SH: version 5)."""
    data = bytes([version]) + payload
    data += hashlib.sha256(hashlib.sha256(data).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _BASE58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _bech32_polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate((0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)):
            check ^= gen if (top >> i) & 1 else 0
    return check


def segwit_v0(program: bytes, hrp: str = "bc") -> str:
    """The BIP-173 bech32 address of a version-0 witness program (20 bytes: P2WPKH)."""
    acc, bits, data = 0, 0, [0]
    for byte in program:
        acc, bits = (acc << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _bech32_polymod(expanded + data + [0] * 6) ^ 1
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def btc_address(rng: np.random.Generator) -> str:
    """A random mainnet address: bech32 P2WPKH (half), P2PKH or P2SH, with a valid checksum."""
    kind = rng.random()
    payload = rng.bytes(20)
    if kind < 0.5:
        return segwit_v0(payload)
    return base58check(0x00 if kind < 0.85 else 0x05, payload)


# ---------------------------------------------------------------- phone numbers


def phone_pool() -> pl.DataFrame:
    """Every fictional number, with its E.164 and the ways people type it.

    Columns: e164; spaced ('07700 900123', '+1 212-555-0142'); compact ('07700900123',
    '+12125550142'); uk (bool). UK numbers are typed nationally (the service's web form
    was British), North American ones always with +1: '(212) 555-0142' would read as a UK
    number under region GB.
    """
    e164, spaced, compact, uk = [], [], [], []
    for national, prefix, _ in UK_RANGES:
        for i in range(1000):
            e164.append(f"{prefix}{i:03d}")
            spaced.append(f"{national}{i:03d}")
            compact.append(f"{national}{i:03d}".replace(" ", ""))
            uk.append(True)
    for area in NANP_AREA_CODES:
        for i in range(100, 200):
            e164.append(f"+1{area}5550{i}")
            spaced.append(f"+1 {area}-555-0{i}")
            compact.append(f"+1{area}5550{i}")
            uk.append(False)
    return pl.DataFrame({"e164": e164, "spaced": spaced, "compact": compact, "uk": uk})


# ---------------------------------------------------------------- times


@dataclass
class Clock:
    """UTC epoch seconds to the server's local time, exactly as the pipeline reads it back.

    The offset of each hour of the period comes from Polars' time zone data once; DST
    changes in Europe/London fall on the hour, so every second of an hour shares it.
    """

    timezone: str = TIMEZONE
    start: int = PERIOD_START - 86_400 * 400
    end: int = DUMP_AT + 86_400 * 2
    _hours: np.ndarray = field(init=False, repr=False)
    _days: pl.Series = field(init=False, repr=False)
    _day0: int = field(init=False)
    _tod: pl.Series = field(init=False, repr=False)

    def __post_init__(self) -> None:
        hours = pl.Series(np.arange(self.start // 3600, self.end // 3600 + 1, dtype=np.int64) * 3600)
        local = pl.from_epoch(hours, "s").dt.replace_time_zone("UTC").dt.convert_time_zone(self.timezone)
        naive = local.dt.replace_time_zone(None).dt.epoch("s")
        self._hours = (naive - hours).to_numpy()
        self._day0 = self.start // 86_400 - 1
        days = pl.Series(np.arange(self._day0, self.end // 86_400 + 2, dtype=np.int64) * 86_400)
        self._days = pl.from_epoch(days, "s").dt.strftime("%Y-%m-%d ")
        self._tod = pl.Series([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60)
                               for s in range(60)])

    def local(self, utc: np.ndarray) -> np.ndarray:
        """Local wall-clock time as naive epoch seconds."""
        return utc + self._hours[utc // 3600 - self.start // 3600]

    def text(self, utc: np.ndarray) -> pl.Series:
        """'YYYY-MM-DD HH:MM:SS' local time of each instant."""
        local = self.local(utc)
        return pl.DataFrame({"d": self._days.gather(local // 86_400 - self._day0),
                             "t": self._tod.gather(local % 86_400)}).select(
            pl.concat_str("d", "t"))["d"]

    def ambiguous(self, utc: np.ndarray) -> np.ndarray:
        """Whether each instant's local time happened twice (clocks went back): read back as null."""
        local = self.local(utc)
        offsets = np.unique(self._hours)
        count = np.zeros(len(utc), dtype=np.int64)
        for off in offsets:
            candidate = local - off
            inside = (candidate >= self.start) & (candidate < self.end)
            count += inside & (self.local(np.where(inside, candidate, self.start)) == local)
        return count > 1

    def iso(self, utc: int | None) -> str | None:
        """The instant as the pipeline's UTC value prints: '2022-05-17T09:00:00+00:00'."""
        return None if utc is None else datetime.fromtimestamp(utc, UTC).isoformat()

    def read_back(self, utc: int) -> str | None:
        """iso() of the instant, or None where its local text is ambiguous."""
        return None if bool(self.ambiguous(np.array([utc]))[0]) else self.iso(utc)


# ---------------------------------------------------------------- SQL text


def sql_text(expr: pl.Expr) -> pl.Expr:
    """A text column as mysqldump writes it: quoted, escaped as mysql_real_escape_string does; NULL."""
    escaped = expr
    for char, repl in (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("'", "\\'"),
                       ('"', '\\"'), ("\x1a", "\\Z")):
        escaped = escaped.str.replace_all(char, repl, literal=True)
    return pl.when(expr.is_null()).then(pl.lit("NULL")).otherwise(pl.concat_str(pl.lit("'"), escaped, pl.lit("'")))


def sql_number(expr: pl.Expr) -> pl.Expr:
    """A number (or decimal text) as mysqldump writes it: bare; NULL."""
    return expr.cast(pl.String).fill_null("NULL")


def sql_py(value: Any) -> str:
    """One Python value as a mysqldump literal."""
    if value is None:
        return "NULL"
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    for char, repl in (("\\", "\\\\"), ("\0", "\\0"), ("\n", "\\n"), ("\r", "\\r"), ("'", "\\'"),
                       ('"', '\\"'), ("\x1a", "\\Z")):
        text = text.replace(char, repl)
    return f"'{text}'"


DUMP_HEAD = """-- MariaDB dump 10.19  Distrib 10.5.15-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: localhost    Database: spoofcall
-- ------------------------------------------------------
-- Server version\t10.5.15-MariaDB-0+deb11u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""

DUMP_TAIL = """/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on {when}
"""

USERS_DDL = """CREATE TABLE `users` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `username` varchar(64) NOT NULL,
  `email` varchar(191) DEFAULT NULL,
  `phone` varchar(32) DEFAULT NULL,
  `display_name` varchar(128) DEFAULT NULL,
  `password_hash` char(60) NOT NULL,
  `balance_usd` decimal(10,2) NOT NULL DEFAULT 0.00,
  `created_at` datetime NOT NULL,
  `last_login_at` datetime DEFAULT NULL,
  `signup_ip` varchar(45) DEFAULT NULL,
  `last_ip` varchar(45) DEFAULT NULL,
  `status` enum('active','suspended','banned','closed') NOT NULL DEFAULT 'active',
  PRIMARY KEY (`id`),
  UNIQUE KEY `username` (`username`),
  KEY `email` (`email`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"""

OLD_USERS_DDL = """CREATE TABLE `users` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `username` varchar(64) NOT NULL,
  `email` varchar(191) DEFAULT NULL,
  `phone` varchar(32) DEFAULT NULL,
  `display_name` varchar(128) DEFAULT NULL,
  `password_hash` char(60) NOT NULL,
  `created_at` datetime NOT NULL,
  `last_login_at` datetime DEFAULT NULL,
  `status` enum('active','suspended','banned','closed') NOT NULL DEFAULT 'active',
  PRIMARY KEY (`id`),
  UNIQUE KEY `username` (`username`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"""

PAYMENTS_DDL = """CREATE TABLE `payments` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `user_id` int(10) unsigned NOT NULL,
  `method` varchar(16) NOT NULL DEFAULT 'bitcoin',
  `amount` decimal(16,8) NOT NULL,
  `currency` char(3) NOT NULL DEFAULT 'BTC',
  `amount_usd` decimal(10,2) DEFAULT NULL,
  `btc_address` varchar(64) DEFAULT NULL,
  `tx_hash` char(64) DEFAULT NULL,
  `paid_at` datetime NOT NULL,
  `status` varchar(16) NOT NULL DEFAULT 'pending',
  PRIMARY KEY (`id`),
  KEY `user_id` (`user_id`),
  KEY `tx_hash` (`tx_hash`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"""

OLD_PAYMENTS_DDL = """CREATE TABLE `payments` (
  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,
  `user_id` int(10) unsigned NOT NULL,
  `amount` decimal(16,8) NOT NULL,
  `currency` char(3) NOT NULL DEFAULT 'BTC',
  `btc_address` varchar(64) DEFAULT NULL,
  `tx_hash` char(64) DEFAULT NULL,
  `paid_at` datetime NOT NULL,
  `status` varchar(16) NOT NULL DEFAULT 'pending',
  PRIMARY KEY (`id`),
  KEY `user_id` (`user_id`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"""

CALLS_DDL = """CREATE TABLE `calls` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `user_id` int(10) unsigned NOT NULL,
  `caller_id` varchar(32) NOT NULL,
  `destination` varchar(32) NOT NULL,
  `started_at` datetime NOT NULL,
  `duration` int(10) unsigned NOT NULL DEFAULT 0,
  `billed_seconds` int(10) unsigned NOT NULL DEFAULT 0,
  `disposition` varchar(16) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `user_id` (`user_id`),
  KEY `destination` (`destination`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;"""

LEGACY_DDL = """CREATE TABLE `legacy_customers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(100) DEFAULT NULL,
  `email` varchar(100) DEFAULT NULL,
  `phone` varchar(20) DEFAULT NULL,
  `notes` text DEFAULT NULL,
  `created` datetime DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT={next} DEFAULT CHARSET=latin1;"""


def write_texts(out: BinaryIO, texts: pl.Series) -> None:
    """Write a text column's values back to back, straight from its Arrow buffer (no copy into Python)."""
    array = texts.to_arrow()
    for part in array.chunks if isinstance(array, pa.ChunkedArray) else [array]:
        if part.type != pa.large_string():
            part = part.cast(pa.large_string())
        if len(part) == 0:
            continue
        _, offsets, data = part.buffers()
        bounds = np.frombuffer(offsets, dtype=np.int64)[part.offset: part.offset + len(part) + 1]
        out.write(memoryview(data)[int(bounds[0]): int(bounds[-1])])


def _table_head(name: str, ddl: str) -> str:
    return (f"\n--\n-- Table structure for table `{name}`\n--\n\nDROP TABLE IF EXISTS `{name}`;\n"
            "/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
            "/*!40101 SET character_set_client = utf8 */;\n"
            f"{ddl}\n/*!40101 SET character_set_client = @saved_cs_client */;\n\n"
            f"--\n-- Dumping data for table `{name}`\n--\n\n")


class InsertWriter:
    """Rows of one table as mysqldump's extended INSERTs: a new statement past STATEMENT_BYTES."""

    def __init__(self, out: BinaryIO, table: str) -> None:
        self.out = out
        self.table = table
        self.head = f"INSERT INTO `{table}` VALUES "
        self.bytes = 0  # bytes of rows in the statement being written
        self.rows = 0

    def start(self) -> None:
        self.out.write(f"LOCK TABLES `{self.table}` WRITE;\n/*!40000 ALTER TABLE `{self.table}` DISABLE KEYS */;\n"
                       .encode())

    def write(self, rows: pl.Series) -> None:
        """Write rows, each '(v1,v2,...)' as text."""
        if rows.len() == 0:
            return
        lengths = rows.str.len_bytes().cast(pl.Int64).to_numpy() + 1
        ends = np.cumsum(lengths) + self.bytes
        statement = ends // STATEMENT_BYTES
        if self.rows == 0:
            previous = np.concatenate(([-1], statement[:-1]))
        else:
            previous = np.concatenate(([self.bytes // STATEMENT_BYTES], statement[:-1]))
        first = statement != previous
        opening = pl.lit(self.head if self.rows == 0 else ";\n" + self.head)
        text = pl.DataFrame({"row": rows, "first": first}).select(
            pl.concat_str(
                pl.when(~pl.col("first")).then(pl.lit(","))
                .when(pl.int_range(pl.len()) == 0).then(opening)
                .otherwise(pl.lit(";\n" + self.head)),
                pl.col("row"),
            ).alias("text")
        )["text"]
        write_texts(self.out, text)
        self.bytes = int(ends[-1])
        self.rows += rows.len()

    def finish(self) -> None:
        if self.rows:
            self.out.write(b";\n")
        self.out.write(f"/*!40000 ALTER TABLE `{self.table}` ENABLE KEYS */;\nUNLOCK TABLES;\n".encode())


# ---------------------------------------------------------------- the service's data


@dataclass
class Service:
    """The accounts and payments (small: held in memory) and what the calls need from them."""

    users: pl.DataFrame
    payments: pl.DataFrame
    legacy: list[dict[str, Any]]
    pool: pl.DataFrame
    caller_ids: np.ndarray  # pool indexes of the spoofed caller IDs ("bank" numbers)
    caller_weights: np.ndarray
    created: np.ndarray  # each account's created_at (UTC epoch), ascending with id
    call_weights: np.ndarray  # cumulative weight of each account as a caller


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _users(n: int, seed: int, pool: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    rng = _rng(seed, 1)
    created = np.sort(rng.integers(PERIOD_START, PERIOD_END - 86_400 * 3, n))
    created[0] = PERIOD_START + 3600  # the operator's own account
    seen_gap = (rng.exponential(60 * 86_400, n)).astype(np.int64) + 60
    last_login = np.minimum(created + seen_gap, PERIOD_END)
    never = rng.random(n) < 0.06
    usernames: list[str] = []
    display: list[str | None] = []
    # usernames are UNIQUE in the schema: the operator's and the special accounts' names are taken from the start
    taken: set[str] = {"admin", "o'reilly", "spoofking", "nobody", "zoe.money"}
    for _ in range(n):
        name = NICK_PARTS[rng.integers(len(NICK_PARTS))] + NICK_PARTS[rng.integers(len(NICK_PARTS))]
        if rng.random() < 0.6:
            name += str(rng.integers(1, 999))
        while name in taken:
            name += str(rng.integers(10))
        taken.add(name)
        usernames.append(name)
        r = rng.random()
        if r < 0.12:
            display.append(None)
        elif r < 0.5:
            display.append(name.capitalize())
        else:
            display.append(f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(len(LAST_NAMES))]}")
    usernames[0], display[0] = "admin", "Site Admin"
    specials = {QUOTE_ACCOUNT: ("o'reilly", 'Dan "The Bank" O\'Reilly'),
                BACKSLASH_ACCOUNT: ("spoofking", "spoof\\king\\"),
                NULL_ACCOUNT: ("nobody", None),
                EMOJI_ACCOUNT: ("zoe.money", "Zoë 💸 money")}
    for account, (name, shown) in specials.items():
        usernames[account - 1], display[account - 1] = name, shown
    domains = rng.integers(len(EMAIL_DOMAINS), size=n)
    emails = [None if rng.random() < 0.04 else f"{u}@{EMAIL_DOMAINS[d]}" for u, d in zip(usernames, domains,
                                                                                       strict=True)]
    emails[0] = "admin@spoofcall.example"
    phone_index = rng.integers(0, POOL_SIZE, n)
    style = rng.integers(0, 3, n)
    phones = [None if rng.random() < 0.3 else pool[int(i), ("spaced", "compact", "e164")[s]]
              for i, s in zip(phone_index, style, strict=True)]
    emails[NULL_ACCOUNT - 1] = phones[NULL_ACCOUNT - 1] = None
    phones[QUOTE_ACCOUNT - 1] = pool[2 * 1000 + 123, "spaced"]  # 020 7946 0123
    status = rng.choice(["active", "suspended", "banned", "closed"], size=n, p=[0.84, 0.06, 0.05, 0.05])
    status[0] = "active"
    hashes = ["$2y$10$" + "".join(_BCRYPT[b % 64] for b in rng.bytes(53)) for _ in range(n)]
    return pl.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int64),
        "username": usernames, "email": emails, "phone": phones, "display_name": display,
        "password_hash": hashes,
        "created": created, "last_login": np.where(never, -1, last_login),
        "signup_ip": [_ip(rng) for _ in range(n)], "last_ip": [_ip(rng) for _ in range(n)],
        "status": status.tolist(),
    }, schema_overrides={"display_name": pl.String, "email": pl.String, "phone": pl.String}).with_columns(
        pl.when(pl.col("last_login") < 0).then(None).otherwise(pl.col("last_login")).alias("last_login"))


_BCRYPT = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _ip(rng: np.random.Generator) -> str:
    """An address from the documentation ranges only (RFC 5737, RFC 3849)."""
    r = rng.random()
    if r < 0.08:
        return f"2001:db8:{rng.integers(1, 0xffff):x}::{rng.integers(1, 0xffff):x}"
    net = ("192.0.2", "198.51.100", "203.0.113")[int(r * 3) % 3]
    return f"{net}.{rng.integers(1, 255)}"


def _btc_price(at: np.ndarray) -> np.ndarray:
    xs, ys = zip(*BTC_PRICE, strict=True)
    return np.interp(at, xs, ys)


def _payments(users: pl.DataFrame, seed: int) -> pl.DataFrame:
    rng = _rng(seed, 2)
    n = users.height
    per = rng.poisson(4.0, n)
    per[0] = 0
    per[QUOTE_ACCOUNT - 1] = max(per[QUOTE_ACCOUNT - 1], 2)
    addresses = [btc_address(rng) for _ in range(n)]  # each account's deposit address
    owner = np.repeat(np.arange(n), per)
    created = users["created"].to_numpy()
    span = np.maximum(PERIOD_END - created[owner], 3600)
    paid = created[owner] + (rng.random(len(owner)) ** 1.5 * span).astype(np.int64) + 300
    usd = np.array(PACKAGES_USD)[rng.choice(len(PACKAGES_USD), len(owner), p=[0.3, 0.3, 0.2, 0.12, 0.06, 0.02])]
    # Vouchers in dollars in the first months, bitcoin afterwards.
    voucher = (paid < PERIOD_START + 120 * 86_400) & (rng.random(len(owner)) < 0.6)
    sats = np.round(usd / _btc_price(paid) * 1e8).astype(np.int64)
    r = rng.random(len(owner))
    status = np.where(r < 0.05, "pending", np.where(r < 0.09, "expired", "confirmed"))
    status = np.where(voucher, "confirmed", status)
    tx = [rng.bytes(32).hex() for _ in range(len(owner))]
    rows = pl.DataFrame({
        "user_id": owner + 1, "paid": paid, "usd": usd.astype(np.int64), "sats": sats, "voucher": voucher,
        "status": status, "tx": tx, "address": [addresses[o] for o in owner],
        "duplicate_of": np.full(len(owner), -1, dtype=np.int64),
    })
    rows = rows.with_columns(
        pl.when(pl.col("voucher") | (pl.col("status") != "confirmed")).then(None).otherwise(pl.col("tx")).alias("tx"),
        pl.when(pl.col("voucher")).then(None).otherwise(pl.col("address")).alias("address"),
    ).sort("paid", "user_id").with_row_index("seq")
    # The payment callback ran twice for some confirmed bitcoin payments: same transaction, new row.
    credited = rows.filter((pl.col("status") == "confirmed") & ~pl.col("voucher"))
    twice = rng.random(credited.height) < 0.02
    if credited.height and not twice.any():
        twice[credited.height // 2] = True  # at least one, so the sample always shows it
    again = credited.filter(pl.Series(twice)).with_columns(
        (pl.col("paid") + 7).alias("paid"), pl.col("seq").cast(pl.Int64).alias("duplicate_of"))
    rows = pl.concat([rows, again], how="vertical_relaxed")
    return rows.sort("paid", "duplicate_of", "seq").drop("seq").with_row_index("id", offset=1).with_columns(
        pl.col("id").cast(pl.Int64))


def _legacy(n: int, seed: int, pool: pl.DataFrame) -> list[dict[str, Any]]:
    rng = _rng(seed, 4)
    rows = []
    for i in range(n):
        name = LEGACY_NAMES[i % len(LEGACY_NAMES)] if i < 40 or rng.random() < 0.3 else \
            f"{FIRST_NAMES[rng.integers(len(FIRST_NAMES))]} {LAST_NAMES[rng.integers(len(LAST_NAMES))]}"
        ascii_name = name.encode("ascii", "ignore").decode().lower().replace(" ", ".").replace('"', "")
        rows.append({
            "id": i + 1, "name": name,
            "email": None if rng.random() < 0.1 else f"{ascii_name}@example.net",
            "phone": None if rng.random() < 0.2 else pool[int(rng.integers(POOL_SIZE)), "spaced"],
            "notes": ("paid 20€ by voucher" if i % 7 == 0 else None if i % 3 else "café account, rang twice"),
            "created": int(PERIOD_START - 86_400 * 300 + rng.integers(0, 86_400 * 280)),
        })
    return rows


def build_service(accounts: int, seed: int, clock: Clock) -> Service:
    """Accounts, payments and legacy customers, and the weights the calls are drawn with."""
    pool = phone_pool()
    users = _users(accounts, seed, pool, clock)
    payments = _payments(users, seed)
    rng = _rng(seed, 5)
    # The spoofed caller IDs: numbers that look like banks' (UK-wide 03, freephone, London,
    # Manchester, New York), a few used far more than the others.
    bank_ranges = [17, 19, 2, 13]
    caller_ids = np.concatenate([r * 1000 + rng.choice(1000, 12, replace=False) for r in bank_ranges]
                                + [np.array([20_000 + 2 * 100 + 42, 20_000 + 3 * 100 + 10])])
    weights = 1.0 / np.arange(1, len(caller_ids) + 1) ** 0.8
    paying = np.zeros(accounts)
    confirmed = payments.filter(pl.col("status") == "confirmed")["user_id"].to_numpy() - 1
    paying[np.unique(confirmed)] = 1.0
    paying[0] = 0.0
    if not paying.any():
        paying[1:] = 1.0
    activity = rng.pareto(1.2, accounts) + 0.05
    return Service(users=users, payments=payments, legacy=_legacy(min(accounts, 200), seed, pool), pool=pool,
                   caller_ids=caller_ids, caller_weights=weights / weights.sum(),
                   created=users["created"].to_numpy(), call_weights=np.cumsum(paying * activity))


# ---------------------------------------------------------------- writing


@dataclass
class CallStats:
    """What the truth file says about the calls, summed chunk by chunk."""

    calls: int = 0
    answered: int = 0
    duration_s: int = 0
    db_billed_s: int = 0
    cdr_billed_s: int = 0
    db_unreadable_times: int = 0
    cdr_unreadable_times: int = 0
    db_first: int | None = None
    db_last: int | None = None
    cdr_first: int | None = None
    cdr_last: int | None = None
    victims: np.ndarray = field(default_factory=lambda: np.zeros(POOL_SIZE, dtype=np.int64))
    callers: set[int] = field(default_factory=set)
    per_account: dict[int, int] = field(default_factory=dict)
    known_account_numbers: set[int] = field(default_factory=set)
    known_account_times: list[int] = field(default_factory=list)  # its first and last readable call times
    known_call: dict[str, Any] = field(default_factory=dict)


def _calls_chunk(service: Service, clock: Clock, seed: int, k: int, first_id: int, n: int,
                 total: int) -> pl.DataFrame:
    """Calls first_id .. first_id+n-1, times ascending, as numbers (formatted later)."""
    rng = _rng(seed, 3, k)
    span = PERIOD_END - (PERIOD_START + 86_400)
    lo = PERIOD_START + 86_400 + span * (first_id - 1) // total
    hi = PERIOD_START + 86_400 + span * (first_id - 1 + n) // total
    utc = np.sort(rng.integers(lo, max(hi, lo + 1), n))
    # The caller: an account that existed then, weighted by how busy it was.
    existing = np.searchsorted(service.created, utc, side="right")
    cap = service.call_weights[np.maximum(existing - 1, 0)]
    user = np.searchsorted(service.call_weights, rng.random(n) * cap, side="right")
    user = np.minimum(user, existing - 1) + 1
    uk = rng.random(n) < 0.9
    dest = np.where(uk, rng.integers(0, 20_000, n), 20_000 + rng.integers(0, POOL_SIZE - 20_000, n))
    caller = service.caller_ids[rng.choice(len(service.caller_ids), n, p=service.caller_weights)]
    disposition = rng.choice(4, n, p=DISPOSITION_P)
    ring = rng.integers(3, 30, n)
    talk = np.where(disposition == 0, np.minimum(rng.lognormal(4.3, 0.9, n).astype(np.int64) + 1, 5400), 0)
    duration = np.select([disposition == 0, disposition == 1, disposition == 2],
                         [ring + talk, ring + rng.integers(10, 40, n), rng.integers(0, 4, n)],
                         default=0)
    return pl.DataFrame({
        "id": np.arange(first_id, first_id + n, dtype=np.int64), "user": user.astype(np.int64), "utc": utc,
        "dest": dest.astype(np.int64), "dest_style": rng.integers(0, 3, n), "caller": caller.astype(np.int64),
        "caller_style": rng.integers(0, 2, n), "disposition": disposition, "ring": ring, "talk": talk,
        "duration": duration, "label": rng.integers(0, len(CALLER_LABELS), n),
    })


def _format_db_calls(chunk: pl.DataFrame, service: Service, clock: Clock) -> pl.Series:
    pool = service.pool
    n = chunk.height
    dest = chunk["dest"].to_numpy()
    dest_style = chunk["dest_style"].to_numpy()
    caller = chunk["caller"].to_numpy()
    typed = pl.concat([pool["spaced"], pool["compact"], pool["e164"]])
    frame = pl.DataFrame({
        "id": chunk["id"], "user": chunk["user"],
        "caller": typed.gather(chunk["caller_style"].to_numpy() * POOL_SIZE + caller),
        "dest": typed.gather(dest_style * POOL_SIZE + dest),
        "start": clock.text(chunk["utc"].to_numpy()),
        "duration": chunk["duration"],
        "billed": (chunk["talk"] + 59) // 60 * 60,
        "disposition": pl.Series(DISPOSITIONS).gather(chunk["disposition"].to_numpy()),
    })
    assert frame.height == n
    return frame.select(pl.format("({},{},'{}','{}','{}',{},{},'{}')", "id", "user", "caller", "dest", "start",
                                  "duration", "billed", "disposition").alias("row"))["row"]


def _format_cdr(chunk: pl.DataFrame, service: Service, clock: Clock) -> pl.Series:
    pool = service.pool
    e164 = pool["e164"]
    utc = chunk["utc"].to_numpy() + CDR_SKEW_S
    answered = chunk["disposition"].to_numpy() == 0
    frame = pl.DataFrame({
        "account": chunk["user"].cast(pl.String),
        "src": e164.gather(chunk["caller"].to_numpy()),
        "dst": e164.gather(chunk["dest"].to_numpy()),
        "label": pl.Series(CALLER_LABELS).gather(chunk["label"].to_numpy()),
        "seq": chunk["id"].cast(pl.String).str.zfill(8),
        "failed": chunk["disposition"] == 3,
        "start": clock.text(utc),
        "answer": clock.text(utc + chunk["ring"].to_numpy()),
        "answered": answered,
        "end": clock.text(utc + chunk["duration"].to_numpy()),
        "duration": chunk["duration"], "billsec": chunk["talk"],
        "disposition": pl.Series(DISPOSITIONS).gather(chunk["disposition"].to_numpy()),
        "epoch": pl.Series(utc), "id": chunk["id"],
    })
    return frame.select(pl.format(
        '"{}","{}","{}","spoof-out","""{}"" <{}>","SIP/spoof-{}","{}","Dial","SIP/trunk/{},60,tT",'
        '"{}","{}","{}",{},{},"{}","DOCUMENTATION","{}.{}",""\n',
        "account", "src", "dst", "label", "src", "seq",
        pl.when(pl.col("failed")).then(pl.lit("")).otherwise(pl.concat_str(pl.lit("SIP/trunk-"), "seq")),
        "dst", "start", pl.when(pl.col("answered")).then("answer").otherwise(pl.lit("")), "end",
        "duration", "billsec", "disposition", "epoch", "id",
    ).alias("line"))["line"]


def _write_users(out: BinaryIO, users: pl.DataFrame, clock: Clock, old: bool) -> None:
    created = clock.text(users["created"].to_numpy())
    login = users["last_login"].to_numpy(allow_copy=True)
    login_text = clock.text(np.nan_to_num(login, nan=PERIOD_START).astype(np.int64))
    frame = users.with_columns(created_text=created, login_text=pl.when(users["last_login"].is_null()).then(None)
                               .otherwise(login_text))
    columns = [sql_number(pl.col("id")), sql_text(pl.col("username")), sql_text(pl.col("email")),
               sql_text(pl.col("phone")), sql_text(pl.col("display_name")), sql_text(pl.col("password_hash"))]
    if not old:
        columns.append(sql_number(pl.col("balance")))
    columns += [sql_text(pl.col("created_text")), sql_text(pl.col("login_text"))]
    if not old:
        columns += [sql_text(pl.col("signup_ip")), sql_text(pl.col("last_ip"))]
    columns.append(sql_text(pl.col("status")))
    rows = frame.select(pl.concat_str(pl.lit("("), pl.concat_str(columns, separator=","), pl.lit(")"))
                        .alias("row"))["row"]
    writer = InsertWriter(out, "users")
    writer.start()
    writer.write(rows)
    writer.finish()


def _payment_text(payments: pl.DataFrame, clock: Clock) -> pl.DataFrame:
    """The payments' columns as the dump writes their values."""
    return payments.with_columns(
        pl.when(pl.col("voucher")).then(pl.lit("voucher")).otherwise(pl.lit("bitcoin")).alias("method"),
        pl.when(pl.col("voucher")).then(pl.format("{}.00000000", "usd"))
        .otherwise(pl.format("{}.{}", pl.col("sats") // 100_000_000,
                             (pl.col("sats") % 100_000_000).cast(pl.String).str.zfill(8))).alias("amount"),
        pl.when(pl.col("voucher")).then(pl.lit("USD")).otherwise(pl.lit("BTC")).alias("currency"),
        pl.format("{}.00", "usd").alias("amount_usd"),
        clock.text(payments["paid"].to_numpy()).alias("paid_text"),
    )


def _write_payments(out: BinaryIO, payments: pl.DataFrame, clock: Clock, old: bool) -> None:
    frame = _payment_text(payments, clock)
    if old:
        columns = [sql_number(pl.col("id")), sql_number(pl.col("user_id")), sql_number(pl.col("amount")),
                   sql_text(pl.col("currency")), sql_text(pl.col("address")), sql_text(pl.col("tx")),
                   sql_text(pl.col("paid_text")), sql_text(pl.col("status"))]
    else:
        columns = [sql_number(pl.col("id")), sql_number(pl.col("user_id")), sql_text(pl.col("method")),
                   sql_number(pl.col("amount")), sql_text(pl.col("currency")), sql_number(pl.col("amount_usd")),
                   sql_text(pl.col("address")), sql_text(pl.col("tx")), sql_text(pl.col("paid_text")),
                   sql_text(pl.col("status"))]
    rows = frame.select(pl.concat_str(pl.lit("("), pl.concat_str(columns, separator=","), pl.lit(")"))
                        .alias("row"))["row"]
    writer = InsertWriter(out, "payments")
    writer.start()
    writer.write(rows)
    writer.finish()


def _write_legacy(out: BinaryIO, legacy: list[dict[str, Any]], clock: Clock) -> None:
    """The old latin1 table: its rows sent after SET NAMES latin1, so é is one byte (0xE9)."""
    out.write(_table_head("legacy_customers", LEGACY_DDL.format(next=len(legacy) + 1)).encode())
    out.write(b"LOCK TABLES `legacy_customers` WRITE;\n/*!40000 ALTER TABLE `legacy_customers` DISABLE KEYS */;\n")
    if legacy:
        created = clock.text(np.array([r["created"] for r in legacy], dtype=np.int64)).to_list()
        values = ",".join(
            "(" + ",".join(sql_py(v) for v in (r["id"], r["name"], r["email"], r["phone"], r["notes"], when)) + ")"
            for r, when in zip(legacy, created, strict=True))
        out.write(b"/*!40101 SET NAMES latin1 */;\n")
        out.write(f"INSERT INTO `legacy_customers` VALUES {values};\n".encode("cp1252"))
        out.write(b"/*!40101 SET NAMES utf8mb4 */;\n")
    out.write(b"/*!40000 ALTER TABLE `legacy_customers` ENABLE KEYS */;\nUNLOCK TABLES;\n")


def _with_balance(users: pl.DataFrame, payments: pl.DataFrame) -> pl.DataFrame:
    spent = payments.filter(pl.col("status") == "confirmed").group_by("user_id").agg(pl.col("usd").sum())
    return users.join(spent, left_on="id", right_on="user_id", how="left").with_columns(
        pl.format("{}.{}", (pl.col("usd").fill_null(0) * 37) // 100,
                  ((pl.col("usd").fill_null(0) * 37) % 100).cast(pl.String).str.zfill(2)).alias("balance"),
    ).drop("usd").sort("id")


def _write_dump(path: Path, service: Service, clock: Clock, seed: int, calls: int, chunk_rows: int,
                cdr_path: Path) -> CallStats:
    """The full dump (users, payments, calls, legacy_customers) and Master.csv, calls chunk by chunk."""
    stats = CallStats()
    known_id = calls // 2 + 1
    with open(path, "wb", buffering=1 << 22) as out, open(cdr_path, "wb", buffering=1 << 22) as cdr:
        out.write(DUMP_HEAD.encode())
        out.write(_table_head("calls", CALLS_DDL.format(next=calls + 1)).encode())
        writer = InsertWriter(out, "calls")
        writer.start()
        first = 1
        k = 0
        while first <= calls:
            n = min(chunk_rows, calls - first + 1)
            chunk = _calls_chunk(service, clock, seed, k, first, n, calls)
            writer.write(_format_db_calls(chunk, service, clock))
            write_texts(cdr, _format_cdr(chunk, service, clock))
            _count(stats, chunk, clock, known_id, service)
            first += n
            k += 1
        writer.finish()
        _write_legacy(out, service.legacy, clock)
        out.write(_table_head("payments", PAYMENTS_DDL.format(next=service.payments.height + 1)).encode())
        _write_payments(out, service.payments, clock, old=False)
        out.write(_table_head("users", USERS_DDL.format(next=service.users.height + 1)).encode())
        _write_users(out, _with_balance(service.users, service.payments), clock, old=False)
        out.write(DUMP_TAIL.format(when=_dump_completed(DUMP_AT, clock)).encode())
    return stats


def _dump_completed(utc: int, clock: Clock) -> str:
    date, time = clock.text(np.array([utc]))[0].split(" ")
    return f"{date} {int(time[:2]):2d}{time[2:]}"  # mysqldump: "%04d-%02d-%02d %2d:%02d:%02d"


def _count(stats: CallStats, chunk: pl.DataFrame, clock: Clock, known_id: int, service: Service) -> None:
    utc = chunk["utc"].to_numpy()
    cdr_utc = utc + CDR_SKEW_S
    db_bad = clock.ambiguous(utc)
    cdr_bad = clock.ambiguous(cdr_utc)
    talk = chunk["talk"].to_numpy()
    stats.calls += chunk.height
    stats.answered += int((chunk["disposition"].to_numpy() == 0).sum())
    stats.duration_s += int(chunk["duration"].sum())
    stats.db_billed_s += int(((talk + 59) // 60 * 60).sum())
    stats.cdr_billed_s += int(talk.sum())
    stats.db_unreadable_times += int(db_bad.sum())
    stats.cdr_unreadable_times += int(cdr_bad.sum())
    for name, times, bad in (("db", utc, db_bad), ("cdr", cdr_utc, cdr_bad)):
        good = times[~bad]
        if len(good):
            lo, hi = int(good.min()), int(good.max())
            first, last = getattr(stats, f"{name}_first"), getattr(stats, f"{name}_last")
            setattr(stats, f"{name}_first", lo if first is None else min(first, lo))
            setattr(stats, f"{name}_last", hi if last is None else max(last, hi))
    stats.victims += np.bincount(chunk["dest"].to_numpy(), minlength=POOL_SIZE)
    stats.callers.update(np.unique(chunk["caller"].to_numpy()).tolist())
    users = chunk["user"].to_numpy()
    for user, count in zip(*np.unique(users, return_counts=True), strict=True):
        stats.per_account[int(user)] = stats.per_account.get(int(user), 0) + int(count)
    mine = chunk.filter(pl.col("user") == QUOTE_ACCOUNT)
    stats.known_account_numbers.update(np.unique(mine["dest"].to_numpy()).tolist())
    for times in (mine["utc"].to_numpy(), mine["utc"].to_numpy() + CDR_SKEW_S):
        readable = times[~clock.ambiguous(times)]
        if len(readable):
            stats.known_account_times = [int(t) for t in (readable.min(), readable.max(), *stats.known_account_times)]
            stats.known_account_times = [min(stats.known_account_times), max(stats.known_account_times)]
    ids = chunk["id"].to_numpy()
    if ids[0] <= known_id <= ids[-1]:
        stats.known_call = {"row": chunk.row(int(known_id - ids[0]), named=True)}


def _write_old_dump(service: Service, clock: Clock) -> bytes:
    """The nightly backup's dump as it was at BACKUP_AT: users and payments only (calls left out)."""
    users = service.users.filter(pl.col("created") < BACKUP_AT).with_columns(
        pl.when(pl.col("last_login") >= BACKUP_AT)
        .then(pl.col("created") + (BACKUP_AT - pl.col("created")) // 2)
        .otherwise(pl.col("last_login")).alias("last_login"))
    payments = service.payments.filter(pl.col("paid") < BACKUP_AT)
    writer = io.BytesIO()
    writer.write(DUMP_HEAD.encode())
    writer.write(_table_head("payments", OLD_PAYMENTS_DDL.format(next=payments.height + 1)).encode())
    _write_payments(writer, payments, clock, old=True)
    writer.write(_table_head("users", OLD_USERS_DDL.format(next=users.height + 1)).encode())
    _write_users(writer, users, clock, old=True)
    writer.write(DUMP_TAIL.format(when=_dump_completed(BACKUP_AT + 60, clock)).encode())
    return writer.getvalue()


# ---------------------------------------------------------------- web root and logs


def web_root() -> dict[str, str]:
    """The PHP site: a login, the dashboard, the call form, the bitcoin top-up, an admin page."""
    return {
        "index.php": "<?php\nrequire __DIR__ . '/includes/config.php';\nsession_start();\n"
                     "if (!empty($_SESSION['uid'])) { header('Location: /dashboard.php'); exit; }\n"
                     "include __DIR__ . '/templates/home.html';\n",
        "includes/config.php": "<?php\n// database\ndefine('DB_HOST', 'localhost');\ndefine('DB_NAME', 'spoofcall');\n"
                               "define('DB_USER', 'spoofcall');\ndefine('DB_PASS', 'Tr0ub4dor&3');\n"
                               "// Asterisk manager interface\ndefine('AMI_HOST', '127.0.0.1');\n"
                               "define('AMI_USER', 'web');\ndefine('AMI_SECRET', 'changeme');\n"
                               "define('BTC_CONFIRMATIONS', 1);\ndate_default_timezone_set('Europe/London');\n",
        "includes/db.php": "<?php\nrequire_once __DIR__ . '/config.php';\n"
                           "$pdo = new PDO('mysql:host=' . DB_HOST . ';dbname=' . DB_NAME . ';charset=utf8mb4',\n"
                           "               DB_USER, DB_PASS, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);\n",
        "login.php": "<?php\nrequire __DIR__ . '/includes/db.php';\nsession_start();\n"
                     "$st = $pdo->prepare('SELECT id, password_hash FROM users WHERE username = ?');\n"
                     "$st->execute([$_POST['username'] ?? '']);\n$u = $st->fetch();\n"
                     "if ($u && password_verify($_POST['password'] ?? '', $u['password_hash'])) {\n"
                     "    $_SESSION['uid'] = $u['id'];\n"
                     "    $pdo->prepare('UPDATE users SET last_login_at = NOW(), last_ip = ? WHERE id = ?')\n"
                     "        ->execute([$_SERVER['REMOTE_ADDR'], $u['id']]);\n"
                     "    header('Location: /dashboard.php');\n}\n",
        "dashboard.php": "<?php\nrequire __DIR__ . '/includes/db.php';\nsession_start();\n"
                         "$calls = $pdo->prepare('SELECT * FROM calls WHERE user_id = ? ORDER BY id DESC LIMIT 50');\n"
                         "$calls->execute([$_SESSION['uid']]);\ninclude __DIR__ . '/templates/dashboard.html';\n",
        "call.php": "<?php\n// Places a call with the caller ID the customer typed, through the Asterisk manager.\n"
                    "require __DIR__ . '/includes/db.php';\nsession_start();\n"
                    "$cid = preg_replace('/[^0-9+ ]/', '', $_POST['caller_id']);\n"
                    "$to = preg_replace('/[^0-9+ ]/', '', $_POST['destination']);\n"
                    "$ami = fsockopen(AMI_HOST, 5038);\n"
                    "fwrite($ami, \"Action: Originate\\r\\nChannel: SIP/trunk/$to\\r\\nCallerID: $cid\\r\\n"
                    "Account: {$_SESSION['uid']}\\r\\n\\r\\n\");\n",
        "topup.php": "<?php\n// Bitcoin top-up: each account has its own deposit address (payments.btc_address).\n"
                     "require __DIR__ . '/includes/db.php';\nsession_start();\n"
                     "$packages = [25 => 'Starter', 50 => 'Basic', 100 => 'Pro', 250 => 'Gold', 500 => 'Platinum'];\n",
        "ipn.php": "<?php\n// Payment callback from the bitcoin processor. It does not check whether the\n"
                   "// transaction was credited before, so a callback sent twice credits twice.\n"
                   "require __DIR__ . '/includes/db.php';\n"
                   "$pdo->prepare('INSERT INTO payments (user_id, method, amount, currency, amount_usd, btc_address,"
                   " tx_hash, paid_at, status) VALUES (?, \\'bitcoin\\', ?, \\'BTC\\', ?, ?, ?, NOW(), \\'confirmed\\')')\n"
                   "    ->execute([$_POST['uid'], $_POST['btc'], $_POST['usd'], $_POST['address'], $_POST['txid']]);\n",
        "admin/users.php": "<?php\nrequire __DIR__ . '/../includes/db.php';\n"
                           "foreach ($pdo->query('SELECT * FROM users ORDER BY id') as $u) { echo htmlspecialchars("
                           "$u['username']), \"<br>\\n\"; }\n",
        ".htaccess": "RewriteEngine On\nRewriteRule ^api/(.*)$ api.php?q=$1 [L,QSA]\n",
        "templates/home.html": "<!DOCTYPE html>\n<html><head><title>SpoofCall - call with any number</title></head>\n"
                               "<body><h1>Show any number when you call</h1>\n"
                               "<p>Change your voice. Record every call. Pay with bitcoin.</p></body></html>\n",
        "templates/dashboard.html": "<!DOCTYPE html>\n<html><body><h1>Your calls</h1><table id=\"calls\"></table>"
                                    "</body></html>\n",
        "assets/style.css": "body { font-family: sans-serif; background: #111; color: #eee; }\n",
    }


def _access_logs(service: Service, clock: Clock, seed: int, lines: int) -> list[tuple[str, bytes]]:
    """Three combined-format logs, newest first: access.log, access.log.1, access.log.2.gz."""
    rng = _rng(seed, 6)
    users = service.users
    ips = users["last_ip"].to_list()
    times = np.sort(rng.integers(DUMP_AT - 86_400 * 21, DUMP_AT - 60, lines))
    local = clock.local(times)
    offsets = clock.local(times) - times
    who = rng.integers(0, users.height, lines)
    paths = ("/login.php", "/dashboard.php", "/call.php", "/topup.php", "/ipn.php", "/", "/assets/style.css")
    kinds = rng.choice(len(paths), lines, p=[0.15, 0.3, 0.3, 0.1, 0.03, 0.07, 0.05])
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    out: list[str] = []
    for t, off, user, kind in zip(local.tolist(), offsets.tolist(), who.tolist(), kinds.tolist(), strict=True):
        moment = datetime.fromtimestamp(t, UTC)
        path = paths[kind]
        method = "POST" if path in ("/login.php", "/call.php", "/ipn.php") else "GET"
        status = 302 if path == "/login.php" else 200
        size = 0 if status == 302 else 1200 + (t % 4000)
        agent = USER_AGENTS[user % len(USER_AGENTS)] if path != "/ipn.php" else "BitPayIPN/2.0"
        out.append(f'{ips[user]} - - [{moment.day:02d}/{months[moment.month - 1]}/{moment.year}:'
                   f'{moment:%H:%M:%S} +{off // 3600:02d}00] "{method} {path} HTTP/1.1" {status} {size} '
                   f'"https://spoofcall.example/" "{agent}"\n')
    third = len(out) // 3
    parts = [out[: third], out[third: 2 * third], out[2 * third:]]
    return [("access.log.2.gz", _gzip("".join(parts[0]).encode(), "access.log.2", DUMP_AT - 86_400 * 7)),
            ("access.log.1", "".join(parts[1]).encode()), ("access.log", "".join(parts[2]).encode())]


def _gzip(data: bytes, name: str, mtime: int) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name, mode="wb", fileobj=buffer, mtime=mtime, compresslevel=6) as handle:
        handle.write(data)
    return buffer.getvalue()


def _backup(files: dict[str, bytes], mtime: int) -> bytes:
    """A tar.gz of files (sorted, fixed owner and times), as the nightly backup wrote it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folders = sorted({str(Path(name).parent) for name in files} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime, info.uname, info.gname = tarfile.DIRTYPE, 0o755, mtime, "root", "root"
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(files[name]), 0o644, mtime, "root", "root"
            tar.addfile(info, io.BytesIO(files[name]))
    return _gzip(raw.getvalue(), "", mtime)


# ---------------------------------------------------------------- truth


def _decimal_text(units: int, places: int) -> str:
    text = str(Decimal(units).scaleb(-places).quantize(Decimal(1).scaleb(-places)))
    return text


def _payment_truth(payments: pl.DataFrame) -> dict[str, Any]:
    """Rows and totals per currency (as amounts of text in the dump's decimals)."""
    out: dict[str, Any] = {}
    for currency, voucher in (("BTC", False), ("USD", True)):
        part = payments.filter(pl.col("voucher") == voucher)
        units = int(part["usd"].sum()) * 100_000_000 if voucher else int(part["sats"].sum())
        out[currency] = {"rows": part.height, "total": _decimal_text(units, 8)}
    return out


def _by_source(counts: dict[str, int]) -> str:
    """What the derived tables' calls_by_source and payments_by_source say: 'path: n; path: n', by path."""
    return "; ".join(f"{path}: {n}" for path, n in sorted(counts.items()) if n)


def _paid_text(payments: pl.DataFrame) -> str | None:
    """account_summary.paid for these payments (one source's): 'BTC 0.0123; USD 25.00', zeros past the cents cut."""
    parts = []
    for currency, row in sorted(_payment_truth(payments).items()):
        if row["rows"]:
            whole, _, fraction = row["total"].partition(".")
            parts.append(f"{currency} {whole}.{fraction[:2]}{fraction[2:].rstrip('0')}")
    return "; ".join(parts) or None


def _known_payment(service: Service, clock: Clock, source_path: str) -> dict[str, Any]:
    dup = service.payments.filter(pl.col("duplicate_of") >= 0)
    row = service.payments.filter((pl.col("status") == "confirmed") & ~pl.col("voucher")).row(0, named=True)
    text = _payment_text(service.payments.filter(pl.col("id") == row["id"]), clock).row(0, named=True)
    out = {
        "source_path": source_path, "payment_id": str(row["id"]), "account_id": str(row["user_id"]),
        "amount": text["amount"], "amount_text": text["amount"], "currency": "BTC", "method": "bitcoin",
        "crypto_address": row["address"], "tx_hash": row["tx"], "paid_at": clock.read_back(row["paid"]),
        "paid_at_text": text["paid_text"], "status": "confirmed",
    }
    if dup.height:
        first = dup.row(0, named=True)
        twins = service.payments.filter(pl.col("tx") == first["tx"])["id"].to_list()
        out["duplicated_example"] = {"tx_hash": first["tx"], "payment_ids": [str(i) for i in twins]}
    return out


def _known_account(service: Service, clock: Clock, source_path: str) -> dict[str, Any]:
    row = service.users.filter(pl.col("id") == QUOTE_ACCOUNT).row(0, named=True)
    from forensics.normalize import phone_e164

    return {
        "source_path": source_path, "account_id": str(row["id"]), "username": row["username"],
        "email": row["email"], "phone_raw": row["phone"], "phone_e164": phone_e164(row["phone"], "GB"),
        "display_name": row["display_name"], "created_at": clock.read_back(row["created"]),
        "created_at_text": clock.text(np.array([row["created"]]))[0],
        "last_seen_at": None if row["last_login"] is None else clock.read_back(row["last_login"]),
        "last_seen_at_text": None if row["last_login"] is None else clock.text(np.array([row["last_login"]]))[0],
        "last_ip": row["last_ip"], "status": row["status"],
    }


def _known_calls(stats: CallStats, service: Service, clock: Clock, dump: str, cdr: str) -> dict[str, Any]:
    if not stats.known_call:
        return {}
    row = stats.known_call["row"]
    pool = service.pool
    typed = ("spaced", "compact", "e164")
    start_db = clock.text(np.array([row["utc"]]))[0]
    start_cdr = clock.text(np.array([row["utc"] + CDR_SKEW_S]))[0]
    common = {"account_id": str(row["user"]), "caller_id_e164": pool[row["caller"], "e164"],
              "destination_e164": pool[row["dest"], "e164"], "duration_s": row["duration"],
              "disposition": DISPOSITIONS[row["disposition"]]}
    return {
        "call_db": {"source_path": dump, "call_id": str(row["id"]), **common,
                    "caller_id_raw": pool[row["caller"], typed[row["caller_style"]]],
                    "destination_raw": pool[row["dest"], typed[row["dest_style"]]],
                    "started_at": clock.read_back(row["utc"]), "started_at_text": start_db,
                    "billed_s": (row["talk"] + 59) // 60 * 60},
        "call_cdr": {"source_path": cdr, "call_id": f"{row['utc'] + CDR_SKEW_S}.{row['id']}", **common,
                     "caller_id_raw": pool[row["caller"], "e164"], "destination_raw": pool[row["dest"], "e164"],
                     "started_at": clock.read_back(row["utc"] + CDR_SKEW_S), "started_at_text": start_cdr,
                     "billed_s": row["talk"]},
    }


def _truth(service: Service, stats: CallStats, clock: Clock, seed: int, old_users: int,
           old_payments: pl.DataFrame, logs: list[tuple[str, bytes]]) -> dict[str, Any]:
    pay = service.payments
    old_path = OLD_DUMP_PATH
    distinct = pay.filter(pl.col("duplicate_of") < 0)
    victims = int((stats.victims > 0).sum())
    top = int(np.argmax(stats.victims)) if stats.calls else None
    e164 = service.pool["e164"]
    if top is not None:  # ties: the pipeline sorts by calls, then by number
        best = stats.victims.max()
        top = min((i for i in np.flatnonzero(stats.victims == best)), key=lambda i: e164[int(i)])
    unreadable_pay = int(clock.ambiguous(pay["paid"].to_numpy()).sum())
    known_account = _known_account(service, clock, DUMP_PATH)
    quote_calls = stats.per_account.get(QUOTE_ACCOUNT, 0)
    quote_pay = pay.filter(pl.col("user_id") == QUOTE_ACCOUNT).height
    quote_old_pay = old_payments.filter(pl.col("user_id") == QUOTE_ACCOUNT).height
    user = service.users.filter(pl.col("id") == QUOTE_ACCOUNT).row(0, named=True)
    paid = [int(t) for t in pay.filter(pl.col("user_id") == QUOTE_ACCOUNT)["paid"].to_list()
            if not clock.ambiguous(np.array([t]))[0]]
    moments = [*stats.known_account_times, *paid]
    if not clock.ambiguous(np.array([user["created"]]))[0]:
        moments.append(int(user["created"]))
    if user["last_login"] is not None and not clock.ambiguous(np.array([user["last_login"]]))[0]:
        moments.append(int(user["last_login"]))
    accounts_with_rows = set(service.users["id"].to_list()) | set(stats.per_account) | set(pay["user_id"].to_list())
    return {
        "generator": "forensics.sample", "format": 1, "seed": seed,
        "server_dir": "server",
        "timezone": TIMEZONE,
        "clock_skew_s": CDR_SKEW_S,
        "clock_skew": f"Master.csv times are the database's times plus {CDR_SKEW_S} s (the PBX clock ran ahead): "
                      "the same call starts that much later in the CDR",
        "files": {"dump": DUMP_PATH, "cdr": CDR_PATH, "backup": BACKUP_PATH, "old_dump": old_path,
                  "web_root": WEB_ROOT, "access_logs": [f"{LOG_DIR}/{name}" for name, _ in logs]},
        "phone_ranges": PHONE_RANGES,
        "service": {
            "accounts": service.users.height,
            "payments_rows": pay.height,
            "payments_distinct": distinct.height,
            "payments_duplicate_rows": pay.height - distinct.height,
            "payments_by_currency": _payment_truth(pay),
            "payments_distinct_by_currency": _payment_truth(distinct),
            "payments_confirmed_distinct_by_currency": _payment_truth(
                distinct.filter(pl.col("status") == "confirmed")),
            "calls": stats.calls,
            "answered_calls": stats.answered,
            "distinct_victims": victims,
            "distinct_caller_ids": len(stats.callers),
            "victims_bound": POOL_SIZE,
            "victims_note": f"destinations come from {POOL_SIZE:,} fictional numbers, so distinct victims never "
                            "exceed that however many calls there are",
            "legacy_customers": len(service.legacy),
            "access_log_lines": {f"{LOG_DIR}/{name}": (gzip.decompress(data) if name.endswith(".gz") else data)
                                 .count(b"\n") for name, data in logs},
        },
        "pipeline": {
            "commands": [
                "forensics case init CASE --case-ref REF --examiner NAME --timezone Europe/London",
                "forensics ingest CASE DIR/server", "forensics extract CASE"],
            "sources": {
                DUMP_PATH: {"accounts": service.users.height + len(service.legacy), "payments": pay.height,
                            "calls": stats.calls, "payments_by_currency": _payment_truth(pay),
                            "accounts_by_table": {"users": service.users.height,
                                                  "legacy_customers": len(service.legacy)}},
                old_path: {"accounts": old_users, "payments": old_payments.height,
                           "payments_by_currency": _payment_truth(old_payments)},
                CDR_PATH: {"calls": stats.calls},
            },
            "tables_note": "rows the plugins make: sample-spoofcall (users, payments, calls), asterisk-cdr "
                           "(Master.csv) and the recogniser of unknown schemas (generic), which maps "
                           "legacy_customers onto accounts; its ids are not users' ids",
            "tables": {
                "accounts": service.users.height + old_users + len(service.legacy),
                "payments": pay.height + old_payments.height,
                "calls": 2 * stats.calls,
                "victims": victims,
                "account_summary": len(accounts_with_rows),
            },
            "calls_by_source": {
                DUMP_PATH: {"rows": stats.calls, "answered": stats.answered, "duration_s": stats.duration_s,
                            "billed_s": stats.db_billed_s, "started_at_null": stats.db_unreadable_times,
                            "first_started_at": clock.iso(stats.db_first), "last_started_at": clock.iso(stats.db_last)},
                CDR_PATH: {"rows": stats.calls, "answered": stats.answered, "duration_s": stats.duration_s,
                           "billed_s": stats.cdr_billed_s, "started_at_null": stats.cdr_unreadable_times,
                           "first_started_at": clock.iso(stats.cdr_first),
                           "last_started_at": clock.iso(stats.cdr_last)},
            },
            "unparsed": {"calls.started_at": stats.db_unreadable_times + stats.cdr_unreadable_times,
                         "payments.paid_at": unreadable_pay + int(clock.ambiguous(
                             old_payments["paid"].to_numpy()).sum())},
            # The derived tables take, per number and per account, the largest figure one source gives:
            # the dump and Master.csv hold the same calls, so each gives the service's own figures (the
            # dump bills whole minutes, at least the CDR's seconds, so its billed time is the larger).
            "victims": {
                "rows": victims, "calls": stats.calls, "answered_calls": stats.answered,
                "total_duration_s": stats.duration_s, "total_billed_s": stats.db_billed_s,
                "top": None if top is None else {
                    "destination_e164": e164[int(top)], "calls": int(stats.victims[top]), "sources": 2,
                    "calls_by_source": _by_source({DUMP_PATH: int(stats.victims[top]),
                                                   CDR_PATH: int(stats.victims[top])})},
            },
            "account_summary_known": {"account_id": str(QUOTE_ACCOUNT), "calls": quote_calls,
                                      "numbers_called": len(stats.known_account_numbers),
                                      "payments": quote_pay,
                                      "paid": _paid_text(pay.filter(pl.col("user_id") == QUOTE_ACCOUNT)),
                                      "calls_by_source": _by_source({DUMP_PATH: quote_calls, CDR_PATH: quote_calls})
                                      if quote_calls else None,
                                      "payments_by_source": _by_source({DUMP_PATH: quote_pay,
                                                                        old_path: quote_old_pay}) if quote_pay else None,
                                      "first_activity_at": clock.iso(min(moments)),
                                      "last_activity_at": clock.iso(max(moments))},
            "raw": {"legacy_customers": {"rows": len(service.legacy), "name_of_id_1": service.legacy[0]["name"]
                                         if service.legacy else None}},
            "double_counting": [
                "every call is in calls twice: once from the dump (call_id = calls.id) and once from Master.csv "
                f"(call_id = uniqueid), {CDR_SKEW_S} s apart; victims and account_summary take the largest "
                "figure one source gives, so their calls, answered_calls and total_duration_s are the service's, "
                "total_billed_s is the dump's per-minute billing (the larger), and calls_by_source shows both",
                "accounts and payments of the backup's older dump are in the canonical tables beside the current "
                "dump's (same ids): account_summary.payments and paid take, per currency, the larger source (the "
                "current dump), and payments_by_source shows both",
                f"{pay.height - distinct.height} payments were written twice by the payment callback (same "
                "tx_hash, new id): they are in the dump, so in payments",
            ],
        },
        "known_rows": {
            "account": known_account,
            "payment": _known_payment(service, clock, DUMP_PATH),
            **_known_calls(stats, service, clock, DUMP_PATH, CDR_PATH),
        },
    }


# ---------------------------------------------------------------- the command


def _check_target(directory: Path) -> None:
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise ForensicsError(f"{directory}: exists and is not a folder; give a new or empty folder")
    if directory.is_dir() and any(directory.iterdir()):
        raise ForensicsError(f"{directory}: is not empty; give a new or empty folder")


def generate(directory: Path, accounts: int = 500, calls: int = 20_000, seed: int = 1,
             chunk_rows: int = CHUNK_ROWS, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the sample seized server to directory/server and its truth to directory/truth.json.

    directory must not exist or be empty. Returns the truth. The same arguments give
    byte-identical files. progress, when given, is called with the calls written so far.
    """
    if accounts < MIN_ACCOUNTS:
        raise ForensicsError(f"--accounts must be at least {MIN_ACCOUNTS} (got {accounts})")
    if calls < 1:
        raise ForensicsError(f"--calls must be at least 1 (got {calls})")
    if seed < 0:
        raise ForensicsError(f"--seed must be 0 or more (got {seed})")
    if chunk_rows < 1:
        raise ForensicsError("chunk_rows must be at least 1")
    directory = Path(directory)
    _check_target(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root = directory / "server"
    clock = Clock()
    service = build_service(accounts, seed, clock)

    www = root / WEB_ROOT
    pages = {name: text.encode() for name, text in web_root().items()}
    for name, data in pages.items():
        _write(www / name, data)
    (root / DUMP_PATH).parent.mkdir(parents=True, exist_ok=True)
    (root / CDR_PATH).parent.mkdir(parents=True, exist_ok=True)
    stats = _write_dump(root / DUMP_PATH, service, clock, seed, calls, chunk_rows, root / CDR_PATH)
    if progress:
        progress(stats.calls)

    old_dump = _write_old_dump(service, clock)
    backup_files = {OLD_DUMP_MEMBER: old_dump, **{f"html/{name}": data for name, data in pages.items()}}
    _write(root / BACKUP_PATH, _backup(backup_files, BACKUP_AT + 300))
    logs = _access_logs(service, clock, seed, max(300, min(calls // 4, 60_000)))
    for name, data in logs:
        _write(root / LOG_DIR / name, data)
    _write(root / "etc/asterisk/cdr.conf",
           b"[general]\nenable=yes\n\n[csv]\nusegmtime=no\nloguniqueid=yes\nloguserfield=yes\naccountlogs=no\n")

    old_users = service.users.filter(pl.col("created") < BACKUP_AT).height
    truth = _truth(service, stats, clock, seed, old_users, service.payments.filter(pl.col("paid") < BACKUP_AT),
                   logs)
    _retime(root)
    (directory / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return truth


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _retime(root: Path) -> None:
    """Fixed modification times (the night of the seizure), so catalogues of two runs agree."""
    when = DUMP_AT + 600
    for folder, dirs, files in sorted(os.walk(root, topdown=False)):
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))
