// An independent OpenID Connect relying party (openid-client 5, by panva) run against a
// trustplane test server by crates/server/tests/it/oidc.rs. It does discovery, the
// authorization code flow with PKCE (S256), token exchange with ID token validation
// against the JWKS (signature, iss, aud, exp, nonce, at_hash), userinfo and a refresh.
// The browser part is plain HTTP: follow the redirects, sign in with the password form.
// Prints one JSON line with what it saw; any failure exits non-zero.
'use strict';
const { Issuer, generators } = require('openid-client');

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

// A minimal cookie jar for the browser part.
const jar = new Map();
function remember(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
}
function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
async function get(url) {
  const res = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader() } });
  remember(res);
  return res;
}

async function main() {
  const issuerUrl = env('ISSUER');
  const redirectUri = env('REDIRECT_URI');
  const issuer = await Issuer.discover(issuerUrl);
  if (issuer.issuer !== issuerUrl) throw new Error(`issuer ${issuer.issuer}`);
  const client = new issuer.Client({
    client_id: env('CLIENT_ID'),
    client_secret: env('CLIENT_SECRET'),
    redirect_uris: [redirectUri],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
  });
  const codeVerifier = generators.codeVerifier();
  const state = generators.state();
  const nonce = generators.nonce();
  const authUrl = client.authorizationUrl({
    scope: 'openid profile email offline_access',
    code_challenge: generators.codeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });

  // Browser: authorize -> login page -> POST the form -> resume -> redirect_uri?code=…
  let res = await get(authUrl);
  if (res.status !== 303) throw new Error(`authorize answered ${res.status}`);
  const login = new URL(res.headers.get('location'), issuerUrl);
  const next = login.searchParams.get('next');
  res = await get(login.href);
  const html = await res.text();
  const m = html.match(/name="csrf_token" value="([^"]+)"/);
  if (!m) throw new Error('no CSRF token on the login page');
  const form = new URLSearchParams({
    csrf_token: m[1],
    username: env('USERNAME'),
    password: env('PASSWORD'),
    next,
  });
  res = await fetch(new URL('/login', issuerUrl), {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  remember(res);
  if (res.status !== 303) throw new Error(`login answered ${res.status}`);
  res = await get(new URL(res.headers.get('location'), issuerUrl).href);
  if (res.status !== 303) throw new Error(`resume answered ${res.status}`);
  const callback = res.headers.get('location');
  if (!callback.startsWith(redirectUri)) throw new Error(`redirected to ${callback}`);

  // Token exchange: openid-client validates the ID token against the JWKS.
  const params = client.callbackParams(callback);
  const tokens = await client.callback(redirectUri, params, {
    code_verifier: codeVerifier,
    state,
    nonce,
  });
  const claims = tokens.claims();
  const userinfo = await client.userinfo(tokens.access_token);
  if (userinfo.sub !== claims.sub) throw new Error('userinfo sub differs');
  const refreshed = await client.refresh(tokens.refresh_token);
  const again = refreshed.claims();
  if (again.sub !== claims.sub) throw new Error('refreshed sub differs');
  console.log(
    JSON.stringify({
      claims,
      userinfo,
      refreshed: Boolean(refreshed.access_token),
      rotated: refreshed.refresh_token !== tokens.refresh_token,
    }),
  );
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
