<?php
require 'config.php';
$u = $_POST['username'];
// checks the users table
