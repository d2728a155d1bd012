<?php
$db_host = 'localhost';
$db_name = 'spoofcall';
$db_user = 'spoof';
$db_pass = 's3cr3t';
