// Where the S3 transport's credentials come from: given to the store, else the environment, else
// the AWS SDK's default provider chain (shared config and credentials files, SSO, web identity,
// process, container and instance roles), loaded only when it is needed: its import alone costs
// ~100 ms, which a run with keys in the environment (every CI job) never pays.

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Resolves the credentials for the next request; may refresh them (temporary credentials). */
export type CredentialsProvider = () => Promise<S3Credentials>;

/** The provider of a store: the given keys, else the environment, else the SDK's chain. */
export function credentialsProvider(given: S3Credentials | undefined): CredentialsProvider {
  if (given !== undefined) {
    // Checked on first use, not here: a store may be made before its credentials are needed.
    let checked: S3Credentials | undefined;
    // A rejection, not a throw, for empty keys: as the chain's own failures arrive.
    return () => {
      try {
        return Promise.resolve((checked ??= complete(given)));
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }
  let chain: Promise<CredentialsProvider> | undefined;
  return async () => {
    const fromEnvironment = environmentCredentials();
    if (fromEnvironment !== undefined) return fromEnvironment;
    // The SDK's provider memoizes, and refreshes temporary credentials shortly before they expire.
    chain ??= import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) => defaultProvider());
    return complete(await (await chain)());
  };
}

/**
 * Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), where the
 * SDK's default chain would take them too: first, unless AWS_PROFILE names a profile.
 */
function environmentCredentials(): S3Credentials | undefined {
  const {
    AWS_ACCESS_KEY_ID: accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
    AWS_SESSION_TOKEN: sessionToken,
    AWS_PROFILE: profile,
  } = process.env;
  if (profile || !accessKeyId || !secretAccessKey) return undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** Only the fields signing uses; a key id or secret that is empty is no credential at all. */
function complete(credentials: S3Credentials): S3Credentials {
  const { accessKeyId, secretAccessKey, sessionToken } = credentials;
  if (!accessKeyId || !secretAccessKey)
    throw new CredentialsMissingError('the access key id or the secret access key is empty');
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

/** No usable credentials: the SDK's chain found none (its CredentialsProviderError), or they were empty. */
export class CredentialsMissingError extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'CredentialsProviderError';
  }
}

/** Where InvalidCredentials messages tell the user to look; names sources, never values. */
export function describeCredentialsSource(given: boolean): string {
  if (given) return 'the access key id / secret access key given to the store';
  if (process.env.AWS_ACCESS_KEY_ID) return 'the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables';
  if (process.env.AWS_PROFILE) return `the AWS profile "${process.env.AWS_PROFILE}"`;
  return (
    'the AWS SDK default credential chain (environment, shared config and credentials ' +
    'files, SSO, web identity, instance or container role)'
  );
}
