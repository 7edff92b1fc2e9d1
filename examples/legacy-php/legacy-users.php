<?php
// The legacy PHP app's own users table, as it was before Portcullis: a SQLite file with bcrypt
// hashes made by PHP's password_hash(). `php legacy-users.php FILE` creates it with the demo
// users (run.sh does); a user already in it is left as it is.
//
// The passwords below are example ones, for trying the migration on your machine.

if ($argc !== 2) {
    fwrite(STDERR, "usage: php legacy-users.php DATABASE_FILE\n");
    exit(2);
}
$db = new SQLite3($argv[1]);
$db->enableExceptions(true);
$db->exec('CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT UNIQUE NOT NULL,
    email TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL,
    first_name TEXT,
    last_name TEXT,
    roles TEXT NOT NULL DEFAULT \'\'
)');
$users = [
    ['alice', 'alice@legacy.example', 'alice-password', 'Alice', 'Archer', 'admin,user'],
    ['bob', 'bob@legacy.example', 'bob-password', 'Bob', 'Baker', 'user'],
];
$insert = $db->prepare('INSERT OR IGNORE INTO users
    (username, email, password_hash, first_name, last_name, roles) VALUES (?, ?, ?, ?, ?, ?)');
foreach ($users as [$username, $email, $password, $first, $last, $roles]) {
    $insert->reset();
    $insert->bindValue(1, $username);
    $insert->bindValue(2, $email);
    $insert->bindValue(3, password_hash($password, PASSWORD_BCRYPT, ['cost' => 10]));
    $insert->bindValue(4, $first);
    $insert->bindValue(5, $last);
    $insert->bindValue(6, $roles);
    $insert->execute();
}
