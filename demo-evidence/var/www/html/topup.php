<?php
// bitcoin top-up: pays to the address shown
$address = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
