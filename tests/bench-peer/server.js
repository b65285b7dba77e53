// The certified peer of scripts/bench-token.sh: npm `oidc-provider` (OpenID Certified)
// issuing ES256 JWT access tokens (RFC 9068) for client_credentials, with introspection,
// on its default (in-memory) adapter, one process. Usage: node server.js PORT CLIENT_ID SECRET
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, clientId, secret] = process.argv.slice(2);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', alg: 'ES256', use: 'sig' };
const resource = 'urn:bench:api';

const provider = new Provider(`http://127.0.0.1:${port}`, {
  jwks: { keys: [jwk] },
  // CLIENT_ID gets ES256 JWT access tokens; CLIENT_ID-opaque gets opaque ones (the only
  // kind oidc-provider introspects).
  clients: [clientId, `${clientId}-opaque`].map((id) => ({
    client_id: id,
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api.read',
  })),
  scopes: ['openid', 'offline_access', 'api.read'],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator, client) => (client.clientId === clientId
        ? {
          scope: 'api.read',
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }
        : {
          scope: 'api.read', audience: resource, accessTokenTTL: 600, accessTokenFormat: 'opaque',
        }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on 127.0.0.1:${port}`);
});
