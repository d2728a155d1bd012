#!/usr/bin/env python3
"""Build a small copy of a seized web server to try intake on (standard library only).

It holds what real seized copies hold: a PHP web root with a database config, access
logs, a tar.gz backup, a zip with a compressed SQL dump inside, a symbolic link, and one
damaged archive, so that every part of intake shows itself.

    python samples/make_evidence.py DIR
"""

from __future__ import annotations

import gzip
import io
import os
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
