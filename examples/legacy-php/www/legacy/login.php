<?php
// The legacy app's login API, kept while its users move to Portcullis: FusionAuth's Generic
// connector contract. Portcullis POSTs {"loginId", "password", "applicationId", ...} here for a
// login id it does not have yet; a right password answers 200 {"user": {...}} (Portcullis then
// copies the user in, with the password it was typed with), anything else 404.
//
// Apache's config (run.sh writes it) sets LEGACY_DB, the users table's file, and LEGACY_TOKEN,
// the bearer token the connector sends, so only Portcullis can ask.

header('Content-Type: application/json');
header('Cache-Control: no-store');

function answer(int $status, array $body = []): void
{
    http_response_code($status);
    echo json_encode($body === [] ? new stdClass() : $body);
    exit;
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    answer(405, ['error' => 'POST only']);
}
$token = getenv('LEGACY_TOKEN') ?: '';
$headers = array_change_key_case(getallheaders(), CASE_LOWER);
$sent = $headers['authorization'] ?? '';
if ($token === '' || !hash_equals("Bearer $token", $sent)) {
    answer(401, ['error' => 'unauthorized']);
}
$request = json_decode(file_get_contents('php://input'), true);
$loginId = is_array($request) && is_string($request['loginId'] ?? null) ? $request['loginId'] : '';
$password = is_array($request) && is_string($request['password'] ?? null) ? $request['password'] : '';

$db = new SQLite3(getenv('LEGACY_DB'), SQLITE3_OPEN_READONLY);
$find = $db->prepare('SELECT * FROM users WHERE lower(username) = lower(:id) OR lower(email) = lower(:id)');
$find->bindValue(':id', $loginId);
$row = $find->execute()->fetchArray(SQLITE3_ASSOC);
if ($row === false || !password_verify($password, $row['password_hash'])) {
    answer(404);
}

$user = [
    'email' => $row['email'],
    'username' => $row['username'],
    'firstName' => $row['first_name'],
    'lastName' => $row['last_name'],
    'fullName' => trim($row['first_name'] . ' ' . $row['last_name']),
    'data' => ['legacyId' => $row['id']],
];
// FusionAuth's user JSON carries roles in registrations: one for the application being signed
// in to, so the roles land on it.
if (is_string($request['applicationId'] ?? null) && $request['applicationId'] !== '') {
    $roles = array_values(array_filter(explode(',', $row['roles'])));
    $user['registrations'] = [['applicationId' => $request['applicationId'], 'roles' => $roles]];
}
answer(200, ['user' => $user]);
