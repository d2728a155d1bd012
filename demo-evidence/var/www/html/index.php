<?php
require 'config.php';
session_start();
include 'templates/home.html';
