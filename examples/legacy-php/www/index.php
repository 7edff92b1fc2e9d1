<?php
// The legacy app's home page. It no longer checks passwords: Apache's mod_auth_openidc signs the
// person in at Portcullis before this runs and hands over the OpenID Connect claims (from the ID
// token and the userinfo endpoint) as OIDC_CLAIM_* variables. Roles arrive comma-separated.

function claim(string $name): string
{
    return (string) ($_SERVER["OIDC_CLAIM_$name"] ?? '');
}

$name = claim('name') !== '' ? claim('name') : trim(claim('given_name') . ' ' . claim('family_name'));
$email = claim('email');
$roles = array_values(array_filter(explode(',', claim('roles'))));
$signedOut = 'http://' . $_SERVER['HTTP_HOST'] . '/signed-out.html';
$logout = '/redirect_uri?logout=' . rawurlencode($signedOut);
$h = fn (string $s): string => htmlspecialchars($s, ENT_QUOTES);
?><!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Legacy PHP app</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
  .roles { padding: 0; margin: .25rem 0; }
  .roles li { display: inline-block; margin-right: .5rem; padding: .1rem .6rem; border-radius: 1rem; background: #e3ecfa; }
  dt { font-weight: 600; margin-top: .75rem; }
</style>
</head>
<body>
<h1>Welcome, <span id="name"><?= $h($name) ?></span></h1>
<p>You are signed in to the legacy PHP app through Portcullis.</p>
<dl>
  <dt>Email</dt><dd id="email"><?= $h($email) ?></dd>
  <dt>Subject (Portcullis user id)</dt><dd id="sub"><?= $h(claim('sub')) ?></dd>
  <dt>Roles</dt>
  <dd><ul class="roles" id="roles"><?php foreach ($roles as $role): ?><li><?= $h($role) ?></li><?php endforeach ?></ul>
  <?php if ($roles === []): ?><p>none</p><?php endif ?></dd>
</dl>
<p><a id="logout" href="<?= $h($logout) ?>">Sign out</a></p>
</body>
</html>
