<?php
// Prints the Drupal 7 hash ($S$, SHA-512 phpass, 2^15 rounds: DRUPAL_HASH_COUNT) of each
// argument, as Drupal's includes/password.inc computes it with PHP's own hash().
$itoa64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function encode64($input, $count, $itoa64) {
    $output = '';
    $i = 0;
    do {
        $value = ord($input[$i++]);
        $output .= $itoa64[$value & 0x3f];
        if ($i < $count) { $value |= ord($input[$i]) << 8; }
        $output .= $itoa64[($value >> 6) & 0x3f];
        if ($i++ >= $count) { break; }
        if ($i < $count) { $value |= ord($input[$i]) << 16; }
        $output .= $itoa64[($value >> 12) & 0x3f];
        if ($i++ >= $count) { break; }
        $output .= $itoa64[($value >> 18) & 0x3f];
    } while ($i < $count);
    return $output;
}
foreach (array_slice($argv, 1) as $password) {
    $log2 = 15;
    $salt = encode64(random_bytes(6), 6, $itoa64);
    $hash = hash('sha512', $salt . $password, true);
    $count = 1 << $log2;
    do { $hash = hash('sha512', $hash . $password, true); } while (--$count);
    $out = '$S$' . $itoa64[$log2] . $salt . encode64($hash, strlen($hash), $itoa64);
    echo substr($out, 0, 55), "\n";
}
