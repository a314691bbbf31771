// A real OpenID Connect provider (panva's certified `oidc-provider`) on loopback for the tests.
//
// The routes are those the official CLI calls under PROMINENCE_OIDC_URL: `/register` (dynamic
// client registration), `/devicecode` and `/token` (device flow), and `/userinfo`, which the
// PROMINENCE server calls with each access token. Access tokens are JWTs with an `exp`, as the CLI
// insists. The login page is the library's development interaction: any user name logs in (no
// password check), and the user's claims come from OIDC_USERS.
//
// Environment: OIDC_PORT; OIDC_USERS, JSON {"alice": {"groups": [...], "edu_person_entitlements":
// [...]}}; OIDC_UI_CLIENT_ID, OIDC_UI_CLIENT_SECRET and OIDC_UI_REDIRECT_URI: the Airflow UI's client.
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, jwtVerify } from 'jose';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const resource = `${issuer}/prominence`;
const users = JSON.parse(process.env.OIDC_USERS || '{}');
const scopes = 'openid profile email';

const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'tests', alg: 'RS256', use: 'sig' };

function claimsOf(accountId) {
  const user = users[accountId] || {};
  return {
    sub: accountId,
    preferred_username: accountId,
    name: accountId,
    email: `${accountId}@example.org`,
    groups: user.groups || [],
    edu_person_entitlements: user.edu_person_entitlements || [],
  };
}

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    {
      client_id: process.env.OIDC_UI_CLIENT_ID,
      client_secret: process.env.OIDC_UI_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_UI_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  routes: {
    registration: '/register',
    device_authorization: '/devicecode',
    token: '/token',
    userinfo: '/userinfo',
    code_verification: '/device',
    authorization: '/auth',
    jwks: '/jwks',
  },
  scopes: scopes.split(' '),
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups', 'edu_person_entitlements'],
    email: ['email'],
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: scopes, accessTokenFormat: 'jwt', accessTokenTTL: 3600 }),
    },
  },
  async findAccount(ctx, id) {
    return { accountId: id, claims: () => claimsOf(id) };
  },
  // Every client gets what it asks for without a consent page: the tests log in, nothing more.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(scopes);
    grant.addOIDCClaims(['preferred_username', 'name', 'email', 'groups', 'edu_person_entitlements']);
    grant.addResourceScope(resource, scopes);
    await grant.save();
    return grant;
  },
});

// The library's own userinfo endpoint refuses tokens issued for a resource server, and JWT access
// tokens are not stored: this one verifies the token's signature, issuer and expiry instead.
provider.use(async (ctx, next) => {
  if (ctx.path !== '/userinfo') {
    return next();
  }
  const [scheme, token] = (ctx.get('authorization') || '').split(' ');
  try {
    if (scheme !== 'Bearer' || !token) {
      throw new Error('no bearer token');
    }
    const { payload } = await jwtVerify(token, publicKey, { issuer, audience: resource });
    ctx.body = claimsOf(payload.sub);
  } catch (error) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
    ctx.body = { error: 'invalid_token', error_description: error.message };
  }
});

provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider listening on ${issuer}`));
