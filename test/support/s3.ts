import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** A real S3-protocol server (s3rver) for a test, with one bucket, and the credentials it takes. */
export interface TestS3 {
  /** Its endpoint, e.g. `http://127.0.0.1:40123`. */
  readonly endpoint: string;
  readonly bucket: string;
  /** What a Sluice process needs to use it: STORAGE_URL, S3_ENDPOINT, path style and credentials. */
  env(prefix?: string): Record<string, string>;
  stop(): Promise<void>;
}

/** s3rver accepts this key pair (its default); any AWS SDK client can sign with it. */
export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Starts s3rver on a free port with its data in a temporary directory and creates `bucket`. */
export async function startS3(bucket = 'sluice-test'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'sluice-s3-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: (prefix = 'uploads') => ({
      STORAGE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    }),
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
