#!/usr/bin/env python3
"""Build a small copy of a seized web server to try intake on (standard library only).

It holds what real seized copies hold: a PHP web root with a database config, access
logs, a tar.gz backup, a zip with a compressed SQL dump inside, the Asterisk call records
(Master.csv), an SQLite file, a symbolic link, and one damaged archive, so that every
part of intake and of reading sources shows itself.

    python samples/make_evidence.py DIR
"""

from __future__ import annotations

import gzip
import io
import os
import sqlite3
import sys
import tarfile
import zipfile
from pathlib import Path

PAGES = {
    "index.php": "<?php\nrequire 'config.php';\nsession_start();\ninclude 'templates/home.html';\n",
    "config.php": "<?php\n$db_host = 'localhost';\n$db_name = 'spoofcall';\n$db_user = 'spoof';\n$db_pass = 's3cr3t';\n",
    "login.php": "<?php\nrequire 'config.php';\n$u = $_POST['username'];\n// checks the users table\n",
    "topup.php": "<?php\n// bitcoin top-up: pays to the address shown\n$address = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';\n",
    "templates/home.html": "<!DOCTYPE html>\n<html><head><title>Spoof any number</title></head>\n"
                           "<body><h1>Call with any caller ID</h1></body></html>\n",
}
DUMP = (
    "-- MySQL dump 10.13  Distrib 8.0.19\n"
    "CREATE TABLE `users` (`id` int NOT NULL, `username` varchar(64), `email` varchar(128));\n"
    "INSERT INTO `users` VALUES (1,'shadow','shadow@example.org'),(2,'o\\'brien',NULL);\n"
    "CREATE TABLE `payments` (`id` int NOT NULL, `user_id` int, `amount` decimal(10,2), `currency` char(3),\n"
    "  `btc_address` varchar(64), `paid_at` datetime);\n"
    "INSERT INTO `payments` VALUES (1,1,50.00,'USD','bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq','2022-05-01 09:12:00'),"
    "(2,2,25.00,'USD',NULL,'2022-05-02 18:40:10');\n"
)
MASTER_CSV = "".join(
    f'"{account}","{src}","{dst}","from-spoof","""Bank"" <{src}>","SIP/trunk-{i:08x}","SIP/out-{i:08x}",'
    f'"Dial","SIP/out/{dst},60","2022-05-17 10:{i:02d}:00","2022-05-17 10:{i:02d}:05","2022-05-17 10:{i + 1:02d}:10",'
    f'{70 + i},{65 + i if disposition == "ANSWERED" else 0},"{disposition}","DOCUMENTATION"\n'
    for i, (account, src, dst, disposition) in enumerate([
        ("shadow", "+442079460000", "+447700900123", "ANSWERED"),
        ("shadow", "+442079460000", "+447700900456", "NO ANSWER"),
        ("o'brien", "+18005550100", "+15555550199", "ANSWERED"),
    ])
)
ACCESS_LOG = "".join(
    f'203.0.113.{i % 250} - - [17/May/2022:10:{i % 60:02d}:03 +0000] "GET /topup.php HTTP/1.1" 200 {512 + i}\n'
    for i in range(200)
)


def build(root: Path) -> None:
    """Write the sample server below root (which must not exist yet)."""
    www = root / "var" / "www" / "html"
    for name, text in PAGES.items():
        (www / name).parent.mkdir(parents=True, exist_ok=True)
        (www / name).write_text(text)
    logs = root / "var" / "log" / "apache2"
    logs.mkdir(parents=True)
    (logs / "access.log").write_text(ACCESS_LOG)
    backups = root / "root" / "backups"
    backups.mkdir(parents=True)
    with tarfile.open(backups / "www-2022-05-17.tar.gz", "w:gz") as archive:
        archive.add(www, arcname="html")
    dump = io.BytesIO()
    with gzip.GzipFile("spoofcall.sql", "wb", fileobj=dump, mtime=1652780000) as handle:
        handle.write(DUMP.encode())
    with zipfile.ZipFile(backups / "db-export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/spoofcall.sql.gz", dump.getvalue())
        archive.writestr("export/README.txt", "nightly export\n")
    whole = (backups / "db-export.zip").read_bytes()
    (backups / "db-export-partial.zip").write_bytes(whole[: whole.index(b"PK\x01\x02")])
    os.symlink("html/config.php", root / "var" / "www" / "current-config")
    cdr = root / "var" / "log" / "asterisk" / "cdr-csv"
    cdr.mkdir(parents=True)
    (cdr / "Master.csv").write_text(MASTER_CSV)
    app = root / "var" / "lib" / "spoofcall"
    app.mkdir(parents=True)
    with sqlite3.connect(app / "sessions.sqlite") as db:
        db.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER, ip TEXT, started TEXT)")
        db.executemany("INSERT INTO sessions VALUES (?,?,?,?)", [
            (1, 1, "203.0.113.7", "2022-05-17T10:00:00Z"), (2, 2, "198.51.100.23", "2022-05-17T11:30:00Z")])
    db.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = Path(sys.argv[1])
    if root.exists():
        sys.exit(f"{root}: already exists; give a new folder")
    build(root)
    print(f"sample seized server written to {root}")


if __name__ == "__main__":
    main()
