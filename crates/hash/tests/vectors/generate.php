<?php
// Known-answer vectors from PHP's own password_hash() and crypt() (Debian php-cli).
// Run by generate.py (which merges the output); prints JSON: {"bcrypt": [...], "argon2": [...], "crypt": [...]}.
// Usage: php generate.php > php.json

function v($scheme, $hash, $right, $wrong, $note) {
    return ["scheme" => $scheme, "factor" => null, "salt" => null, "password_hash" => $hash,
            "right" => $right, "wrong" => $wrong, "note" => $note];
}

$out = ["bcrypt" => [], "argon2" => [], "crypt" => []];

foreach ([4, 10] as $cost) {
    $pw = "correct horse $cost";
    $out["bcrypt"][] = v("bcrypt", password_hash($pw, PASSWORD_BCRYPT, ["cost" => $cost]), $pw, "$pw!", "php password_hash \$2y\$ cost $cost");
}
$pw = "pässwörd-ünïcode";
$out["bcrypt"][] = v("bcrypt", password_hash($pw, PASSWORD_BCRYPT, ["cost" => 5]), $pw, "passwörd-ünïcode", "php \$2y\$ UTF-8 password");
$pw = "";
$out["bcrypt"][] = v("bcrypt", password_hash($pw, PASSWORD_BCRYPT, ["cost" => 4]), $pw, " ", "php \$2y\$ empty password");
// Over 72 bytes: PHP (crypt_blowfish) uses only the first 72 bytes.
$long = str_repeat("0123456789", 8);
$out["bcrypt"][] = v("bcrypt", password_hash($long, PASSWORD_BCRYPT, ["cost" => 4]), substr($long, 0, 72) . "DIFFERENT-TAIL", substr($long, 0, 71), "php \$2y\$ 80-byte password; only 72 bytes count");
// $2x$ (crypt_blowfish's buggy mode) on an ASCII password equals $2a$.
$out["bcrypt"][] = v("bcrypt", crypt("ascii only", '$2x$05$' . "abcdefghijklmnopqrstuu"), "ascii only", "ascii only.", "php crypt \$2x\$ ASCII password");
$out["bcrypt"][] = v("bcrypt", crypt("plain a", '$2a$05$' . "ABCDEFGHIJKLMNOPQRSTUu"), "plain a", "plain b", "php crypt \$2a\$");

if (defined("PASSWORD_ARGON2ID")) {
    $pw = "argon-php";
    $out["argon2"][] = v("argon2", password_hash($pw, PASSWORD_ARGON2ID, ["memory_cost" => 8192, "time_cost" => 2, "threads" => 1]), $pw, "argon-PHP", "php password_hash argon2id");
    $out["argon2"][] = v("argon2", password_hash($pw, PASSWORD_ARGON2I, ["memory_cost" => 4096, "time_cost" => 3, "threads" => 1]), $pw, "argon-ph", "php password_hash argon2i");
}

$out["crypt"][] = v("crypt", crypt("md5 crypt pw", '$1$saltsalt$'), "md5 crypt pw", "md5 crypt pW", "php crypt \$1\$");
$out["crypt"][] = v("crypt", crypt("sha256 pw", '$5$rounds=5000$usesomesillystri$'), "sha256 pw", "sha256 pW", "php crypt \$5\$ explicit rounds");
$out["crypt"][] = v("crypt", crypt("sha512 pw", '$6$saltstring$'), "sha512 pw", "sha512 pW", "php crypt \$6\$ default rounds");
$out["crypt"][] = v("crypt", crypt("sha512 rounds", '$6$rounds=1234$abcdefghijklmnop$'), "sha512 rounds", "sha512 Rounds", "php crypt \$6\$ rounds=1234, 16-char salt");

echo json_encode($out, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
