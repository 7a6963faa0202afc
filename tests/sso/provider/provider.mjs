// A real OpenID Connect provider for the portal's SSO end-to-end tests: panva's certified
// `oidc-provider`, configured for one confidential client (the portal), with a small log-in
// form that checks passwords from a JSON accounts file.
//
// The accounts file is read on every log-in and every claims lookup, so a test changes a
// person's groups at the "IdP" by rewriting the file, and the portal sees the change at the
// next log-in, as it would with Okta or Entra ID.
//
// Environment: ACCOUNTS_FILE (required), CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS
// (comma-separated), HOST (127.0.0.1). It listens on a free port and prints
// "READY <issuer>" on stdout once it answers.
//
// Accounts file: {"alice": {"password": "...", "email": "...", "given_name": "...",
// "family_name": "...", "groups": ["finance-preparers"]}, ...}
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const accountsFile = process.env.ACCOUNTS_FILE;
if (!accountsFile) {
  console.error('ACCOUNTS_FILE is required');
  process.exit(2);
}
const clientId = process.env.CLIENT_ID || 'portal';
const clientSecret = process.env.CLIENT_SECRET || 'portal-secret';
const redirectUris = (process.env.REDIRECT_URIS || '').split(',').filter(Boolean);
const host = process.env.HOST || '127.0.0.1';

function accounts() {
  return JSON.parse(readFileSync(accountsFile, 'utf8'));
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, clientName, error) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><h1>Test IdP</h1><p>Sign in to continue to ${escapeHtml(clientName)}.</p>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="login">IdP username</label><input id="login" name="login" autocomplete="username" required>
<label for="password">IdP password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in at the IdP</button></form></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // mozilla-django-oidc sends the secret in the token request body by default.
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    if (!accounts()[sub]) return undefined;
    return {
      accountId: sub,
      async claims() {
        const account = accounts()[sub] || {};
        return {
          sub,
          email: account.email,
          email_verified: true,
          given_name: account.given_name,
          family_name: account.family_name,
          name: [account.given_name, account.family_name].filter(Boolean).join(' '),
          preferred_username: sub,
          groups: account.groups || [],
        };
      },
    };
  },
  // The portal is a first-party client: grant what it asks for without a consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
};

const server = createServer();
server.listen(0, host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    const match = req.url.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (!match) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      const clientName = details.params.client_id;
      if (req.method === 'POST' && match[2]) {
        const form = await readForm(req);
        const login = form.get('login') || '';
        const account = accounts()[login];
        if (!account || account.password !== form.get('password')) {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          res.end(loginPage(details.uid, clientName, 'Wrong IdP username or password.'));
          return;
        }
        await provider.interactionFinished(
          req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false },
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(loginPage(details.uid, clientName, ''));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`interaction failed: ${err.message}`);
    }
  });
  console.log(`READY ${issuer}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
